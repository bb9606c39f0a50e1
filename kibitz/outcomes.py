"""The worker's record of what became of each mail it tried (sent, dropped, failed, to retry), written
in batches: one transaction per ``limit // 2`` outcomes and at the end of each claimed batch, not one
per mail. A row is still marked sent only after the server's 250 for it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from kibitz.store.db import Database

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Retry:
    outbox_id: int
    attempts: int
    due: datetime
    error: str


@dataclass
class _Pending:
    sent: list[int] = field(default_factory=list)
    dropped: dict[str, list[int]] = field(default_factory=dict)
    failed: list[tuple[int, str]] = field(default_factory=list)
    retries: list[Retry] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sent) + sum(map(len, self.dropped.values())) + len(self.failed) + len(self.retries)

    def ids(self) -> list[int]:
        dropped = [i for ids in self.dropped.values() for i in ids]
        return [*self.sent, *dropped, *(i for i, _ in self.failed), *(r.outbox_id for r in self.retries)]


class Outcomes:
    """Collects outcomes and writes them in the background; ``settled(ids)`` is told which rows are
    done with (recorded, or given up on after a database fault, when their lease brings them back).

    Between the 250 and the commit a mail is "in flight": a crash then sends it again (same
    Message-ID). ``limit`` bounds how many may wait for a commit: at that many, the senders wait for
    the commit before they finish another mail."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        limit: int,
        settled: Callable[[list[int]], None],
        count: Callable[[str, int], None],
        owner: str | None = None,
    ) -> None:
        self.db = db
        # The worker's lease token: only the rows whose lease it still holds are marked (the fence).
        self.owner = owner
        self.clock = clock
        self.limit = limit
        self.settled = settled
        self.count = count
        self._pending = _Pending()
        self._writer: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._pending)

    async def sent(self, outbox_id: int) -> None:
        self._pending.sent.append(outbox_id)
        await self._added()

    async def dropped(self, outbox_id: int, reason: str) -> None:
        self._pending.dropped.setdefault(reason, []).append(outbox_id)
        await self._added()

    async def failed(self, outbox_id: int, error: str) -> None:
        self._pending.failed.append((outbox_id, error))
        await self._added()

    async def retry(self, retry: Retry) -> None:
        self._pending.retries.append(retry)
        await self._added()

    async def _added(self) -> None:
        # Each transaction costs about a millisecond of CPU whatever its size: not one per mail.
        if len(self._pending) >= max(1, self.limit // 2):
            self._start()
        while len(self._pending) >= self.limit and self._writer is not None:
            # Back-pressure: no more mail finishes than the bound on mail in flight allows.
            await asyncio.shield(self._writer)
            self._start()

    def _start(self) -> None:
        if len(self._pending) and (self._writer is None or self._writer.done()):
            self._writer = asyncio.create_task(self._write_all(), name="kibitz-outbox-outcomes")

    async def drain(self) -> None:
        """Until everything collected so far is written (or given up on)."""
        while len(self._pending) or (self._writer is not None and not self._writer.done()):
            self._start()
            if self._writer is not None:
                await asyncio.shield(self._writer)

    async def _write_all(self) -> None:
        while len(self._pending):
            batch, self._pending = self._pending, _Pending()
            try:
                await self._write(batch)
            except Exception:  # a database fault: the leases run out and the rows are tried again
                log.exception("could not record the outcome of %d outbox rows", len(batch))
            self.settled(batch.ids())

    async def _write(self, batch: _Pending) -> None:
        async with self.db.write() as tx:
            if batch.sent:
                await tx.outbox.mark_sent_many(batch.sent, self.clock(), self.owner)
            for reason, ids in batch.dropped.items():
                await tx.outbox.mark_dropped_many(ids, reason, self.owner)
            for outbox_id, error in batch.failed:
                await tx.outbox.mark_failed(outbox_id, error, self.owner)
            for r in batch.retries:
                await tx.outbox.retry_later(r.outbox_id, r.attempts, r.due, r.error, self.owner)
        self.count("sent", len(batch.sent))
        self.count("dropped", sum(map(len, batch.dropped.values())))
        self.count("failed", len(batch.failed))
        self.count("retry", len(batch.retries))
        log.info("outbox: %d sent, %d dropped, %d failed, %d to retry recorded", len(batch.sent),
                 sum(map(len, batch.dropped.values())), len(batch.failed), len(batch.retries))  # fmt: skip
