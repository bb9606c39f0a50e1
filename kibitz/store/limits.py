"""Rate-limit counters and idempotency keys: shared state that must hold across workers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

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

    async def forget_before(self, window: int) -> None:
        """Drop counters of windows that started before ``window`` (epoch seconds)."""
        await self.tx.conn.execute(delete(rate_counters).where(rate_counters.c.window < window))


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
