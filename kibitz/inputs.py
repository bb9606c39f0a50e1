"""Reader-supplied fields checked and put in canonical form: names, emails, URLs, page keys, anchors.

Every function raises ``errors.InvalidInput`` naming the field, or returns the normalised value.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit, urlunsplit

from kibitz import errors
from kibitz.models import Anchor

MAX_TEXT = 10_000
MAX_NAME = 64
MAX_TITLE = 300
MAX_PAGE = 1024
MAX_URL = 2048
MAX_EMAIL = 254

# Bidi embeddings/overrides/isolates and invisible formatting that make a name read as another.
_DECEPTIVE = {
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0x200E,
    0x200F,
    0x061C,
    0x200B,
    0x200C,
    0x200D,
    0x2060,
    0xFEFF,
    0x180E,
    0x00AD,
}
RESERVED_NAMES = frozenset(
    {
        "admin",
        "administrator",
        "moderator",
        "mod",
        "staff",
        "editor",
        "root",
        "system",
        "kibitz",
        "support",
        "webmaster",
        "owner",
    }
)
_EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def check_string(field: str, value: str) -> None:
    """No NUL, no lone surrogates: refused alike on SQLite and PostgreSQL."""
    if "\x00" in value:
        raise errors.InvalidInput.field(field, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise errors.InvalidInput.field(field, "must be valid Unicode (no lone surrogates)") from None


# In ASCII text the only characters refused below are the C0 controls and DEL (the deceptive ones
# and the Cs/Co categories are all beyond it): one regular-expression scan instead of a loop.
_ASCII_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_ASCII_CONTROLS_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _has_controls(value: str, *, allow_newlines: bool = False) -> bool:
    if value.isascii():
        found = (_ASCII_CONTROLS_BUT_LINES if allow_newlines else _ASCII_CONTROLS).search(value)
        return found is not None
    for ch in value:
        if allow_newlines and ch in "\n\r\t":
            continue
        if ord(ch) in _DECEPTIVE or unicodedata.category(ch) in ("Cc", "Cs", "Co"):
            return True
    return False


def text(value: str, field: str = "text") -> str:
    """A comment's Markdown source: trimmed, non-empty, at most 10,000 characters."""
    check_string(field, value)
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n")).rstrip()
    # Drop leading blank lines but keep the first line's indentation (an indented code block).
    lines = value.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    value = "\n".join(lines)
    if not value:
        raise errors.InvalidInput.field(field, "must not be empty")
    if len(value) > MAX_TEXT:
        raise errors.InvalidInput.field(field, f"must be at most {MAX_TEXT} characters")
    if _has_controls(value.replace("\u200d", ""), allow_newlines=True):
        # Zero-width joiners are part of emoji sequences; other controls have no place in a comment.
        raise errors.InvalidInput.field(field, "must not contain control characters")
    return value


def author_name(value: str, field: str = "author.name", *, guest: bool = True) -> str:
    check_string(field, value)
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise errors.InvalidInput.field(field, "is required")
    if len(value) > MAX_NAME:
        raise errors.InvalidInput.field(field, f"must be at most {MAX_NAME} characters")
    if _has_controls(value):
        raise errors.InvalidInput.field(field, "must not contain control, bidi or invisible characters")
    if guest and unicodedata.normalize("NFKC", value).casefold() in RESERVED_NAMES:
        raise errors.InvalidInput.field(field, "is reserved; choose another name")
    return value


def email(value: str | None, field: str = "author.email") -> str:
    """One canonical form (NFKC, lowercase IDNA domain, no trailing dot), or "" when absent."""
    if value is None:
        return ""
    check_string(field, value)
    value = unicodedata.normalize("NFKC", value).strip()
    if not value:
        return ""
    local, sep, domain = value.rpartition("@")
    if (
        not sep
        or not _EMAIL_LOCAL.match(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
    ):
        raise errors.InvalidInput.field(field, "is not a valid email address")
    domain = domain.rstrip(".").lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise errors.InvalidInput.field(field, "has an invalid domain") from None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        raise errors.InvalidInput.field(field, "has an invalid domain")
    result = f"{local}@{domain}"
    if len(result) > MAX_EMAIL:
        raise errors.InvalidInput.field(field, "is too long")
    return result


def web_url(value: str | None, field: str = "author.url") -> str:
    """An absolute http(s) URL, normalised (lowercase scheme and host, no fragment), or ""."""
    if value is None:
        return ""
    check_string(field, value)
    value = value.strip()
    if not value:
        return ""
    if len(value) > MAX_URL or _has_controls(value) or any(ch.isspace() for ch in value):
        raise errors.InvalidInput.field(field, "is not a valid http(s) URL")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise errors.InvalidInput.field(field, "is not a valid http(s) URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise errors.InvalidInput.field(field, "must be an http or https URL")
    if parts.username or parts.password:
        raise errors.InvalidInput.field(field, "must not contain credentials")
    host = parts.hostname.lower()
    try:
        host = host.encode("idna").decode("ascii") if not host.startswith("[") and ":" not in host else host
    except UnicodeError:
        raise errors.InvalidInput.field(field, "has an invalid host") from None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def page_key(value: str, field: str = "page") -> str:
    """The page key: a URL path without query, fragment or trailing slash, or a chosen identifier."""
    check_string(field, value)
    value = value.strip()
    if value.startswith("/"):
        value = value.split("#", 1)[0].split("?", 1)[0]
        value = value.rstrip("/") or "/"
    if not value:
        raise errors.InvalidInput.field(field, "is required")
    if len(value) > MAX_PAGE:
        raise errors.InvalidInput.field(field, f"must be at most {MAX_PAGE} characters")
    if _has_controls(value):
        raise errors.InvalidInput.field(field, "must not contain control characters")
    return value


def title(value: str | None, field: str = "title") -> str:
    if value is None:
        return ""
    check_string(field, value)
    value = " ".join(value.split())
    if len(value) > MAX_TITLE:
        raise errors.InvalidInput.field(field, f"must be at most {MAX_TITLE} characters")
    if _has_controls(value):
        raise errors.InvalidInput.field(field, "must not contain control characters")
    return value


_ANCHOR_HASH = re.compile(r"[0-9a-f]{1,64}")


def anchor(
    exact: str,
    prefix: str | None,
    suffix: str | None,
    start: int | None,
    end: int | None,
    hash: str | None = None,
) -> Anchor:
    """An inline-feedback selector: the quoted passage (≤ 500) with up to 64 characters around it, and
    the hash of the article's text it was chosen in (1–64 lower-case hex digits)."""
    fields = {"anchor.exact": exact, "anchor.prefix": prefix or "", "anchor.suffix": suffix or ""}
    for name, value in fields.items():
        check_string(name, value)
    if not exact.strip():
        raise errors.InvalidInput.field("anchor.exact", "must not be empty")
    for name, value, limit in (
        ("anchor.exact", exact, 500),
        ("anchor.prefix", prefix or "", 64),
        ("anchor.suffix", suffix or "", 64),
    ):
        if len(value) > limit:
            raise errors.InvalidInput.field(name, f"must be at most {limit} characters")
        if _has_controls(value, allow_newlines=True):
            raise errors.InvalidInput.field(name, "must be plain text")
    if start is not None and start < 0:
        raise errors.InvalidInput.field("anchor.start", "must not be negative")
    if end is not None and (end < 0 or (start is not None and end < start)):
        raise errors.InvalidInput.field("anchor.end", "must not be before start")
    if hash and not _ANCHOR_HASH.fullmatch(hash):
        raise errors.InvalidInput.field("anchor.hash", "must be 1 to 64 lower-case hexadecimal digits")
    prefix, suffix = prefix or "", suffix or ""
    return Anchor(exact=exact, prefix=prefix, suffix=suffix, start=start, end=end, hash=hash or "")
