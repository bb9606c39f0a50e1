"""The moderators' view of comments: queues by status and reports, reader reports grouped by
reason, pins and features, per-day figures for the dashboard."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, false, func, literal, select, tuple_, update

from kibitz.models import CommentStatus, FlagCount, QueueItem
from kibitz.store.comments import to_comment, with_thread
from kibitz.store.schema import comments, flags, threads

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

c = comments.c
QUEUE_STATUSES = ("pending", "flagged", "spam", "rejected", "approved", "all")


@dataclass(frozen=True)
class QueueFilter:
    status: str = "pending"  # one of QUEUE_STATUSES
    text: str = ""  # words in the comment's text
    author: str = ""  # an exact email (when it has an @), else part of the display name
    page: str = ""  # an exact page key
    thread_id: int | None = None


@dataclass(frozen=True)
class DayCounts:
    day: date
    posted: int = 0
    approved: int = 0
    rejected: int = 0
    spam: int = 0
    flagged: int = 0


def encode_cursor(created: datetime, comment_id: int) -> str:
    raw = f"{created.isoformat()}|{comment_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    """(created, id) of a queue cursor, or None when it is not one of ours."""
    if len(cursor) > 256:  # ours are under 60 characters
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, ident = raw.partition("|")
        created, comment_id = datetime.fromisoformat(when), int(ident)
        if created.tzinfo is None or not 1900 <= created.year <= 9998 or not 0 < comment_id < 2**62:
            return None
        return created.astimezone(UTC), comment_id
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
        return None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _open_flags() -> Any:
    return select(flags.c.comment_id).where(flags.c.resolved == false())


class ModerationRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    def _where(self, site: str, f: QueueFilter) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [c.site == site]
        if f.status == "flagged":
            where += [c.id.in_(_open_flags()), c.deleted == false()]
        elif f.status != "all":
            where += [c.status == f.status, c.deleted == false()]
        if f.text:
            where.append(c.text.ilike(_like(f.text), escape="\\"))
        if f.author:
            if "@" in f.author:
                where.append(c.author_email == f.author)
            else:
                where.append(c.author_name.ilike(_like(f.author), escape="\\"))
        if f.page:
            where.append(
                c.thread_id.in_(select(threads.c.id).where(threads.c.site == site, threads.c.page == f.page))
            )
        if f.thread_id is not None:
            where.append(c.thread_id == f.thread_id)
        return where

    async def queue(
        self, site: str, f: QueueFilter, after: tuple[datetime, int] | None, limit: int
    ) -> list[QueueItem]:
        """Comments of ``site`` matching ``f``, newest first, after the keyset ``after``."""
        stmt = with_thread().where(*self._where(site, f))
        if after is not None:
            stmt = stmt.where(
                tuple_(c.created, c.id)
                < tuple_(literal(after[0], c.created.type), literal(after[1], c.id.type))
            )
        stmt = stmt.order_by(c.created.desc(), c.id.desc()).limit(limit)
        rows = list(await self.tx.conn.execute(stmt))
        reports = await self.open_flags([row.id for row in rows])
        return [
            QueueItem(to_comment(row), row.t_page, row.t_title, row.t_url, reports.get(row.id, ()))
            for row in rows
        ]

    async def item(self, comment_id: int) -> QueueItem | None:
        stmt = with_thread().where(c.id == comment_id)
        row = (await self.tx.conn.execute(stmt)).first()
        if row is None:
            return None
        reports = await self.open_flags([row.id])
        return QueueItem(to_comment(row), row.t_page, row.t_title, row.t_url, reports.get(row.id, ()))

    async def open_flags(self, comment_ids: Sequence[int]) -> dict[int, tuple[FlagCount, ...]]:
        """Open reader reports of each comment, grouped by reason, most reported first."""
        if not comment_ids:
            return {}
        stmt = (
            select(flags.c.comment_id, flags.c.reason, func.count().label("n"))
            .where(flags.c.comment_id.in_(comment_ids), flags.c.resolved == false())
            .group_by(flags.c.comment_id, flags.c.reason)
        )
        grouped: dict[int, list[FlagCount]] = {}
        for row in await self.tx.conn.execute(stmt):
            grouped.setdefault(row.comment_id, []).append(FlagCount(row.reason, int(row.n)))
        return {
            key: tuple(sorted(value, key=lambda f: (-f.count, f.reason))) for key, value in grouped.items()
        }

    async def resolve_flags(self, comment_id: int) -> int:
        """Close the open reports of a comment a moderator acted on; how many were open."""
        result = await self.tx.conn.execute(
            update(flags)
            .where(flags.c.comment_id == comment_id, flags.c.resolved == false())
            .values(resolved=True)
        )
        return int(result.rowcount or 0)

    async def set_marks(self, comment_id: int, **marks: bool) -> None:
        """Set ``pinned`` and/or ``featured``."""
        allowed = {key: value for key, value in marks.items() if key in ("pinned", "featured")}
        await self.tx.conn.execute(update(comments).where(c.id == comment_id).values(**allowed))

    async def set_moderated_text(
        self, comment_id: int, text: str, html: str, renderer: int, now: datetime
    ) -> None:
        await self.tx.conn.execute(
            update(comments)
            .where(c.id == comment_id)
            .values(text=text, html=html, renderer_version=renderer, edited=now, mod_edited=True)
        )

    async def count(self, site: str, status: str) -> int:
        stmt = (
            select(func.count()).select_from(comments).where(*self._where(site, QueueFilter(status=status)))
        )
        return int((await self.tx.conn.execute(stmt)).scalar_one())

    async def oldest_pending(self, site: str) -> datetime | None:
        stmt = (
            select(c.created)
            .where(c.site == site, c.status == CommentStatus.PENDING.value, c.deleted == false())
            .order_by(c.created, c.id)
            .limit(1)
        )
        value: datetime | None = (await self.tx.conn.execute(stmt)).scalar_one_or_none()
        return value

    async def per_day(self, site: str, since: datetime) -> list[DayCounts]:
        """Comments posted per day since ``since`` by their status now, and reports per day."""
        day = func.date(c.created)
        is_status = {
            s: func.sum(func.cast(c.status == s, comments.c.depth.type))
            for s in ("approved", "rejected", "spam")
        }
        stmt = (
            select(
                day.label("day"), func.count().label("posted"), *[v.label(k) for k, v in is_status.items()]
            )
            .where(c.site == site, c.created >= since)
            .group_by(day)
        )
        days: dict[date, dict[str, int]] = {}
        for row in await self.tx.conn.execute(stmt):
            days[_day(row.day)] = {
                "posted": int(row.posted),
                **{k: int(getattr(row, k) or 0) for k in is_status},
            }
        fday = func.date(flags.c.created)
        fstmt = (
            select(fday.label("day"), func.count().label("n"))
            .join(comments, c.id == flags.c.comment_id)
            .where(c.site == site, flags.c.created >= since)
            .group_by(fday)
        )
        for row in await self.tx.conn.execute(fstmt):
            days.setdefault(_day(row.day), {})["flagged"] = int(row.n)
        return [DayCounts(day=d, **v) for d, v in sorted(days.items())]

    async def most_discussed(self, site: str, since: datetime, limit: int = 10) -> list[tuple[str, str, int]]:
        """(page, title, comments since) of the busiest threads."""
        stmt = (
            select(threads.c.page, threads.c.title, func.count().label("n"))
            .join(comments, c.thread_id == threads.c.id)
            .where(c.site == site, c.created >= since, c.status == CommentStatus.APPROVED.value)
            .group_by(threads.c.id, threads.c.page, threads.c.title)
            .order_by(func.count().desc(), threads.c.page)
            .limit(limit)
        )
        return [(row.page, row.title, int(row.n)) for row in await self.tx.conn.execute(stmt)]

    async def author_comments(self, site: str, email: str, reader_id: str) -> list[int]:
        """Ids of every comment on ``site`` by an email (when given) or a reader id."""
        match = c.author_email == email if email else c.reader_id == reader_id
        stmt = select(c.id).where(c.site == site, match)
        return [int(row.id) for row in await self.tx.conn.execute(stmt)]


def _day(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
