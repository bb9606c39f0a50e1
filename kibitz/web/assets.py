"""The widget's built scripts (GET /embed.js, /count.js, /live.js, /actions.js, /anchor.js,
/newsletter.js), read from kibitz/static once and kept in memory."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import Request
from starlette.responses import Response

from kibitz import errors
from kibitz.web import encoding

STATIC = Path(__file__).resolve().parent.parent / "static"
HEADERS = {
    "Content-Type": "text/javascript; charset=utf-8",
    # Short enough for a new release to reach readers within minutes, revalidated cheaply by ETag.
    "Cache-Control": "public, max-age=300, stale-while-revalidate=86400",
    # Pages on any site load it; a host page with COEP needs this to be allowed to.
    "Cross-Origin-Resource-Policy": "cross-origin",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    etag: str
    encoded: dict[str, bytes]  # br and gzip, compressed once at the slowest, smallest setting


@cache
def asset(name: str) -> Asset | None:
    """The file's bytes, compressed forms and strong ETag, made on first use; None when it was
    never built."""
    try:
        body = (STATIC / name).read_bytes()
    except FileNotFoundError:
        return None
    encoded = {name: encoding.compress(body, name, static=True) for name in (encoding.BR, encoding.GZIP)}
    return Asset(body, '"' + hashlib.sha256(body).hexdigest() + '"', encoded)


def _serve(request: Request, name: str) -> Response:
    found = asset(name)
    if found is None:
        raise errors.NotFound(f"{name} has not been built (npm run build in widget/)")
    headers = {**HEADERS, "ETag": found.etag, "Vary": "Accept-Encoding"}
    if encoding.etag_matches(request.headers.get("if-none-match"), found.etag):
        del headers["Content-Type"]
        return Response(status_code=304, headers=headers)
    chosen = encoding.choose(request.headers.get("accept-encoding", ""))
    if chosen is None:
        return Response(found.body, headers=headers)
    return Response(found.encoded[chosen], headers={**headers, "Content-Encoding": chosen})


async def embed_js(request: Request) -> Response:
    """GET /embed.js — the reader's comment widget."""
    return _serve(request, "embed.js")


async def count_js(request: Request) -> Response:
    """GET /count.js — fills comment counts on article lists."""
    return _serve(request, "count.js")


async def live_js(request: Request) -> Response:
    """GET /live.js — live updates and the comment bubble, loaded by embed.js after its first render."""
    return _serve(request, "live.js")


async def newsletter_js(request: Request) -> Response:
    """GET /newsletter.js — fills the publisher's `<form data-kibitz-newsletter>` sign-up forms."""
    return _serve(request, "newsletter.js")


async def actions_js(request: Request) -> Response:
    """GET /actions.js — posting, votes, dialogs and following, loaded by embed.js on the reader's
    first interaction."""
    return _serve(request, "actions.js")


async def signin_js(request: Request) -> Response:
    """GET /signin.js — the reader's sign-in and the "signed in as" line, loaded by embed.js when the
    reader asks to sign in or already is."""
    return _serve(request, "signin.js")


async def moderate_js(request: Request) -> Response:
    """GET /moderate.js — the moderation menu of a moderator from the site's own login, loaded by
    signin.js only for an account that may moderate (reader_moderation.py)."""
    return _serve(request, "moderate.js")


async def anchor_js(request: Request) -> Response:
    """GET /anchor.js — inline feedback (choosing a passage, marks in the article, placing anchors
    again in a changed article), loaded by embed.js after its first render."""
    return _serve(request, "anchor.js")
