"""Rendering imported bodies in worker processes: turning source HTML into Markdown and rendering it
(kibitz/markup.py, as every comment is) is most of an import's work, so it runs in other processes
beside the main one, which reads the file and writes the database meanwhile."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import types
from concurrent.futures import Executor, ProcessPoolExecutor
from types import TracebackType

from kibitz.imports.normalise import Body, body
from kibitz.imports.records import CommentRecord

POOL_FROM = 5000  # comments: a smaller import renders in its own process (workers take ~1 s to start)


def bodies(records: list[CommentRecord], allow_images: bool) -> list[Body]:
    return [body(record, allow_images) for record in records]


class Renderer:
    """``render(records)`` gives their bodies, computed by a pool of processes for a big import."""

    def __init__(self, allow_images: bool, comments: int) -> None:
        self.allow_images = allow_images
        # One core is the main process's (reading the file, writing the database): the others render.
        self.workers = max(1, min(4, (os.cpu_count() or 1) - 1)) if comments >= POOL_FROM else 0
        self._pool: Executor | None = None

    def __enter__(self) -> Renderer:
        if self.workers:
            self._pool = _start(self.workers)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def render(self, records: list[CommentRecord]) -> asyncio.Future[list[Body]]:
        """The bodies of ``records``, in order; started now, awaited when they are to be written."""
        loop = asyncio.get_running_loop()
        if self._pool is None or not records:
            done: asyncio.Future[list[Body]] = loop.create_future()
            done.set_result(bodies(records, self.allow_images))
            return done
        size = -(-len(records) // self.workers)
        parts = [
            asyncio.wrap_future(self._pool.submit(bodies, records[at : at + size], self.allow_images))
            for at in range(0, len(records), size)
        ]
        return asyncio.ensure_future(_joined(parts))


def _start(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes, all started now. Spawned afresh, not forked (the parent holds
    database connections, a loop and threads); and while they start, ``__main__`` is a blank module,
    or each would import the ``kibitz`` command's script and with it the whole server (60 MB a worker
    instead of 30)."""
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        for ready in [pool.submit(os.getpid) for _ in range(workers)]:
            ready.result()
    finally:
        sys.modules["__main__"] = main
    return pool


async def _joined(parts: list[asyncio.Future[list[Body]]]) -> list[Body]:
    return [item for part in await asyncio.gather(*parts) for item in part]
