"""Doorbells for live updates: "thread T has changed up to version V", in one process or through Redis.

The database stays the source of truth: a ring only wakes a stream early, which then reads the
thread's events after its last version. A lost ring (Redis down, at-most-once pub/sub) costs at most
one poll interval.

A write never waits on Redis (QUALITY R06, a frozen Redis included): publish() rings this process's
streams and leaves the latest version of the thread for a publisher task, which sends it with a
short timeout behind a circuit breaker. After a failure the breaker opens (1 s, doubling up to 30 s):
rings are dropped meanwhile and streams poll the database every second, as without Redis; then one
publish tries again, and a success closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from kibitz.breaker import Breaker

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
BREAKER_FIRST = 1.0  # seconds the breaker stays open after a failure, doubling up to BREAKER_MAX
BREAKER_MAX = 30.0
PENDING_MAX = 10_000  # threads waiting for their publish; beyond, rings are dropped (polling covers)


class Doorbell(Protocol):
    def is_set(self) -> bool: ...
    def clear(self) -> None: ...
    async def wait(self) -> bool: ...


class Broker(Protocol):
    @property
    def poll_seconds(self) -> float:
        """How often a live stream reads its thread when no ring comes."""

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

    @property
    def poll_seconds(self) -> float:
        return LOCAL_POLL_SECONDS

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
    best-effort, in a task of its own behind a circuit breaker, so a write never waits on, or fails
    because of, Redis."""

    def __init__(self, redis_url: str, metrics: Metrics | None = None) -> None:
        super().__init__(metrics)
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

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
        self._sender: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self._pending: dict[int, int] = {}  # thread id -> the latest version to publish
        self._wake = asyncio.Event()
        # Open after one failure, for BREAKER_FIRST seconds doubling up to BREAKER_MAX (breaker.py).
        self._breaker = Breaker(failures=1, first=BREAKER_FIRST, cap=BREAKER_MAX)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._subscribe_forever(), name="kibitz-redis-subscriber")
        if self._sender is None:
            self._sender = asyncio.create_task(self._publish_forever(), name="kibitz-redis-publisher")

    @property
    def breaker_open(self) -> bool:
        """Whether publishes are being dropped after a failure (until the next try succeeds)."""
        return self._breaker.open_for > 0

    @property
    def poll_seconds(self) -> float:
        """Every 5 s while rings come through Redis; every second while they may not."""
        healthy = self.connected.is_set() and not self.breaker_open
        return REDIS_POLL_SECONDS if healthy else LOCAL_POLL_SECONDS

    async def publish(self, thread_id: int, version: int) -> None:
        """Ring this process's readers, and leave the rest to the publisher task: never suspends."""
        self.ring(thread_id)  # this process's readers need no round trip
        if thread_id not in self._pending and len(self._pending) >= PENDING_MAX:
            self._failed()
            return
        self._pending[thread_id] = max(version, self._pending.get(thread_id, 0))
        self._wake.set()

    def _failed(self, n: int = 1) -> None:
        if self.metrics is not None and n:
            self.metrics.broker_publish_failures.inc(n)

    async def _publish_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                ticket = self._breaker.attempt()
                if ticket is None:  # open: drop, the streams poll meanwhile
                    self._failed(len(self._pending))
                    self._pending.clear()
                    break
                thread_id, version = self._pending.popitem()
                await self._send(thread_id, version, ticket)

    async def _send(self, thread_id: int, version: int, ticket: int) -> None:
        try:
            await asyncio.wait_for(
                self._publisher.publish(f"{CHANNEL_PREFIX}{thread_id}", str(version)), PUBLISH_TIMEOUT
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # best-effort: readers elsewhere catch up by polling
            self._breaker.failed(ticket)
            log.warning(
                "redis publish failed for thread %s (%s): publishing paused for %.0f s",
                thread_id, str(exc) or type(exc).__name__, self._breaker.open_for,
            )  # fmt: skip
            self._failed()
            self.ring_all()  # local streams re-read at the faster poll interval
        else:
            if self._breaker.open_for:
                log.info("redis publish works again")
            self._breaker.succeeded()
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
        for task in (self._task, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._sender = None
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
