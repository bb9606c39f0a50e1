"""The outbox: mail rows written in the transaction that caused them, claimed and marked by the worker."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select, update

from kibitz.store.schema import campaigns, comments, outbox, subscribers, subscriptions

if TYPE_CHECKING:
    from kibitz.store.tx import Tx


@dataclass(frozen=True)
class NewMail:
    site: str
    kind: str  # confirm | reply | thread | digest | newsletter
    dedupe_key: str  # what caused it, e.g. "comment:42"; one mail per (cause, recipient)
    recipient: str
    subject: str
    text_body: str
    html_body: str
    list_unsubscribe: str = ""
    subscriber_id: int | None = None
    subscription_id: int | None = None
    comment_id: int | None = None
    campaign_id: int | None = None  # a newsletter campaign's mail (campaigns.py)


# A pending row due later than the longest back-off was scheduled by a clock that has since gone back:
# take it now rather than stall (QUALITY R12). Longest back-off: 6 h × 1.2 jitter.
FAR_FUTURE = timedelta(hours=8)
o = outbox.c


@dataclass(frozen=True)
class OutboxRow:
    id: int
    site: str
    kind: str
    dedupe_key: str
    recipient: str
    subscriber_id: int | None
    subscription_id: int | None
    comment_id: int | None
    subject: str
    text_body: str
    html_body: str
    list_unsubscribe: str
    status: str  # pending | sending | sent | failed | dropped
    attempts: int
    next_attempt: datetime
    locked_until: datetime | None
    last_error: str
    created: datetime
    sent: datetime | None
    campaign_id: int | None = None


def to_row(row: Any) -> OutboxRow:
    return OutboxRow(**{name: getattr(row, name) for name in OutboxRow.__dataclass_fields__})


class OutboxRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def enqueue(self, mail: NewMail, now: datetime) -> bool:
        """Add a mail unless one for the same cause and recipient exists; True when added."""
        stmt = (
            self.tx.upsert(outbox)
            .values(
                site=mail.site,
                kind=mail.kind,
                dedupe_key=mail.dedupe_key,
                recipient=mail.recipient,
                subscriber_id=mail.subscriber_id,
                subscription_id=mail.subscription_id,
                comment_id=mail.comment_id,
                campaign_id=mail.campaign_id,
                subject=mail.subject,
                text_body=mail.text_body,
                html_body=mail.html_body,
                list_unsubscribe=mail.list_unsubscribe,
                next_attempt=now,
                created=now,
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key", "recipient"])
        )
        result = await self.tx.conn.execute(stmt)
        return bool(result.rowcount)

    async def claim(self, now: datetime, lease: timedelta, limit: int) -> builtins.list[OutboxRow]:
        """Take up to ``limit`` due rows for this worker until ``now + lease``: pending rows whose time
        has come, and rows whose sender's lease ran out (a dead worker). On PostgreSQL the rows are
        locked with SKIP LOCKED, so concurrent workers take disjoint batches; on SQLite the write
        transaction (BEGIN IMMEDIATE) already excludes every other writer."""
        due = or_(
            and_(o.status == "pending", or_(o.next_attempt <= now, o.next_attempt > now + FAR_FUTURE)),
            # A lease further ahead than one lease was set by a clock that has gone back since.
            and_(o.status == "sending", or_(o.locked_until < now, o.locked_until > now + 2 * lease)),
        )
        # The mail of a paused campaign waits for its resumption (a cancelled one's is dropped).
        held = select(campaigns.c.id).where(campaigns.c.status.in_(("paused", "cancelled")))
        ids = (
            select(o.id)
            .where(due, or_(o.campaign_id.is_(None), o.campaign_id.not_in(held)))
            .order_by(o.next_attempt, o.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(outbox)
            .where(o.id.in_(ids.scalar_subquery()))
            .values(status="sending", locked_until=now + lease)
            .returning(*outbox.c)
        )
        result = await self.tx.conn.execute(stmt)
        return sorted((to_row(r) for r in result), key=lambda r: r.id)

    async def mark_sent(self, outbox_id: int, now: datetime) -> None:
        """Delivered: ``attempts`` counts this successful attempt too (the failed ones were counted
        by retry_later)."""
        await self._set(
            outbox_id, status="sent", sent=now, attempts=o.attempts + 1, locked_until=None, last_error=""
        )

    async def retry_later(self, outbox_id: int, attempts: int, next_attempt: datetime, error: str) -> None:
        """Back to pending after a transient failure, due again at ``next_attempt``."""
        await self._set(
            outbox_id,
            status="pending",
            attempts=attempts,
            next_attempt=next_attempt,
            last_error=error[:2000],
            locked_until=None,
        )

    async def mark_failed(self, outbox_id: int, error: str) -> None:
        """Given up (a permanent refusal, or too many attempts): kept with the reason, never retried
        unless an operator requeues it."""
        await self._set(
            outbox_id, status="failed", attempts=o.attempts + 1, last_error=error[:2000], locked_until=None
        )

    async def mark_dropped(self, outbox_id: int, reason: str) -> None:
        """No longer deliverable (unsubscribed, unconfirmed, comment gone): not sent, kept as a record."""
        await self._set(outbox_id, status="dropped", last_error=reason[:2000], locked_until=None)

    async def release(self, outbox_ids: builtins.list[int]) -> None:
        """Give claimed rows back (a worker stopping), due at once for the next worker."""
        if outbox_ids:
            await self.tx.conn.execute(
                update(outbox)
                .where(o.id.in_(outbox_ids), o.status == "sending")
                .values(status="pending", locked_until=None)
            )

    async def requeue(self, outbox_id: int, now: datetime | None = None) -> bool:
        """A failed or dropped row back to pending with a fresh count of attempts; False when the row
        is not failed or dropped (or does not exist)."""
        result = await self.tx.conn.execute(
            update(outbox)
            .where(o.id == outbox_id, o.status.in_(("failed", "dropped")))
            .values(**self._requeued(now))
        )
        return bool(result.rowcount)

    async def requeue_failed(self, now: datetime | None = None) -> int:
        """Every failed row back to pending; how many."""
        result = await self.tx.conn.execute(
            update(outbox).where(o.status == "failed").values(**self._requeued(now))
        )
        return int(result.rowcount)

    async def get(self, outbox_id: int) -> OutboxRow | None:
        row = (await self.tx.conn.execute(select(outbox).where(o.id == outbox_id))).first()
        return to_row(row) if row else None

    async def still_deliverable(self, row: OutboxRow) -> str | None:
        """None when the mail may go now; otherwise why not (checked at send time, QUALITY T41).
        A suppressed address (a hard bounce, a complaint: store/suppressions.py) gets no mail at
        all, not even a confirmation."""
        suppressed = await self.tx.suppressions.reason(row.site, row.recipient)
        if suppressed is not None:
            return f"suppressed: {suppressed}"
        if row.campaign_id is not None:
            state = (
                await self.tx.conn.execute(
                    select(campaigns.c.status).where(campaigns.c.id == row.campaign_id)
                )
            ).scalar_one_or_none()
            if state in (None, "cancelled"):
                return "campaign cancelled"
        if row.subscriber_id is not None:
            status = (
                await self.tx.conn.execute(
                    select(subscribers.c.status).where(subscribers.c.id == row.subscriber_id)
                )
            ).scalar_one_or_none()
            if status is None:
                return "subscriber gone"
            # A confirmation goes to an address not confirmed yet, by its nature; never to one that bounced.
            if status == "bounced" or (row.kind != "confirm" and status != "confirmed"):
                return f"subscriber {status}"
        if row.subscription_id is not None:
            active = (
                await self.tx.conn.execute(
                    select(subscriptions.c.active).where(subscriptions.c.id == row.subscription_id)
                )
            ).scalar_one_or_none()
            if active is None:
                return "subscription gone"
            if not active:
                return "subscription cancelled"
        if row.comment_id is not None:
            comment = (
                await self.tx.conn.execute(
                    select(comments.c.status, comments.c.deleted).where(comments.c.id == row.comment_id)
                )
            ).first()
            if comment is None or comment.deleted:
                return "comment deleted"
            if comment.status != "approved":
                return "comment not visible"
        return None

    async def list(self, status: str | None = None, limit: int = 100) -> builtins.list[OutboxRow]:
        """Rows (of one status, or all), oldest first."""
        query = select(outbox).order_by(o.id).limit(limit)
        if status is not None:
            query = query.where(o.status == status)
        return [to_row(r) for r in await self.tx.conn.execute(query)]

    @staticmethod
    def _requeued(now: datetime | None) -> dict[str, Any]:
        values: dict[str, Any] = {"status": "pending", "attempts": 0, "locked_until": None}
        if now is not None:
            values["next_attempt"] = now
        return values

    async def _set(self, outbox_id: int, **values: Any) -> None:
        await self.tx.conn.execute(update(outbox).where(o.id == outbox_id).values(**values))
