"""The outbox worker: claims due mail with a lease, sends it outside any transaction, marks the outcome;
and runs periodic jobs (the daily digest, the moderators' hourly digest, campaigns, feed digests) once
across every worker and instance.

Delivery is at least once: a crash after the SMTP server's 250 and before the row is marked sent
resends only the rows in flight (at most ``concurrency``), with the same Message-ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from kibitz.bounces import Verp
from kibitz.config import Settings
from kibitz.leased import LeasedLoop, backoff
from kibitz.mailer import Mailer, MailError, PermanentMailError, SmtpMailer, build_message, classify
from kibitz.metrics import Metrics
from kibitz.security import Tokens
from kibitz.store.db import Database
from kibitz.store.outbox import OutboxRow

if TYPE_CHECKING:
    from kibitz.context import Context
    from kibitz.store.tx import Tx

__all__ = ["Job", "Worker", "backoff", "default_jobs", "serve_worker", "start_worker"]

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]

MAX_ATTEMPTS = 8
# How often a worker asks whether a periodic job is due (at most; a shorter period asks more often).
JOB_CHECK = timedelta(seconds=30)
TITLES_EVERY = timedelta(seconds=15)  # how often due article pages are read for their titles
CAMPAIGNS_EVERY = timedelta(seconds=15)  # how often due campaigns start and recipients are enqueued
STOP_GRACE = 5.0  # seconds beyond the SMTP timeout a stopping worker may take to finish its batch


@dataclass(frozen=True)
class Job:
    """A periodic job: ``fn`` runs every ``every``, on one worker of all."""

    name: str
    every: timedelta
    fn: Callable[[], Awaitable[None]]


class Worker(LeasedLoop):
    what = "outbox rows"

    def __init__(
        self,
        db: Database,
        mailer: Mailer,
        settings: Settings,
        clock: Clock,
        *,
        batch: int = 50,
        lease: timedelta = timedelta(minutes=5),
        jobs: Sequence[Job | tuple[str, timedelta, Callable[[], Awaitable[None]]]] = (),
        concurrency: int = 5,
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
        verp: Verp | None = None,
    ) -> None:
        super().__init__(db, batch)
        self.mailer = mailer
        self.settings = settings
        self.clock = clock
        self.lease = lease
        self.jobs = [job if isinstance(job, Job) else Job(*job) for job in jobs]
        self.concurrency = concurrency
        self.rng = rng or random.Random()
        self.metrics = metrics
        # Signed return paths (bounces.py), with bounce_address set; made on first use otherwise.
        self.verp = verp
        self._job_checked: dict[str, datetime] = {}

    async def run_once(self) -> int:
        """Claim one batch, send it (a few at once), mark each outcome; the number of rows claimed."""
        async with self.db.write() as tx:
            rows = await tx.outbox.claim(self.clock(), self.lease, self.batch)
        if not rows:
            return 0
        self._claimed.update(row.id for row in rows)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(row: OutboxRow) -> None:
            async with gate:
                try:
                    await self._deliver(row)
                except Exception:  # a database fault: the lease expires and another try comes
                    log.exception("outbox %s: could not record the outcome", row.id)
                # Not when cancelled: then the row stays claimed, for release() to give back.
                self._claimed.discard(row.id)

        await asyncio.gather(*(one(row) for row in rows))
        return len(rows)

    async def _deliver(self, row: OutboxRow) -> None:
        async with self.db.read() as tx:
            reason = await tx.outbox.still_deliverable(row)
        if reason is not None:
            async with self.db.write() as tx:
                await tx.outbox.mark_dropped(row.id, reason)
            log.info("outbox %s dropped: %s", row.id, reason)
            self._count("dropped")
            return
        try:
            message = build_message(row, self.settings)
        except ValueError as exc:  # a header with CR/LF, say: never sendable
            async with self.db.write() as tx:
                await tx.outbox.mark_failed(row.id, f"bad message: {exc}")
            log.warning("outbox %s failed: bad message: %s", row.id, exc)
            self._count("failed")
            return
        sender = await self._envelope_sender(row)
        try:
            if sender is None:  # mailers that know no envelope sender keep working
                await self.mailer.send(message)
            else:
                await self.mailer.send(message, sender=sender)
        except Exception as exc:
            error = classify(exc)
            await self._failed(row, error)
            return
        async with self.db.write() as tx:
            await tx.outbox.mark_sent(row.id, self.clock())
        log.info("outbox %s sent (%s to %s)", row.id, row.kind, row.recipient)
        self._count("sent")

    async def _envelope_sender(self, row: OutboxRow) -> str | None:
        """The row's signed return path (VERP) when ``bounce_address`` is set; else None, and the
        envelope sender is the From address."""
        if not self.settings.bounce_address:
            return None
        if self.verp is None:
            from kibitz.context import load_secret  # the secret every process shares

            secret = await load_secret(self.db, self.settings.secret_key)
            self.verp = Verp(self.settings.bounce_address, Tokens(secret))
        return self.verp.address_for(row.id)

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.mail.labels(outcome).inc()

    async def _failed(self, row: OutboxRow, error: MailError) -> None:
        attempts = row.attempts + 1
        async with self.db.write() as tx:
            if isinstance(error, PermanentMailError):
                await tx.outbox.mark_failed(row.id, str(error))
                log.warning("outbox %s failed for good: %s", row.id, error)
                self._count("failed")
            elif attempts >= MAX_ATTEMPTS:
                await tx.outbox.mark_failed(row.id, f"gave up after {attempts} attempts: {error}")
                log.warning("outbox %s failed after %d attempts: %s", row.id, attempts, error)
                self._count("failed")
            else:
                due = self.clock() + backoff(attempts, self.rng)
                await tx.outbox.retry_later(row.id, attempts, due, str(error))
                log.info("outbox %s: attempt %d failed (%s), next at %s", row.id, attempts, error, due)
                self._count("retry")

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

    async def between_rounds(self) -> None:
        await self.run_jobs()

    async def give_back(self, tx: Tx, ids: list[int]) -> None:
        await tx.outbox.release(ids)


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

    return [
        Job("daily-digest", timedelta(days=1), digests),
        Job("campaigns", CAMPAIGNS_EVERY, campaigns),
        Job("feed-digests", FEEDS_EVERY, feed_digests),
        Job("moderator-digest", DIGEST_EVERY, moderator_digests),
        Job("page-titles", TITLES_EVERY, page_titles),
    ]


def start_worker(ctx: Context) -> Callable[[], Awaitable[None]]:
    """Run a worker for ``ctx`` as a background task; the returned function stops it: the batch in
    flight may finish within the SMTP timeout, then it is cancelled and its claimed rows released."""
    mailer = SmtpMailer(ctx.settings.smtp)
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


async def serve_worker(settings: Settings) -> None:
    """`kibitz worker`: deliver until SIGTERM or SIGINT."""
    from kibitz.context import close_context, open_context
    from kibitz.webhook_worker import start_webhook_worker

    ctx = await open_context(settings)
    try:
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
        await close_context(ctx)
