"""The database handle: engines for both dialects, write and read transactions, fault mapping.

SQLite writes run in ``BEGIN IMMEDIATE`` on one connection per process (so writers queue in-process
instead of racing for the lock); reads use their own connections. Driver faults become 503s.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from kibitz import errors
from kibitz.store.tx import Tx

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000


def _sqlite_engine(url: str, *, write: bool, synchronous: str) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=1 if write else 4,
        max_overflow=0,
        pool_timeout=30,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine.sync_engine, "connect")
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

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin_sql)

    return engine


def _is_unavailable(exc: BaseException) -> bool:
    """A fault of the database (locked, gone, restarting), not of the request."""
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    name = type(getattr(exc, "orig", exc)).__name__
    return name in {
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "ConnectionFailureError",
        "AdminShutdownError",
        "InterfaceError",
        "TooManyConnectionsError",
    }


class Database:
    """Owns the engines. ``write()`` and ``read()`` hand out a ``Tx`` bound to one transaction."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL") -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self._writer = _sqlite_engine(url, write=True, synchronous=sqlite_synchronous)
            self._reader = _sqlite_engine(url, write=False, synchronous=sqlite_synchronous)
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
    def engine(self) -> AsyncEngine:
        return self._writer

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        """One write transaction; commits on success (durably, before returning)."""
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
            if isinstance(exc, DBAPIError) and not _is_unavailable(exc):
                raise
            log.warning("database unavailable: %s", exc.__class__.__name__)
            raise errors.Unavailable("The database is busy or unreachable", retry_after=2) from exc

    async def ping(self) -> bool:
        try:
            async with self._reader.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:  # readiness probes report, never raise
            return False

    async def dispose(self) -> None:
        await self._writer.dispose()
        if self._reader is not self._writer:
            await self._reader.dispose()

    @asynccontextmanager
    async def raw(self) -> AsyncIterator[AsyncConnection]:
        """A plain connection for migrations and maintenance."""
        async with self._writer.connect() as conn:
            yield conn
