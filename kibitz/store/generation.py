"""A change marker shared by every process that writes one SQLite database.

Eight bytes in a small file beside the database, mapped into memory. Every process rewrites them
with a fresh random value after each commit and before it answers. A reader that finds the same
value it saw when it last read the database knows that no commit has been acknowledged since, and
may reuse what it read then; a reader that finds another value reads again. Reading it costs a
memory load, so a read-only spike needs no database query at all.

A torn value (a reader catching a rewrite half done) is just another value: it causes an extra read,
never a missed change. Values are random, so a later value does not come back by chance.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import secrets
import struct
from pathlib import Path

log = logging.getLogger(__name__)
SIZE = 8
_FORMAT = "<Q"


class Generation:
    """The marker of one database file; ``open`` returns None when the file cannot be shared."""

    def __init__(self, path: Path, mapped: mmap.mmap) -> None:
        self.path = path
        self._map = mapped

    @classmethod
    def open(cls, database_file: str) -> Generation | None:
        path = Path(f"{database_file}-kibitz-gen")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if os.fstat(fd).st_size < SIZE:
                    os.ftruncate(fd, SIZE)
                mapped = mmap.mmap(fd, SIZE)
            finally:
                os.close(fd)
        except OSError as exc:  # read-only directory and the like: readers query every time
            log.warning("no shared change marker at %s: %s", path, exc)
            return None
        return cls(path, mapped)

    def read(self) -> int:
        value: int = struct.unpack_from(_FORMAT, self._map, 0)[0]
        return value

    def bump(self) -> None:
        """Called after every commit, before the writer answers."""
        struct.pack_into(_FORMAT, self._map, 0, int.from_bytes(secrets.token_bytes(SIZE), "little"))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._map.close()
