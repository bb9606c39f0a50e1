"""Doorbells for live updates: "thread T has changed up to version V", in one process or through Redis.

The database stays the source of truth: a ring only wakes a stream early, which then reads the
thread's events after its last version. A lost ring (Redis down, at-most-once pub/sub) costs at most
one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from kibitz.metrics import Metrics

log = logging.getLogger(__name__)
T = TypeVar("T")

CHANNEL_PREFIX = "kibitz:t:"
PUBLISH_TIMEOUT = 0.5
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
LOCAL_POLL_SECONDS = 1.0
# How long a finished shared read (see LocalBroker.shared) still answers callers with the same key.
SHARE_SECONDS = 0.5
REDIS_POLL_SECONDS = 5.0


class Doorbell(Protocol):
    def is_set(self) -> bool: ...
    def clear(self) -> None: ...
    async def wait(self) -> bool: ...


class Broker(Protocol):
    poll_seconds: float

    async def publish(self, thread_id: int, version: int) -> None:
        """Tell every listener of the thread; never raises (failures are logged and counted)."""

    def listen(self, thread_id: int) -> AbstractAsyncContextManager[Doorbell]:
        """A doorbell rung whenever the thread changes, while the context is open."""

    def ring_all(self) -> None:
        """Wake every listener (shutdown, or a reconnect after which rings may have been lost)."""

    def rings(self, thread_id: int) -> int:
        """How often a listened thread has rung."""

    async def shared(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """One run of ``compute`` for every caller with the same key at about the same time."""

    async def close(self) -> None: ...


class LocalBroker:
    """Doorbells of one process; other workers' changes arrive by polling the database."""

    poll_seconds = LOCAL_POLL_SECONDS

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics
        self._bells: dict[int, set[asyncio.Event]] = {}
        self._rings: dict[int, int] = {}  # per listened thread: how often it rang
        self._shared: dict[Hashable, asyncio.Future[Any]] = {}

    def ring(self, thread_id: int) -> None:
        if thread_id in self._bells:
            self._rings[thread_id] = self._rings.get(thread_id, 0) + 1
        for bell in self._bells.get(thread_id, ()):
            bell.set()

    def ring_all(self) -> None:
        for thread_id, bells in self._bells.items():
            self._rings[thread_id] = self._rings.get(thread_id, 0) + 1
            for bell in bells:
                bell.set()

    def rings(self, thread_id: int) -> int:
        """How often the thread rang while listened to: part of a shared read's key, so a read made
        before a ring is never handed to a stream woken by it."""
        return self._rings.get(thread_id, 0)

    async def shared(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """One run of ``compute`` for every caller with the same key at about the same time: the
        thousands of streams of one thread, woken by one ring, read the database once."""
        future = self._shared.get(key)
        if future is None:
            future = asyncio.ensure_future(compute())
            self._shared[key] = future
            loop = asyncio.get_running_loop()
            future.add_done_callback(lambda _: loop.call_later(SHARE_SECONDS, self._shared.pop, key, None))
        result: T = await asyncio.shield(future)
        return result

    async def publish(self, thread_id: int, version: int) -> None:
        self.ring(thread_id)
        if self.metrics is not None:
            self.metrics.broker_published.inc()

    @contextlib.asynccontextmanager
    async def listen(self, thread_id: int) -> AsyncIterator[Doorbell]:
        bell = asyncio.Event()
        self._bells.setdefault(thread_id, set()).add(bell)
        try:
            yield bell
        finally:
            bells = self._bells.get(thread_id)
            if bells is not None:
                bells.discard(bell)
                if not bells:
                    del self._bells[thread_id]
                    self._rings.pop(thread_id, None)

    async def close(self) -> None:
        self.ring_all()


class RedisBroker(LocalBroker):
    """Rings travel through Redis pub/sub: one pattern subscription per process (``kibitz:t:*``) fans
    out to the local doorbells; it reconnects with backoff while Redis is away. Publishing is
    best-effort with a short timeout, so a write never waits on, or fails because of, Redis."""

    poll_seconds = REDIS_POLL_SECONDS

    def __init__(self, redis_url: str, metrics: Metrics | None = None) -> None:
        super().__init__(metrics)
        from redis.asyncio import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._publisher: Any = Redis.from_url(
            redis_url,
            socket_connect_timeout=PUBLISH_TIMEOUT,
            socket_timeout=PUBLISH_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
        self._subscriber: Any = Redis.from_url(
            redis_url, socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 0), health_check_interval=10
        )
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._subscribe_forever(), name="kibitz-redis-subscriber")

    async def publish(self, thread_id: int, version: int) -> None:
        self.ring(thread_id)  # this process's readers need no round trip
        try:
            await asyncio.wait_for(
                self._publisher.publish(f"{CHANNEL_PREFIX}{thread_id}", str(version)), PUBLISH_TIMEOUT
            )
        except Exception as exc:  # best-effort: readers elsewhere catch up by polling
            log.warning("redis publish failed for thread %s: %s", thread_id, exc)
            if self.metrics is not None:
                self.metrics.broker_publish_failures.inc()
        else:
            if self.metrics is not None:
                self.metrics.broker_published.inc()

    async def _subscribe_forever(self) -> None:
        backoff = BACKOFF_FIRST
        while True:
            pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
                self.connected.set()
                backoff = BACKOFF_FIRST
                self.ring_all()  # rings may have been lost while we were away
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "pmessage":
                        self._on_message(message.get("channel"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: try again later, polling covers the gap
                if self.connected.is_set():
                    log.warning("redis subscription lost: %s", exc)
                self.connected.clear()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _on_message(self, channel: object) -> None:
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        suffix = name.removeprefix(CHANNEL_PREFIX)
        if suffix.isdigit():
            self.ring(int(suffix))

    async def close(self) -> None:
        await super().close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for client in (self._publisher, self._subscriber):
            with contextlib.suppress(Exception):
                await client.aclose()


def make_broker(redis_url: str, metrics: Metrics | None = None) -> LocalBroker:
    """A RedisBroker when ``redis_url`` is set (started), else a LocalBroker."""
    if not redis_url:
        return LocalBroker(metrics)
    broker = RedisBroker(redis_url, metrics)
    broker.start()
    return broker
