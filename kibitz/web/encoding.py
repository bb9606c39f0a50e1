"""Negotiation with the client: which encoding it takes (and the bytes in it), and whether the copy it
already has (If-None-Match) is current.

Bodies worth compressing are compressed once and kept (the read cache, the widget's scripts), so the
levels favour size over speed.
"""

from __future__ import annotations

import gzip

import brotli

BR, GZIP = "br", "gzip"
# Below this size the encoding's framing eats most of the gain.
MIN_SIZE = 512
# What browsers send, answered without parsing: a fixed table, never a cache of what clients send.
_COMMON = {
    "gzip, deflate, br, zstd": BR,
    "gzip, deflate, br": BR,
    "gzip, deflate": GZIP,
    "gzip": GZIP,
    "br": BR,
    "identity": None,
    "": None,
}


def choose(accept_encoding: str) -> str | None:
    """``br`` or ``gzip`` (preferred in that order) when the client accepts it, else None."""
    if accept_encoding in _COMMON:
        return _COMMON[accept_encoding]
    # Only the two codings we make (and ``*``) are looked at: the result is one of a closed set.
    accepted: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        name = name.strip()
        if name not in (BR, GZIP, "*"):
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        accepted[name] = q
    star = accepted.get("*", 0.0)
    for name in (BR, GZIP):
        if accepted.get(name, star) > 0:
            return name
    return None


def compress(body: bytes, encoding: str, *, static: bool = False) -> bytes:
    """``body`` in ``encoding`` (br or gzip); ``static`` bodies get the slowest, smallest setting."""
    if encoding == BR:
        return bytes(brotli.compress(body, quality=11 if static else 6))
    return gzip.compress(body, compresslevel=9 if static else 6, mtime=0)


def worth(body: bytes) -> bool:
    return len(body) >= MIN_SIZE


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Does ``If-None-Match`` name ``etag`` (quoted, without ``W/``)? Weak comparison, as GET wants."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False
