"""Canonical http(s) URLs and origins, one definition for the configuration and for request checks."""

from __future__ import annotations

import re
from ipaddress import ip_address
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
# Longer text is refused before urlsplit, whose cache would otherwise keep what clients send.
MAX_URL = 2048


def split_http_url(text: str, *, allow_query: bool = False) -> tuple[str, str]:
    """``(origin, path)`` of an http(s) URL: the origin lower-cased, IDNA-encoded and without a default
    port. Raises ValueError saying what is wrong."""
    if len(text) > MAX_URL:
        raise ValueError(f"must be at most {MAX_URL} characters")
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise ValueError("must be a URL like 'https://example.org'") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not hold a user name or password")
    if not allow_query and (parts.query or parts.fragment or text.strip().endswith(("?", "#"))):
        raise ValueError("must not have a query or fragment")
    host = parts.hostname or ""
    try:
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
        if ":" in host:
            host = f"[{ip_address(host).compressed}]"
        elif not _HOST.fullmatch(host):
            raise ValueError
    except (UnicodeError, ValueError):
        raise ValueError("must name a valid host, like 'https://example.org'") from None
    if port == 0:
        raise ValueError("must have a port between 1 and 65535")
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}", parts.path


def origin(text: str) -> str:
    """An origin (``scheme://host[:port]``, nothing after it but an optional ``/``); raises ValueError."""
    found, path = split_http_url(text)
    if path not in ("", "/"):
        raise ValueError("must be an origin without a path, like 'https://example.org'")
    return found


def origin_of(url: str) -> str | None:
    """The origin of any http(s) URL (an ``Origin`` header, an article's address), or None."""
    try:
        return split_http_url(url, allow_query=True)[0]
    except ValueError:
        return None
