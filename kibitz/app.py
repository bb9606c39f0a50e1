"""create_app(settings): builds the Context (settings, store, tokens, events, rules) and the ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from kibitz import __version__, guard
from kibitz.broker import LocalBroker, make_broker
from kibitz.comments import Comments
from kibitz.config import Settings, load_settings
from kibitz.events import Events, ThreadEvent
from kibitz.metrics import Metrics
from kibitz.migrate import upgrade
from kibitz.readcache import Versions
from kibitz.security import Tokens
from kibitz.store.db import Database
from kibitz.subscriptions import links_for
from kibitz.web import problems
from kibitz.web.cached import ReadCache, fast_read
from kibitz.web.edge import Edge
from kibitz.web.shapes import Shaper

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
HOUSEKEEPING_SECONDS = 600


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """Everything a request handler may reach, built once per process."""

    settings: Settings
    db: Database
    tokens: Tokens
    events: Events
    comments: Comments
    shaper: Shaper
    metrics: Metrics
    clock: Clock
    broker: LocalBroker = field(default_factory=LocalBroker)
    reads: ReadCache = field(init=False)

    def __post_init__(self) -> None:
        versions = Versions(
            self.db, self.metrics, sqlite_file=self.db.sqlite_file, generation=self.db.generation
        )
        self.reads = ReadCache(self.settings, versions, self.metrics, self.clock)


class KibitzApp(FastAPI):
    """The FastAPI app with the read cache's fast path in front of every layer (web/cached.py)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            ctx: Context | None = getattr(self.state, "ctx", None)
            if ctx is not None and await fast_read(ctx, scope, send):
                return
        await super().__call__(scope, receive, send)


async def load_secret(db: Database, configured: str) -> str:
    """The configured secret, or one generated once and kept in the database for every worker."""
    if configured:
        return configured
    async with db.write() as tx:
        return await tx.meta.put_if_absent("secret_key", secrets.token_urlsafe(48))


async def open_context(settings: Settings, *, clock: Clock = utcnow, migrate: bool = True) -> Context:
    db = Database(settings.sqlalchemy_url)
    if migrate:
        await upgrade(db, settings)
    secret = await load_secret(db, settings.secret_key)
    tokens = Tokens(secret)
    events = Events()
    metrics = Metrics()
    events.listen(metrics.on_event)
    broker = make_broker(settings.redis_url, metrics)

    async def publish(event: ThreadEvent) -> None:  # after commit: wake the thread's live streams
        await broker.publish(event.thread_id, event.version)

    events.listen(publish)
    comments = Comments(
        db, tokens, events, clock, avatar_secret=secret.encode(), links=links_for(tokens, settings)
    )
    return Context(settings, db, tokens, events, comments, Shaper(settings.base_url), metrics, clock, broker)


async def close_context(ctx: Context) -> None:
    await ctx.reads.close()
    await ctx.broker.close()
    await ctx.db.dispose()


async def _housekeeping(ctx: Context) -> None:
    while True:
        await asyncio.sleep(HOUSEKEEPING_SECONDS)
        try:
            async with ctx.db.write() as tx:
                await guard.forget_old_counters(tx, now=ctx.clock())
        except Exception:  # housekeeping retries next round
            log.exception("housekeeping failed")


def create_app(settings: Settings, *, clock: Clock = utcnow, migrate: bool = True) -> FastAPI:
    """The ASGI application; the lifespan opens the database (and migrates unless told not to)."""
    from kibitz.routes import register

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from kibitz.web.live import watch_shutdown

        ctx = await open_context(settings, clock=clock, migrate=migrate)
        app.state.ctx = ctx
        # Set when the server is told to stop, so live streams end (with a retry hint) before the
        # graceful-shutdown timeout instead of holding the process open.
        app.state.shutdown = asyncio.Event()
        unwatch = watch_shutdown(app.state.shutdown, ctx.broker)
        task = asyncio.create_task(_housekeeping(ctx))
        stop_worker = None
        if settings.smtp.host:  # without a server, mail waits in the outbox
            from kibitz.worker import start_worker

            stop_worker = start_worker(ctx)
        try:
            yield
        finally:
            app.state.shutdown.set()
            ctx.broker.ring_all()
            unwatch()
            if stop_worker is not None:
                await stop_worker()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await close_context(ctx)

    docs = settings.public_docs
    app = KibitzApp(
        title="Kibitz API",
        version=__version__,
        description="Comments, votes and reader subscriptions for news sites. Errors are "
        "application/problem+json with a stable `code` (see docs/api.md).",
        lifespan=lifespan,
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        # No 307 to a slash-less twin: a redirect built from the Host header and a hostile path
        # (`/comments/%2e%2e%2f`) is not a problem+json answer (QUALITY T49).
        redirect_slashes=False,
    )
    problems.install(app)
    register(app)
    app.add_middleware(Edge, sites=settings.site, all_sites=lambda: list(settings.sites))
    return app


def factory() -> FastAPI:
    """Entry point for ``uvicorn --factory`` (each worker process); settings as ``kibitz serve`` read
    them (KIBITZ_CONFIG names the file). Workers check the schema under the migration lock, which
    is a no-op once ``kibitz serve`` has brought it up to date."""
    return create_app(load_settings(None))
