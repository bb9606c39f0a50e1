"""The outbox worker against a real SMTP server on loopback (aiosmtpd): headers (QUALITY T41, T43, T45)
and faults (R02 kill -9 and leases, R03 SMTP down, R04 451/550, R05 a hanging server, R12 clock jumps).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import text, update

from kibitz.config import Settings
from kibitz.mailer import SmtpMailer
from kibitz.migrate import upgrade
from kibitz.models import Author, CommentStatus
from kibitz.store.comments import NewComment
from kibitz.store.db import Database
from kibitz.store.outbox import NewMail, OutboxRow
from kibitz.store.schema import subscriptions
from kibitz.worker import LEASE, MAX_ATTEMPTS, Job, Worker, in_flight_bound
from tests.conftest import FakeClock, make_settings
from tests.mailserver import HangingServer, MailServer
from tests.server import KIBITZ, child_env, run_kibitz, write_config

pytestmark = pytest.mark.anyio
BASE_URL = "https://comments.example"
UNSUBSCRIBE = f"{BASE_URL}/unsubscribe/tok123"


@dataclass
class Env:
    db: Database
    settings: Settings
    clock: FakeClock
    server: MailServer
    tmp_path: Path
    database_url: str

    def worker(self, **options: Any) -> Worker:
        import random

        mailer = options.pop("mailer", None) or SmtpMailer(self.settings.smtp)
        return Worker(self.db, mailer, self.settings, self.clock, rng=random.Random(7), **options)

    async def subscriber(self, address: str, status: str = "confirmed") -> int:
        async with self.db.write() as tx:
            sub = await tx.subscribers.get_or_create("a", address, self.clock())
            await tx.conn.execute(
                text("UPDATE subscribers SET status = :s WHERE id = :i"), {"s": status, "i": sub.id}
            )
            return sub.id

    async def enqueue(self, count: int = 1, *, now: datetime | None = None, **fields: Any) -> list[int]:
        """``count`` mails to confirmed subscribers (one each unless ``recipient`` is given)."""
        ids = []
        for i in range(count):
            recipient = fields.get("recipient", f"reader{i}@example.org")
            values: dict[str, Any] = {
                "site": "a",
                "kind": "reply",
                "dedupe_key": f"comment:{i}",
                "recipient": recipient,
                "subject": f"New reply {i}",
                "text_body": f"Someone replied ({i}).\n",
                "html_body": f"<p>Someone replied ({i}).</p>",
                "list_unsubscribe": UNSUBSCRIBE,
            }
            values.update(fields)
            values["recipient"] = recipient
            if "subscriber_id" not in fields:
                values["subscriber_id"] = await self.subscriber(recipient)
            async with self.db.write() as tx:
                assert await tx.outbox.enqueue(NewMail(**values), now or self.clock())
                ids.append(await tx.conn.scalar(text("SELECT max(id) FROM outbox")))
        return ids

    async def rows(self) -> list[OutboxRow]:
        async with self.db.read() as tx:
            return await tx.outbox.list(None, 100000)

    async def row(self, outbox_id: int) -> OutboxRow:
        async with self.db.read() as tx:
            row = await tx.outbox.get(outbox_id)
        assert row is not None
        return row


@pytest.fixture
async def env(
    tmp_path: Path,
    database_url: str,
    clock: FakeClock,
    mail_server: MailServer,
) -> AsyncIterator[Env]:
    settings = make_settings(tmp_path, database_url, base_url=BASE_URL, smtp=mail_server.smtp)
    db = Database(settings.sqlalchemy_url)
    await upgrade(db, settings)
    try:
        yield Env(db, settings, clock, mail_server, tmp_path, database_url)
    finally:
        await db.dispose()


# -- what arrives (T45, T43) -----------------------------------------------------------------------------


async def test_delivered_mail_has_stable_message_id_unsubscribe_headers_and_both_parts(env: Env) -> None:
    [reply] = await env.enqueue(1, recipient="ann@example.org")
    [newsletter] = await env.enqueue(1, kind="newsletter", dedupe_key="issue:1", recipient="ann@example.org")
    assert await env.worker().run_once() == 2

    mails = {str(m["Message-ID"]): m for m in await env.server.wait_for(2)}
    mail = mails[f"<kibitz.{reply}@comments.example>"]
    assert mail["From"] == "Kibitz <noreply@example.org>"
    assert mail["To"] == "ann@example.org"
    assert mail["Subject"] == "New reply 0"
    assert parsedate_to_datetime(str(mail["Date"])) == env.clock()
    assert mail["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["Auto-Submitted"] == "auto-generated"
    text_part = mail.get_body(("plain",))
    html_part = mail.get_body(("html",))
    assert text_part is not None
    assert text_part.get_content().replace("\r\n", "\n") == "Someone replied (0).\n"
    assert html_part is not None
    assert "<p>Someone replied (0).</p>" in html_part.get_content()
    # What arrived parses back to the same mail.
    again = email.message_from_bytes(mail.as_bytes(), policy=email.policy.default)
    assert isinstance(again, EmailMessage)
    assert [(k, str(v)) for k, v in again.items()] == [(k, str(v)) for k, v in mail.items()]

    # A newsletter is not an automatic reply, but it can be left in one click too.
    letter = mails[f"<kibitz.{newsletter}@comments.example>"]
    assert letter["Auto-Submitted"] is None
    assert letter["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    assert {(r.status, r.sent) for r in await env.rows()} == {("sent", env.clock())}
    assert await env.worker().run_once() == 0
    assert len(env.server.messages) == 2


async def test_header_with_line_break_fails_the_mail_instead_of_injecting_a_header(env: Env) -> None:
    [bad] = await env.enqueue(1, subject="Hello\r\nBcc: victim@example.org")
    [good] = await env.enqueue(1, dedupe_key="comment:99", recipient="bob@example.org")
    assert await env.worker().run_once() == 2

    await env.server.wait_for(1)
    assert [m["To"] for m in env.server.messages] == ["bob@example.org"]
    row = await env.row(bad)
    assert row.status == "failed"
    assert "bad message" in row.last_error
    assert (await env.row(good)).status == "sent"


# -- suppression at send time (T41) ----------------------------------------------------------------------


async def test_mail_no_longer_deliverable_at_send_time_is_dropped_not_sent(env: Env) -> None:
    unsubscribed = await env.subscriber("gone@example.org")
    [to_gone] = await env.enqueue(1, recipient="gone@example.org", subscriber_id=unsubscribed)
    unconfirmed = await env.subscriber("new@example.org", status="unconfirmed")
    [to_new] = await env.enqueue(
        1, dedupe_key="comment:7", recipient="new@example.org", subscriber_id=unconfirmed
    )
    [confirm] = await env.enqueue(
        1, kind="confirm", dedupe_key="confirm:1", recipient="new@example.org", subscriber_id=unconfirmed
    )
    follower = await env.subscriber("follower@example.org")
    async with env.db.write() as tx:
        thread = await tx.threads.get_or_create(
            "a", "/story", "Story", "https://news-a.example/story", env.clock()
        )
        sub_id = await tx.conn.scalar(
            subscriptions.insert()
            .values(subscriber_id=follower, topic="thread", thread_id=thread.id, created=env.clock())
            .returning(subscriptions.c.id)
        )
        comment = await tx.comments.insert(
            NewComment(
                thread_id=thread.id,
                parent=None,
                status=CommentStatus.APPROVED,
                text="hi",
                html="<p>hi</p>",
                renderer_version=1,
                author=Author("Ann", "", "", "k"),
                reader_id="r",
                created=env.clock(),
                anchor=None,
            )
        )
    common: dict[str, Any] = {"recipient": "follower@example.org", "subscriber_id": follower}
    [cancelled] = await env.enqueue(1, dedupe_key="comment:8", subscription_id=sub_id, **common)
    [deleted] = await env.enqueue(1, dedupe_key=f"comment:{comment.id}", comment_id=comment.id, **common)

    # After enqueueing: the reader unsubscribes, the subscription is cancelled, the comment deleted.
    async with env.db.write() as tx:
        await tx.conn.execute(
            text("UPDATE subscribers SET status = 'unsubscribed' WHERE id = :i"), {"i": unsubscribed}
        )
        await tx.conn.execute(update(subscriptions).where(subscriptions.c.id == sub_id).values(active=False))
        await tx.comments.mark_deleted(comment.id)
    assert await env.worker().run_once() == 5

    await env.server.wait_for(1)
    assert [str(m["Message-ID"]) for m in env.server.messages] == [f"<kibitz.{confirm}@comments.example>"]
    reasons = {row_id: (await env.row(row_id)) for row_id in (to_gone, to_new, cancelled, deleted)}
    assert {r.status for r in reasons.values()} == {"dropped"}
    assert reasons[to_gone].last_error == "subscriber unsubscribed"
    assert reasons[to_new].last_error == "subscriber unconfirmed"
    assert reasons[cancelled].last_error == "subscription cancelled"
    assert reasons[deleted].last_error == "comment deleted"


# -- SMTP down, 451, 550, hanging (R03, R04, R05) --------------------------------------------------------


async def test_smtp_down_then_up_delivers_every_mail_once_with_retries_spaced_by_backoff(env: Env) -> None:
    env.server.stop()
    ids = await env.enqueue(3)
    worker = env.worker()
    expected = [60, 120, 240, 480]  # seconds after each failed attempt, ±20 %
    for attempt, delay in enumerate(expected, start=1):
        failed_at = env.clock()
        assert await worker.run_once() == 3
        for row_id in ids:
            row = await env.row(row_id)
            assert (row.status, row.attempts) == ("pending", attempt)
            assert "Connect" in row.last_error or "refused" in row.last_error.lower()
            wait = (row.next_attempt - failed_at).total_seconds()
            assert 0.8 * delay <= wait <= 1.2 * delay
        # Not due yet: nothing is tried again before its time.
        env.clock.advance(seconds=0.7 * delay)
        assert await worker.run_once() == 0
        env.clock.advance(seconds=0.6 * delay)

    env.server.start()
    assert await worker.run_once() == 3
    arrived = await env.server.wait_for(3)
    assert sorted(str(m["Message-ID"]) for m in arrived) == sorted(
        f"<kibitz.{i}@comments.example>" for i in ids
    )
    assert {r.status for r in await env.rows()} == {"sent"}
    env.clock.advance(days=1)
    assert await worker.run_once() == 0
    assert len(env.server.messages) == 3


async def test_tempfail_451_is_retried_and_sent_once(env: Env) -> None:
    [row_id] = await env.enqueue(1)
    env.server.tempfail(2)
    worker = env.worker()
    for attempt in (1, 2):
        assert await worker.run_once() == 1
        row = await env.row(row_id)
        assert (row.status, row.attempts) == ("pending", attempt)
        assert row.last_error.startswith("451")
        env.clock.advance(hours=1)
    assert await worker.run_once() == 1
    await env.server.wait_for(1)
    assert (await env.row(row_id)).status == "sent"
    assert env.server.refusals == 2
    assert len(env.server.messages) == 1


async def test_transient_failures_give_up_after_the_last_attempt(env: Env) -> None:
    env.server.stop()
    [row_id] = await env.enqueue(1)
    worker = env.worker()
    for _ in range(MAX_ATTEMPTS):
        assert await worker.run_once() == 1
        env.clock.advance(hours=8)
    row = await env.row(row_id)
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    assert row.last_error.startswith(f"gave up after {MAX_ATTEMPTS} attempts")
    assert await worker.run_once() == 0


def _cli(env: Env, *args: str) -> subprocess.CompletedProcess[str]:
    config = write_config(env.tmp_path / "cli.toml", env.tmp_path, env.database_url, base_url=BASE_URL)
    return run_kibitz(*args, "--config", str(config), cwd=env.tmp_path)


async def test_550_fails_at_once_with_the_reason_is_listed_and_can_be_retried(env: Env) -> None:
    [refused, fine] = await env.enqueue(2)
    env.server.refuse("reader0@example.org")
    worker = env.worker()
    assert await worker.run_once() == 2
    await env.server.wait_for(1)
    row = await env.row(refused)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error.startswith("550")
    env.clock.advance(days=2)
    assert await worker.run_once() == 0  # never retried on its own
    assert len(env.server.messages) == 1

    listed = await anyio.to_thread.run_sync(lambda: _cli(env, "outbox", "list", "--status", "failed"))
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    assert line.startswith(f"{refused}\tfailed\treply\treader0@example.org\tattempts=1\t")
    assert "550" in line
    assert f"{fine}\tsent" not in listed.stdout

    # The operator fixes the address's problem and sends it again.
    env.server.refused.clear()
    retried = await anyio.to_thread.run_sync(lambda: _cli(env, "outbox", "retry", str(refused)))
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip() == f"mail {refused} queued again"
    env.clock.now = datetime.now(UTC) + timedelta(seconds=1)  # the CLI queued it by the real clock
    assert await worker.run_once() == 1
    await env.server.wait_for(2)
    assert (await env.row(refused)).status == "sent"
    again = await anyio.to_thread.run_sync(lambda: _cli(env, "outbox", "retry", str(refused)))
    assert again.returncode == 1
    assert "is not failed" in again.stderr


async def test_hanging_server_times_out_as_transient_while_other_mail_goes(env: Env) -> None:
    hanging = HangingServer()
    try:
        slow = SmtpMailer(make_settings(env.tmp_path, env.database_url, smtp=hanging.smtp).smtp)
        fast = SmtpMailer(env.settings.smtp)

        class Routing:
            """Mail to hang@ goes through the server that never answers."""

            async def send(self, message: EmailMessage, sender: str | None = None) -> None:
                await (slow if "hang@" in str(message["To"]) else fast).send(message, sender)

        [stuck] = await env.enqueue(1, recipient="hang@example.org")
        others = await env.enqueue(4, dedupe_key="other")
        worker = env.worker(mailer=Routing())
        assert await asyncio.wait_for(worker.run_once(), timeout=20) == 5
        arrived = await env.server.wait_for(4)
        assert sorted(str(m["Message-ID"]) for m in arrived) == sorted(
            f"<kibitz.{i}@comments.example>" for i in others
        )
        row = await env.row(stuck)
        assert (row.status, row.attempts) == ("pending", 1)
        assert "timed out" in row.last_error
        assert row.next_attempt > env.clock()
    finally:
        hanging.close()


# -- leases and concurrent workers (R02) -----------------------------------------------------------------


async def test_lease_of_a_dead_worker_expires_and_another_worker_sends_the_mail(env: Env) -> None:
    [row_id] = await env.enqueue(1)
    async with env.db.write() as tx:  # a worker claims the row, then dies
        [claimed] = await tx.outbox.claim(env.clock(), timedelta(minutes=5), 10)
    assert (claimed.id, claimed.status) == (row_id, "sending")

    other = env.worker()
    assert await other.run_once() == 0  # the lease holds
    env.clock.advance(minutes=4)
    assert await other.run_once() == 0
    env.clock.advance(minutes=2)
    assert await other.run_once() == 1
    await env.server.wait_for(1)
    assert (await env.row(row_id)).status == "sent"
    assert env.server.message_ids() == [f"<kibitz.{row_id}@comments.example>"]


async def test_two_workers_at_once_never_send_a_mail_twice(env: Env) -> None:
    ids = await env.enqueue(200, dedupe_key="bulk")
    workers = [env.worker(batch=20), env.worker(batch=20)]

    async def drain(worker: Worker) -> int:
        total = 0
        while claimed := await worker.run_once():
            total += claimed
        return total

    counts = await asyncio.gather(*(drain(w) for w in workers))
    assert sum(counts) == 200
    await env.server.wait_for(200)
    assert Counter(env.server.message_ids()) == Counter(f"<kibitz.{i}@comments.example>" for i in ids)
    assert {r.status for r in await env.rows()} == {"sent"}


async def test_stopped_worker_finishes_its_batch_and_releases_nothing_half_done(env: Env) -> None:
    ids = await env.enqueue(3)
    worker = env.worker()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop))
    await env.server.wait_for(3)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert {(await env.row(i)).status for i in ids} == {"sent"}


async def test_cancelled_worker_gives_its_claimed_rows_back(env: Env) -> None:
    ids = await env.enqueue(4)
    env.server.delay = 30  # every send hangs in DATA until cancelled
    worker = env.worker(concurrency=2)
    task = asyncio.create_task(worker.run_forever(asyncio.Event()))
    deadline = time.monotonic() + 10
    while {(await env.row(i)).status for i in ids} != {"sending"}:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    rows = [await env.row(i) for i in ids]
    assert {(r.status, r.locked_until) for r in rows} == {("pending", None)}


@pytest.mark.timeout(120)
async def test_worker_killed_mid_batch_loses_nothing_and_resends_at_most_the_mails_in_flight(
    env: Env,
) -> None:
    total = 200
    now = datetime.now(UTC)  # the worker process runs on the real clock
    ids = await env.enqueue(total, dedupe_key="kill", now=now)
    env.server.delay = 0.05
    config = write_config(
        env.tmp_path / "worker.toml", env.tmp_path, env.database_url, base_url=BASE_URL, smtp=env.server.smtp
    )
    log = (env.tmp_path / "worker.log").open("wb")

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
        await env.server.wait_for(8, within=60)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    killed_at = datetime.now(UTC)
    before_restart = len(env.server.messages)
    assert before_restart < total
    # The dead worker's leases were short and renewed by its heartbeat: none runs out later than a
    # lease after the kill, so its rows are due again within seconds, not minutes.
    held = [r for r in await env.rows() if r.status == "sending"]
    assert held, "the kill came between batches"
    assert all(r.locked_until is not None and r.locked_until <= killed_at + LEASE for r in held)
    second = start()
    try:
        deadline = time.monotonic() + 60
        expected = {f"<kibitz.{i}@comments.example>" for i in ids}
        while set(env.server.message_ids()) != expected:
            assert second.poll() is None, (env.tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, f"{len(set(env.server.message_ids()))} of {total} arrived"
            await asyncio.sleep(0.05)
        while {r.status for r in await env.rows()} != {"sent"}:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        second.send_signal(signal.SIGTERM)
        code = second.wait(timeout=20)
        log.close()
    assert code == 0, (env.tmp_path / "worker.log").read_text()
    counts = Counter(env.server.message_ids())
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= in_flight_bound(), counts.most_common(6)


async def test_the_heartbeat_keeps_a_batch_longer_than_its_lease_from_other_workers(env: Env) -> None:
    [row_id] = await env.enqueue(1)
    env.server.hold()
    worker = env.worker()
    worker.heartbeat_every = 3600  # renewed by hand below
    sending = asyncio.create_task(worker.run_once())
    try:
        await _until(lambda: env.server.open_data() == 1)
        claimed_at = env.clock()
        env.clock.advance(seconds=10)
        assert await worker.renew_lease() == 1
        env.clock.advance(seconds=10)  # past the first lease, within the renewed one
        assert (await env.row(row_id)).locked_until == claimed_at + timedelta(seconds=10) + LEASE
        async with env.db.write() as tx:
            assert await tx.outbox.claim(env.clock(), LEASE, 10, "other") == []
    finally:
        env.server.release()
    assert await sending == 1
    assert (await env.row(row_id)).status == "sent"
    assert env.server.message_ids() == [f"<kibitz.{row_id}@comments.example>"]


async def test_a_worker_whose_lease_was_taken_over_marks_and_renews_nothing(env: Env) -> None:
    ids = await env.enqueue(2)
    env.server.hold()
    stalled = env.worker()
    stalled.heartbeat_every = 3600  # its heartbeat stalls (a frozen process, a database away)
    sending = asyncio.create_task(stalled.run_once())
    try:
        await _until(lambda: env.server.open_data() == 2)
        env.clock.advance(minutes=1)  # its lease ran out: another worker takes the rows
        async with env.db.write() as tx:
            taken = await tx.outbox.claim(env.clock(), LEASE, 10, "other")
        assert [r.id for r in taken] == ids
        assert await stalled.renew_lease() == 0
    finally:
        env.server.release()
    assert await sending == 2
    # The 250s came after the takeover: the stalled worker records nothing for rows it lost.
    rows = [await env.row(i) for i in ids]
    assert {(r.status, r.lease_owner, r.attempts) for r in rows} == {("sending", "other", 0)}
    async with env.db.write() as tx:  # the holder records its own outcome, and gives nothing back
        await tx.outbox.release(ids, stalled.owner)
        await tx.outbox.mark_sent_many(ids, env.clock(), "other")
    assert {(await env.row(i)).status for i in ids} == {"sent"}


async def _until(condition: Any, within: float = 10.0) -> None:
    """Poll ``condition()`` until true, failing after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


# -- clock jumps (R12) -----------------------------------------------------------------------------------


async def test_clock_jumps_neither_stall_nor_spin_the_retries(env: Env) -> None:
    env.server.stop()
    [row_id] = await env.enqueue(1)
    worker = env.worker()
    assert await worker.run_once() == 1
    scheduled = (await env.row(row_id)).next_attempt

    # The clock goes back a day: the retry a minute "ahead" is now a day ahead; it is taken anyway.
    env.clock.advance(days=-1)
    assert await worker.run_once() == 1
    row = await env.row(row_id)
    assert row.attempts == 2
    assert row.next_attempt < scheduled - timedelta(hours=23)
    assert await worker.run_once() == 0  # and not again at once: no spinning

    # The clock jumps a day ahead: the retry happens once, and is scheduled from the new now.
    env.server.start()
    env.clock.advance(days=1)
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    await env.server.wait_for(1)
    assert (await env.row(row_id)).status == "sent"

    # A lease taken before a jump back is not held for a day.
    [leased] = await env.enqueue(1, dedupe_key="lease")
    async with env.db.write() as tx:
        await tx.outbox.claim(env.clock(), timedelta(minutes=5), 10)
    env.clock.advance(days=-1)
    assert await worker.run_once() == 1
    await env.server.wait_for(2)
    assert (await env.row(leased)).status == "sent"


# -- periodic jobs ---------------------------------------------------------------------------------------


async def test_periodic_job_runs_once_per_period_across_workers(env: Env) -> None:
    runs: list[datetime] = []
    failures = [True]

    async def digest() -> None:
        if failures:
            failures.pop()
            raise RuntimeError("the database went away")
        runs.append(env.clock())

    job = Job("digest", timedelta(days=1), digest)
    workers = [env.worker(jobs=[job]), env.worker(jobs=[job])]
    assert [await w.run_jobs() for w in workers] == [0, 0]  # the first try failed
    env.clock.advance(seconds=31)
    assert [await w.run_jobs() for w in workers] == [1, 0]
    env.clock.advance(hours=23)
    assert [await w.run_jobs() for w in workers] == [0, 0]
    env.clock.advance(hours=1)
    assert [await w.run_jobs() for w in workers] == [1, 0]
    assert len(runs) == 2
    async with env.db.read() as tx:
        last = await tx.conn.scalar(text("SELECT last_run FROM jobs WHERE name = 'digest'"))
    assert last is not None


# -- in the server process -------------------------------------------------------------------------------


async def test_server_with_smtp_configured_delivers_the_outbox_in_the_background(env: Env) -> None:
    from tests.conftest import open_api

    ids = await env.enqueue(2)
    async for api in open_api(env.settings, env.clock):
        await env.server.wait_for(2)
        assert (await api.client.get("/healthz")).status_code == 200
    assert {(await env.row(i)).status for i in ids} == {"sent"}


def test_worker_command_refuses_to_start_without_an_smtp_host(tmp_path: Path) -> None:
    config = write_config(tmp_path / "k.toml", tmp_path, "sqlite:///kibitz.db")
    result = run_kibitz("worker", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "smtp.host" in result.stderr


def test_outbox_retry_needs_an_id_or_failed(tmp_path: Path) -> None:
    result = run_kibitz("outbox", "retry", cwd=tmp_path)
    assert result.returncode == 2
    assert "either an ID or --failed" in result.stderr
