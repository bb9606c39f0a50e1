"""The outbox: mail rows written in the transaction that caused them, claimed and marked by the worker."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import and_, or_, select, update

from kibitz.store.schema import campaigns, comments, outbox, subscribers, subscriptions
from kibitz.store.schema import suppressions as sp
from kibitz.store.schema_base import in_lists
from kibitz.store.suppressions import EVERY_SITE

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
# A lease running out further ahead than this (or than twice its length) was set by a clock that has
# gone back since (QUALITY R12): taken now rather than held. Wide enough for instances whose clocks
# differ by minutes not to take each other's live leases.
CLOCK_SLACK = timedelta(minutes=10)
o = outbox.c
T = TypeVar("T")


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
    lease_owner: str | None = None


def _subscriber_reason(row: OutboxRow, status_of: dict[int, Any]) -> str | None:
    status = status_of.get(row.subscriber_id) if row.subscriber_id is not None else None
    if status is None:
        return "subscriber gone"
    # A confirmation goes to an address not confirmed yet, by its nature; never to one that bounced.
    if status == "bounced" or (row.kind != "confirm" and status != "confirmed"):
        return f"subscriber {status}"
    return None


def to_row(row: Any) -> OutboxRow:
    return OutboxRow(**{name: getattr(row, name) for name in OutboxRow.__dataclass_fields__})


class OutboxRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def enqueue(self, mail: NewMail, now: datetime) -> bool:
        """Add a mail unless one for the same cause and recipient exists; True when added."""
        return await self.enqueue_many([mail], now) == 1

    async def enqueue_many(self, mails: Sequence[NewMail], now: datetime) -> int:
        """enqueue for many mails in one statement (a campaign's chunk); how many were added."""
        if not mails:
            return 0
        stmt = (
            self.tx.upsert(outbox)
            .on_conflict_do_nothing(index_elements=["dedupe_key", "recipient"])
            .returning(o.id)
        )
        values = [
            {
                "site": m.site, "kind": m.kind, "dedupe_key": m.dedupe_key, "recipient": m.recipient,
                "subscriber_id": m.subscriber_id, "subscription_id": m.subscription_id,
                "comment_id": m.comment_id, "campaign_id": m.campaign_id, "subject": m.subject,
                "text_body": m.text_body, "html_body": m.html_body, "list_unsubscribe": m.list_unsubscribe,
                "next_attempt": now, "created": now,
            }
            for m in mails
        ]  # fmt: skip
        result = await self.tx.conn.execute(stmt, values)
        return len(result.all())

    async def claim(
        self, now: datetime, lease: timedelta, limit: int, owner: str | None = None
    ) -> builtins.list[OutboxRow]:
        """Take up to ``limit`` due rows for ``owner`` (a worker's token) until ``now + lease``: pending
        rows whose time has come, and rows whose sender's lease ran out (a dead worker, or one that
        could not renew its lease: it no longer holds them, see ``owner`` of the mark_* methods). On
        PostgreSQL the rows are
        locked with SKIP LOCKED, so concurrent workers take disjoint batches; on SQLite the write
        transaction (BEGIN IMMEDIATE) already excludes every other writer."""
        # Three index-ordered looks instead of one OR over them: with the OR, SQLite (and PostgreSQL)
        # gathered every pending row and sorted them all, reading each whole row, once per claim
        # (over a second per claim with 90,000 newsletter rows queued). Leases run out first: those
        # rows were due before any pending one.
        ahead = now + max(2 * lease, CLOCK_SLACK)
        lapsed = and_(o.status == "sending", or_(o.locked_until < now, o.locked_until > ahead))
        due_now = and_(o.status == "pending", o.next_attempt <= now)
        # A pending row due later than the longest back-off was scheduled by a clock gone back since.
        far_off = and_(o.status == "pending", o.next_attempt > now + FAR_FUTURE)
        # The mail of a paused campaign waits for its resumption (a cancelled one's is dropped).
        held = select(campaigns.c.id).where(campaigns.c.status.in_(("paused", "cancelled")))
        taken: builtins.list[int] = []
        for which in (lapsed, due_now, far_off):
            if len(taken) >= limit:
                break
            ids = (
                select(o.id)
                .where(which, or_(o.campaign_id.is_(None), o.campaign_id.not_in(held)))
                .order_by(o.next_attempt, o.id)
                .limit(limit - len(taken))
                .with_for_update(skip_locked=True)
            )
            taken += [int(i) for i in (await self.tx.conn.execute(ids)).scalars()]
        if not taken:
            return []
        stmt = (
            update(outbox)
            .where(o.id.in_(taken))
            .values(status="sending", locked_until=now + lease, lease_owner=owner)
            .returning(*outbox.c)
        )
        result = await self.tx.conn.execute(stmt)
        return sorted((to_row(r) for r in result), key=lambda r: r.id)

    async def renew(self, owner: str, now: datetime, lease: timedelta) -> int:
        """Extend to ``now + lease`` the lease of every row ``owner`` still holds (the worker's
        heartbeat while it sends a batch); how many rows."""
        result = await self.tx.conn.execute(
            update(outbox).where(*_held(owner)).values(locked_until=now + lease)
        )
        return int(result.rowcount)

    async def mark_sent(self, outbox_id: int, now: datetime) -> None:
        """Delivered: ``attempts`` counts this successful attempt too (the failed ones were counted
        by retry_later)."""
        await self._set(
            outbox_id, status="sent", sent=now, attempts=o.attempts + 1, locked_until=None, last_error=""
        )

    async def retry_later(
        self, outbox_id: int, attempts: int, next_attempt: datetime, error: str, owner: str | None = None
    ) -> None:
        """Back to pending after a transient failure, due again at ``next_attempt``."""
        await self._set(
            outbox_id,
            owner,
            status="pending",
            attempts=attempts,
            next_attempt=next_attempt,
            last_error=error[:2000],
            locked_until=None,
        )

    async def mark_sent_many(
        self, outbox_ids: Sequence[int], now: datetime, owner: str | None = None
    ) -> None:
        """mark_sent for a batch of rows at once (the worker records its outcomes in batches). With
        ``owner``, only the rows whose lease it still holds: a worker whose lease was taken over
        leaves them to the worker that holds them now (the fence)."""
        for chunk in in_lists(outbox_ids):
            await self.tx.conn.execute(
                update(outbox)
                .where(o.id.in_(chunk), *_held(owner))
                .values(status="sent", sent=now, attempts=o.attempts + 1, locked_until=None, last_error="")
            )

    async def mark_dropped_many(
        self, outbox_ids: Sequence[int], reason: str, owner: str | None = None
    ) -> None:
        for chunk in in_lists(outbox_ids):
            await self.tx.conn.execute(
                update(outbox)
                .where(o.id.in_(chunk), *_held(owner))
                .values(status="dropped", last_error=reason[:2000], locked_until=None)
            )

    async def mark_failed(self, outbox_id: int, error: str, owner: str | None = None) -> None:
        """Given up (a permanent refusal, or too many attempts): kept with the reason, never retried
        unless an operator requeues it."""
        await self._set(
            outbox_id,
            owner,
            status="failed",
            attempts=o.attempts + 1,
            last_error=error[:2000],
            locked_until=None,
        )

    async def mark_dropped(self, outbox_id: int, reason: str) -> None:
        """No longer deliverable (unsubscribed, unconfirmed, comment gone): not sent, kept as a record."""
        await self._set(outbox_id, status="dropped", last_error=reason[:2000], locked_until=None)

    async def release(self, outbox_ids: builtins.list[int], owner: str | None = None) -> None:
        """Give claimed rows back (a worker stopping), due at once for the next worker; with
        ``owner``, only those whose lease it still holds."""
        for chunk in in_lists(outbox_ids):
            await self.tx.conn.execute(
                update(outbox)
                .where(o.id.in_(chunk), o.status == "sending", *_held(owner))
                .values(status="pending", locked_until=None, lease_owner=None)
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

    async def still_deliverable(
        self, row: OutboxRow, hashed: Callable[[str], str] | None = None
    ) -> str | None:
        """None when the mail may go now; otherwise why not (checked at send time, QUALITY T41)."""
        return (await self.undeliverable([row], hashed)).get(row.id)

    async def undeliverable(
        self, rows: Sequence[OutboxRow], hashed: Callable[[str], str] | None = None
    ) -> dict[int, str]:
        """Of ``rows``, those that may not go now, with the reason: a handful of queries for the
        whole batch the worker is about to send. A suppressed address (a hard bounce, a complaint:
        store/suppressions.py) gets no mail at all, not even a confirmation. ``hashed``: the keyed
        hash an erased address is suppressed under (privacy.py), when the caller knows the key."""
        conn = self.tx.conn
        suppressed: dict[tuple[str, str], str] = {}
        sites = sorted({r.site for r in rows} | {EVERY_SITE})
        recipients = {r.recipient for r in rows}
        as_hash = {r: hashed(r) for r in recipients} if hashed is not None else {}
        for addresses in in_lists(sorted(recipients | set(as_hash.values()))):
            query = select(sp.c.site, sp.c.email, sp.c.reason).where(
                sp.c.email.in_(addresses), sp.c.site.in_(sites)
            )
            suppressed.update(((r.site, r.email), r.reason) for r in await conn.execute(query))
        c, s, sub = campaigns.c, subscribers.c, subscriptions.c
        campaign_state = await self._column(c.id, c.status, {r.campaign_id for r in rows})
        subscriber = await self._column(s.id, s.status, {r.subscriber_id for r in rows})
        active = await self._column(sub.id, sub.active, {r.subscription_id for r in rows})
        comment = await self._column(
            comments.c.id, (comments.c.status, comments.c.deleted), {r.comment_id for r in rows}
        )
        reasons: dict[int, str] = {}
        for row in rows:
            reason = suppressed.get((row.site, row.recipient)) or suppressed.get((EVERY_SITE, row.recipient))
            if reason is None and row.recipient in as_hash:
                key = as_hash[row.recipient]
                reason = suppressed.get((row.site, key)) or suppressed.get((EVERY_SITE, key))
            if reason is not None:
                reasons[row.id] = f"suppressed: {reason}"
            elif row.campaign_id is not None and campaign_state.get(row.campaign_id) in (None, "cancelled"):
                reasons[row.id] = "campaign cancelled"
            elif row.subscriber_id is not None and (why := _subscriber_reason(row, subscriber)):
                reasons[row.id] = why
            elif row.subscription_id is not None and not active.get(row.subscription_id, True):
                reasons[row.id] = "subscription cancelled"
            elif row.subscription_id is not None and row.subscription_id not in active:
                reasons[row.id] = "subscription gone"
            elif row.comment_id is not None:
                found = comment.get(row.comment_id)
                if found is None or found.deleted:
                    reasons[row.id] = "comment deleted"
                elif found.status != "approved":
                    reasons[row.id] = "comment not visible"
        return reasons

    async def campaign_states(self, campaign_ids: set[int | None]) -> dict[int, str]:
        """``{campaign id: status}`` of these campaigns (one that is gone is absent)."""
        return await self._column(campaigns.c.id, campaigns.c.status, campaign_ids)

    async def _column(self, key: Any, value: Any, ids: set[int | None]) -> dict[int, Any]:
        """``{key: value}`` of the rows whose ``key`` is one of ``ids`` (None ignored); ``value``: a
        column, or a tuple of them (then each value is a row with those columns)."""
        columns = value if isinstance(value, tuple) else (value,)
        found: dict[int, Any] = {}
        for chunk in in_lists(sorted(i for i in ids if i is not None)):
            for row in await self.tx.conn.execute(select(key, *columns).where(key.in_(chunk))):
                found[row[0]] = row if isinstance(value, tuple) else row[1]
        return found

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

    async def _set(self, outbox_id: int, owner: str | None = None, **values: Any) -> None:
        await self.tx.conn.execute(update(outbox).where(o.id == outbox_id, *_held(owner)).values(**values))


def _held(owner: str | None) -> tuple[Any, ...]:
    """The conditions of a row whose lease ``owner`` holds (none without an owner: an operator's or
    a test's own call)."""
    if owner is None:
        return ()
    return (o.status == "sending", o.lease_owner == owner)
