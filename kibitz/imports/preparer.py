"""The import's worker process (``python -m kibitz.imports.preparer``, started by render_pool.py):
a Job on its stdin, the chunks of prepare.py on its stdout, each a frame (a kind byte, a length, a
pickle). Kept apart so the worker loads only the reading and rendering code (no asyncio, no
database, no configuration code)."""

from __future__ import annotations

import pickle
import struct
import sys
import traceback
from dataclasses import replace
from typing import BinaryIO

from kibitz.imports.prepare import Job, KnownRows, chunks

FRAME = struct.Struct("<cQ")
JOB, KNOWN, CHUNK, FAILED, DONE = b"J", b"K", b"C", b"F", b"D"


def _read_job(stdin: BinaryIO) -> Job:
    """The job, then the known map's pages (each three arrays of ``size`` numbers), then DONE."""
    _, size = FRAME.unpack(stdin.read(FRAME.size))
    job: Job = pickle.loads(stdin.read(size))  # noqa: S301 from our own parent
    known = KnownRows()
    while True:
        kind, size = FRAME.unpack(stdin.read(FRAME.size))
        if kind == DONE:
            return replace(job, known=known.done())
        for numbers in (known.keys, known.targets, known.digests):
            numbers.fromfile(stdin, size)  # EOFError when it is cut short


def _send(out: BinaryIO, kind: bytes, data: bytes) -> None:
    out.write(FRAME.pack(kind, len(data)))
    out.write(data)


def main() -> None:
    """The worker: a Job on stdin, its chunks on stdout."""
    out = sys.stdout.buffer
    try:
        job = _read_job(sys.stdin.buffer)
        for chunk in chunks(job):
            _send(out, CHUNK, pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL))
            out.flush()  # all of it: the writer is waiting for this chunk, not the next
            del chunk  # not kept while the next is made
    except BaseException:
        _send(out, FAILED, traceback.format_exc().encode("utf-8"))
        out.flush()
        raise SystemExit(1) from None
    _send(out, DONE, b"")
    out.flush()


if __name__ == "__main__":
    main()
