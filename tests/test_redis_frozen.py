"""QUALITY R06 with a frozen Redis (SIGSTOP): a write never waits on Redis (publishing is left to a
task behind a circuit breaker), live streams fall back to polling every second while the breaker is
open, and rings travel through Redis again after SIGCONT. A throwaway redis-server on its own port:
the shared one on 6379 is never stopped."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from kibitz.broker import LOCAL_POLL_SECONDS, REDIS_POLL_SECONDS, RedisBroker
from kibitz.metrics import Metrics
from tests.server import free_port
from tests.test_live import redis_server

pytestmark = pytest.mark.anyio
WITHIN = 20.0  # seconds any awaited condition may take before the test fails


def finishes_without_suspending(coro: Coroutine[Any, Any, None]) -> bool:
    """Whether ``coro`` runs to its end in one step: it never waits for anything (Redis included)."""
    try:
        coro.send(None)
    except StopIteration:
        return True
    coro.close()
    return False


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WITHIN
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def value(metrics: Metrics, name: str) -> float:
    found: float = metrics.registry.get_sample_value(name) or 0.0
    return found


@pytest.mark.timeout(120)
async def test_a_frozen_redis_slows_no_write_streams_poll_and_rings_resume_after_sigcont(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with redis_server(port, tmp_path) as redis:
        metrics, other_metrics = Metrics(), Metrics()
        writer, reader = RedisBroker(url, metrics), RedisBroker(url, other_metrics)
        writer.start()
        reader.start()
        try:
            await until(lambda: writer.connected.is_set() and reader.connected.is_set())
            assert writer.poll_seconds == REDIS_POLL_SECONDS
            async with reader.listen(7) as bell:
                await writer.publish(7, 1)
                await asyncio.wait_for(bell.wait(), WITHIN)  # through Redis, to the other process

                redis.send_signal(signal.SIGSTOP)
                try:
                    for version in range(2, 50):  # each write's publish returns at once, frozen or not
                        assert finishes_without_suspending(writer.publish(7, version))
                    await until(lambda: writer.breaker_open)
                    assert value(metrics, "kibitz_broker_publish_failures_total") >= 1
                    assert writer.poll_seconds == LOCAL_POLL_SECONDS  # streams fall back to polling
                    failures = value(metrics, "kibitz_broker_publish_failures_total")
                    for thread in range(100, 110):  # open: dropped (polling covers them)
                        assert finishes_without_suspending(writer.publish(thread, 1))
                    await until(
                        lambda: value(metrics, "kibitz_broker_publish_failures_total") >= failures + 10
                    )
                    assert writer.breaker_open
                finally:
                    redis.send_signal(signal.SIGCONT)

                published = value(metrics, "kibitz_broker_published_total")

                async def publish_until_through() -> None:
                    version = 100
                    while value(metrics, "kibitz_broker_published_total") == published:
                        version += 1
                        await writer.publish(7, version)
                        await asyncio.sleep(0.1)

                await asyncio.wait_for(publish_until_through(), WITHIN)
                bell.clear()  # (a ring held in the frozen server may have arrived meanwhile)
                await writer.publish(7, 1000)
                await asyncio.wait_for(bell.wait(), WITHIN)  # through Redis again
                assert not writer.breaker_open
                assert writer.poll_seconds == REDIS_POLL_SECONDS
        finally:
            await writer.close()
            await reader.close()
