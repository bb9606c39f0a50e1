"""The database handle: engines for both dialects, write and read transactions, fault mapping.

SQLite writes run on one connection per process, in ``BEGIN IMMEDIATE``, group-committed
(kibitz/store/group_commit.py); reads use aiosqlite connections. PostgreSQL uses a pool (the server
groups WAL flushes itself). Driver faults become 503s (kibitz/store/faults.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from kibitz import errors
from kibitz.store import group_commit
from kibitz.store.faults import is_unavailable, unavailable
from kibitz.store.generation import Generation
from kibitz.store.group_commit import GroupCommit, GroupCommitStats, WriterTurns
from kibitz.store.tx import Tx

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000


def _sqlite_events(engine: Engine, *, write: bool, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event decide how a transaction starts (the driver's own
        # implicit BEGIN would be DEFERRED, which fails at once on upgrade under contention).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.close()

    begin_sql = "BEGIN IMMEDIATE" if write else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin_sql)


def _sqlite_engine(url: str, *, write: bool, synchronous: str) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=1 if write else 4,
        max_overflow=0,
        pool_timeout=30,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )
    _sqlite_events(engine.sync_engine, write=write, synchronous=synchronous)
    return engine


def _sqlite_batch_engine(url: str, *, synchronous: str) -> Engine:
    """The group-commit writer: the plain (synchronous) driver on the same file, one connection.

    Its statements run on the event loop: inside the batch's write transaction a statement never
    waits for a lock, and takes some 10 µs of CPU against 150-200 µs for a round trip to aiosqlite's
    thread. What can wait (BEGIN IMMEDIATE for another process's lock, COMMIT's fsync, opening the
    file) runs in the writer's own thread.
    """
    engine = create_engine(
        make_url(url).set(drivername="sqlite"),
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=0,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )
    _sqlite_events(engine, write=True, synchronous=synchronous)
    return engine


class Database:
    """Owns the engines. ``write()`` and ``read()`` hand out a ``Tx`` bound to one transaction."""

    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: str = "FULL",
        batch_writes: int | None = None,
        batch_seconds: float | None = None,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._group: GroupCommit | None = None
        self.generation: Generation | None = None
        if self.is_sqlite:
            self._writer = _sqlite_engine(url, write=True, synchronous=sqlite_synchronous)
            self._reader = _sqlite_engine(url, write=False, synchronous=sqlite_synchronous)
            db_file = self.sqlite_file
            # Every process writing this file marks each commit there (kibitz/readcache.py).
            self.generation = Generation.open(db_file) if db_file else None
            self._group = GroupCommit(
                _sqlite_batch_engine(url, synchronous=sqlite_synchronous),
                max_writes=group_commit.BATCH_MAX_WRITES if batch_writes is None else batch_writes,
                max_seconds=group_commit.BATCH_MAX_SECONDS if batch_seconds is None else batch_seconds,
                turns=WriterTurns(db_file, SQLITE_BUSY_TIMEOUT_MS / 1000) if db_file else None,
            )
            self._group.generation = self.generation
        else:
            self._writer = create_async_engine(
                url,
                pool_size=10,
                max_overflow=10,
                pool_pre_ping=True,
                pool_timeout=10,
                connect_args={"command_timeout": 30, "server_settings": {"statement_timeout": "30000"}},
            )
            self._reader = self._writer

    @property
    def sqlite_file(self) -> str | None:
        """The SQLite database's file, or None (PostgreSQL, or an in-memory database)."""
        if not self.is_sqlite:
            return None
        name = make_url(self.url).database
        return None if not name or name == ":memory:" or name.startswith("file:") else name

    @property
    def engine(self) -> AsyncEngine:
        return self._writer

    @property
    def group_commit(self) -> GroupCommitStats | None:
        """SQLite's group-commit counters (None on PostgreSQL)."""
        return None if self._group is None else self._group.stats

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """One write transaction; commits on success (durably, before the block returns).

        On SQLite the transaction may be shared with other writes of this process, each in its own
        savepoint: a block that raises is rolled back alone; one that succeeds returns once the
        shared COMMIT is durable, or raises Unavailable when it failed. Do not nest write() blocks.
        """
        if self._group is not None:
            async with self._guard(), self._group.write() as tx:
                yield tx
            return
        async with self._guard(), self._writer.connect() as conn, conn.begin():
            yield Tx(conn, dialect=conn.dialect.name)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        async with self._guard(), self._reader.connect() as conn, conn.begin():
            yield Tx(conn, dialect=conn.dialect.name)

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            yield
        except errors.KibitzError:
            raise
        except (DBAPIError, OSError, TimeoutError) as exc:
            if isinstance(exc, DBAPIError) and not is_unavailable(exc):
                raise
            log.warning("database unavailable: %s", exc.__class__.__name__)
            raise unavailable(exc) from exc

    async def ping(self) -> bool:
        try:
            async with self._reader.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # readiness probes report, never raise
            return False

    async def dispose(self) -> None:
        if self._group is not None:
            await self._group.close()
        await self._writer.dispose()
        if self._reader is not self._writer:
            await self._reader.dispose()
        if self.generation is not None:
            self.generation.close()

    @asynccontextmanager
    async def raw(self) -> AsyncIterator[AsyncConnection]:
        """A plain connection for migrations and maintenance."""
        async with self._writer.connect() as conn:
            yield conn
