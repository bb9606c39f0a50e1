"""What the two delivery loops share (the mail outbox, worker.py; outgoing HTTP calls, webhook_worker.py):
claim a batch of rows with a lease, deliver them outside any transaction, and on the way out give back
the rows claimed and not finished, so that the next loop takes them at once instead of waiting for
their lease to run out. Each loop says how it claims, delivers, waits and gives back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from abc import ABC, abstractmethod
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kibitz.store.db import Database
    from kibitz.store.tx import Tx

log = logging.getLogger(__name__)
IDLE_SECONDS = 1.0
FIRST_DELAY = timedelta(seconds=60)
MAX_DELAY = timedelta(hours=6)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """The wait after the ``attempts``-th failed try: 1 min, 2, 4, ... capped at 6 h, ±20 % jitter."""
    base = min(MAX_DELAY, FIRST_DELAY * (1 << min(max(0, attempts - 1), 30)))
    factor: float = (rng or random).uniform(0.8, 1.2)
    return base * factor


class LeasedLoop(ABC):
    """A delivery loop over leased rows; ``what`` names them in the log ("outbox rows")."""

    what = "rows"

    def __init__(self, db: Database, batch: int) -> None:
        self.db = db
        self.batch = batch
        self._claimed: set[int] = set()  # claimed and not marked yet: released on the way out

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
