"""GET /docs: the API description (/openapi.json) browsable in Swagger UI, from files this server
serves itself. The Swagger UI build comes from the `fastapi-offline` package (a copy of swagger-ui-dist);
the start-up script is ours. No request leaves for a CDN or for Swagger's online validator, and the page
runs under a CSP that allows only this origin's scripts, styles and fetches. With `public_docs = false`
the page and its files answer 404 like /openapi.json."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib import resources

from fastapi import Request
from starlette.responses import HTMLResponse, Response

from kibitz import errors
from kibitz.web import encoding
from kibitz.web.api import ctx_of

# Swagger UI's files inside the fastapi-offline package (its `static/` directory).
VENDOR_PACKAGE = "fastapi_offline"
VENDOR_DIR = "static"
ASSETS_PATH = "/docs/assets"

# Starts Swagger UI on the description the page names. `validatorUrl: null`: never a badge from
# Swagger's online validator, which would send the description's URL to validator.swagger.io for any
# host but localhost (BaseLayout draws none today; this keeps it so, and the CSP would refuse it).
INIT_JS = b"""\
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi"),
    domNode: root,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null
  });
})();
"""

TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "init.js": "text/javascript; charset=utf-8",
}

# Only this origin's scripts, styles and fetches; images as data: URLs (Swagger UI's icons); no
# inline script or style element, no framing, no forms, no plugins, no <base>.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# Asset URLs carry their content hash (?v=), so a browser may keep them for a year.
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Vary": "Accept-Encoding",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="{bundle}"></script>
<script src="{init}"></script>
</body>
</html>
"""


@dataclass(frozen=True)
class Asset:
    body: bytes
    etag: str
    encoded: dict[str, bytes]  # br and gzip, made once per process


def vendor_file(name: str) -> bytes:
    """One of Swagger UI's files as the vendor package ships it."""
    return resources.files(VENDOR_PACKAGE).joinpath(VENDOR_DIR, name).read_bytes()


@cache
def asset(name: str) -> Asset:
    """A file of the page (one of TYPES), with its strong ETag and compressed forms. Compressing the
    1.5 MB bundle takes a moment, so callers run this off the event loop (the first time)."""
    body = INIT_JS if name == "init.js" else vendor_file(name)
    encoded = {coding: encoding.compress(body, coding) for coding in (encoding.BR, encoding.GZIP)}
    return Asset(body, '"' + hashlib.sha256(body).hexdigest() + '"', encoded)


def asset_url(root: str, name: str) -> str:
    version = asset(name).etag.strip('"')[:16]
    return f"{root}{ASSETS_PATH}/{name}?v={version}"


def _shown(request: Request) -> None:
    if not ctx_of(request).settings.public_docs:
        raise errors.NotFound()


async def page(request: Request) -> Response:
    """GET /docs — Swagger UI on /openapi.json, every file from this origin."""
    _shown(request)
    for name in TYPES:  # hashes (and compressed forms) made off the event loop, once
        await asyncio.to_thread(asset, name)
    root = str(request.scope.get("root_path", "")).rstrip("/")
    html = PAGE.format(
        title=escape(request.app.title),
        css=escape(asset_url(root, "swagger-ui.css")),
        openapi=escape(f"{root}{request.app.openapi_url}"),
        bundle=escape(asset_url(root, "swagger-ui-bundle.js")),
        init=escape(asset_url(root, "init.js")),
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)


async def file(request: Request) -> Response:
    """GET /docs/assets/{name} — Swagger UI's script and stylesheet, and the script that starts it."""
    _shown(request)
    name = str(request.path_params.get("name", ""))
    if name not in TYPES:
        raise errors.NotFound()
    found = await asyncio.to_thread(asset, name)
    headers = {**ASSET_HEADERS, "ETag": found.etag}
    if encoding.etag_matches(request.headers.get("if-none-match"), found.etag):
        return Response(status_code=304, headers=headers)
    chosen = encoding.choose(request.headers.get("accept-encoding", ""))
    headers["Content-Type"] = TYPES[name]
    if chosen is None:
        return Response(found.body, headers=headers)
    return Response(found.encoded[chosen], headers={**headers, "Content-Encoding": chosen})
