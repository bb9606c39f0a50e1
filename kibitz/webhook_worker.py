"""The webhook delivery loop: claims due deliveries with a lease (as the mail worker does), sends each
signed body through the SSRF guard (outbound.send, no redirects) outside any transaction, and marks
what the receiver answered; failures that may pass are tried again with leased.backoff(). Rows with
no webhook are reports to Akismet (akismet.py), sent the same way with the site's key.

Leases are the mail outbox's (leased.py): short (``LEASE``), renewed by a heartbeat while the calls
are under way, and fenced by the loop's token (``lease_owner``), so a killed loop's deliveries are
tried again within seconds and a loop whose lease was taken over marks nothing. A call starts only
while the lease holds; calls are bounded by the webhook timeout, and a destination that keeps
failing is skipped at once by its circuit breaker (outbound.py) and retried later like a timeout.

Delivery is at least once: a crash after the receiver's 2xx and before the row is marked sends that
delivery again, with the same ``webhook-id``, once the lease has run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from kibitz import akismet, outbound
from kibitz.leased import IDLE_SECONDS, LEASE, LeasedLoop, backoff
from kibitz.store.db import Database
from kibitz.store.webhooks import Claimed, Outcome
from kibitz.webhooks import BODY_BYTES, sign

if TYPE_CHECKING:
    from kibitz.context import Context
    from kibitz.metrics import Metrics
    from kibitz.store.tx import Tx

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]

MAX_ATTEMPTS = 10  # the first try and nine more over about eight and a half hours (1 min, 2, 4, ...)
BATCH = 5  # deliveries claimed, and sent at once, per round
SETTLE_SECONDS = 0.05
KEEP = timedelta(days=30)  # finished deliveries stay in the log this long
PRUNE_EVERY = timedelta(hours=1)
RETRIED_STATUSES = frozenset({408, 429})  # and every 5xx
# The guard's refusals that another try would meet again: given up at once.
FINAL_REASONS = frozenset({"bad_url", "blocked_address"})
_GENERIC = {"blocked_address": "refused: the host resolves to a non-public address"}


def _text(body: bytes) -> str:
    """At most 1 KB of an answer, as text the database takes (no NUL)."""
    return body[:BODY_BYTES].decode("utf-8", "replace").replace("\x00", "")


def judge(response: outbound.Response | None, error: outbound.OutboundError | None) -> tuple[Outcome, str]:
    """What one attempt came to: its outcome for the log, and "delivered", "retry" or "failed"."""
    if error is not None:
        message = _GENERIC.get(error.reason, str(error))
        return Outcome(None, message, ""), "failed" if error.reason in FINAL_REASONS else "retry"
    assert response is not None
    status = response.status
    body = _text(response.body)
    if 200 <= status < 300:
        return Outcome(status, "", body), "delivered"
    if 300 <= status < 400:
        where = (response.header("location") or "")[:200]
        return Outcome(status, f"redirect not followed (to {where!r})", body), "failed"
    verdict = "retry" if status >= 500 or status in RETRIED_STATUSES else "failed"
    return Outcome(status, f"HTTP {status}", body), verdict


class WebhookWorker(LeasedLoop):
    what = "webhook deliveries"

    def __init__(
        self,
        db: Database,
        policy: outbound.OutboundPolicy,
        clock: Clock,
        *,
        wakeup: asyncio.Event | None = None,
        batch: int = BATCH,
        rng: random.Random | None = None,
        now_seconds: Callable[[], float] = time.time,
        reports: akismet.Akismet | None = None,
        lease: timedelta = LEASE,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(db, batch, clock, lease)
        self.policy = policy
        self.wakeup = wakeup or asyncio.Event()
        self.metrics = metrics
        self.rng = rng or random.Random()
        # The signature's time is the receiver's clock's business: real time, even under a test clock.
        self.now_seconds = now_seconds
        self.reports = reports
        self._pruned: datetime | None = None

    async def run_once(self) -> int:
        """Claim one batch, send it (all at once), mark each outcome; the number claimed."""
        now = self.clock()
        async with self.db.read() as tx:
            due = await tx.webhooks.any_due(now, self.lease)
        if not due:
            return 0
        async with self.db.write() as tx:
            claimed = await tx.webhooks.claim(now, self.lease, self.batch, self.owner)
        self._claimed.update(c.delivery.id for c in claimed)

        async def one(item: Claimed) -> None:
            try:
                await self._deliver(item)
            except Exception:  # a database fault: the lease runs out and another try comes
                log.exception("webhook delivery %s: could not record the outcome", item.delivery.id)
            self._claimed.discard(item.delivery.id)

        async with self.heartbeat(now):
            await asyncio.gather(*(one(item) for item in claimed))
        return len(claimed)

    async def renew(self, tx: Tx, now: datetime) -> int:
        return await tx.webhooks.renew(self.owner, now, self.lease)

    async def _deliver(self, item: Claimed) -> None:
        delivery = item.delivery
        if not self.holds_lease():
            # The lease could not be renewed (the database away) and is about to run out: another
            # loop may take the delivery soon. Leave it to the next claim.
            return
        if delivery.webhook_id is None:
            outcome, verdict = await self._report(item)
        else:
            outcome, verdict = await self._call(item)
        attempts = delivery.attempts + 1
        now = self.clock()
        async with self.db.write() as tx:
            if verdict == "delivered":
                marked = await tx.webhooks.mark_delivered(delivery.id, now, outcome, self.owner)
            elif verdict == "retry" and attempts < MAX_ATTEMPTS:
                due = now + backoff(attempts, self.rng)
                marked = await tx.webhooks.retry_later(delivery.id, now, outcome, due, self.owner)
            else:
                if verdict == "retry":
                    outcome = Outcome(
                        outcome.code, f"gave up after {attempts} attempts: {outcome.error}", outcome.body
                    )
                marked = await tx.webhooks.mark_failed(delivery.id, now, outcome, self.owner)
        if not marked:
            log.warning(
                "webhook delivery %s: its lease was taken over meanwhile; this attempt (%s) is not "
                "recorded", delivery.id, verdict,
            )  # fmt: skip
            return
        if self.metrics is not None:
            self.metrics.webhook_deliveries.labels(verdict).inc()
        log.info(
            "webhook delivery %s (%s, attempt %d): %s %s", delivery.id, delivery.event, attempts, verdict,
            outcome.code or outcome.error,
        )  # fmt: skip

    async def _call(self, item: Claimed) -> tuple[Outcome, str]:
        delivery = item.delivery
        body = delivery.payload.encode("utf-8")
        timestamp = int(self.now_seconds())
        headers = (
            ("Content-Type", "application/json"),
            ("webhook-id", delivery.event_id),
            ("webhook-timestamp", str(timestamp)),
            ("webhook-signature", sign(item.secret, delivery.event_id, timestamp, body)),
        )
        response, error = None, None
        try:
            response = await outbound.send(item.url, body=body, headers=headers, policy=self.policy)
        except outbound.OutboundError as exc:
            error = exc
        return judge(response, error)

    async def _report(self, item: Claimed) -> tuple[Outcome, str]:
        """A report to Akismet: delivered when Akismet thanks us, retried as a webhook call would be."""
        delivery = item.delivery
        kind = delivery.event.removeprefix(akismet.EVENT_PREFIX)
        try:
            data = json.loads(delivery.payload)
            if self.reports is None or kind not in (akismet.HAM, akismet.SPAM):
                raise ValueError("not an Akismet report this loop can send")
            response = await self.reports.report(data["site"], kind, data["params"])
        except outbound.OutboundError as exc:
            return judge(None, exc)
        except (ValueError, KeyError, TypeError) as exc:
            return Outcome(None, str(exc), ""), "failed"
        outcome, verdict = judge(response, None)
        if verdict == "delivered" and response.body.strip() != akismet.REPORTED:
            return Outcome(outcome.code, "Akismet did not take the report", outcome.body), "failed"
        return outcome, verdict

    async def prune(self) -> None:
        """Forget finished deliveries older than KEEP, at most once per PRUNE_EVERY."""
        now = self.clock()
        if self._pruned is not None and self._pruned <= now < self._pruned + PRUNE_EVERY:
            return
        self._pruned = now
        async with self.db.write() as tx:  # what Akismet was asked is kept no longer than it may help
            checks = await tx.spam.forget_checks(now - akismet.KEEP)
        if checks:
            log.info("Akismet: what was sent about %d comments forgotten", checks)
        async with self.db.read() as tx:  # a write only when there is something to forget
            if not await tx.webhooks.prunable(now - KEEP):
                return
        async with self.db.write() as tx:
            gone = await tx.webhooks.prune(now - KEEP)
        if gone:
            log.info("webhook deliveries: %d older than %s forgotten", gone, KEEP)

    async def between_rounds(self) -> None:
        await self.prune()

    async def idle(self, stop: asyncio.Event) -> None:
        """Until woken (a new delivery in this process), stopped, or a second has passed."""
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wakeup.wait())]
        try:
            await asyncio.wait(waits, timeout=IDLE_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        if self.wakeup.is_set() and not stop.is_set():
            # Woken from inside the writer's transaction: give it a moment to commit.
            self.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SETTLE_SECONDS)

    async def give_back(self, tx: Tx, ids: list[int]) -> None:
        await tx.webhooks.release(ids, self.owner)


def start_webhook_worker(ctx: Context) -> Callable[[], Awaitable[None]]:
    """Run the delivery loop for ``ctx`` as a background task (with or without SMTP); the returned
    function stops it: calls in flight may finish within the timeout, then it is cancelled."""
    worker = WebhookWorker(
        ctx.db,
        ctx.webhooks.policy,
        ctx.clock,
        wakeup=ctx.webhooks.wakeup,
        reports=ctx.akismet,
        metrics=ctx.metrics,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop), name="kibitz-webhook-worker")

    async def shutdown() -> None:
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), worker.policy.timeout + 5)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return shutdown
