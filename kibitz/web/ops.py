"""Operator and asset routes: health, readiness, Prometheus metrics, identicon avatars."""

from __future__ import annotations

import re
from ipaddress import ip_address

from fastapi import Request
from starlette.responses import Response

from kibitz import errors
from kibitz.avatar import identicon_svg
from kibitz.web.api import ctx_of, json_response

_DIGEST = re.compile(r"^[0-9a-f]{16,64}$")


async def healthz(request: Request) -> Response:
    """GET /healthz — the process is up."""
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    """GET /readyz — the process can reach its database."""
    ok = await ctx_of(request).db.ping()
    if not ok:
        raise errors.Unavailable("The database is unreachable", retry_after=5)
    return json_response({"status": "ready"})


async def metrics(request: Request) -> Response:
    """GET /metrics — Prometheus text, for loopback and configured addresses only."""
    ctx = ctx_of(request)
    peer = request.client.host if request.client else ""
    try:
        allowed = any(ip_address(peer) in net for net in ctx.settings.metrics_allow)
    except ValueError:
        allowed = False
    if not allowed:
        raise errors.NotFound()
    ctx.reads.flush_metrics()
    return Response(ctx.metrics.render(), media_type="text/plain; version=0.0.4")


async def avatar(request: Request, digest: str) -> Response:
    """GET /api/v1/avatars/{digest}.svg — a deterministic identicon; no third party involved."""
    if not _DIGEST.match(digest):
        raise errors.NotFound()
    return Response(
        identicon_svg(digest),
        media_type="image/svg+xml",
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        },
    )
