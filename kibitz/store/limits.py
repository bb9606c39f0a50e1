"""Rate-limit counters and idempotency keys: shared state that must hold across workers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, select

from kibitz.store.schema import idempotency_keys, rate_counters

if TYPE_CHECKING:
    from kibitz.store.tx import Tx


class RateRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def hit(self, key: str, window: int) -> int:
        """Count one hit for ``key`` in the window starting at ``window`` (epoch seconds), atomically;
        return the count including it."""
        stmt = self.tx.upsert(rate_counters).values(key=key, window=window, count=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key", "window"], set_={"count": rate_counters.c.count + 1}
        ).returning(rate_counters.c.count)
        result = await self.tx.conn.execute(stmt)
        return int(result.scalar_one())

    async def hit_sliding(self, key: str, now_ms: int, span_ms: int, limit: int) -> int | None:
        """Count one hit for ``key`` at ``now_ms`` unless ``limit`` hits are already within the last
        ``span_ms`` (a sliding window: exact over any span of that length, so no burst at a window's
        edge); None when counted, else the milliseconds until the oldest hit in the way leaves.

        Hits are rows of ``rate_counters`` under ``key`` by the millisecond (``window`` in epoch
        ms, ``count`` hits in it). A row at ``window`` 0 is the key's lock: its upsert holds a row
        lock until the transaction ends, so concurrent transactions on PostgreSQL count the same key
        one after the other (on SQLite the write transaction already excludes every other writer).
        A refused hit, or one whose transaction fails, is not counted."""
        c = rate_counters.c
        lock = self.tx.upsert(rate_counters).values(key=key, window=0, count=0)
        await self.tx.conn.execute(
            lock.on_conflict_do_update(index_elements=["key", "window"], set_={"count": 0})
        )
        hits = await self.tx.conn.execute(
            select(c.window, c.count).where(c.key == key, c.window > now_ms - span_ms).order_by(c.window)
        )
        rows = [(int(w), int(n)) for w, n in hits]
        total = sum(n for _, n in rows)
        if total >= limit:
            # The window frees a slot once enough of the oldest hits have left it.
            excess, seen = total - limit + 1, 0
            for window, count in rows:
                seen += count
                if seen >= excess:
                    return max(1, window + span_ms - now_ms)
        await self.hit(key, now_ms)
        return None

    async def forget_before(self, window: int, *, sliding_prefix: str = "", window_ms: int = 0) -> None:
        """Drop counters of windows that started before ``window`` (epoch seconds), and the sliding
        windows' hits (keys starting ``sliding_prefix``) from before ``window_ms`` (epoch ms)."""
        c = rate_counters.c
        await self.tx.conn.execute(delete(rate_counters).where(c.window < window))
        if sliding_prefix:
            await self.tx.conn.execute(
                delete(rate_counters).where(and_(c.key.startswith(sliding_prefix), c.window < window_ms))
            )


@dataclass(frozen=True)
class IdempotentResponse:
    fingerprint: str
    comment_id: int
    response: str


class IdempotencyRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def get(self, site: str, principal: str, key: str) -> IdempotentResponse | None:
        """The response stored for (site, principal, key), if any."""
        t = idempotency_keys.c
        row = (
            await self.tx.conn.execute(
                select(t.fingerprint, t.comment_id, t.response).where(
                    t.site == site, t.principal == principal, t.key == key
                )
            )
        ).first()
        return IdempotentResponse(row.fingerprint, row.comment_id, row.response) if row else None

    async def put(
        self,
        site: str,
        principal: str,
        key: str,
        fingerprint: str,
        comment_id: int,
        response: str,
        now: datetime,
    ) -> None:
        """Remember the response; a concurrent twin makes this raise IntegrityError."""
        await self.tx.conn.execute(
            idempotency_keys.insert().values(
                site=site,
                principal=principal,
                key=key,
                fingerprint=fingerprint,
                comment_id=comment_id,
                response=response,
                created=now,
            )
        )
