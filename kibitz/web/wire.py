"""The read cache's answers written straight to the connection, before an ASGI cycle.

``kibitz serve`` runs uvicorn with ``KibitzHttp``: the bounded httptools protocol of web/edge.py
that, once a request's head is parsed, asks the read cache (web/cached.py) whether it can answer
this exact URL now. A repeat of a thread or counts read that a validated request made before, whose
version check needs no waiting (SQLite: the shared change marker, else the own connection's point
lookup), is answered with the bytes the ASGI path would send: the same status, headers (uvicorn's
``date`` first, as it writes them) and body, in one write. Everything else (a first request,
another method, HTTP/1.0, ``Connection: close``, an upgrade, a request while an earlier one on the
connection is still being answered, a client not reading, PostgreSQL's batched check, a fault)
takes uvicorn's path to the app, where ``fast_read`` and the handlers answer as before.

What it saves is what the ASGI path costs per request beyond the bytes: a task, the scope, two
``send`` coroutines that re-check and re-join every header, and a second write. The request
counter and the latency histogram still see every answer (``ReadCache.observe``).
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from typing import TYPE_CHECKING, Any, Protocol

import httptools
from uvicorn.logging import TRACE_LOG_LEVEL

# uvicorn refuses (with an error) header names and values its patterns find; such answers take its path.
from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE, STATUS_LINE

from kibitz.web.cached import Answer, Headers, ReadCache, answer_now, asked
from kibitz.web.edge import BoundedHttpTools, over_limits

if TYPE_CHECKING:
    from kibitz.context import Context

log = logging.getLogger(__name__)
# Heads built for one second's Date: per (answer, edge headers); cleared when this many pile up.
HEADS_KEPT = 2048


class HoldsContext(Protocol):
    """The app object that carries the lifespan's Context (kibitz.app.KibitzApp)."""

    ctx: Context | None


def context_holder(app: Any) -> HoldsContext | None:
    """The app under uvicorn's wrappers (each keeps the next as ``.app``) that carries ``ctx``."""
    for _ in range(8):
        if hasattr(app, "ctx"):
            held: HoldsContext = app
            return held
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


class Wire:
    """Per process: the whole response bytes of cached answers, built once a second (uvicorn's Date
    header changes each second) and reused for every request that gets the same answer."""

    def __init__(self) -> None:
        self._made: dict[tuple[int, int], tuple[Answer, Headers, object, bytes]] = {}

    def bytes_of(self, answer: Answer, edge: Headers, default: list[tuple[bytes, bytes]]) -> bytes | None:
        """The response as uvicorn would write it for this answer, or None for a header it refuses.
        Entries hold their answer and edge list, so their ``id``s are not reused while kept."""
        key = (id(answer), id(edge))
        made = self._made.get(key)
        if made is not None and made[0] is answer and made[1] is edge and made[2] is default:
            return made[3]
        parts = [STATUS_LINE[answer.status]]
        for headers in (default, answer.headers, edge):
            for name, value in headers:
                if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
                    return None
                parts += (name, b": ", value, b"\r\n")
        parts += (b"\r\n", answer.body)
        out = b"".join(parts)
        if len(self._made) >= HEADS_KEPT:
            self._made.clear()
        self._made[key] = (answer, edge, default, out)
        return out


WIRE = Wire()


class KibitzHttp(BoundedHttpTools):
    """uvicorn's httptools protocol with bounded heads (web/edge.py) and cached reads answered on
    the spot (this module's docstring says when)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._answered = False  # the request being parsed was answered here
        holder = context_holder(self.app)
        usable = (
            not self.config.access_log  # uvicorn would log each request
            and self.limit_concurrency is None  # it would count requests against a limit
            and not self.root_path
            and not self.logger.isEnabledFor(TRACE_LOG_LEVEL)  # it would log each message
        )
        self._holder = holder if usable else None

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._holder is not None and self._answer_cached(self._holder):
            self._answered = True
            return
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._answered:  # answered already; there is no cycle to tell
            self._answered = False
            self._next_head()
            return
        super().on_message_complete()

    def _answer_cached(self, holder: HoldsContext) -> bool:
        parser = self.parser
        if (
            parser.get_method() != b"GET"
            or parser.get_http_version() != "1.1"
            or not parser.should_keep_alive()
            or parser.should_upgrade()
            or self.expect_100_continue
            or self.pipeline
            or (self.cycle is not None and not self.cycle.response_complete)  # answers keep order
            or self.flow.write_paused  # a client that does not read gets uvicorn's back-pressure
        ):
            return False
        ctx = holder.ctx
        if ctx is None:  # before the lifespan opened it, or after it closed
            return False
        reads = ctx.reads
        try:
            found = self._cached(reads)
        except Exception:  # anything odd (a path that is not ASCII, a fault): the app answers it
            return False
        if found is None:
            return False
        out, route, status, started = found
        self.transport.write(out)
        # Answered: whatever happens now, the app must not answer this request a second time.
        try:
            reads.observe(route, status, None if started is None else time.perf_counter() - started)
        except Exception:
            log.exception("counting a cached answer failed")
        self.on_response_complete()  # uvicorn's own: counts it, arms the keep-alive timer
        return True

    def _cached(self, reads: ReadCache) -> tuple[bytes, str, int, float | None] | None:
        """The whole response to this request from the read cache, with its route, status and
        start time for the metrics; None when the app must answer it."""
        url = httptools.parse_url(self.url)
        raw_path, query = url.path, url.query or b""
        if over_limits(len(raw_path) + len(query), self.headers) is not None:
            return None  # the edge's refusal
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        ask = asked(reads, path, query, self.headers)
        if ask is None:
            return None
        started = time.perf_counter() if reads.timed() else None
        answer = answer_now(reads, ask)
        if answer is None:
            return None
        edge = reads.edge_headers(ask.site, ask.origin)
        out = WIRE.bytes_of(answer, edge, self.server_state.default_headers)
        if out is None:
            return None
        return out, ask.alias.route, answer.status, started
