"""Leases on periodic jobs (the daily digest, ...) so each runs once across every worker and instance."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, update

from kibitz.store.schema import jobs

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

j = jobs.c


class JobRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def try_lease(self, name: str, now: datetime, lease: timedelta) -> bool:
        """Take the job until ``now + lease`` unless someone holds it; True when taken.

        The worker leases a job for its whole period, so the lease also says "not again before then".
        A lease further ahead than ``lease`` was set by a clock that has gone back since: taken too,
        or a clock jump back would stall the job for as long (QUALITY R12).
        """
        await self.tx.conn.execute(self.tx.upsert(jobs).values(name=name).on_conflict_do_nothing())
        result = await self.tx.conn.execute(
            update(jobs)
            .where(
                j.name == name,
                or_(j.locked_until.is_(None), j.locked_until <= now, j.locked_until > now + lease),
            )
            .values(locked_until=now + lease)
        )
        return bool(result.rowcount)

    async def done(self, name: str, now: datetime) -> None:
        """Record a finished run (the lease stays: it ends the period)."""
        await self.tx.conn.execute(update(jobs).where(j.name == name).values(last_run=now))

    async def release(self, name: str, until: datetime | None = None) -> None:
        """Let the job run again from ``until`` (at once when None): after a failure or on shutdown."""
        await self.tx.conn.execute(update(jobs).where(j.name == name).values(locked_until=until))
