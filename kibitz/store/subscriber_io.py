"""Subscribers in bulk: what a CSV import needs to know and write, a chunk of addresses at a time,
and the pages of a list's subscribers an export writes (kibitz/subscriber_io.py)."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from kibitz.store.schema import subscribers, subscriptions, suppressions

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

s = subscribers.c
sub = subscriptions.c
TOPIC = "newsletter"


@dataclass(frozen=True)
class Held:
    """What the database holds about one address of a site, for one list (``subscription_id`` None:
    the address has no subscription to it)."""

    subscriber_id: int
    status: str  # unconfirmed | confirmed | unsubscribed | bounced
    name: str
    subscription_id: int | None = None
    list_id: str = ""
    active: bool = False
    pending: bool = False
    consent_at: datetime | None = None


@dataclass(frozen=True)
class NewSubscription:
    subscriber_id: int
    list_id: str
    pending: bool
    consent_at: datetime | None
    consent_source: str
    consent_via: str


@dataclass(frozen=True)
class Exported:
    """One newsletter subscription with its subscriber, as an export writes it."""

    subscription_id: int
    email: str
    name: str
    list_id: str  # "" for the site's first list (stored before lists existed)
    subscriber_status: str
    active: bool
    pending: bool
    paused_until: datetime | None
    subscribed: datetime
    confirmed: datetime | None
    consent_at: datetime | None
    consent_source: str
    suppressed: str | None  # the suppression's reason, for this site or every site


# Exported's fields in order, but the last (the suppression's reason, a subquery).
_EXPORTED = (
    sub.id, s.email, s.name, sub.list, s.status, sub.active, sub.pending, s.paused_until, sub.created,
    s.confirmed, sub.consent_at, sub.consent_source,
)  # fmt: skip


def _exported(r: Any) -> Exported:
    return Exported(
        int(r.id), r.email, r.name, r.list, r.status, bool(r.active), bool(r.pending), r.paused_until,
        r.created, r.confirmed, r.consent_at, r.consent_source, r.suppressed,
    )  # fmt: skip


class SubscriberIoRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def held(self, site: str, emails: Collection[str], list_ids: Sequence[str]) -> dict[str, Held]:
        """Each known address among ``emails`` with its subscription to the list (``list_ids``: the
        names its subscriptions use; the first wins when several exist, as subscribing picks)."""
        found = await self.tx.conn.execute(
            select(s.id, s.email, s.status, s.name).where(s.site == site, s.email.in_(list(emails)))
        )
        people = {row.id: row for row in found}
        if not people:
            return {}
        stmt = (
            select(sub.id, sub.subscriber_id, sub.list, sub.active, sub.pending, sub.consent_at)
            .where(sub.subscriber_id.in_(list(people)), sub.topic == TOPIC, sub.list.in_(list(list_ids)))
            .order_by(sub.id)
        )
        rank = {name: i for i, name in enumerate(list_ids)}
        chosen: dict[int, Any] = {}
        for row in await self.tx.conn.execute(stmt):
            before = chosen.get(row.subscriber_id)
            if before is None or rank[row.list] < rank[before.list]:
                chosen[row.subscriber_id] = row
        out: dict[str, Held] = {}
        for person_id, person in people.items():
            held = Held(int(person_id), person.status, person.name)
            mine = chosen.get(person_id)
            if mine is not None:
                held = Held(
                    held.subscriber_id, held.status, held.name, int(mine.id), mine.list,
                    bool(mine.active), bool(mine.pending), mine.consent_at,
                )  # fmt: skip
            out[person.email] = held
        return out

    async def suppressed(self, site: str, emails: Collection[str]) -> dict[str, str]:
        """Why each suppressed address among ``emails`` may not be mailed from ``site`` (its own row
        before an every-site one)."""
        stmt = (
            select(suppressions.c.email, suppressions.c.reason)
            .where(suppressions.c.email.in_(list(emails)), suppressions.c.site.in_((site, "")))
            .order_by(suppressions.c.site)  # "" first, so the site's own reason is written last
        )
        return {row.email: row.reason for row in await self.tx.conn.execute(stmt)}

    async def add_subscribers(
        self, site: str, people: Sequence[tuple[str, str, str, datetime | None]], now: datetime
    ) -> dict[str, int]:
        """Create subscribers ``(email, name, status, confirmed)`` that do not exist (race-safe) and
        answer every one's id by address."""
        if not people:
            return {}
        rows = [
            {"site": site, "email": e, "name": n, "status": st, "confirmed": c, "created": now}
            for e, n, st, c in people
        ]
        stmt = self.tx.upsert(subscribers).on_conflict_do_nothing(index_elements=["site", "email"])
        await self.tx.conn.execute(stmt, rows)
        found = await self.tx.conn.execute(
            select(s.id, s.email).where(s.site == site, s.email.in_([p[0] for p in people]))
        )
        return {row.email: int(row.id) for row in found}

    async def update_subscriber(self, subscriber_id: int, **values: Any) -> None:
        """Change ``name``, ``status`` or ``confirmed``."""
        assert set(values) <= {"name", "status", "confirmed"}, values
        await self.tx.conn.execute(update(subscribers).where(s.id == subscriber_id).values(**values))

    async def add_subscriptions(self, made: Sequence[NewSubscription], now: datetime) -> None:
        """Newsletter subscriptions, active, asked for now (waiting for confirmation when pending)."""
        if not made:
            return
        rows = [
            {
                "subscriber_id": m.subscriber_id, "topic": TOPIC, "thread_id": None, "digest": "instant",
                "active": True, "created": now, "pending": m.pending, "requested": now, "list": m.list_id,
                "consent_at": m.consent_at, "consent_source": m.consent_source, "consent_via": m.consent_via,
            }
            for m in made
        ]  # fmt: skip
        await self.tx.conn.execute(subscriptions.insert(), rows)

    async def update_subscription(self, subscription_id: int, **values: Any) -> None:
        """Change ``pending``, ``list`` or the consent columns."""
        assert set(values) <= {"pending", "list", "consent_at", "consent_source", "consent_via"}, values
        await self.tx.conn.execute(update(subscriptions).where(sub.id == subscription_id).values(**values))

    # -- export -------------------------------------------------------------------------------------

    def _where(self, site: str, list_ids: Collection[str]) -> list[Any]:
        return [s.site == site, sub.topic == TOPIC, sub.list.in_(list(list_ids))]

    async def count(self, site: str, list_ids: Collection[str]) -> int:
        stmt = select(func.count()).select_from(subscriptions.join(subscribers, s.id == sub.subscriber_id))
        return int((await self.tx.conn.execute(stmt.where(*self._where(site, list_ids)))).scalar_one())

    async def page(
        self, site: str, list_ids: Collection[str], after: int, limit: int
    ) -> builtins.list[Exported]:
        """Up to ``limit`` newsletter subscriptions of the lists with ids above ``after``, in id order."""
        reason = (
            select(suppressions.c.reason)
            .where(suppressions.c.email == s.email, suppressions.c.site.in_((site, "")))
            .order_by(suppressions.c.site.desc())
            .limit(1)
            .scalar_subquery()
        )
        stmt = (
            select(*_EXPORTED, reason.label("suppressed"))
            .select_from(subscriptions.join(subscribers, s.id == sub.subscriber_id))
            .where(*self._where(site, list_ids), sub.id > after)
            .order_by(sub.id)
            .limit(limit)
        )
        return [_exported(row) for row in await self.tx.conn.execute(stmt)]
