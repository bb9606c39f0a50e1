"""The outbox worker: claims due mail with a lease, sends it outside any transaction, marks the outcome;
and runs periodic jobs (the daily digest, the moderators' hourly digest, campaigns, feed digests) once
across every worker and instance.

Delivery is at least once: a crash after the SMTP server's 250 and before the row is marked sent
resends only the rows in flight (at most ``Worker.in_flight``), with the same Message-ID.

Leases are short (``LEASE``) and renewed by a heartbeat while a batch is sent, so the rows a killed
worker held are due again within seconds. Each worker claims under a random token (``lease_owner``),
and marks, renews and gives back only the rows it still holds: a worker whose lease lapsed (its
database was away, its process frozen) and was taken over records nothing for those rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import logging
import math
import random
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING

from kibitz.bounces import Verp
from kibitz.config import Settings
from kibitz.leased import IDLE_SECONDS, LEASE, LEASE_MARGIN, LeasedLoop, backoff
from kibitz.mail_wire import envelope_address, mail_bytes
from kibitz.mailer import Mailer, MailError, PermanentMailError, SmtpMailer, WireMailer, classify
from kibitz.metrics import Metrics
from kibitz.outcomes import Outcomes, Retry
from kibitz.security import Tokens, suppression_key
from kibitz.send_limits import DomainGates, Sleep, Ticker, TokenBucket
from kibitz.store.db import Database
from kibitz.store.outbox import OutboxRow

if TYPE_CHECKING:
    from kibitz.context import Context
    from kibitz.store.tx import Tx

__all__ = [
    "LEASE",
    "LEASE_MARGIN",
    "Job",
    "Worker",
    "backoff",
    "default_jobs",
    "in_flight_bound",
    "serve_worker",
    "start_worker",
]

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]

MAX_ATTEMPTS = 8
# How often a worker asks whether a periodic job is due (at most; a shorter period asks more often).
JOB_CHECK = timedelta(seconds=30)
# How often old client address hashes are dropped (privacy.py; client_address_retention).
RETENTION_EVERY = timedelta(hours=1)
TITLES_EVERY = timedelta(seconds=15)  # how often due article pages are read for their titles
CAMPAIGNS_EVERY = timedelta(seconds=15)  # how often due campaigns start and recipients are enqueued
BATCH = 500  # rows claimed at once
SEND_SLOTS = 20  # sends at once per worker process, each on its own pooled SMTP connection
STOP_GRACE = 5.0  # seconds beyond the SMTP timeout a stopping worker may take to finish its batch
# How stale a batch's view of its campaigns may grow while it is sent: a pause or a cancellation
# holds the mail not sent yet within this long, not only from the next batch on.
CAMPAIGN_RECHECK = 0.25


class CampaignWatch:
    """The status of the campaigns one claimed batch belongs to, read again at most every
    ``every`` seconds (of the monotonic clock: a cache's age, not a rule's time) while it is sent."""

    def __init__(self, db: Database, campaign_ids: set[int | None], every: float) -> None:
        self.db = db
        self.ids = campaign_ids
        self.every = every
        self.states: dict[int, str] = {}
        self.read_at = -math.inf
        self.lock = asyncio.Lock()

    async def state(self, campaign_id: int) -> str | None:
        if time.monotonic() - self.read_at >= self.every:
            async with self.lock:  # one read for every sender that finds the view stale
                if time.monotonic() - self.read_at >= self.every:
                    async with self.db.read() as tx:
                        self.states = await tx.outbox.campaign_states(self.ids)
                    self.read_at = time.monotonic()
        return self.states.get(campaign_id)


@dataclass(frozen=True)
class Job:
    """A periodic job: ``fn`` runs every ``every``, on one worker of all."""

    name: str
    every: timedelta
    fn: Callable[[], Awaitable[None]]


def in_flight_bound(concurrency: int = SEND_SLOTS) -> int:
    """The sends under way plus the outcomes that may wait for their commit (2 × concurrency)."""
    return 3 * max(1, concurrency)


class Worker(LeasedLoop):
    """Delivers the outbox: ``concurrency`` sends at once (each on a pooled SMTP connection), at most
    ``settings.mail_domain_concurrency`` of them to one recipient domain and ``settings.mail_rate``
    a second; outcomes are recorded in batches (outcomes.py)."""

    what = "outbox rows"

    def __init__(
        self,
        db: Database,
        mailer: Mailer | WireMailer,
        settings: Settings,
        clock: Clock,
        *,
        batch: int = BATCH,
        lease: timedelta = LEASE,
        jobs: Sequence[Job | tuple[str, timedelta, Callable[[], Awaitable[None]]]] = (),
        concurrency: int = SEND_SLOTS,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
        verp: Verp | None = None,
        ticker: Ticker = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(db, batch, clock, lease)
        self.mailer = mailer
        # Checked once: a runtime protocol check costs tens of µs, on every mail otherwise.
        self._wire = mailer if isinstance(mailer, WireMailer) else None
        self.settings = settings
        self.jobs = [job if isinstance(job, Job) else Job(*job) for job in jobs]
        self.concurrency = concurrency
        self.rng = rng or random.Random()
        self.metrics = metrics
        # Signed return paths (bounces.py), with bounce_address set; made on first use otherwise.
        self.verp = verp
        self.bucket = TokenBucket(settings.mail_rate, ticker=ticker, sleep=sleep)
        self.domains = DomainGates(settings.mail_domain_concurrency)
        self.outcomes = Outcomes(
            db,
            clock,
            limit=2 * max(1, concurrency),
            settled=self._settled,
            count=self._count,
            owner=self.owner,
        )
        self._job_checked: dict[str, datetime] = {}
        self._tokens: Tokens | None = None
        self.campaign_recheck = CAMPAIGN_RECHECK

    @property
    def in_flight(self) -> int:
        """The most mails a crash can leave sent but not marked sent (so sent again after a restart)."""
        return in_flight_bound(self.concurrency)

    def claim_size(self) -> int:
        """Rows to claim at once: a batch, or about a second's worth under ``mail_rate``, so that a
        claimed row waits little (its lease, and the checks made when it was claimed, stay fresh)."""
        if self.bucket.limited:
            return max(1, min(self.batch, math.ceil(self.settings.mail_rate)))
        return self.batch

    async def run_once(self) -> int:
        """Claim one batch, check what may still go (one query per kind of check, for the batch),
        send it, and record the outcomes; the number of rows claimed."""
        now = self.clock()
        async with self.db.write() as tx:
            rows = await tx.outbox.claim(now, self.lease, self.claim_size(), self.owner)
        if not rows:
            return 0
        self._claimed.update(row.id for row in rows)
        async with self.heartbeat(now):
            await self._send_batch(rows)
        return len(rows)

    async def _send_batch(self, rows: list[OutboxRow]) -> None:
        hashed = await self._erased_hash()
        async with self.db.read() as tx:
            reasons = await tx.outbox.undeliverable(rows, hashed)
        slots = asyncio.Semaphore(self.concurrency)
        watch = CampaignWatch(self.db, {row.campaign_id for row in rows}, self.campaign_recheck)
        paused: list[int] = []

        async def one(row: OutboxRow) -> None:
            reason = reasons.get(row.id)
            if reason is not None:
                log.info("outbox %s dropped: %s", row.id, reason)
                await self.outcomes.dropped(row.id, reason)
                return
            async with self.domains.hold(row.recipient), slots:
                await self.bucket.take()
                if not self.holds_lease():
                    # The lease could not be renewed (the database away) and is about to run out:
                    # another worker may take the row soon. Leave it to the next claim.
                    return
                if row.campaign_id is not None:
                    state = await watch.state(row.campaign_id)
                    if state in (None, "cancelled"):
                        await self.outcomes.dropped(row.id, "campaign cancelled")
                        return
                    if state == "paused":  # back to the outbox; the claim skips it until resumed
                        paused.append(row.id)
                        return
                await self._deliver(row)

        await asyncio.gather(*(one(row) for row in rows))
        await self.outcomes.drain()
        if paused:
            async with self.db.write() as tx:
                await tx.outbox.release(paused, self.owner)
            self._claimed.difference_update(paused)

    async def renew(self, tx: Tx, now: datetime) -> int:
        return await tx.outbox.renew(self.owner, now, self.lease)

    async def _deliver(self, row: OutboxRow) -> None:
        sender = await self._envelope_sender(row)
        try:
            data = mail_bytes(row, self.settings.smtp.sender, self.settings.base_url)
        except ValueError as exc:  # a header with CR/LF, say: never sendable
            log.warning("outbox %s failed: bad message: %s", row.id, exc)
            await self.outcomes.failed(row.id, f"bad message: {exc}")
            return
        try:
            if self._wire is not None:
                await self._wire.send_bytes(data, row.recipient, sender)
            else:  # a mailer that takes messages (tests' recorders)
                assert not isinstance(self.mailer, WireMailer)
                message = email.message_from_bytes(data, _class=EmailMessage, policy=email.policy.SMTP)
                await self.mailer.send(message, sender=sender)
        except Exception as exc:
            await self._failed(row, classify(exc))
            return
        log.debug("outbox %s sent (%s to %s)", row.id, row.kind, row.recipient)
        await self.outcomes.sent(row.id)

    async def _erased_hash(self) -> Callable[[str], str]:
        """How an erased address is suppressed (privacy.py): its keyed hash, with the shared secret."""
        if self._tokens is None:
            from kibitz.store.meta import load_secret  # the secret every process shares

            self._tokens = Tokens(await load_secret(self.db, self.settings.secret_key))
        tokens = self._tokens
        return lambda address: suppression_key(tokens, address)

    async def _envelope_sender(self, row: OutboxRow) -> str:
        """The row's signed return path (VERP) when ``bounce_address`` is set; else the ``From``
        address."""
        if not self.settings.bounce_address:
            return envelope_address(self.settings.smtp.sender)
        if self.verp is None:
            from kibitz.store.meta import load_secret  # the secret every process shares

            secret = await load_secret(self.db, self.settings.secret_key)
            self.verp = Verp(self.settings.bounce_address, Tokens(secret))
        return self.verp.address_for(row.id)

    def _count(self, outcome: str, n: int = 1) -> None:
        if self.metrics is not None and n:
            self.metrics.mail.labels(outcome).inc(n)

    def _settled(self, ids: list[int]) -> None:
        self._claimed.difference_update(ids)

    async def _failed(self, row: OutboxRow, error: MailError) -> None:
        attempts = row.attempts + 1
        if isinstance(error, PermanentMailError):
            log.warning("outbox %s failed for good: %s", row.id, error)
            await self.outcomes.failed(row.id, str(error))
        elif attempts >= MAX_ATTEMPTS:
            log.warning("outbox %s failed after %d attempts: %s", row.id, attempts, error)
            await self.outcomes.failed(row.id, f"gave up after {attempts} attempts: {error}")
        else:
            due = self.clock() + backoff(attempts, self.rng)
            log.info("outbox %s: attempt %d failed (%s), next at %s", row.id, attempts, error, due)
            await self.outcomes.retry(Retry(row.id, attempts, due, str(error)))

    async def release(self) -> None:
        """Record the outcomes already known (mail the server took must not go back as unsent),
        then give back the rest."""
        try:
            await self.outcomes.drain()
        finally:
            await super().release()

    async def run_jobs(self) -> int:
        """Run the periodic jobs that are due and that no other worker holds; how many ran."""
        ran = 0
        for job in self.jobs:
            now = self.clock()
            check = min(job.every, JOB_CHECK)
            last = self._job_checked.get(job.name)
            # A last check in the future means the clock went back: check now rather than wait.
            if last is not None and last <= now < last + check:
                continue
            self._job_checked[job.name] = now
            async with self.db.write() as tx:
                taken = await tx.jobs.try_lease(job.name, now, job.every)
            if not taken:
                continue
            try:
                await job.fn()
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    async with self.db.write() as tx:
                        await tx.jobs.release(job.name)
                raise
            except Exception:
                log.exception("job %s failed; it runs again in %s", job.name, check)
                async with self.db.write() as tx:
                    await tx.jobs.release(job.name, self.clock() + check)
                continue
            async with self.db.write() as tx:
                await tx.jobs.done(job.name, self.clock())
            ran += 1
        return ran

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, the periodic jobs beside it in a task of their own: a
        campaign's recipients are written to the outbox while earlier ones are being sent."""
        jobs = asyncio.create_task(self._jobs_forever(stop), name="kibitz-worker-jobs")
        try:
            await super().run_forever(stop)
        finally:
            jobs.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await jobs

    async def _jobs_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_jobs()
            except Exception:  # the database is away, say: try again after a pause
                log.exception("periodic jobs: a round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), IDLE_SECONDS)

    async def between_rounds(self) -> None:
        """Nothing: the periodic jobs have their own task (run_forever)."""

    async def give_back(self, tx: Tx, ids: list[int]) -> None:
        await tx.outbox.release(ids, self.owner)


def default_jobs(ctx: Context) -> list[Job]:
    """The periodic jobs every worker offers to run (each runs on one of them per period)."""
    from kibitz.digest import send_digests
    from kibitz.feed_digests import EVERY as FEEDS_EVERY
    from kibitz.moderator_mail import DIGEST_EVERY, send_moderator_digests

    async def digests() -> None:
        count = await send_digests(ctx.db, ctx.tokens, ctx.settings, ctx.clock)
        log.info("daily digests: %d queued", count)

    async def moderator_digests() -> None:
        count = await send_moderator_digests(ctx.db, ctx.tokens, ctx.settings, ctx.clock)
        if count:
            log.info("moderator digests: %d queued", count)

    async def page_titles() -> None:
        learned = await ctx.titles.run_due()
        if learned:
            log.info("page titles: %d learned", learned)

    async def campaigns() -> None:
        queued = await ctx.campaigns.run_due()
        if queued:
            log.info("newsletter campaigns: %d mails queued", queued)

    async def feed_digests() -> None:
        made = await ctx.feed_digests.run_due()
        if made:
            log.info("feed digests: %d made", made)

    async def retention() -> None:
        dropped = await ctx.privacy.retain(ctx.settings.client_address_retention)
        if dropped:
            log.info("retention: %d client address records dropped", dropped)

    return [
        Job("daily-digest", timedelta(days=1), digests),
        Job("address-retention", RETENTION_EVERY, retention),
        Job("campaigns", CAMPAIGNS_EVERY, campaigns),
        Job("feed-digests", FEEDS_EVERY, feed_digests),
        Job("moderator-digest", DIGEST_EVERY, moderator_digests),
        Job("page-titles", TITLES_EVERY, page_titles),
    ]


def start_worker(ctx: Context) -> Callable[[], Awaitable[None]]:
    """Run a worker for ``ctx`` as a background task; the returned function stops it: the batch in
    flight may finish within the SMTP timeout, then it is cancelled and its claimed rows released."""
    mailer = SmtpMailer(ctx.settings.smtp, keep=SEND_SLOTS)
    verp = Verp(ctx.settings.bounce_address, ctx.tokens) if ctx.settings.bounce_address else None
    worker = Worker(
        ctx.db, mailer, ctx.settings, ctx.clock, jobs=default_jobs(ctx), metrics=ctx.metrics, verp=verp
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop), name="kibitz-outbox-worker")

    async def shutdown() -> None:
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), ctx.settings.smtp.timeout + STOP_GRACE)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            await mailer.aclose()

    return shutdown


async def serve_worker(settings: Settings, *, metrics_sockets: str | None = None) -> None:
    """`kibitz worker`: deliver until SIGTERM or SIGINT; with ``metrics_sockets`` (a directory), its
    metrics are answered on a unix socket there, for the ``--metrics-port`` listener."""
    from kibitz.context import close_context, open_context
    from kibitz.webhook_worker import start_webhook_worker

    ctx = await open_context(settings)
    stop_metrics: Callable[[], Awaitable[None]] | None = None
    try:
        if metrics_sockets is not None:
            from kibitz.web.ops import answer_metrics_socket

            stop_metrics = await answer_metrics_socket(ctx, metrics_sockets)
        stop_worker = start_worker(ctx)
        stop_webhooks = start_webhook_worker(ctx)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        log.info("outbox worker started (SMTP %s:%s)", settings.smtp.host, settings.smtp.port)
        await stopping.wait()
        await stop_worker()
        await stop_webhooks()
        log.info("outbox worker stopped")
    finally:
        if stop_metrics is not None:
            await stop_metrics()
        await close_context(ctx)
