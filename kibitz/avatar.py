"""Avatars: deterministic identicon SVGs served by Kibitz itself, and the keyed hash that names them.

No third-party request, and the avatar URL reveals nothing that confirms an email address: the key
names the poster's reader id (an account, once accounts exist), never an unverified email.
"""

from __future__ import annotations

import colorsys
import hashlib
import hmac
import re

__all__ = ["avatar_key", "identicon_svg"]

_DIGEST = re.compile(r"[0-9a-f]{16,64}")
_GRID = 5
_CELL = 6
_SIZE = 40
_MARGIN = (_SIZE - _GRID * _CELL) // 2


def identicon_svg(digest: str) -> str:
    """A 40x40 standalone SVG: a 5x5 left-right mirrored pattern in one colour on a light background.

    `digest` is lowercase hex, 16-64 characters (e.g. `avatar_key(...)`); every character of it
    counts, and the same digest always gives the same bytes.
    """
    if not isinstance(digest, str) or _DIGEST.fullmatch(digest) is None:
        raise ValueError("digest must be 16-64 lowercase hex characters")
    # Re-hashing spreads any digest (of any length, even odd) over enough bits for colour and cells.
    seed = hashlib.sha256(digest.encode("ascii")).digest()
    hue = int.from_bytes(seed[0:2], "big") / 65536
    lightness = 0.42 + seed[2] / 255 * 0.14
    saturation = 0.50 + seed[3] / 255 * 0.25
    foreground = _hex_colour(hue, lightness, saturation)
    background = _hex_colour(hue, 0.94, 0.30)

    columns = (_GRID + 1) // 2  # the left half and the middle column; the rest is mirrored
    bits = int.from_bytes(seed[4:8], "big")
    cells = [[bool(bits >> (row * columns + col) & 1) for col in range(columns)] for row in range(_GRID)]
    if not any(any(row) for row in cells):
        cells[_GRID // 2][columns - 1] = True  # never an empty square

    path: list[str] = []
    for row in range(_GRID):
        for col in range(_GRID):
            source = col if col < columns else _GRID - 1 - col
            if cells[row][source]:
                x, y = _MARGIN + col * _CELL, _MARGIN + row * _CELL
                path.append(f"M{x} {y}h{_CELL}v{_CELL}h-{_CELL}z")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_SIZE}" height="{_SIZE}" '
        f'viewBox="0 0 {_SIZE} {_SIZE}" shape-rendering="crispEdges">'
        f'<rect width="{_SIZE}" height="{_SIZE}" fill="{background}"/>'
        f'<path fill="{foreground}" d="{"".join(path)}"/>'
        "</svg>"
    )


def avatar_key(secret: bytes, site: str, reader_id: str) -> str:
    """HMAC-SHA256 of `reader NUL site NUL reader_id` under the server's secret, first 32 hex
    characters.

    `reader_id` is the poster's raw (server-issued) reader id. Nothing a poster types enters the key,
    so posting a probe with a guessed email gives the probe's own reader's avatar, never the one of
    the address's owner. The `reader` prefix keeps these keys apart from the older ones (the digest
    of `site NUL email or name`, still stored on comments from before migration 0006): no new post
    can produce one of those. Without the secret nobody can link one reader across sites either.
    """
    if not secret:
        raise ValueError("avatar_key needs a non-empty secret")
    if "\0" in site:
        raise ValueError("site must not contain NUL")
    message = f"reader\0{site}\0{reader_id}".encode("utf-8", "surrogatepass")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def _hex_colour(hue: float, lightness: float, saturation: float) -> str:
    red, green, blue = colorsys.hls_to_rgb(hue, lightness, saturation)
    return f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"
