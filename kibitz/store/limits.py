"""Rate-limit counters and idempotency keys: shared state that must hold across workers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, and_, delete, exists, func, literal, select, update

from kibitz.store import fast
from kibitz.store.fast import Fast
from kibitz.store.schema import idempotency_keys, rate_counters

if TYPE_CHECKING:
    from kibitz.store.tx import Tx


BASE = 1  # a sliding key's base row (window 0 is its lock; see RateRepo.hit_sliding)
REBASE_AT = 1 << 30
# Every hit runs these: plain SQL on the raw driver (store/fast.py).
_LOCK = Fast(
    'INSERT INTO rate_counters (key, "window", count) VALUES (:key, 0, 0) '
    'ON CONFLICT (key, "window") DO UPDATE SET count = 0'
)
_NEWEST = Fast(
    'SELECT "window", count FROM rate_counters WHERE key = :key AND "window" >= 1 '
    'ORDER BY "window" DESC LIMIT 1'
)
_BEFORE = Fast(
    'SELECT count FROM rate_counters WHERE key = :key AND "window" >= 1 AND "window" <= :start '
    'ORDER BY "window" DESC LIMIT 1'
)
_HIT = Fast(
    'INSERT INTO rate_counters (key, "window", count) VALUES (:key, :at, :total) '
    'ON CONFLICT (key, "window") DO UPDATE SET count = rate_counters.count + 1'
)


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

        The key's rows in ``rate_counters``, by ``window``:
        - 0: the key's lock. Its upsert holds a row lock until the transaction ends, so concurrent
          transactions on PostgreSQL count the same key one after the other (on SQLite the write
          transaction already excludes every other writer);
        - 1: the base, the running total of the hits forgotten so far (absent: none);
        - epoch milliseconds: ``count`` is the running total of the key's hits up to and including
          that millisecond, so it only grows with the window.
        The hits within the span are then the newest total less the total just before the span: two
        index lookups, whatever the limit (reading every hit was linear in the limit, and a raised
        limit made each post read thousands of rows). A refused hit, or one whose transaction fails,
        is not counted."""
        c = rate_counters.c
        await fast.rows(self.tx, _LOCK, {"key": key})
        start = now_ms - span_ms
        row = await fast.first(self.tx, _NEWEST, {"key": key})
        latest, total = (int(row[0]), int(row[1])) if row else (BASE, 0)
        if latest <= start:  # nothing newer than the span's start: nothing in it
            before = total
        else:
            before = int(await fast.scalar(self.tx, _BEFORE, {"key": key, "start": start}) or 0)
        if total - before >= limit:
            # The span frees a slot once enough of its oldest hits have left it.
            target = before + (total - before - limit + 1)
            freed = await self.tx.conn.execute(
                select(c.window)
                .where(c.key == key, c.window > start, c.count >= target)
                .order_by(c.window)
                .limit(1)
            )
            return max(1, int(freed.scalar_one()) + span_ms - now_ms)
        # A clock behind another worker's writes at the newest millisecond, never before it: the
        # totals stay in the order of their windows.
        await fast.rows(self.tx, _HIT, {"key": key, "at": max(now_ms, latest), "total": total + 1})
        return None

    async def forget_before(self, window: int, *, sliding_prefix: str = "", window_ms: int = 0) -> None:
        """Drop counters of windows that started before ``window`` (epoch seconds), and the sliding
        windows' hits (keys starting ``sliding_prefix``) from before ``window_ms`` (epoch ms): their
        running total moves to the key's base row first, and a key with no hits left loses its lock
        and base rows too (its totals start again from 0)."""
        c = rate_counters.c
        fixed = c.window < window
        if not sliding_prefix:
            await self.tx.conn.execute(delete(rate_counters).where(fixed))
            return
        sliding = c.key.startswith(sliding_prefix, autoescape=True)
        await self.tx.conn.execute(delete(rate_counters).where(fixed, ~sliding))
        old = and_(sliding, c.window > BASE, c.window < window_ms)
        bases = select(c.key, literal(BASE, BigInteger), func.max(c.count)).where(old).group_by(c.key)
        upsert = self.tx.upsert(rate_counters).from_select(["key", "window", "count"], bases)
        await self.tx.conn.execute(
            upsert.on_conflict_do_update(
                index_elements=["key", "window"], set_={"count": upsert.excluded.count}
            )
        )
        await self.tx.conn.execute(delete(rate_counters).where(old))
        hits = rate_counters.alias("hits")
        idle = ~exists().where(hits.c.key == c.key, hits.c.window > BASE)
        await self.tx.conn.execute(delete(rate_counters).where(sliding, c.window <= BASE, idle))
        # Totals stay within a 32-bit count: a key past REBASE_AT starts again from its base.
        heavy = select(c.key, c.count).where(sliding, c.window == BASE, c.count > REBASE_AT)
        for key, base in (await self.tx.conn.execute(heavy)).all():
            await self.tx.conn.execute(
                update(rate_counters).where(c.key == key, c.window >= BASE).values(count=c.count - int(base))
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
