"""The outbox worker: claims due mail with a lease, sends it outside any transaction, marks the outcome;
and runs periodic jobs (the daily digest) once across every worker and instance.

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

from kibitz.config import Settings
from kibitz.mailer import Mailer, MailError, PermanentMailError, SmtpMailer, build_message, classify
from kibitz.metrics import Metrics
from kibitz.store.db import Database
from kibitz.store.outbox import OutboxRow

if TYPE_CHECKING:
    from kibitz.context import Context

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]

MAX_ATTEMPTS = 8
FIRST_DELAY = timedelta(seconds=60)
MAX_DELAY = timedelta(hours=6)
IDLE_SECONDS = 1.0
# How often a worker asks whether a periodic job is due (at most; a shorter period asks more often).
JOB_CHECK = timedelta(seconds=30)
TITLES_EVERY = timedelta(seconds=15)  # how often due article pages are read for their titles
STOP_GRACE = 5.0  # seconds beyond the SMTP timeout a stopping worker may take to finish its batch


@dataclass(frozen=True)
class Job:
    """A periodic job: ``fn`` runs every ``every``, on one worker of all."""

    name: str
    every: timedelta
    fn: Callable[[], Awaitable[None]]


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """The wait after the ``attempts``-th failed try: 1 min, 2, 4, ... capped at 6 h, ±20 % jitter."""
    base = min(MAX_DELAY, FIRST_DELAY * (1 << min(max(0, attempts - 1), 30)))
    factor: float = (rng or random).uniform(0.8, 1.2)
    return base * factor


class Worker:
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
    ) -> None:
        self.db = db
        self.mailer = mailer
        self.settings = settings
        self.clock = clock
        self.batch = batch
        self.lease = lease
        self.jobs = [job if isinstance(job, Job) else Job(*job) for job in jobs]
        self.concurrency = concurrency
        self.rng = rng or random.Random()
        self.metrics = metrics
        self._claimed: set[int] = set()  # claimed and not marked yet: released on shutdown
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
        try:
            await self.mailer.send(message)
        except Exception as exc:
            error = classify(exc)
            await self._failed(row, error)
            return
        async with self.db.write() as tx:
            await tx.outbox.mark_sent(row.id, self.clock())
        log.info("outbox %s sent (%s to %s)", row.id, row.kind, row.recipient)
        self._count("sent")

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

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver and run jobs until ``stop`` is set: again at once after a full batch, else every
        second. Rows claimed and not finished when cancelled go back to pending."""
        try:
            while not stop.is_set():
                claimed = 0
                try:
                    claimed = await self.run_once()
                    await self.run_jobs()
                except Exception:  # the database is away, say: try again after a pause
                    log.exception("outbox worker round failed")
                if claimed < self.batch:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), IDLE_SECONDS)
        finally:
            await self.release()

    async def release(self) -> None:
        """Give back the rows this worker claimed and has not finished."""
        claimed, self._claimed = list(self._claimed), set()
        if not claimed:
            return
        try:
            async with self.db.write() as tx:
                await tx.outbox.release(claimed)
            log.info("released %d claimed outbox rows", len(claimed))
        except Exception:  # their leases expire on their own
            log.exception("could not release %d claimed outbox rows", len(claimed))


def default_jobs(ctx: Context) -> list[Job]:
    """The periodic jobs every worker offers to run (each runs on one of them per period)."""
    from kibitz.digest import send_digests

    async def digests() -> None:
        count = await send_digests(ctx.db, ctx.tokens, ctx.settings, ctx.clock)
        log.info("daily digests: %d queued", count)

    async def page_titles() -> None:
        learned = await ctx.titles.run_due()
        if learned:
            log.info("page titles: %d learned", learned)

    return [Job("daily-digest", timedelta(days=1), digests), Job("page-titles", TITLES_EVERY, page_titles)]


def start_worker(ctx: Context) -> Callable[[], Awaitable[None]]:
    """Run a worker for ``ctx`` as a background task; the returned function stops it: the batch in
    flight may finish within the SMTP timeout, then it is cancelled and its claimed rows released."""
    mailer = SmtpMailer(ctx.settings.smtp)
    worker = Worker(ctx.db, mailer, ctx.settings, ctx.clock, jobs=default_jobs(ctx), metrics=ctx.metrics)
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

    ctx = await open_context(settings)
    try:
        stop_worker = start_worker(ctx)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        log.info("outbox worker started (SMTP %s:%s)", settings.smtp.host, settings.smtp.port)
        await stopping.wait()
        await stop_worker()
        log.info("outbox worker stopped")
    finally:
        await close_context(ctx)
