"""create_app(settings): the ASGI app around a Context (kibitz/context.py), with its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from kibitz import __version__, guard
from kibitz.config import Settings, load_settings
from kibitz.context import Clock, Context, close_context, open_context, utcnow
from kibitz.web import problems
from kibitz.web.cached import fast_read
from kibitz.web.edge import Edge, oversized, refuse_head
from kibitz.web.ops import METRICS_SOCKETS_ENV, answer_metrics_socket

log = logging.getLogger(__name__)
HOUSEKEEPING_SECONDS = 600


class KibitzApp(FastAPI):
    """The FastAPI app with the head limits and the read cache's fast path in front of every layer
    (web/edge.py, web/cached.py); HEAD is answered on every GET route, as GET without the body."""

    ctx: Context | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        refusal = oversized(scope)
        if refusal is not None:
            await refuse_head(refusal, scope, receive, send)
            return
        if scope["method"] == "HEAD":
            await self._head(scope, receive, send)
            return
        await self._get_or_other(scope, receive, send)

    async def _get_or_other(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "GET":
            ctx = self.ctx  # the lifespan's, kept on the app (State's attribute lookup costs more)
            if ctx is not None and await fast_read(ctx, scope, send):
                return
        await super().__call__(scope, receive, send)

    async def _head(self, scope: Scope, receive: Receive, send: Send) -> None:
        """HEAD as GET with the body dropped: the same status and headers (Content-Length too). A
        stream ends once its headers are out: the app is told the client has gone."""
        done = asyncio.Event()

        async def head_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                await send(message)
            elif message["type"] == "http.response.body" and not done.is_set():
                done.set()
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def head_receive() -> Message:
            if done.is_set():
                return {"type": "http.disconnect"}
            real = asyncio.ensure_future(receive())
            ended = asyncio.ensure_future(done.wait())
            await asyncio.wait({real, ended}, return_when=asyncio.FIRST_COMPLETED)
            ended.cancel()
            if real.done():
                return real.result()
            real.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await real
            return {"type": "http.disconnect"}

        await self._get_or_other({**scope, "method": "GET"}, head_receive, head_send)


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
        if isinstance(app, KibitzApp):
            app.ctx = ctx
        # Set when the server is told to stop, so live streams end (with a retry hint) before the
        # graceful-shutdown timeout instead of holding the process open.
        app.state.shutdown = asyncio.Event()
        unwatch = watch_shutdown(app.state.shutdown, ctx.broker)
        task = asyncio.create_task(_housekeeping(ctx))
        stop_worker = None
        if settings.smtp.host:  # without a server, mail waits in the outbox
            from kibitz.worker import start_worker

            stop_worker = start_worker(ctx)
        from kibitz.webhook_worker import start_webhook_worker

        stop_webhooks = start_webhook_worker(ctx)  # webhooks go out whether or not mail does
        stop_metrics = None
        sockets = os.environ.get(METRICS_SOCKETS_ENV)
        if sockets:  # `kibitz serve` with several workers or metrics_listen gathers them (web/ops.py)
            stop_metrics = await answer_metrics_socket(ctx, sockets)
        try:
            yield
        finally:
            if stop_metrics is not None:
                await stop_metrics()
            app.state.shutdown.set()
            ctx.broker.ring_all()
            unwatch()
            if stop_worker is not None:
                await stop_worker()
            await stop_webhooks()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if isinstance(app, KibitzApp):
                app.ctx = None
            await close_context(ctx)

    docs = settings.public_docs
    app = KibitzApp(
        title="Kibitz API",
        version=__version__,
        description="Comments, votes and reader subscriptions for news sites. Errors are "
        "application/problem+json with a stable `code` (see docs/api.md).",
        lifespan=lifespan,
        openapi_url="/openapi.json" if docs else None,
        # /docs is ours (routes.py, web/apidocs.py): Swagger UI from files this server ships, not
        # FastAPI's page, which loads it from a public CDN.
        docs_url=None,
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
