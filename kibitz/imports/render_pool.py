"""The second read of an import (prepare.py: reading each comment again, fingerprinting it, turning
its HTML into Markdown and rendering it) runs in a worker process for a big import, beside the main
process, which meanwhile writes the chunk before. A small import does it in its own process (a worker
takes a few tenths of a second to start).

The worker is a plain child process (``python -m kibitz.imports.preparer``), not a
multiprocessing one: no resource tracker, no queue threads, and no ``__main__`` of the parent's
imported again. It reads the pickled Job (then the known map, page by page) from its stdin and
writes the chunks to its stdout, each a frame (a kind byte, a length, a pickle); a full pipe stops
it, so it never runs more than a chunk or two ahead of the writer and memory stays bounded however
big the file."""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import sys
from collections.abc import AsyncIterator
from dataclasses import replace

from kibitz.imports.prepare import Chunk, Job, KnownRows, chunks
from kibitz.imports.preparer import DONE, FAILED, FRAME, JOB, KNOWN

POOL_FROM = 5000  # comments: a smaller import prepares them in its own process


class WorkerFailed(RuntimeError):
    """The worker process stopped without finishing (its error, or how it ended)."""


def in_worker(comments: int) -> bool:
    return comments >= POOL_FROM


@contextlib.asynccontextmanager
async def started(comments: int) -> AsyncIterator[asyncio.subprocess.Process | None]:
    """A worker process for an import of ``comments`` (None when it is done in process), started
    now so it loads its code while the plan reads the file; killed on the way out if still there."""
    if not in_worker(comments):
        yield None
        return
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "kibitz.imports.preparer",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def prepared(
    job: Job, known: AsyncIterator[KnownRows], process: asyncio.subprocess.Process | None
) -> AsyncIterator[Chunk]:
    """``chunks(job)`` with ``job.known`` made of the ``known`` pages, computed by ``process`` when
    there is one: the pages go to it one by one, so a big known map is only ever in the worker."""
    if process is None:
        gathered = KnownRows()
        async for page in known:
            gathered.extend(page)
        for made in chunks(replace(job, known=gathered.done())):
            yield made
        return
    assert process.stdin is not None
    assert process.stdout is not None
    await _send_job(process.stdin, job, known)
    while True:
        try:
            kind, size = FRAME.unpack(await process.stdout.readexactly(FRAME.size))
            data = await process.stdout.readexactly(size)
        except asyncio.IncompleteReadError:
            code = await process.wait()
            raise WorkerFailed(f"the import's worker process ended (exit status {code})") from None
        if kind == DONE:
            return
        if kind == FAILED:
            raise WorkerFailed(f"the import's worker process failed:\n{data.decode('utf-8', 'replace')}")
        chunk: Chunk = pickle.loads(data)  # noqa: S301 our own child's output
        del data  # not kept while the chunk is written
        yield chunk


async def _send_job(stdin: asyncio.StreamWriter, job: Job, known: AsyncIterator[KnownRows]) -> None:
    """The job, then each page of the known map as its arrays are in memory, then DONE."""
    head = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
    stdin.write(FRAME.pack(JOB, len(head)) + head)
    async for page in known:
        stdin.write(FRAME.pack(KNOWN, len(page)))
        for numbers in (page.keys, page.targets, page.digests):
            stdin.write(memoryview(numbers).cast("B"))
        await stdin.drain()
    stdin.write(FRAME.pack(DONE, 0))
    await stdin.drain()
    stdin.close()
