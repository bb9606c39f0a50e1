"""Suppressed addresses (never mailed again, on one site or every site) and the bounces log.

A suppression row with site "" holds on every site. Addresses are stored in their canonical form
(kibitz/inputs.py), as the outbox holds them, so matching is exact.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, delete, distinct, func, select, update

from kibitz.store.schema import bounces, outbox, subscribers, suppressions

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

EVERY_SITE = ""
REASONS = ("hard_bounce", "complaint", "unsubscribed", "erased")
KINDS = ("hard", "soft", "complaint")
_CHUNK = 500  # outbox ids per IN (...) list
s = suppressions.c
b = bounces.c


@dataclass(frozen=True)
class Suppression:
    site: str  # "" for every site
    email: str
    reason: str  # hard_bounce | complaint | unsubscribed | erased
    detail: str
    created: datetime


@dataclass(frozen=True)
class Bounce:
    id: int
    site: str
    email: str
    kind: str  # hard | soft | complaint
    source: str  # smtp | webhook
    outbox_id: int | None
    detail: str
    created: datetime


def _suppression(row: Any) -> Suppression:
    return Suppression(row.site, row.email, row.reason, row.detail, row.created)


def _bounce(row: Any) -> Bounce:
    return Bounce(row.id, row.site, row.email, row.kind, row.source, row.outbox_id, row.detail, row.created)


class SuppressionRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def add(self, site: str, email: str, reason: str, detail: str, now: datetime) -> bool:
        """Suppress ``email`` on ``site`` ("" = every site); True when new. An existing row keeps its
        first reason (an erasure stays an erasure when a bounce follows)."""
        assert reason in REASONS, reason
        stmt = (
            self.tx.upsert(suppressions)
            .values(site=site, email=email, reason=reason, detail=detail[:500], created=now)
            .on_conflict_do_nothing(index_elements=["site", "email"])
        )
        return bool((await self.tx.conn.execute(stmt)).rowcount)

    async def remove(self, email: str, site: str | None = None) -> int:
        """Lift the suppressions of ``email``: of one site (``""`` = the every-site row), or every row
        of the address when ``site`` is None; how many went."""
        where = s.email == email if site is None else (s.email == email) & (s.site == site)
        return int((await self.tx.conn.execute(delete(suppressions).where(where))).rowcount)

    async def reason(self, site: str, email: str) -> str | None:
        """Why ``email`` may not be mailed from ``site`` (its own row or an every-site one), or None."""
        stmt = (
            select(s.reason)
            .where(s.email == email, s.site.in_((site, EVERY_SITE)))
            .order_by(s.site.desc())  # the site's own reason first
            .limit(1)
        )
        found: str | None = (await self.tx.conn.execute(stmt)).scalar_one_or_none()
        return found

    async def is_suppressed(self, site: str, email: str) -> bool:
        return await self.reason(site, email) is not None

    async def list(
        self,
        *,
        site: str | None = None,
        email: str | None = None,
        limit: int = 100,
        sites: Collection[str] | None = None,
        contains: str | None = None,
    ) -> builtins.list[Suppression]:
        """Newest first; of one site's rows (``""``: the every-site ones), of ``sites``, of one
        address, of addresses containing ``contains`` (any case; ``%`` and ``_`` match themselves),
        or all."""
        stmt = select(suppressions).order_by(s.created.desc(), s.email).limit(limit)
        if site is not None:
            stmt = stmt.where(s.site == site)
        if sites is not None:
            stmt = stmt.where(s.site.in_(tuple(sites)))
        if email is not None:
            stmt = stmt.where(s.email == email)
        if contains:
            stmt = stmt.where(func.lower(s.email).contains(contains.lower(), autoescape=True))
        return [_suppression(row) for row in await self.tx.conn.execute(stmt)]

    async def mark_subscribers_bounced(self, email: str, site: str | None = None) -> int:
        """The address's subscriber rows (of one site, or of every site) to status "bounced"."""
        stmt = update(subscribers).where(subscribers.c.email == email, subscribers.c.status != "bounced")
        if site is not None:
            stmt = stmt.where(subscribers.c.site == site)
        return int((await self.tx.conn.execute(stmt.values(status="bounced"))).rowcount)

    async def unmark_subscribers_bounced(self, email: str) -> int:
        """Bounced subscriber rows of the address back to "unconfirmed": once the suppression is
        lifted, the address must confirm again before it gets mail (a fresh double opt-in)."""
        stmt = (
            update(subscribers)
            .where(subscribers.c.email == email, subscribers.c.status == "bounced")
            .values(status="unconfirmed", confirm_nonce=None)
        )
        return int((await self.tx.conn.execute(stmt)).rowcount)


class BounceRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def add(
        self,
        *,
        site: str,
        email: str,
        kind: str,
        source: str,
        outbox_id: int | None,
        detail: str,
        now: datetime,
    ) -> int:
        """Log one bounce or complaint; its id."""
        assert kind in KINDS, kind
        stmt = (
            bounces.insert()
            .values(
                site=site,
                email=email,
                kind=kind,
                source=source,
                outbox_id=outbox_id,
                detail=detail[:500],
                created=now,
            )
            .returning(b.id)
        )
        return int((await self.tx.conn.execute(stmt)).scalar_one())

    async def count_soft(self, email: str, since: datetime) -> int:
        """Soft bounces of ``email`` logged at or after ``since``, one per message: repeated delay
        notices about the same outbox row count once (a bounce of no known row counts alone)."""
        per_message = func.coalesce(b.outbox_id, -b.id)
        stmt = select(func.count(distinct(per_message))).where(
            b.email == email, b.kind == "soft", b.created >= since
        )
        return int((await self.tx.conn.execute(stmt)).scalar_one())

    async def counts_for(self, outbox_ids: Collection[int]) -> dict[str, int]:
        """How many of these outbox rows drew a bounce of each kind: ``{"hard": 3, "complaint": 1}``
        (a row counted once per kind however many reports it drew)."""
        totals: dict[str, int] = {}
        ids = sorted(set(outbox_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            for kind, count in (await self._counts(b.outbox_id.in_(chunk))).items():
                totals[kind] = totals.get(kind, 0) + count
        return totals

    async def counts_for_campaign(self, campaign_id: int) -> dict[str, int]:
        """As ``counts_for``, for every outbox row of one campaign: one query however large it is
        (the admin's progress asks every few seconds while a campaign sends)."""
        of_campaign = select(outbox.c.id).where(outbox.c.campaign_id == campaign_id)
        return await self._counts(b.outbox_id.in_(of_campaign.scalar_subquery()))

    async def counts_between(self, first: int, last: int) -> dict[str, int]:
        """As ``counts_for``, for the outbox rows with ids from ``first`` to ``last`` (inclusive)."""
        return await self._counts(b.outbox_id.between(first, last))

    async def _counts(self, where: ColumnElement[bool]) -> dict[str, int]:
        stmt = (
            select(b.kind, func.count(distinct(b.outbox_id)))
            .where(where, b.outbox_id.is_not(None))
            .group_by(b.kind)
        )
        return {kind: int(count) for kind, count in await self.tx.conn.execute(stmt)}

    async def list(
        self, *, email: str | None = None, limit: int = 100, before: int | None = None
    ) -> builtins.list[Bounce]:
        """Newest first; of one address, or all; ``before``: ids below this one (paging)."""
        stmt = select(bounces).order_by(b.id.desc()).limit(limit)
        if email is not None:
            stmt = stmt.where(b.email == email)
        if before is not None:
            stmt = stmt.where(b.id < before)
        return [_bounce(row) for row in await self.tx.conn.execute(stmt)]
