"""A slow or dead outbound dependency (QUALITY R11): every outgoing HTTP call is bounded by its timeout,
and a destination that keeps failing is skipped at once by its circuit breaker (kibitz/breaker.py,
outbound.py) for a cool-down that doubles, then tried once; other destinations are not affected.
Against real servers on 127.0.0.1 that accept and never answer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kibitz import outbound
from kibitz.breaker import Breaker, Breakers
from kibitz.outbound import OutboundError, OutboundPolicy, fetch, send
from tests.conftest import Api, FakeClock, custom_api
from tests.loopback import serving

pytestmark = pytest.mark.anyio
WITHIN = 20.0  # seconds a condition may take before the test fails (never a measured time)


@dataclass
class Destination:
    """An HTTP server on 127.0.0.1 that accepts every connection and, unless ``answering``, never says
    a word (until the caller hangs up); it counts the connections it saw."""

    port: int = 0
    answering: bool = False
    connections: int = 0
    open_now: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/page"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        try:
            if not self.answering:
                await reader.read()  # until the caller gives up
                return
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open_now -= 1
            writer.transport.abort()


@contextlib.asynccontextmanager
async def destination() -> AsyncIterator[Destination]:
    dest = Destination()
    async with serving(dest.handle) as port:
        dest.port = port
        yield dest


class Monotonic:
    """A monotonic clock the test moves by hand (the breakers' cool-downs)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def until(check: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(WITHIN):
            while not check():  # noqa: ASYNC110 - a server's counter, not an event
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"still waiting for {what}") from None


async def reason_of(url: str, policy: OutboundPolicy) -> str:
    """The reason the call failed with ("" when it got an answer)."""
    try:
        await fetch(url, policy=policy)
    except OutboundError as exc:
        return exc.reason
    return ""


# -- the breaker on its own ------------------------------------------------------------------------------


def test_the_breaker_opens_after_failures_in_a_row_doubles_on_failed_trials_and_closes_on_success() -> None:
    """Mutations tried: opening after one failure, not doubling after a failed trial, letting every
    call through once the cool-down is over (not one trial), counting the failures of calls begun
    before the breaker opened: each fails this test."""
    clock = Monotonic()
    breaker = Breaker(failures=3, first=10, cap=25, monotonic=clock)
    early = [breaker.attempt() for _ in range(5)]  # five calls in flight to a service that died
    assert all(started is not None for started in early)
    assert [breaker.failed(s) for s in early[:3] if s is not None] == [False, False, True]
    assert not breaker.failed(early[3] or 0)  # begun before it opened: neither counted nor doubling
    assert (breaker.state, breaker.open_for) == ("open", 10)
    assert breaker.attempt() is None
    clock.now += 10
    trial = breaker.attempt()
    assert trial is not None
    assert breaker.attempt() is None  # one trial at a time
    assert breaker.failed(trial)
    assert breaker.open_for == 20
    clock.now += 20
    trial = breaker.attempt()
    assert trial is not None
    assert breaker.failed(trial)
    assert breaker.open_for == 25  # the cap
    clock.now += 25
    assert breaker.attempt() is not None
    breaker.succeeded()
    assert breaker.state == "closed"
    assert all(breaker.attempt() is not None for _ in range(3))


def test_a_trial_that_never_reports_lets_another_trial_through_later() -> None:
    """Mutation tried: a trial that is not re-armed (a cancelled caller) leaves the breaker half open
    for ever, or lets everyone through: this test fails."""
    clock = Monotonic()
    breaker = Breaker(failures=1, first=5, cap=60, monotonic=clock)
    started = breaker.attempt()
    assert started is not None
    assert breaker.failed(started)
    clock.now += 5
    assert breaker.attempt() is not None  # the trial, whose caller is cancelled and never reports
    assert breaker.attempt() is None
    clock.now += 5
    assert breaker.attempt() is not None


# -- through the guard, against real servers -----------------------------------------------------------


async def test_a_hanging_destination_times_out_then_is_skipped_then_tried_once_after_its_cool_down() -> None:
    """Mutations tried: no breaker check before connecting (the server sees a fourth connection),
    keying the breakers by host without the port (the healthy server on another port is skipped
    too), not counting the call's timeout against the destination it was talking to (the breaker
    never opens): each fails this test."""
    clock = Monotonic()
    breakers = Breakers(failures=3, first=30, cap=600, monotonic=clock)
    policy = OutboundPolicy(allow_private=True, timeout=0.3, breakers=breakers)
    # For the calls that get an answer: room for a busy machine (the same breakers).
    patient = OutboundPolicy(allow_private=True, timeout=10.0, breakers=breakers)
    async with destination() as dead, destination() as healthy:
        healthy.answering = True
        for n in range(1, 4):
            assert await reason_of(dead.url, policy) == "timeout"  # it returned, with an error
            assert dead.connections == n
        assert breakers.state(f"http://127.0.0.1:{dead.port}") == "open"
        for _ in range(3):
            assert await reason_of(dead.url, policy) == "breaker_open"
        with pytest.raises(OutboundError) as refused:
            await send(dead.url, body=b"{}", headers=(), policy=policy)
        assert refused.value.reason == "breaker_open"
        assert dead.connections == 3  # skipped: no connection at all
        assert breakers.skipped == 4
        # Another destination on the same host answers as ever.
        assert await reason_of(healthy.url, patient) == ""
        assert healthy.connections == 1

        clock.now += 30  # the cool-down is over: one trial goes, and fails
        assert await reason_of(dead.url, policy) == "timeout"
        assert dead.connections == 4
        assert await reason_of(dead.url, policy) == "breaker_open"
        clock.now += 30  # the wait doubled: still open
        assert await reason_of(dead.url, policy) == "breaker_open"
        assert dead.connections == 4
        clock.now += 30
        dead.answering = True  # back: the trial gets an answer and closes the breaker
        assert await reason_of(dead.url, patient) == ""
        assert await reason_of(dead.url, patient) == ""
        assert dead.connections == 6
    assert breakers.open_count() == 0


async def test_while_the_trial_is_in_flight_other_calls_are_skipped() -> None:
    """Mutation tried: every call let through once the cool-down is over: the server sees three
    connections at once instead of one, and this test fails."""
    clock = Monotonic()
    breakers = Breakers(failures=1, first=5, cap=60, monotonic=clock)
    policy = OutboundPolicy(allow_private=True, timeout=5.0, breakers=breakers)
    short = OutboundPolicy(allow_private=True, timeout=0.2, breakers=breakers)
    async with destination() as dead:
        assert await reason_of(dead.url, short) == "timeout"
        clock.now += 5
        trial = asyncio.create_task(reason_of(dead.url, policy))
        await until(lambda: dead.connections == 2, "the trial's connection")
        assert [await reason_of(dead.url, policy) for _ in range(2)] == ["breaker_open"] * 2
        assert dead.connections == 2
        trial.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await trial


async def test_refusals_of_the_guard_do_not_count_against_a_destination() -> None:
    """Mutation tried: counting every OutboundError (a blocked address here) as a failure: the
    destination's breaker opens and this test fails."""
    clock = Monotonic()
    breakers = Breakers(failures=2, first=30, cap=600, monotonic=clock)
    policy = OutboundPolicy(timeout=1.0, breakers=breakers)  # loopback not allowed
    for _ in range(4):
        assert await reason_of("http://127.0.0.1:9/x", policy) == "blocked_address"
    assert breakers.open_count() == 0


# -- webhooks: the post never waits, deliveries to a dead target fail fast and are retried -------------


async def test_posting_is_not_held_up_by_a_webhook_target_that_hangs(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    """Mutation tried: delivering the webhook inside the post's request (awaiting the delivery loop's
    round before answering): the first post hangs for the 30 s timeout, and this test fails."""
    from tests.test_webhooks import key, register

    async with custom_api(
        tmp_path, database_url, clock, webhook_allow=["127.0.0.1"], webhook_timeout=30
    ) as api:
        headers = await key(api)
        async with destination() as dead:
            await register(api, dead.url, headers, events=["comment.created"])
            first = await api.post(text="The first comment")
            assert first.status_code == 201
            await until(lambda: dead.connections == 1, "the webhook call that hangs")
            second = await api.post(text="Answered while the webhook call still hangs")
            assert second.status_code == 201
            assert dead.open_now == 1  # the call is still waiting for its answer (30 s timeout)


@pytest.fixture
async def slow_hooks(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    async with custom_api(
        tmp_path, database_url, clock, webhook_allow=["127.0.0.1"], webhook_timeout=0.5
    ) as api:
        yield api


async def test_deliveries_to_a_target_that_keeps_timing_out_are_skipped_and_retried_later(
    slow_hooks: Api,
) -> None:
    """Mutations tried: no breaker in the guard (the sixth delivery connects too), the webhook loop
    giving up on a skipped call (it must stay pending, retried with back-off): each fails this test."""
    from tests.test_webhooks import ctx_of, key, log, register

    api = slow_hooks
    ctx = ctx_of(api)
    headers = await key(api)

    async def attempted(count: int) -> None:
        async def check() -> bool:
            items = await log(api, hook, headers)
            return len(items) == count and all(d["attempts"] >= 1 for d in items)

        async with asyncio.timeout(WITHIN):
            while not await check():  # noqa: ASYNC110 - the database has no event to wait on
                await asyncio.sleep(0.02)

    async with destination() as dead:
        hook, _ = await register(api, dead.url, headers, events=["comment.created"])
        for n in range(outbound.BREAKER_FAILURES):
            assert (await api.post(text=f"Comment number {n}")).status_code == 201
        await attempted(outbound.BREAKER_FAILURES)  # each timed out: the destination's breaker opens
        assert dead.connections == outbound.BREAKER_FAILURES
        assert outbound.BREAKERS.open_count() == 1
        assert (await api.post(text="One more, while the target is skipped")).status_code == 201
        ctx.webhooks.wakeup.set()
        await attempted(outbound.BREAKER_FAILURES + 1)
        assert dead.connections == outbound.BREAKER_FAILURES  # skipped without a connection
        items = await log(api, hook, headers)
        skipped = [d for d in items if d["error"].startswith("breaker_open")]
        assert len(skipped) == 1
        assert skipped[0]["status"] == "pending"  # retried later, with back-off
        timed_out = [d for d in items if d["error"].startswith("timeout")]
        assert len(timed_out) == outbound.BREAKER_FAILURES
    metrics = ctx.metrics.render().decode()
    assert "kibitz_outbound_breakers_open 1.0" in metrics
    assert "kibitz_outbound_skipped_total 1.0" in metrics
    assert f'kibitz_webhook_deliveries_total{{outcome="retry"}} {outbound.BREAKER_FAILURES + 1}.0' in metrics
