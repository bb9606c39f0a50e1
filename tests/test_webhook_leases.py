"""Webhook deliveries hold the mail outbox's leases (leased.py, issue 18): short, renewed by a heartbeat
while the calls are under way, and fenced by the loop's token (``lease_owner``, migration 0023). A
killed loop's deliveries are taken again within a lease, by another loop or a `kibitz worker`
process; a loop whose lease was taken over records nothing. On both engines, against a receiver on
127.0.0.1 that answers when the test lets it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from kibitz.breaker import Breakers
from kibitz.leased import LEASE
from kibitz.migrate import upgrade
from kibitz.outbound import OutboundPolicy
from kibitz.store.db import Database
from kibitz.store.schema import webhook_deliveries
from kibitz.store.webhooks import Delivery, Outcome
from kibitz.webhook_worker import WebhookWorker
from tests.conftest import FakeClock, make_settings
from tests.loopback import serving
from tests.mailserver import MailServer
from tests.server import KIBITZ, child_env, write_config

pytestmark = pytest.mark.anyio
WITHIN = 20.0  # seconds a condition may take before the test fails (never a measured time)
BODY = '{"type":"comment.created","timestamp":"2026-11-27T12:00:00.000Z","data":{}}'


@dataclass
class Gate:
    """A webhook receiver on 127.0.0.1: reads each request, then answers 200 once ``open`` is set."""

    port: int = 0
    open: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: int = 0  # requests read and not answered yet
    answered: list[str] = field(default_factory=list)  # the webhook-id of each call answered

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        headers = {
            k.strip().lower(): v.strip()
            for k, _, v in (line.partition(":") for line in head.split("\r\n")[1:])
        }
        await reader.readexactly(int(headers.get("content-length", "0")))
        self.waiting += 1
        try:
            await self.open.wait()
        finally:
            self.waiting -= 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        self.answered.append(headers.get("webhook-id", ""))


@contextlib.asynccontextmanager
async def gate() -> AsyncIterator[Gate]:
    receiver = Gate()
    async with serving(receiver.handle) as port:
        receiver.port = port
        yield receiver


async def until(check: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(WITHIN):
            while not check():  # noqa: ASYNC110 - a receiver's counter, not an event
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"still waiting for {what}") from None


@dataclass
class Env:
    db: Database
    clock: FakeClock
    tmp_path: Path
    database_url: str

    def loop(self, **options: object) -> WebhookWorker:
        policy = OutboundPolicy(allow_private=True, timeout=10.0, breakers=Breakers())
        return WebhookWorker(self.db, policy, self.clock, rng=random.Random(3), **options)  # type: ignore[arg-type]

    async def deliveries(self, url: str, count: int, now: datetime | None = None) -> list[int]:
        """``count`` deliveries of one webhook at ``url``, due now; their ids."""
        when = now or self.clock()
        async with self.db.write() as tx:
            hook = await tx.webhooks.add("a", url, ("comment.created",), "whsec_dGVzdA==", when, "tests")
            for n in range(count):
                await tx.webhooks.enqueue(hook.id, f"msg_{n}", "comment.created", f"cause:{n}", BODY, when)
            found = await tx.conn.execute(select(webhook_deliveries.c.id).order_by(webhook_deliveries.c.id))
            return [int(i) for i in found.scalars()]

    async def delivery(self, delivery_id: int) -> Delivery:
        async with self.db.read() as tx:
            found = await tx.webhooks.delivery(delivery_id)
        assert found is not None
        return found


@pytest.fixture
async def env(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Env]:
    settings = make_settings(tmp_path, database_url)
    db = Database(settings.sqlalchemy_url)
    await upgrade(db, settings)
    try:
        yield Env(db, clock, tmp_path, database_url)
    finally:
        await db.dispose()


async def test_a_dead_loops_deliveries_are_taken_over_once_its_short_lease_ends(env: Env) -> None:
    """Mutation tried: the old lease (2 × timeout + 30 s): the delivery is still held a lease after
    the claim, and this test fails."""
    async with gate() as rx:
        rx.open.set()
        [delivery_id] = await env.deliveries(rx.url, 1)
        async with env.db.write() as tx:  # a loop claims it, then dies
            [claimed] = await tx.webhooks.claim(env.clock(), LEASE, 10, "dead")
        assert (claimed.delivery.status, claimed.delivery.lease_owner) == ("sending", "dead")
        other = env.loop()
        assert other.lease == LEASE
        env.clock.advance(seconds=LEASE.total_seconds() - 1)
        assert await other.run_once() == 0  # the lease holds
        env.clock.advance(seconds=2)
        assert await other.run_once() == 1  # seconds after, not minutes
        found = await env.delivery(delivery_id)
        assert (found.status, found.attempts, found.lease_owner) == ("delivered", 1, other.owner)
        assert rx.answered == ["msg_0"]


async def test_a_loop_whose_lease_was_taken_over_marks_and_renews_nothing(env: Env) -> None:
    """Mutation tried: marking without the fence (``_held(owner)`` left out of the store's updates):
    the stalled loop records its late answers over the new holder's lease, and this test fails."""
    async with gate() as rx:
        ids = await env.deliveries(rx.url, 2)
        stalled = env.loop()
        stalled.heartbeat_every = 3600  # its heartbeat stalls (a frozen process, a database away)
        calling = asyncio.create_task(stalled.run_once())
        try:
            await until(lambda: rx.waiting == 2, "both calls at the receiver")
            env.clock.advance(minutes=1)  # its lease ran out: another loop takes the deliveries
            async with env.db.write() as tx:
                taken = await tx.webhooks.claim(env.clock(), LEASE, 10, "other")
            assert sorted(c.delivery.id for c in taken) == ids
            assert await stalled.renew_lease() == 0
        finally:
            rx.open.set()
        assert await calling == 2
        # The 200s came after the takeover: the stalled loop records nothing for what it lost.
        rows = [await env.delivery(i) for i in ids]
        assert {(r.status, r.lease_owner, r.attempts) for r in rows} == {("sending", "other", 0)}
        async with env.db.write() as tx:  # and gives nothing back; the holder records its own
            await tx.webhooks.release(ids, stalled.owner)
            assert {(await env.delivery(i)).status for i in ids} == {"sending"}
        async with env.db.write() as tx:
            for i in ids:
                assert await tx.webhooks.mark_delivered(i, env.clock(), Outcome(200, "", "ok"), "other")
        assert {(await env.delivery(i)).status for i in ids} == {"delivered"}


async def test_the_heartbeat_keeps_a_call_longer_than_its_lease_from_other_loops(env: Env) -> None:
    """Mutation tried: a renewal that does not move ``locked_until``: the other loop takes the
    delivery while it is being called, and this test fails."""
    async with gate() as rx:
        [delivery_id] = await env.deliveries(rx.url, 1)
        loop = env.loop()
        loop.heartbeat_every = 3600  # renewed by hand below
        calling = asyncio.create_task(loop.run_once())
        try:
            await until(lambda: rx.waiting == 1, "the call at the receiver")
            claimed_at = env.clock()
            env.clock.advance(seconds=10)
            assert await loop.renew_lease() == 1
            env.clock.advance(seconds=10)  # past the first lease, within the renewed one
            assert (await env.delivery(delivery_id)).locked_until == claimed_at + timedelta(
                seconds=10
            ) + LEASE
            async with env.db.write() as tx:
                assert await tx.webhooks.claim(env.clock(), LEASE, 10, "other") == []
        finally:
            rx.open.set()
        assert await calling == 1
        assert (await env.delivery(delivery_id)).status == "delivered"
        assert rx.answered == ["msg_0"]


async def test_no_call_starts_once_the_lease_can_no_longer_be_renewed(env: Env) -> None:
    """Mutation tried: calling without asking ``holds_lease()`` first: the receiver is called, and
    this test fails."""
    async with gate() as rx:
        rx.open.set()
        [delivery_id] = await env.deliveries(rx.url, 1)
        loop = env.loop()
        async with env.db.write() as tx:
            [claimed] = await tx.webhooks.claim(env.clock(), LEASE, 10, loop.owner)
        loop.lease_until = env.clock() + timedelta(seconds=4)  # heartbeats missed: under the margin
        await loop._deliver(claimed)
        assert rx.answered == []
        found = await env.delivery(delivery_id)
        assert (found.status, found.attempts) == ("sending", 0)  # left to whoever claims it next


@pytest.mark.timeout(120)
async def test_a_killed_worker_process_leaves_deliveries_another_takes_within_seconds(
    env: Env, mail_server: MailServer
) -> None:
    """`kibitz worker` killed (SIGKILL) while its calls wait: its leases run out no later than a lease
    after the kill, and a second worker delivers every one. Mutation tried: the old long lease
    (2 × timeout + 30 s): the held leases outlast ``killed_at + LEASE`` and this test fails."""
    async with gate() as rx:
        now = datetime.now(UTC)  # the worker processes run on the real clock
        ids = await env.deliveries(rx.url, 3, now=now)
        config = write_config(
            env.tmp_path / "worker.toml",
            env.tmp_path,
            env.database_url,
            smtp=mail_server.smtp,
            webhook_allow=["127.0.0.1"],
            webhook_timeout=30,
        )
        with (env.tmp_path / "worker.log").open("wb") as log:

            def start() -> subprocess.Popen[bytes]:
                return subprocess.Popen(
                    [str(KIBITZ), "worker", "--config", str(config)],
                    cwd=env.tmp_path,
                    env=child_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )

            first = start()
            try:
                await until(lambda: rx.waiting == 3, "the first worker's calls")
            finally:
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=10)
            killed_at = datetime.now(UTC)
            held = [await env.delivery(i) for i in ids]
            assert {d.status for d in held} == {"sending"}
            assert all(d.locked_until is not None and d.locked_until <= killed_at + LEASE for d in held)
            rx.open.set()
            second = start()
            try:
                deadline = time.monotonic() + 60
                while {(await env.delivery(i)).status for i in ids} != {"delivered"}:
                    assert second.poll() is None, (env.tmp_path / "worker.log").read_text()
                    assert time.monotonic() < deadline, (env.tmp_path / "worker.log").read_text()
                    await asyncio.sleep(0.1)
            finally:
                second.send_signal(signal.SIGTERM)
                code = second.wait(timeout=30)
        assert code == 0, (env.tmp_path / "worker.log").read_text()
        # (the dead worker's calls, still open at the receiver, may be answered into the void too)
        assert set(rx.answered) == {"msg_0", "msg_1", "msg_2"}
