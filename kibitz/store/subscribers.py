"""Subscribers (one per site and address) and what they follow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kibitz.store.schema import subscribers

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

s = subscribers.c


@dataclass(frozen=True)
class Subscriber:
    id: int
    site: str
    email: str
    status: str  # unconfirmed | confirmed | unsubscribed | bounced
    created: datetime
    confirmed: datetime | None
    confirm_nonce: str | None
    confirm_sent: datetime | None


def to_subscriber(row: Any) -> Subscriber:
    return Subscriber(
        id=row.id,
        site=row.site,
        email=row.email,
        status=row.status,
        created=row.created,
        confirmed=row.confirmed,
        confirm_nonce=row.confirm_nonce,
        confirm_sent=row.confirm_sent,
    )


class SubscriberRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def get_or_create(self, site: str, email: str, now: datetime) -> Subscriber:
        """The subscriber record of (site, address), created unconfirmed when new (race-safe)."""
        stmt = (
            self.tx.upsert(subscribers)
            .values(site=site, email=email, created=now)
            .on_conflict_do_nothing(index_elements=["site", "email"])
        )
        await self.tx.conn.execute(stmt)
        row = (await self.tx.conn.execute(select(subscribers).where(s.site == site, s.email == email))).one()
        return to_subscriber(row)

    async def get(self, subscriber_id: int) -> Subscriber | None:
        row = (await self.tx.conn.execute(select(subscribers).where(s.id == subscriber_id))).first()
        return to_subscriber(row) if row else None
