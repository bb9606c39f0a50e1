"""The ASGI edge around the app: body limit (before parsing), JSON-only writes, Origin checks,
CORS per site, security headers. Pure ASGI, so streaming responses pass through untouched."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kibitz import errors
from kibitz.config import SiteConfig
from kibitz.origins import origin_of
from kibitz.web.problems import problem_response

MAX_BODY = 64 * 1024
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SITE_PATH = re.compile(r"^/api/v1/sites/([^/]+)/")
ALLOW_HEADERS = "Content-Type, Authorization, X-Kibitz-Reader, Idempotency-Key, Last-Event-ID"
ALLOW_METHODS = "GET, POST, PATCH, DELETE"
EXPOSE_HEADERS = "X-Kibitz-Reader, Retry-After"
SiteLookup = Callable[[str], SiteConfig | None]


class Edge:
    """Checks every request before the app sees it and decorates every response."""

    def __init__(self, app: ASGIApp, *, sites: SiteLookup, all_sites: Callable[[], list[SiteConfig]]) -> None:
        self.app = app
        self.sites = sites
        self.all_sites = all_sites

    def allowed(self, path: str, origin: str | None) -> bool | None:
        """Is ``origin`` one of the addressed site's origins? None when the site is unknown."""
        if not origin:
            return False
        match = _SITE_PATH.match(path)
        if match:
            site = self.sites(match.group(1))
            return None if site is None else site.allows_origin(origin)
        # Routes addressed by comment id: any site's origin passes here; the handler checks the
        # comment's own site.
        return any(site.allows_origin(origin) for site in self.all_sites())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        headers = Headers(scope=scope)
        # Staff routes are for the admin's own pages and for machines with API keys: no CORS grant,
        # no Origin rule (a session needs its CSRF token), never cached (DESIGN.md §3b).
        staff = path.startswith(("/api/v1/admin/", "/admin/")) or path == "/admin"
        api = path.startswith("/api/") and not staff
        origin = headers.get("origin")
        norm_origin = origin_of(origin) if origin and origin != "null" else None
        allowed = self.allowed(path, norm_origin) if api else False
        cors: dict[str, str] = {"Vary": "Origin"} if api else {}
        if api and allowed and norm_origin:
            cors["Access-Control-Allow-Origin"] = origin or ""
            cors["Access-Control-Expose-Headers"] = EXPOSE_HEADERS

        async def refuse(exc: errors.KibitzError, extra: dict[str, str] | None = None) -> None:
            await self._send_response(problem_response(exc, {**cors, **(extra or {})}), scope, receive, send)

        if method in ("TRACE", "TRACK", "CONNECT"):
            await refuse(errors.MethodNotAllowed())
            return
        if api and method == "OPTIONS" and "access-control-request-method" in headers:
            if not allowed:
                await refuse(
                    errors.OriginNotAllowed("This origin may not use this site's API"), {"Vary": "Origin"}
                )
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": _raw(
                        {
                            **cors,
                            "Access-Control-Allow-Methods": ALLOW_METHODS,
                            "Access-Control-Allow-Headers": ALLOW_HEADERS,
                            "Access-Control-Max-Age": "600",
                        }
                    ),
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            await refuse(
                errors.PayloadTooLarge(f"Bodies are limited to {MAX_BODY // 1024} KiB")
                if length.isdigit()
                else errors.MalformedRequest("Bad Content-Length")
            )
            return
        if staff and path.startswith("/api/") and method in WRITE_METHODS:
            has_body = method != "DELETE" or (length not in (None, "0")) or "transfer-encoding" in headers
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if has_body and ctype != "application/json":
                await refuse(errors.UnsupportedMediaType())
                return
        if api and method in WRITE_METHODS:
            if allowed is False:
                await refuse(errors.OriginNotAllowed("Writes need an Origin in the site's list"))
                return
            has_body = method != "DELETE" or (length not in (None, "0")) or "transfer-encoding" in headers
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if has_body and ctype != "application/json":
                await refuse(errors.UnsupportedMediaType())
                return

        body = b""
        if method in WRITE_METHODS or method == "OPTIONS":
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_BODY:
                    await refuse(
                        errors.PayloadTooLarge(f"Bodies are limited to {MAX_BODY // 1024} KiB"),
                        {"Connection": "close"},
                    )
                    return
                chunks.append(chunk)
                more = message.get("more_body", False)
            body = b"".join(chunks)
            receive = _replay(body, receive)

        started = time.perf_counter()
        status = 500

        async def decorated(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                raw = list(message.get("headers", []))
                present = {k.lower() for k, _ in raw}
                extra = {**cors, **SECURITY_HEADERS, **(STAFF_HEADERS if staff else {})}
                for key, value in extra.items():
                    if key.lower().encode() not in present:
                        raw.append((key.lower().encode(), value.encode()))
                message = {**message, "headers": raw}
            await send(message)

        try:
            await self.app(scope, receive, decorated)
        finally:
            self._observe(scope, method, status, time.perf_counter() - started)

    @staticmethod
    def _observe(scope: Scope, method: str, status: int, seconds: float) -> None:
        ctx = getattr(scope["app"].state, "ctx", None) if "app" in scope else None
        if ctx is None:
            return
        route = scope.get("route")
        name = getattr(route, "path", "unmatched")
        ctx.metrics.requests.labels(name, method, str(status)).inc()
        ctx.metrics.latency.labels(name).observe(seconds)

    async def _send_response(self, response: Any, scope: Scope, receive: Receive, send: Send) -> None:
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        await response(scope, receive, send)


STAFF_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in headers.items()]


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the buffered body over once, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
