"""Newsletter campaigns: their rows, the recipients of a list in chunks, and the counts of their mail."""

from __future__ import annotations

import builtins
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, exists, func, or_, select, update

from kibitz.store.schema import campaigns, outbox, subscribers, subscriptions, suppressions

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

c = campaigns.c
o = outbox.c
s = subscribers.c
sub = subscriptions.c


@dataclass(frozen=True)
class Campaign:
    id: int
    site: str
    list_id: str
    subject: str
    markdown: str
    html: str
    text: str
    status: str  # draft | scheduled | sending | paused | sent | cancelled
    send_at: datetime | None
    created: datetime
    created_by: str
    started: datetime | None
    finished: datetime | None
    total: int
    cursor: int  # the last subscriber id enqueued
    queued: bool  # every recipient has its outbox row


@dataclass(frozen=True)
class Recipient:
    """A confirmed subscriber of a list, with the subscription that makes them one."""

    subscriber_id: int
    subscription_id: int
    email: str


def to_campaign(row: Any) -> Campaign:
    return Campaign(
        id=row.id,
        site=row.site,
        list_id=row.list,
        subject=row.subject,
        markdown=row.markdown,
        html=row.html,
        text=row.text,
        status=row.status,
        send_at=row.send_at,
        created=row.created,
        created_by=row.created_by,
        started=row.started,
        finished=row.finished,
        total=row.total,
        cursor=row.cursor,
        queued=bool(row.queued),
    )


class CampaignRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def add(
        self,
        *,
        site: str,
        list_id: str,
        subject: str,
        markdown: str,
        html: str,
        text: str,
        send_at: datetime | None,
        created_by: str,
        now: datetime,
    ) -> Campaign:
        """A new draft."""
        stmt = (
            campaigns.insert()
            .values(
                site=site, list=list_id, subject=subject, markdown=markdown, html=html, text=text,
                status="draft", send_at=send_at, created=now, created_by=created_by[:200],
            )
            .returning(*campaigns.c)
        )  # fmt: skip
        return to_campaign((await self.tx.conn.execute(stmt)).one())

    async def update_draft(self, campaign_id: int, **values: Any) -> bool:
        """Change a draft's columns (``list_id`` for its list); False when it is no draft now."""
        if "list_id" in values:
            values["list"] = values.pop("list_id")
        stmt = update(campaigns).where(c.id == campaign_id, c.status == "draft").values(**values)
        return bool((await self.tx.conn.execute(stmt)).rowcount)

    async def get(self, campaign_id: int) -> Campaign | None:
        row = (await self.tx.conn.execute(select(campaigns).where(c.id == campaign_id))).first()
        return to_campaign(row) if row else None

    async def of_site(
        self, site: str, list_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> builtins.list[Campaign]:
        """A site's campaigns (of one list, of one status), newest first."""
        stmt = select(campaigns).where(c.site == site).order_by(c.id.desc()).limit(limit)
        if list_id is not None:
            stmt = stmt.where(c.list == list_id)
        if status is not None:
            stmt = stmt.where(c.status == status)
        return [to_campaign(row) for row in await self.tx.conn.execute(stmt)]

    async def all(self, limit: int = 200) -> builtins.list[Campaign]:
        """Every campaign of every site, newest first (the CLI)."""
        stmt = select(campaigns).order_by(c.id.desc()).limit(limit)
        return [to_campaign(row) for row in await self.tx.conn.execute(stmt)]

    async def set_status(
        self, campaign_id: int, status: str, expected: Collection[str], **values: Any
    ) -> bool:
        """Move a campaign to ``status`` (with other column values) if it is in one of ``expected``
        now; False when it is not (another request changed it first)."""
        stmt = (
            update(campaigns)
            .where(c.id == campaign_id, c.status.in_(tuple(expected)))
            .values(status=status, **values)
        )
        return bool((await self.tx.conn.execute(stmt)).rowcount)

    async def due(self, now: datetime) -> builtins.list[int]:
        """Scheduled campaigns whose time has come, oldest first."""
        stmt = select(c.id).where(c.status == "scheduled", c.send_at <= now).order_by(c.send_at, c.id)
        return [int(i) for i in (await self.tx.conn.execute(stmt)).scalars()]

    async def sending(self) -> builtins.list[int]:
        """Campaigns being sent, oldest first."""
        stmt = select(c.id).where(c.status == "sending").order_by(c.id)
        return [int(i) for i in (await self.tx.conn.execute(stmt)).scalars()]

    async def recipients(
        self, site: str, list_ids: Collection[str], after: int, now: datetime, limit: int
    ) -> builtins.list[Recipient]:
        """Up to ``limit`` subscribers of the list (``list_ids``: the names its subscriptions use) with
        ids above ``after``, in id order: confirmed, with an active subscription in force, not
        pausing newsletters now, not suppressed (for this site or every site)."""
        suppressed = exists().where(suppressions.c.email == s.email, suppressions.c.site.in_((site, "")))
        stmt = (
            select(s.id, sub.id.label("subscription_id"), s.email)
            .join(subscriptions, sub.subscriber_id == s.id)
            .where(
                s.site == site,
                s.status == "confirmed",
                s.id > after,
                or_(s.paused_until.is_(None), s.paused_until <= now),
                sub.topic == "newsletter",
                sub.active.is_(True),
                sub.pending.is_(False),
                sub.list.in_(tuple(list_ids)),
                ~suppressed,
            )
            .order_by(s.id, sub.id)
            .limit(limit)
        )
        rows = await self.tx.conn.execute(stmt)
        return [Recipient(int(r.id), int(r.subscription_id), r.email) for r in rows]

    async def audience(self, site: str, now: datetime) -> dict[tuple[str, str], int]:
        """The site's newsletter subscriptions in force or asked for, counted by (list, state): state
        "pending" (not confirmed yet), "paused" (pausing newsletters now) or "confirmed"."""
        paused = and_(s.paused_until.is_not(None), s.paused_until > now)
        state = case(
            (or_(sub.pending.is_(True), s.status == "unconfirmed"), "pending"),
            (paused, "paused"),
            else_="confirmed",
        ).label("state")
        stmt = (
            select(sub.list, state, func.count())
            .select_from(subscriptions.join(subscribers, s.id == sub.subscriber_id))
            .where(
                s.site == site,
                s.status.in_(("confirmed", "unconfirmed")),
                sub.topic == "newsletter",
                sub.active.is_(True),
            )
            .group_by(sub.list, state)
        )
        return {(str(name), str(kind)): int(n) for name, kind, n in await self.tx.conn.execute(stmt)}

    async def advance(self, campaign_id: int, cursor: int, added: int, queued: bool) -> None:
        """Record one chunk enqueued: the last subscriber reached, how many rows it added."""
        await self.tx.conn.execute(
            update(campaigns)
            .where(c.id == campaign_id)
            .values(cursor=cursor, total=c.total + added, queued=queued)
        )

    async def unsent(self, campaign_id: int) -> int:
        """The campaign's mails still waiting for the worker (pending or being sent)."""
        stmt = select(func.count()).where(o.campaign_id == campaign_id, o.status.in_(("pending", "sending")))
        return int((await self.tx.conn.execute(stmt)).scalar_one())

    async def drop_unsent(self, campaign_id: int, reason: str) -> int:
        """Drop the campaign's pending mails (a cancellation); how many."""
        stmt = (
            update(outbox)
            .where(o.campaign_id == campaign_id, o.status == "pending")
            .values(status="dropped", last_error=reason, locked_until=None)
        )
        return int((await self.tx.conn.execute(stmt)).rowcount)

    async def counts(self, campaign_id: int) -> dict[str, int]:
        """The campaign's mails by outbox status: ``{"sent": 10, "pending": 2, ...}``."""
        stmt = select(o.status, func.count()).where(o.campaign_id == campaign_id).group_by(o.status)
        return {status: int(n) for status, n in await self.tx.conn.execute(stmt)}

    async def unsubscribed(self, campaign_id: int) -> int:
        """Recipients of the campaign who have left the list since (or unsubscribed from everything)."""
        stmt = (
            select(func.count(func.distinct(o.recipient)))
            .select_from(outbox)
            .join(subscriptions, sub.id == o.subscription_id)
            .join(subscribers, s.id == sub.subscriber_id)
            .where(
                o.campaign_id == campaign_id,
                o.status == "sent",
                or_(sub.active.is_(False), and_(s.status == "unsubscribed")),
            )
        )
        return int((await self.tx.conn.execute(stmt)).scalar_one())
