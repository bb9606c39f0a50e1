"""Cached anonymous reads over HTTP: version check, ETag/304, gzip/br, Cache-Control, and the fast
path that answers a repeated thread read without routing it through the framework.

The rules of freshness live in kibitz/readcache.py; this module turns them into HTTP.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope, Send

from kibitz import __version__, markup
from kibitz.comments import closed_now
from kibitz.config import Settings, SiteConfig
from kibitz.origins import origin_of
from kibitz.readcache import Alias, Aliases, Bodies, Entry, ThreadState, Versions, counts_of
from kibitz.web import encoding
from kibitz.web.edge import EXPOSE_HEADERS
from kibitz.web.problems import SECURITY_HEADERS

if TYPE_CHECKING:
    from kibitz.context import Context
    from kibitz.metrics import Metrics
    from kibitz.policy import Policies

# Entries are rendered again at least this often, whatever their version says.
ENTRY_SECONDS = 3600.0
FRESH_PARAM = "fresh"
# The fast path times one answer in this many for the latency histogram (it counts them all).
TIME_ONE_IN = 16
Headers = list[tuple[bytes, bytes]]
# The comments.html fragment is meant to be embedded by publishers' servers, never framed or run.
FRAGMENT_CSP = b"default-src 'none'; frame-ancestors 'none'"
TAGS_KEPT = 4096  # version labels of thread states remembered (the spike's threads, many times over)
# Of cache_mb, the share kept for the URL aliases of the fast path (the rest holds bodies).
ALIAS_SHARE = 16


def settings_epoch(settings: Settings) -> str:
    """A short label of everything besides the thread that shapes a cached body: the code's version
    and the settings. Workers and instances with the same release and settings agree on it."""
    seed = f"{__version__}|{markup.RENDERER_VERSION}|{settings.base_url}|{settings.sites!r}"
    return hashlib.sha256(seed.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Headers
    body: bytes


class ReadCache:
    """Per process: the version batcher, the bodies, the URL aliases and the HTTP caching policy."""

    def __init__(
        self,
        settings: Settings,
        versions: Versions,
        metrics: Metrics,
        clock: Clock,
        policies: Policies | None = None,
    ) -> None:
        self.policies = policies
        self.versions = versions
        self.metrics = metrics
        self.clock = clock
        budget = settings.cache_mb * 1024 * 1024
        self.aliases = Aliases(max_bytes=budget // ALIAS_SHARE)
        self.bodies = Bodies(budget - self.aliases.max_bytes)
        self.epoch = settings_epoch(settings)
        self._edge: dict[tuple[str, str | None], Headers] = {}
        self._tags: dict[ThreadState, str] = {}
        self._counted: dict[tuple[str, int], int] = {}  # fast-path answers not yet in the registry
        self._latency: dict[str, Any] = {}
        self._ticks = 0
        self._hit = metrics.read_cache.labels("hit")
        self._not_modified = metrics.read_cache.labels("not_modified")
        self.sites = {site.id: site for site in settings.sites}
        stale = f", stale-while-revalidate={settings.cache_stale}" if settings.cache_stale else ""
        self.public = f"public, max-age={settings.cache_max_age}{stale}".encode()

    # -- versions and tags ------------------------------------------------------------------------

    async def state(self, site: str, page: str) -> ThreadState | None:
        return await self.versions.one(site, page)

    def tag(self, site: SiteConfig, state: ThreadState | None) -> str:
        """The version label of a thread as readers see it now (``0.0`` for a page without comments);
        it changes with every visible change, and when the thread closes by age."""
        if state is None:
            return f"{self.epoch}.0.0"
        if self.policies is not None:
            site = self.policies.known(site)  # close_after as the admin may have set it
        if site.close_after is None:  # no closing by age: the label is the state's alone, kept
            tag = self._tags.get(state)
            if tag is None:
                if len(self._tags) >= TAGS_KEPT:
                    self._tags.clear()
                tag = self._tags[state] = (
                    f"{self.epoch}.{state.id}.{state.version}{'.c' if state.closed else ''}"
                )
            return tag
        closed = closed_now(site, state.closed, state.created, self.clock())
        return f"{self.epoch}.{state.id}.{state.version}{'.c' if closed else ''}"

    # -- answers ----------------------------------------------------------------------------------

    async def thread_read(
        self,
        request: Request,
        site: SiteConfig,
        page: str,
        key: Hashable,
        render: Callable[[], Awaitable[tuple[bytes, str]]],
    ) -> Response:
        """A thread-versioned body (JSON page or HTML fragment): from the cache when its version is
        current, else rendered and kept; the URL is remembered for the fast path."""
        tag = self.tag(site, await self.state(site.id, page))
        scope = request.scope
        fresh = _has_fresh(scope["query_string"])
        entry = self.bodies.get(key, tag)
        if entry is None and not _not_modified(request.headers.get("if-none-match"), tag):
            body, media_type = await render()
            entry = Entry(tag, media_type, body, time.monotonic() + ENTRY_SECONDS)
            if self.bodies.max_bytes:
                self.bodies.put(key, entry)
            self.metrics.read_cache.labels("miss").inc()
        if not fresh:
            route = getattr(scope.get("route"), "path", "")
            self.aliases.put(scope["path"], scope["query_string"], Alias(route, site.id, page, key))
        answer = self.answer(
            tag,
            entry,
            key,
            request.headers.get("accept-encoding", ""),
            request.headers.get("if-none-match"),
            fresh,
        )
        return Response(answer.body, status_code=answer.status, headers=_as_dict(answer.headers))

    def answer(
        self,
        tag: str,
        entry: Entry | None,
        key: Hashable,
        accept_encoding: str,
        if_none_match: str | None,
        fresh: bool,
    ) -> Answer:
        """The HTTP answer for a body at ``tag``: 304 when the client has it, else 200 in the best
        encoding it accepts. ``entry`` may be None only when the answer is a 304."""
        if _not_modified(if_none_match, tag):
            self._not_modified.inc()
            return Answer(304, self._head(tag, fresh), b"")
        assert entry is not None
        body = entry.body
        chosen = encoding.choose(accept_encoding) if encoding.worth(body) else None
        ready = entry.answers.get((chosen, fresh))
        if isinstance(ready, Answer):
            return ready
        headers = self._head(tag, fresh)
        headers.append((b"content-type", entry.media_type.encode()))
        if entry.media_type.startswith("text/html"):
            headers.append((b"content-security-policy", FRAGMENT_CSP))
        if chosen is not None:
            encoded = entry.encoded.get(chosen)
            if encoded is None:
                encoded = encoding.compress(body, chosen)
                entry.encoded[chosen] = encoded
                self.bodies.grew(key, len(encoded))
            body = encoded
            headers.append((b"content-encoding", chosen.encode()))
        headers.append((b"content-length", str(len(body)).encode()))
        answer = Answer(200, headers, body)
        entry.answers[(chosen, fresh)] = answer
        return answer

    def _head(self, tag: str, fresh: bool) -> Headers:
        return [
            (b"etag", f'W/"{tag}"'.encode()),
            (b"cache-control", b"no-store" if fresh else self.public),
            (b"vary", b"Origin, Accept-Encoding"),
        ]

    async def counts_read(self, request: Request, site: str, pairs: tuple[tuple[str, str], ...]) -> Response:
        """Visible counts of pages, read with the batched version check; the URL is remembered for
        the fast path."""
        scope = request.scope
        fresh = _has_fresh(scope["query_string"])
        if not fresh:
            route = getattr(scope.get("route"), "path", "")
            self.aliases.put(scope["path"], scope["query_string"], Alias(route, site, counts=pairs))
        headers = request.headers
        answer = await self.counts_answer(
            site, pairs, headers.get("accept-encoding", ""), headers.get("if-none-match"), fresh
        )
        return Response(answer.body, status_code=answer.status, headers=_as_dict(answer.headers))

    async def counts_answer(
        self,
        site: str,
        pairs: tuple[tuple[str, str], ...],
        accept_encoding: str,
        if_none_match: str | None,
        fresh: bool,
    ) -> Answer:
        states = await self.versions.get(site, {key for _, key in pairs})
        return self.counts_answer_of(states, pairs, accept_encoding, if_none_match, fresh)

    def counts_answer_of(
        self,
        states: dict[str, ThreadState],
        pairs: tuple[tuple[str, str], ...],
        accept_encoding: str,
        if_none_match: str | None,
        fresh: bool,
    ) -> Answer:
        body = orjson.dumps({"counts": counts_of(states, pairs)})
        tag = hashlib.blake2b(body, digest_size=8).hexdigest()
        return self.answer(
            tag, Entry(tag, "application/json", body, 0.0), None, accept_encoding, if_none_match, fresh
        )

    def edge_headers(self, site: SiteConfig, origin: str | None) -> Headers:
        """What web/edge.py adds to an API answer: the CORS grant for an allowed origin and the
        security headers (the fast path answers before the edge).

        Kept per (site, canonical origin) for the site's own origins only, as browsers send them;
        every other Origin (none, unknown, invalid, or an allowed one spelt another way, which gets
        its grant built afresh) shares the site's one entry without a grant, so the Origins clients
        choose never become keys."""
        if origin is None or origin == "null":
            return self._edge_for(site, None)
        if origin in site.origins:
            return self._edge_for(site, origin)
        allowed = origin_of(origin)
        if allowed is None or not site.allows_origin(allowed):
            return self._edge_for(site, None)
        return [*self._edge_for(site, None), *_grant(origin)]

    def _edge_for(self, site: SiteConfig, origin: str | None) -> Headers:
        key = (site.id, origin)
        found = self._edge.get(key)
        if found is None:
            found = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
            if origin is not None:
                found += _grant(origin)
            self._edge[key] = found
        return found

    def observe(self, route: str, status: int, seconds: float | None) -> None:
        """The edge's request metrics, for answers given before the edge: counted in plain integers
        that ``flush_metrics`` adds to the registry when it is read, and timed for one answer in
        ``TIME_ONE_IN`` (registry updates per request would be a tenth of the fast path's cost)."""
        key = (route, status)
        self._counted[key] = self._counted.get(key, 0) + 1
        if seconds is not None:
            latency = self._latency.get(route)
            if latency is None:
                latency = self._latency[route] = self.metrics.latency.labels(route)
            latency.observe(seconds)

    def timed(self) -> bool:
        """Whether to time this fast-path answer (one in ``TIME_ONE_IN``)."""
        self._ticks += 1
        return self._ticks % TIME_ONE_IN == 0

    def flush_metrics(self) -> None:
        """Add the fast path's counts to the registry (before /metrics renders it)."""
        counted, self._counted = self._counted, {}
        for (route, status), n in counted.items():
            self.metrics.requests.labels(route, "GET", str(status)).inc(n)
            self._hit.inc(n)

    async def close(self) -> None:
        await self.versions.close()


Clock = Callable[[], datetime]


def _grant(origin: str) -> Headers:
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
    ]


def _as_dict(headers: Headers) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in headers}


def _has_fresh(query: bytes) -> bool:
    return any(part.split(b"=", 1)[0] == FRESH_PARAM.encode() for part in query.split(b"&"))


def _not_modified(if_none_match: str | None, tag: str) -> bool:
    return encoding.etag_matches(if_none_match, f'"{tag}"')


@dataclass(slots=True)
class Asked:
    """What the fast path reads of a request: the URL's alias and the three headers it heeds."""

    alias: Alias
    site: SiteConfig
    accept_encoding: str
    if_none_match: str | None
    origin: str | None


def asked(reads: ReadCache, path: str, query: bytes, headers: Headers) -> Asked | None:
    """The request as the fast path sees it, or None when the app must answer it: a URL no
    validated request has used yet, a site no longer configured, or a GET with a body."""
    alias = reads.aliases.get(path, query)
    if alias is None:
        return None
    site = reads.sites.get(alias.site)
    if site is None:
        return None
    accept_encoding, if_none_match, origin = "", None, None
    for name, value in headers:
        if name == b"accept-encoding":
            accept_encoding = value.decode("latin-1")
        elif name == b"if-none-match":
            if_none_match = value.decode("latin-1")
        elif name == b"origin":
            origin = value.decode("latin-1")
        elif (name == b"content-length" and value != b"0") or name == b"transfer-encoding":
            return None  # a GET with a body: the edge's body rules answer it
    return Asked(alias, site, accept_encoding, if_none_match, origin)


def thread_answer(reads: ReadCache, ask: Asked, state: ThreadState | None) -> Answer | None:
    """The answer to a thread read at ``state``, or None when the body must be rendered again."""
    tag = reads.tag(ask.site, state)
    entry = reads.bodies.get(ask.alias.key, tag)
    if entry is None and not _not_modified(ask.if_none_match, tag):
        return None  # changed since: the handler renders it again
    return reads.answer(tag, entry, ask.alias.key, ask.accept_encoding, ask.if_none_match, False)


def answer_now(reads: ReadCache, ask: Asked) -> Answer | None:
    """The fast path's answer when the version check needs no waiting (``Versions.now``), with the
    same bytes and headers as ``fast_read``'s; None when it must wait or the app must answer."""
    alias = ask.alias
    if alias.counts:
        states = reads.versions.now(alias.site, [key for _, key in alias.counts])
        if states is None:
            return None
        return reads.counts_answer_of(states, alias.counts, ask.accept_encoding, ask.if_none_match, False)
    state = reads.versions.one_now(alias.site, alias.page)
    if state is None:
        return None
    return thread_answer(reads, ask, state[0])


async def fast_read(ctx: Context, scope: Scope, send: Send) -> bool:
    """Answer a GET whose exact URL a validated request has seen before, after the same version
    check, with the same bytes and headers the handler and the edge would give; False when the app
    must answer (a first request, a thread whose body must be rendered again, a fault).

    It runs before the framework's own layers: on a spike this is nearly every request, so it does
    no routing, no validation and no middleware, only dictionary lookups and the version check.
    (On SQLite, web/wire.py answers most such requests before even this, in the HTTP protocol.)
    """
    reads = ctx.reads
    ask = asked(reads, scope["path"], scope["query_string"], scope["headers"])
    if ask is None:
        return False
    started = time.perf_counter() if reads.timed() else None
    alias = ask.alias
    try:
        if alias.counts:
            answer: Answer | None = await reads.counts_answer(
                alias.site, alias.counts, ask.accept_encoding, ask.if_none_match, False
            )
        else:
            answer = thread_answer(reads, ask, await reads.state(alias.site, alias.page))
    except Exception:  # the database is away: the handler answers with the right problem
        return False
    if answer is None:
        return False
    headers = answer.headers + reads.edge_headers(ask.site, ask.origin)
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
    reads.observe(alias.route, answer.status, None if started is None else time.perf_counter() - started)
    return True
