"""The ASGI edge around the app: header and body limits (before parsing), JSON-only writes, Origin
checks, CORS per site, security headers (on 500s too). Pure ASGI, so streaming responses pass through
untouched."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kibitz import errors
from kibitz.config import SiteConfig
from kibitz.origins import origin_of
from kibitz.web.problems import PROBLEM_JSON, SECURITY_HEADERS, problem_body, problem_response

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
# Machines' routes outside /api/v1/admin/ (a mail provider's webhook): like the staff API, no Origin
# rule, no CORS grant, never cached; each with a body limit of its own.
MACHINE_BODY = {"/api/v1/bounces": 1024 * 1024}
# A newsletter campaign's Markdown may be 200 KB (campaigns.py), more once escaped in JSON or in
# the admin's form (web/admin_newsletter.py): a new campaign, or a draft changed.
_CAMPAIGN_PATH = re.compile(
    r"^/(api/v1/admin/sites/[^/]+/campaigns|admin/sites/[^/]+/newsletter/campaigns)(/[0-9]+)?$"
)
CAMPAIGN_BODY = 1024 * 1024
# A list's subscribers as CSV (web/subscriber_io.py): the only staff write whose body is not JSON.
_IMPORT_PATH = re.compile(r"^/api/v1/admin/sites/[^/]+/lists/[^/]+/import$")
IMPORT_BODY = 10 * 1024 * 1024
# Request heads (docs/api.md): one header's name and value, all headers together, path and query.
MAX_HEADER = 8 * 1024
MAX_HEADERS = 32 * 1024
MAX_TARGET = 16 * 1024
# What the server reads of one request head at most (request line and headers, with their framing):
# above the limits the app checks, so every head under it gets the app's exact answer.
MAX_HEAD = 64 * 1024
MAX_DISCARD = 4 * 1024 * 1024
LINGER_SECONDS = 5.0
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SITE_PATH = re.compile(r"^/api/v1/sites/([^/]+)/")
ALLOW_HEADERS = (
    "Content-Type, Authorization, X-Kibitz-Reader, X-Kibitz-Session, Idempotency-Key, Last-Event-ID"
)
ALLOW_METHODS = "GET, POST, PATCH, DELETE"
EXPOSE_HEADERS = "X-Kibitz-Reader, X-Kibitz-Session, Retry-After"
# Distinct (site, Origin) refusals logged per process; past it they stay quiet (clients choose Origins).
MAX_REFUSED_LOGGED = 256
SiteLookup = Callable[[str], SiteConfig | None]


class Edge:
    """Checks every request before the app sees it and decorates every response."""

    def __init__(self, app: ASGIApp, *, sites: SiteLookup, all_sites: Callable[[], list[SiteConfig]]) -> None:
        self.app = app
        self.sites = sites
        self.all_sites = all_sites
        self._refused: set[tuple[str, str]] = set()

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
        staff = path.startswith(("/api/v1/admin/", "/admin/")) or path == "/admin" or path in MACHINE_BODY
        limit = MACHINE_BODY.get(path, CAMPAIGN_BODY if _CAMPAIGN_PATH.match(path) else MAX_BODY)
        csv_import = method == "POST" and _IMPORT_PATH.match(path) is not None
        if csv_import:
            limit = IMPORT_BODY
        api = path.startswith("/api/") and not staff
        origin = headers.get("origin")
        norm_origin = origin_of(origin) if origin and origin != "null" else None
        allowed = self.allowed(path, norm_origin) if api else False
        if api and allowed is False and norm_origin:
            self._log_refused(path, norm_origin)
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
        if length is not None and (not length.isdigit() or int(length) > limit):
            await refuse(
                _too_large(limit, csv_import)
                if length.isdigit()
                else errors.MalformedRequest("Bad Content-Length")
            )
            return
        if staff and path.startswith("/api/") and method in WRITE_METHODS:
            has_body = method != "DELETE" or (length not in (None, "0")) or "transfer-encoding" in headers
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if csv_import and ctype != "text/csv":
                await refuse(errors.UnsupportedMediaType("Send the subscribers as text/csv"))
                return
            if has_body and ctype != "application/json" and not csv_import:
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
                if size > limit:
                    await refuse(_too_large(limit, csv_import), {"Connection": "close"})
                    return
                chunks.append(chunk)
                more = message.get("more_body", False)
            body = b"".join(chunks)
            receive = _replay(body, receive)

        started = time.perf_counter()
        status = 500
        responded = False

        async def decorated(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                responded = True
                status = message["status"]
                raw = list(message.get("headers", []))
                present = {k.lower() for k, _ in raw}
                extra = {**cors, **SECURITY_HEADERS, **(STAFF_HEADERS if staff else {})}
                if b"content-security-policy" not in present and _is_html(raw):
                    extra["Content-Security-Policy"] = HTML_CSP
                for key, value in extra.items():
                    if key.lower().encode() not in present:
                        raw.append((key.lower().encode(), value.encode()))
                message = {**message, "headers": raw}
            await send(message)

        try:
            await self.app(scope, receive, decorated)
        except Exception:
            # A fault: answered here, inside the edge, so the 500 carries the security headers and
            # the CORS grant like every other answer (Starlette's own handler sits outside the edge).
            if responded:
                raise
            log.exception("unhandled error")
            status = 500
            await problem_response(errors.InternalError())(scope, receive, decorated)
        finally:
            self._observe(scope, method, status, time.perf_counter() - started)

    def _log_refused(self, path: str, origin: str) -> None:
        """A WARNING the first time this process refuses ``origin`` for a site, with the setting that
        would allow it (a publisher's page on an unlisted origin gets no CORS grant: an empty widget)."""
        match = _SITE_PATH.match(path)
        site = match.group(1) if match else ""
        if (site, origin) in self._refused or len(self._refused) >= MAX_REFUSED_LOGGED:
            return
        self._refused.add((site, origin))
        if site:
            where = f'origins in the [[sites]] table with id = "{site}" in kibitz.toml'
            log.warning(
                'Refused Origin %s for site "%s": it is not one of the site\'s origins, so its pages get no '
                'CORS grant (the widget stays empty). To allow it, add "%s" to %s (or to that site\'s '
                '"origins" in KIBITZ_SITES) and restart Kibitz; for the demo, start it with '
                "`kibitz demo --origin %s`. Logged once per origin.",
                origin,
                site,
                origin,
                where,
                origin,
            )
        else:
            log.warning(
                "Refused Origin %s: it is not one of any site's origins. To allow it, add it to the origins "
                "of its site's [[sites]] table in kibitz.toml (or in KIBITZ_SITES) and restart Kibitz; for "
                "the demo, start it with `kibitz demo --origin %s`. Logged once per origin.",
                origin,
                origin,
            )

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
# HTML that states no policy of its own (the demo's pages, /docs) is still never framed.
HTML_CSP = "base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'"


def _is_html(raw: list[tuple[bytes, bytes]]) -> bool:
    return any(k.lower() == b"content-type" and v.lower().startswith(b"text/html") for k, v in raw)


def oversized(scope: Scope) -> errors.KibitzError | None:
    """The refusal for a request head over the limits (414 or 431), else None. It bounds everything
    kept from a request (cache keys, parsed values) before anything is done with it."""
    target = len(scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape"))
    return over_limits(target + len(scope.get("query_string", b"")), scope["headers"])


def over_limits(target: int, headers: list[tuple[bytes, bytes]]) -> errors.KibitzError | None:
    """``oversized`` of a request target's length (path and query) and its headers."""
    if target > MAX_TARGET:
        return errors.UriTooLong(f"The path and query are limited to {MAX_TARGET // 1024} KiB")
    total = 0
    for name, value in headers:
        size = len(name) + len(value)
        if size > MAX_HEADER:
            return errors.HeaderFieldsTooLarge(f"A header is limited to {MAX_HEADER // 1024} KiB")
        total += size
    if total > MAX_HEADERS:
        return errors.HeaderFieldsTooLarge(f"Headers are limited to {MAX_HEADERS // 1024} KiB together")
    return None


async def refuse_head(exc: errors.KibitzError, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer an oversized head before the app (and the read cache's fast path) looks at it."""
    response = problem_response(exc, {**SECURITY_HEADERS, "Connection": "close"})
    await response(scope, receive, send)


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode(), v.encode()) for k, v in headers.items()]


def _too_large(limit: int, csv_import: bool) -> errors.KibitzError:
    if csv_import:
        return errors.PayloadTooLarge(
            f"CSV imports are limited to {limit // (1024 * 1024)} MiB; "
            "`kibitz newsletter import` takes larger files"
        )
    return errors.PayloadTooLarge(f"Bodies are limited to {limit // 1024} KiB")


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


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on the bytes of a request head: httptools itself
    buffers header values of any size, so a head over ``MAX_HEAD`` is answered 431 (problem+json)
    and the connection closed while it arrives, before it is parsed. ``kibitz serve`` uses it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._tail = b""
        self._discarded = -1

    def data_received(self, data: bytes) -> None:
        if self._discarded >= 0:  # refused: read and drop the rest, so the client reads the 431
            self._discarded += len(data)
            if self._discarded > MAX_DISCARD:
                self.transport.close()
            return
        if self._in_head:
            seen = self._tail + data
            end = seen.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
            self._tail = seen[-3:]
            if self._head_bytes > MAX_HEAD:
                self._refuse_head()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._next_head()

    def _next_head(self) -> None:
        self._in_head, self._head_bytes, self._tail = True, 0, b""

    def _refuse_head(self) -> None:
        exc = errors.HeaderFieldsTooLarge(f"Request heads are limited to {MAX_HEAD // 1024} KiB")
        body = problem_body(exc)
        head = {
            "Content-Type": PROBLEM_JSON,
            "Content-Length": str(len(body)),
            "Connection": "close",
            **SECURITY_HEADERS,
        }
        lines = [b"HTTP/1.1 431 Request Header Fields Too Large\r\n"]
        lines += [f"{k}: {v}\r\n".encode() for k, v in head.items()]
        self._discarded = 0
        self.transport.write(b"".join([*lines, b"\r\n", body]))
        # A lingering close, as nginx does: the answer is sent and the write side shut, what the
        # client still sends is dropped (up to MAX_DISCARD, for at most LINGER_SECONDS), so a client
        # that is still sending its head reads the 431 instead of a reset.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
