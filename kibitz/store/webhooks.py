"""Webhooks and their outbox: a site's targets, and one delivery row per event and target, claimed with
a lease by the delivery loop (kibitz/webhook_worker.py) and marked with the receiver's answer."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, or_, select, update

from kibitz.models import Thread
from kibitz.store import fast
from kibitz.store.fast import Fast
from kibitz.store.outbox import CLOCK_SLACK, FAR_FUTURE
from kibitz.store.schema import threads, webhook_deliveries, webhooks
from kibitz.store.threads import _thread

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

w = webhooks.c
d = webhook_deliveries.c
STATUSES = ("pending", "sending", "delivered", "failed")


@dataclass(frozen=True)
class Webhook:
    id: int
    site: str
    url: str
    events: tuple[str, ...]
    secret: str  # whsec_<base64>; never shown after the webhook was made
    created: datetime
    created_by: str


@dataclass(frozen=True)
class Delivery:
    id: int
    webhook_id: int | None  # None: a report to Akismet
    event_id: str  # the webhook-id header: the same on every attempt
    event: str
    dedupe_key: str
    payload: str
    status: str  # pending | sending | delivered | failed
    attempts: int
    next_attempt: datetime
    locked_until: datetime | None
    last_code: int | None
    last_error: str
    last_body: str
    last_attempt: datetime | None
    delivered: datetime | None
    created: datetime
    lease_owner: str | None = None  # the loop holding a "sending" delivery's lease


@dataclass(frozen=True)
class Claimed:
    """A delivery taken by one loop until its lease ends, with where it goes and how it is signed."""

    delivery: Delivery
    url: str
    secret: str


@dataclass(frozen=True)
class Outcome:
    """What one attempt met: the receiver's status (None when there was no answer), what went wrong
    ("" on success), and the start of its body."""

    code: int | None
    error: str
    body: str


_HOOK_LIST, _HOOK_FIELDS, _HOOK_TYPES = fast.columns_of(webhooks)
# Every post asks for its site's webhooks.
_LISTING = Fast(
    f"SELECT {_HOOK_LIST} FROM webhooks WHERE site = :site ORDER BY id",  # noqa: S608
    columns=_HOOK_TYPES,
    fields=_HOOK_FIELDS,
)


def _webhook(row: Any) -> Webhook:
    return Webhook(
        id=row.id,
        site=row.site,
        url=row.url,
        events=tuple(row.events.split()),
        secret=row.secret,
        created=row.created,
        created_by=row.created_by,
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(**{name: getattr(row, name) for name in Delivery.__dataclass_fields__})


class WebhookRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    # -- the webhooks --------------------------------------------------------------------------------

    async def add(
        self, site: str, url: str, events: tuple[str, ...], secret: str, now: datetime, by: str
    ) -> Webhook:
        values = {"site": site, "url": url, "events": " ".join(events), "secret": secret}
        result = await self.tx.conn.execute(
            webhooks.insert().values(**values, created=now, created_by=by).returning(*webhooks.c)
        )
        return _webhook(result.one())

    async def get(self, webhook_id: int) -> Webhook | None:
        row = (await self.tx.conn.execute(select(webhooks).where(w.id == webhook_id))).first()
        return _webhook(row) if row else None

    async def listing(self, site: str) -> builtins.list[Webhook]:
        return [_webhook(r) for r in await fast.rows(self.tx, _LISTING, {"site": site})]

    async def remove(self, webhook_id: int) -> None:
        """The webhook and its deliveries (pending ones too: nothing more is sent)."""
        await self.tx.conn.execute(delete(webhook_deliveries).where(d.webhook_id == webhook_id))
        await self.tx.conn.execute(delete(webhooks).where(w.id == webhook_id))

    async def thread(self, thread_id: int) -> Thread | None:
        """A comment's thread, as its events name it."""
        row = (await self.tx.conn.execute(select(threads).where(threads.c.id == thread_id))).first()
        return _thread(row) if row else None

    async def for_event(self, site: str, event: str) -> builtins.list[Webhook]:
        """The site's webhooks that take this event (one small indexed read per event)."""
        return [hook for hook in await self.listing(site) if event in hook.events]

    # -- the outbox ----------------------------------------------------------------------------------

    async def enqueue(
        self, webhook_id: int | None, event_id: str, event: str, dedupe_key: str, payload: str, now: datetime
    ) -> bool:
        """A delivery, unless this webhook has one for the same cause; True when added. Without a
        webhook (a report to Akismet) the row is always added."""
        stmt = (
            self.tx.upsert(webhook_deliveries)
            .values(
                webhook_id=webhook_id,
                event_id=event_id,
                event=event,
                dedupe_key=dedupe_key,
                payload=payload,
                next_attempt=now,
                created=now,
            )
            .on_conflict_do_nothing(index_elements=["webhook_id", "dedupe_key"])
        )
        return bool((await self.tx.conn.execute(stmt)).rowcount)

    @staticmethod
    def _due(now: datetime, lease: timedelta) -> Any:
        # As for mail (store/outbox.py): times far ahead were set by a clock that has gone back since.
        ahead = now + max(2 * lease, CLOCK_SLACK)
        return or_(
            and_(d.status == "pending", or_(d.next_attempt <= now, d.next_attempt > now + FAR_FUTURE)),
            and_(d.status == "sending", or_(d.locked_until < now, d.locked_until > ahead)),
        )

    async def any_due(self, now: datetime, lease: timedelta) -> bool:
        """Whether a claim would find anything (a read: an idle loop takes no write lock)."""
        stmt = select(d.id).where(self._due(now, lease)).limit(1)
        return (await self.tx.conn.execute(stmt)).first() is not None

    async def claim(
        self, now: datetime, lease: timedelta, limit: int, owner: str | None = None
    ) -> builtins.list[Claimed]:
        """Take up to ``limit`` due deliveries for ``owner`` (a loop's token) until ``now + lease``
        (pending ones whose time has come, and those whose loop's lease ran out: that loop no longer
        holds them, see ``owner`` of the mark_* methods); SKIP LOCKED keeps concurrent loops apart on
        PostgreSQL."""
        ids = (
            select(d.id)
            .where(self._due(now, lease))
            .order_by(d.next_attempt, d.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(webhook_deliveries)
            .where(d.id.in_(ids.scalar_subquery()))
            .values(status="sending", locked_until=now + lease, lease_owner=owner)
            .returning(*webhook_deliveries.c)
        )
        taken = sorted((_delivery(r) for r in await self.tx.conn.execute(stmt)), key=lambda r: r.id)
        if not taken:
            return []
        hooks = await self.tx.conn.execute(
            select(w.id, w.url, w.secret).where(w.id.in_({t.webhook_id for t in taken}))
        )
        found = {row.id: (row.url, row.secret) for row in hooks}
        # A call to no webhook (a report to Akismet) finds its target when it is sent.
        return [
            Claimed(t, *found[t.webhook_id]) if t.webhook_id is not None else Claimed(t, "", "")
            for t in taken
            if t.webhook_id is None or t.webhook_id in found
        ]

    async def renew(self, owner: str, now: datetime, lease: timedelta) -> int:
        """Extend to ``now + lease`` the lease of every delivery ``owner`` still holds (the loop's
        heartbeat while its calls are under way); how many."""
        result = await self.tx.conn.execute(
            update(webhook_deliveries).where(*_held(owner)).values(locked_until=now + lease)
        )
        return int(result.rowcount)

    # With ``owner``, the mark_* methods and release change only a delivery whose lease that loop
    # still holds: a loop whose lease was taken over leaves it to the loop that holds it now.

    async def mark_delivered(
        self, delivery_id: int, now: datetime, outcome: Outcome, owner: str | None = None
    ) -> bool:
        return await self._set(
            delivery_id, outcome, now, owner, status="delivered", delivered=now, attempts=d.attempts + 1
        )

    async def retry_later(
        self,
        delivery_id: int,
        now: datetime,
        outcome: Outcome,
        next_attempt: datetime,
        owner: str | None = None,
    ) -> bool:
        return await self._set(
            delivery_id,
            outcome,
            now,
            owner,
            status="pending",
            attempts=d.attempts + 1,
            next_attempt=next_attempt,
        )

    async def mark_failed(
        self, delivery_id: int, now: datetime, outcome: Outcome, owner: str | None = None
    ) -> bool:
        """Given up (a refusal that will not change, or too many attempts): kept, resent only by hand."""
        return await self._set(delivery_id, outcome, now, owner, status="failed", attempts=d.attempts + 1)

    async def release(self, delivery_ids: builtins.list[int], owner: str | None = None) -> None:
        """Give claimed deliveries back (a loop stopping), due at once for the next loop."""
        if delivery_ids:
            await self.tx.conn.execute(
                update(webhook_deliveries)
                .where(d.id.in_(delivery_ids), d.status == "sending", *_held(owner))
                .values(status="pending", locked_until=None, lease_owner=None)
            )

    async def resend(self, delivery_id: int, now: datetime) -> bool:
        """Due again at once with a fresh count of attempts, the same webhook-id and body; False when
        it is being sent right now."""
        result = await self.tx.conn.execute(
            update(webhook_deliveries)
            .where(d.id == delivery_id, d.status != "sending")
            .values(status="pending", attempts=0, next_attempt=now, locked_until=None)
        )
        return bool(result.rowcount)

    async def delivery(self, delivery_id: int) -> Delivery | None:
        row = (await self.tx.conn.execute(select(webhook_deliveries).where(d.id == delivery_id))).first()
        return _delivery(row) if row else None

    async def deliveries(
        self, webhook_id: int, before: int | None, limit: int, status: str | None = None
    ) -> builtins.list[Delivery]:
        """A webhook's deliveries, newest first (those with ids below ``before``)."""
        stmt = select(webhook_deliveries).where(d.webhook_id == webhook_id)
        if before is not None:
            stmt = stmt.where(d.id < before)
        if status is not None:
            stmt = stmt.where(d.status == status)
        rows = await self.tx.conn.execute(stmt.order_by(d.id.desc()).limit(limit))
        return [_delivery(r) for r in rows]

    async def counts(self, webhook_ids: builtins.list[int]) -> dict[tuple[int, str], int]:
        """Deliveries per (webhook, status)."""
        if not webhook_ids:
            return {}
        stmt = (
            select(d.webhook_id, d.status, func.count())
            .where(d.webhook_id.in_(webhook_ids))
            .group_by(d.webhook_id, d.status)
        )
        return {(row[0], row[1]): int(row[2]) for row in await self.tx.conn.execute(stmt)}

    async def prunable(self, before: datetime) -> bool:
        stmt = select(d.id).where(d.created < before, d.status.in_(("delivered", "failed"))).limit(1)
        return (await self.tx.conn.execute(stmt)).first() is not None

    async def prune(self, before: datetime) -> int:
        """Forget finished deliveries made before ``before``; how many."""
        result = await self.tx.conn.execute(
            delete(webhook_deliveries).where(d.created < before, d.status.in_(("delivered", "failed")))
        )
        return int(result.rowcount or 0)

    async def _set(
        self, delivery_id: int, outcome: Outcome, now: datetime, owner: str | None, **values: Any
    ) -> bool:
        """Record an attempt; False when ``owner`` no longer holds the delivery (nothing changed)."""
        values.update(
            last_code=outcome.code,
            last_error=outcome.error[:500],
            last_body=outcome.body,
            last_attempt=now,
            locked_until=None,
        )
        result = await self.tx.conn.execute(
            update(webhook_deliveries).where(d.id == delivery_id, *_held(owner)).values(**values)
        )
        return bool(result.rowcount)


def _held(owner: str | None) -> tuple[Any, ...]:
    """The conditions of a delivery whose lease ``owner`` holds (none without an owner: an
    operator's or a test's own call)."""
    if owner is None:
        return ()
    return (d.status == "sending", d.lease_owner == owner)
