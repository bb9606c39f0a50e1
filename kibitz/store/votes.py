"""Votes (one per reader per comment, a bounded number per client address) and reader flags
(reports to the moderators)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select

from kibitz.store.schema import flags, votes

if TYPE_CHECKING:
    from kibitz.store.tx import Tx


class VoteRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def value(self, comment_id: int, reader_id: str) -> int:
        """This reader's vote on the comment: -1, 0 or 1."""
        stmt = select(votes.c.value).where(votes.c.comment_id == comment_id, votes.c.reader_id == reader_id)
        return int((await self.tx.conn.execute(stmt)).scalar_one_or_none() or 0)

    async def values(self, comment_ids: list[int], reader_id: str) -> dict[int, int]:
        """This reader's non-zero votes among the given comments."""
        stmt = select(votes.c.comment_id, votes.c.value).where(
            votes.c.comment_id.in_(comment_ids), votes.c.reader_id == reader_id
        )
        return {row.comment_id: row.value for row in await self.tx.conn.execute(stmt)}

    async def from_address(self, comment_id: int, client_hash: str) -> int:
        """How many votes the comment holds from one client address (by its keyed hash). Counted
        in the caller's write transaction, under the comment's row lock, so it is exact."""
        stmt = select(func.count()).where(
            votes.c.comment_id == comment_id, votes.c.client_hash == client_hash
        )
        return int((await self.tx.conn.execute(stmt)).scalar_one())

    async def set(
        self, comment_id: int, reader_id: str, value: int, now: datetime, client_hash: str = ""
    ) -> None:
        """Record the vote; 0 removes it. The unique key keeps one row per reader; a changed vote
        keeps the address it was first cast from (it is still one vote from there)."""
        if value == 0:
            await self.tx.conn.execute(
                delete(votes).where(votes.c.comment_id == comment_id, votes.c.reader_id == reader_id)
            )
            return
        stmt = self.tx.upsert(votes).values(
            comment_id=comment_id, reader_id=reader_id, value=value, created=now, client_hash=client_hash
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["comment_id", "reader_id"], set_={"value": value, "created": now}
        )
        await self.tx.conn.execute(stmt)


class FlagRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def add(self, comment_id: int, reader_id: str, reason: str, now: datetime) -> None:
        """Store a reader's report; a second report by the same reader is ignored."""
        stmt = self.tx.upsert(flags).values(
            comment_id=comment_id, reader_id=reader_id, reason=reason, created=now
        )
        await self.tx.conn.execute(stmt.on_conflict_do_nothing(index_elements=["comment_id", "reader_id"]))

    async def count(self, comment_id: int) -> int:
        stmt = select(flags.c.id).where(flags.c.comment_id == comment_id)
        return len((await self.tx.conn.execute(stmt)).all())
