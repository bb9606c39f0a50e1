"""Bring the schema up to date with Alembic, once, under a lock shared by every worker and instance
(a PostgreSQL advisory lock; a file lock beside the SQLite database)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from kibitz.config import Settings
from kibitz.store.db import Database

log = logging.getLogger(__name__)
ADVISORY_LOCK_ID = 0x6B6962  # "kib"
MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def head_revision() -> str:
    """The newest revision in kibitz/migrations, read once per process: reading it imports every
    migration script (some 45 ms), and a database already there needs nothing else from Alembic."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _upgrade(connection: Connection) -> str | None:
    """Migrate unless the database is at the head revision. Any other revision, an older one or
    one this release does not know (a newer release's), goes to Alembic, which migrates the first
    and refuses the second."""
    current = MigrationContext.configure(connection).get_current_revision()
    if current != head_revision():
        log.info("migrating database from %s to %s", current or "empty", head_revision())
        command.upgrade(alembic_config(connection), "head")
    return current


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sqlite_file(url: str) -> Path | None:
    path = url.split("///", 1)[1] if "///" in url else ""
    return None if not path or path == ":memory:" else Path(path)


async def upgrade(db: Database, settings: Settings) -> None:
    """Migrate to the newest schema, then render again the comments an older renderer made
    (rerender.py); concurrent callers wait for the first and then find nothing to do."""
    from kibitz.rerender import rerender_stale

    await _migrate(db, settings)
    await rerender_stale(db, settings)


async def _migrate(db: Database, settings: Settings) -> None:
    if db.is_sqlite:
        file = _sqlite_file(settings.sqlalchemy_url)
        lock = _file_lock(file.with_name(file.name + ".migrate-lock")) if file else contextlib.nullcontext()
        # flock blocks; take it in a thread so the event loop keeps serving.
        await asyncio.to_thread(lock.__enter__)
        try:
            async with db.raw() as conn:
                await conn.run_sync(_upgrade)
                await conn.commit()
        finally:
            lock.__exit__(None, None, None)
        return
    async with db.raw() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": ADVISORY_LOCK_ID})
        await conn.commit()
        try:
            await conn.run_sync(_upgrade)
            await conn.commit()
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": ADVISORY_LOCK_ID})
            await conn.commit()
