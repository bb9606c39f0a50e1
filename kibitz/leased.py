"""What the two delivery loops share (the mail outbox, worker.py; outgoing HTTP calls, webhook_worker.py):
claim a batch of rows with a lease, deliver them outside any transaction, and on the way out give back
the rows claimed and not finished, so that the next loop takes them at once instead of waiting for
their lease to run out. Each loop says how it claims, delivers, renews, waits and gives back.

Leases are short (``LEASE``) and renewed by a heartbeat (``heartbeat``) every third of that while a
batch is delivered, so the rows a killed loop held are due again within seconds. Each loop claims
under a random token of its own (its ``owner``, the rows' ``lease_owner``), and marks, renews and
gives back only the rows it still holds: a loop whose lease lapsed (its database was away, its
process frozen) and was taken over records nothing for those rows (the fence)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kibitz.store.db import Database
    from kibitz.store.tx import Tx

log = logging.getLogger(__name__)
IDLE_SECONDS = 1.0
FIRST_DELAY = timedelta(seconds=60)
MAX_DELAY = timedelta(hours=6)
# How long a claim holds its rows; the heartbeat renews it every third of that while the batch is
# delivered, so a killed loop's rows are taken again within about this long.
LEASE = timedelta(seconds=15)
# A claimed row is delivered only while the lease (as last renewed) has at least this long to run:
# after two heartbeats missed in a row (the database away), no new delivery starts.
LEASE_MARGIN = timedelta(seconds=5)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """The wait after the ``attempts``-th failed try: 1 min, 2, 4, ... capped at 6 h, ±20 % jitter."""
    base = min(MAX_DELAY, FIRST_DELAY * (1 << min(max(0, attempts - 1), 30)))
    factor: float = (rng or random).uniform(0.8, 1.2)
    return base * factor


class LeasedLoop(ABC):
    """A delivery loop over leased rows; ``what`` names them in the log ("outbox rows")."""

    what = "rows"

    def __init__(
        self, db: Database, batch: int, clock: Callable[[], datetime], lease: timedelta = LEASE
    ) -> None:
        self.db = db
        self.batch = batch
        self.clock = clock
        self.lease = lease
        self._claimed: set[int] = set()  # claimed and not marked yet: released on the way out
        # This loop's lease token (the fence), and when its lease last renewed runs out.
        self.owner = secrets.token_hex(8)
        self.lease_until: datetime | None = None
        self.heartbeat_every = lease.total_seconds() / 3

    @abstractmethod
    async def renew(self, tx: Tx, now: datetime) -> int:
        """Extend to ``now + self.lease`` the lease of the rows this loop still holds; how many."""

    def holds_lease(self) -> bool:
        """Whether the lease, as last renewed, still has LEASE_MARGIN to run (by this clock)."""
        return self.lease_until is not None and self.clock() < self.lease_until - LEASE_MARGIN

    async def renew_lease(self) -> int:
        """One heartbeat: extend the lease of the rows this loop still holds; how many. A database
        fault is logged, and the lease runs down towards LEASE_MARGIN (then no new delivery starts)."""
        now = self.clock()
        try:
            async with self.db.write() as tx:
                renewed = await self.renew(tx, now)
        except Exception:
            log.exception("%s: could not renew the lease of %d rows", self.what, len(self._claimed))
            return 0
        self.lease_until = now + self.lease
        return renewed

    @contextlib.asynccontextmanager
    async def heartbeat(self, claimed_at: datetime) -> AsyncIterator[None]:
        """While a batch claimed at ``claimed_at`` is delivered: renew its lease every third of it."""
        self.lease_until = claimed_at + self.lease

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.heartbeat_every)
                await self.renew_lease()

        task = asyncio.create_task(beat(), name=f"kibitz-heartbeat-{self.what}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @abstractmethod
    async def run_once(self) -> int:
        """Claim one batch and deliver it; how many rows were claimed."""

    @abstractmethod
    async def between_rounds(self) -> None:
        """Upkeep after each round (periodic jobs, pruning)."""

    async def idle(self, stop: asyncio.Event) -> None:
        """Wait before the next round when the last one found less than a batch."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), IDLE_SECONDS)

    @abstractmethod
    async def give_back(self, tx: Tx, ids: list[int]) -> None:
        """Make claimed rows due again at once."""

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set: again at once after a full batch, else after idle(). Rows
        claimed and not finished when cancelled go back (release)."""
        try:
            while not stop.is_set():
                claimed = 0
                try:
                    claimed = await self.run_once()
                    await self.between_rounds()
                except Exception:  # the database is away, say: try again after a pause
                    log.exception("%s: a round failed", self.what)
                if claimed < self.batch:
                    await self.idle(stop)
        finally:
            await self.release()

    async def release(self) -> None:
        """Give back the rows this loop claimed and has not finished."""
        claimed, self._claimed = list(self._claimed), set()
        if not claimed:
            return
        try:
            async with self.db.write() as tx:
                await self.give_back(tx, claimed)
            log.info("released %d claimed %s", len(claimed), self.what)
        except Exception:  # their leases run out on their own
            log.exception("could not release %d claimed %s", len(claimed), self.what)
