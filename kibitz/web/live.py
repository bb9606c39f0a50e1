"""GET /api/v1/sites/{site}/events — live updates of one thread as Server-Sent Events (DESIGN.md §3).

Each stream replays the thread's ``thread_events`` after its last version, woken by the broker's
doorbell or every poll interval; no transaction stays open while it waits. Streams end when the
client goes and when the server stops (``retry: 1000`` first, so the browser reconnects elsewhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from types import FrameType
from typing import Annotated, Any

import orjson
from fastapi import Header, Query, Request
from starlette.responses import Response, StreamingResponse

from kibitz import inputs
from kibitz.broker import Doorbell, LocalBroker
from kibitz.context import Context
from kibitz.events import EventKind
from kibitz.web.api import SiteId, ctx_of, site_of

RETRY_MS = 3000
SHUTDOWN_RETRY_MS = 1000
HEARTBEAT_SECONDS = 15.0
NO_THREAD_POLL_SECONDS = 1.0
BATCH = 200
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
MAX_VERSION = 2**62


def watch_shutdown(event: asyncio.Event, broker: LocalBroker) -> Callable[[], None]:
    """Set ``event`` (and wake every stream) when the server is told to stop, before uvicorn waits
    for open connections; chains to the handler the server installed. A no-op outside a server's
    main thread, or where nobody handles the signal. Returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def on_signal(sig: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(event.set)
        loop.call_soon_threadsafe(broker.ring_all)
        handler = previous.get(sig)
        if callable(handler):
            handler(sig, frame)

    for sig in (signal.SIGTERM, signal.SIGINT):
        handler = signal.getsignal(sig)
        # Only wrap a server's own handler (uvicorn's); leave defaults alone (tests, other hosts).
        if callable(handler) and handler is not signal.default_int_handler:
            previous[sig] = handler
            signal.signal(sig, on_signal)

    def undo() -> None:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is on_signal:
                signal.signal(sig, handler)

    return undo


def _frame(kind: str, version: int, data: dict[str, Any]) -> bytes:
    return f"id: {version}\nevent: {kind}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


def _resume_point(last_event_id: str | None, last: int | None) -> int | None:
    if last_event_id is not None:
        value = last_event_id.strip()
        if value.isdigit() and len(value) <= 18:
            return int(value)
    return last


async def events(
    request: Request,
    site: SiteId,
    page: Annotated[str, Query(min_length=1, max_length=2048)],
    last: Annotated[int | None, Query(ge=0, le=MAX_VERSION, description="Resume after this event id")] = None,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=64, description="Resume after this event id")
    ] = None,
) -> Response:
    """GET /api/v1/sites/{site}/events — the thread's changes as they commit (text/event-stream)."""
    ctx = ctx_of(request)
    site_id = site_of(ctx, site).id
    page = inputs.page_key(page)
    after = _resume_point(last_event_id, last)
    # Where the stream starts is fixed before the answer begins: a change committed after the reader
    # saw the response start is always in the stream.
    async with ctx.db.read() as tx:
        thread = await tx.threads.get(site_id, page)
    thread_id = thread.id if thread is not None else None
    resumed = after is not None
    if after is None:  # no resume point: from now on (all of a thread born after we connected is new)
        after = thread.version if thread is not None else 0
    shutdown: asyncio.Event = getattr(request.app.state, "shutdown", None) or asyncio.Event()
    stream = Stream(ctx, request, shutdown, site_id, page, thread_id, after, resumed=resumed)
    return StreamingResponse(stream.run(), media_type="text/event-stream", headers=HEADERS)


class Stream:
    """One reader's stream of one thread."""

    def __init__(
        self,
        ctx: Context,
        request: Request,
        shutdown: asyncio.Event,
        site: str,
        page: str,
        thread_id: int | None,
        after: int,
        *,
        resumed: bool,
    ) -> None:
        self.ctx = ctx
        self.request = request
        self.shutdown = shutdown
        self.site = site
        self.page = page
        self.thread_id = thread_id
        self.after = after
        self.resumed = resumed
        self.next_ping = time.monotonic() + HEARTBEAT_SECONDS

    async def run(self) -> AsyncIterator[bytes]:
        metrics = self.ctx.metrics
        metrics.sse_streams.inc()
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            thread_id = self.thread_id
            while thread_id is None:  # a page nobody has commented on yet: wait for its thread
                async for chunk in self._idle(NO_THREAD_POLL_SECONDS, None):
                    yield chunk
                if await self._should_end():
                    if self.shutdown.is_set():
                        yield f"retry: {SHUTDOWN_RETRY_MS}\n\n".encode()
                    return
                async with self.ctx.db.read() as tx:
                    thread = await tx.threads.get(self.site, self.page)
                thread_id = thread.id if thread is not None else None
            async with self.ctx.broker.listen(thread_id) as bell:
                while True:
                    bell.clear()
                    chunks, more = await self._batch(thread_id)
                    for chunk in chunks:
                        yield chunk
                    if not more:
                        async for chunk in self._idle(self.ctx.broker.poll_seconds, bell):
                            yield chunk
                    if await self._should_end():
                        if self.shutdown.is_set():
                            yield f"retry: {SHUTDOWN_RETRY_MS}\n\n".encode()
                        return
        finally:
            metrics.sse_streams.dec()

    async def _should_end(self) -> bool:
        return self.shutdown.is_set() or await self.request.is_disconnected()

    async def _idle(self, seconds: float, bell: Doorbell | None) -> AsyncIterator[bytes]:
        """Wait for the doorbell, shutdown or ``seconds``; a heartbeat comment when one is due."""
        wait_for = min(seconds, max(0.0, self.next_ping - time.monotonic()))
        if not self.shutdown.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for((bell or self.shutdown).wait(), timeout=wait_for)
        if time.monotonic() >= self.next_ping:
            self.next_ping = time.monotonic() + HEARTBEAT_SECONDS
            yield b": ping\n\n"

    async def _batch(self, thread_id: int) -> tuple[list[bytes], bool]:
        """The frames of the events after our version (and a thread.count). Every stream of the
        thread at the same version shares one short read (LocalBroker.shared)."""
        broker = self.ctx.broker
        key = ("events", thread_id, self.after, broker.rings(thread_id))
        after = self.after
        frames, last, count = await broker.shared(key, lambda: self._read(thread_id, after))
        if not count:
            return [], False
        if self.resumed:
            self.ctx.metrics.sse_replayed.inc(count)
            self.resumed = False
        self.after = last
        return frames, count == BATCH

    async def _read(self, thread_id: int, after: int) -> tuple[list[bytes], int, int]:
        """(frames, last version, events read) after ``after``, in one short read transaction."""
        shaper = self.ctx.shaper
        async with self.ctx.db.read() as tx:
            rows = await tx.threads.events_after(thread_id, after, BATCH)
            if not rows:
                return [], after, 0
            frames: list[bytes] = []
            for version, kind, comment_id in rows:
                data: dict[str, Any] | None = None
                if kind in (EventKind.COMMENT_CREATED, EventKind.COMMENT_UPDATED, EventKind.COMMENT_DELETED):
                    comment = await tx.comments.get(comment_id) if comment_id is not None else None
                    # Built from the comment as it is now: one gone without visible replies (deleted,
                    # rejected, spam) appears only in its comment.deleted event, as a bare tombstone.
                    gone = comment is not None and not comment.visible and not comment.visible_descendants
                    if comment is not None and (kind == EventKind.COMMENT_DELETED or not gone):
                        data = {"comment": shaper.comment(comment)}
                elif kind == EventKind.COMMENT_VOTED:
                    comment = await tx.comments.get(comment_id) if comment_id is not None else None
                    if comment is not None and comment.visible:
                        data = {
                            "id": str(comment.id),
                            "score": comment.score,
                            "up": comment.up,
                            "down": comment.down,
                        }
                elif kind == EventKind.STORY_UPDATE:
                    update = await tx.story_updates.get(comment_id) if comment_id is not None else None
                    if update is not None:
                        data = {"update": shaper.update(update)}
                elif kind == EventKind.THREAD_CHANGED:
                    current = await tx.threads.get(self.site, self.page)
                    data = {"closed": bool(current is not None and current.closed)}
                if data is not None:
                    frames.append(_frame(kind, version, data))
            thread = await tx.threads.get(self.site, self.page)
        last = rows[-1][0]
        frames.append(_frame("thread.count", last, {"count": thread.count if thread is not None else 0}))
        return frames, last, len(rows)
