"""Story updates: their rows, a story's latest ones, and the updates waiting for a daily digest."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from kibitz.models import Thread
from kibitz.store.schema import story_updates, threads, update_digest_items
from kibitz.store.subscribers import _T_COLUMNS, _labelled_thread

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

u = story_updates.c
d = update_digest_items.c


@dataclass(frozen=True)
class StoryUpdate:
    id: int
    site: str
    thread_id: int
    kind: str  # correction | update | follow-up
    title: str
    text: str
    html: str
    url: str
    created: datetime
    created_by: str


def _update(row: Any) -> StoryUpdate:
    return StoryUpdate(
        id=int(row.id),
        site=row.site,
        thread_id=int(row.thread_id),
        kind=row.kind,
        title=row.title,
        text=row.text,
        html=row.html,
        url=row.url,
        created=row.created,
        created_by=row.created_by,
    )


@dataclass(frozen=True)
class NewUpdate:
    site: str
    thread_id: int
    kind: str
    title: str
    text: str
    html: str
    url: str
    created_by: str


class StoryUpdateRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def insert(self, new: NewUpdate, now: datetime) -> StoryUpdate:
        stmt = (
            story_updates.insert()
            .values(
                site=new.site,
                thread_id=new.thread_id,
                kind=new.kind,
                title=new.title,
                text=new.text,
                html=new.html,
                url=new.url,
                created=now,
                created_by=new.created_by,
            )
            .returning(*story_updates.c)
        )
        return _update((await self.tx.conn.execute(stmt)).one())

    async def get(self, update_id: int) -> StoryUpdate | None:
        row = (await self.tx.conn.execute(select(story_updates).where(u.id == update_id))).first()
        return _update(row) if row else None

    async def same(self, new: NewUpdate) -> StoryUpdate | None:
        """An update of the thread already posted with exactly these words (a retried request)."""
        stmt = (
            select(story_updates)
            .where(
                u.thread_id == new.thread_id,
                u.kind == new.kind,
                u.title == new.title,
                u.text == new.text,
                u.url == new.url,
            )
            .order_by(u.id)
            .limit(1)
        )
        row = (await self.tx.conn.execute(stmt)).first()
        return _update(row) if row else None

    async def of_thread(self, thread_id: int, limit: int) -> builtins.list[StoryUpdate]:
        """The thread's latest updates, newest first."""
        stmt = select(story_updates).where(u.thread_id == thread_id).order_by(u.created.desc(), u.id.desc())
        return [_update(row) for row in await self.tx.conn.execute(stmt.limit(limit))]

    # -- daily digests ------------------------------------------------------------------------------

    async def add_digest_item(self, subscription_id: int, update_id: int, now: datetime) -> None:
        stmt = (
            self.tx.upsert(update_digest_items)
            .values(subscription_id=subscription_id, update_id=update_id, created=now)
            .on_conflict_do_nothing(index_elements=["subscription_id", "update_id"])
        )
        await self.tx.conn.execute(stmt)

    async def digest_subscription_ids(self) -> builtins.list[int]:
        """Subscriptions that have updates waiting for their digest."""
        stmt = select(d.subscription_id).distinct().order_by(d.subscription_id)
        return [int(value) for value in (await self.tx.conn.execute(stmt)).scalars()]

    async def digest_items(self, subscription_id: int) -> builtins.list[tuple[StoryUpdate, Thread]]:
        """The updates waiting for one subscription's digest, oldest first, with their thread."""
        stmt = (
            select(story_updates, *_T_COLUMNS)
            .join(update_digest_items, d.update_id == u.id)
            .join(threads, threads.c.id == u.thread_id)
            .where(d.subscription_id == subscription_id)
            .order_by(u.created, u.id)
        )
        return [(_update(row), _labelled_thread(row)) for row in await self.tx.conn.execute(stmt)]

    async def clear_digest(self, subscription_id: int, update_ids: Sequence[int]) -> None:
        stmt = delete(update_digest_items).where(
            d.subscription_id == subscription_id, d.update_id.in_(list(update_ids))
        )
        await self.tx.conn.execute(stmt)
