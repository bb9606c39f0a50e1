"""Bring the schema up to date with Alembic, once, under a lock shared by every worker and instance
(a PostgreSQL advisory lock; a file lock beside the SQLite database).

A database already at the newest revision needs nothing of Alembic: its revision is read with one
query and compared with the newest one named in kibitz/migrations/versions, read from the files'
text. Alembic and its scripts (some 20 MB of memory and 45 ms of a process's start) are loaded only
when there is something to migrate, or when the files do not tell one newest revision."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from kibitz.config import Settings
from kibitz.store.db import Database

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)
ADVISORY_LOCK_ID = 0x6B6962  # "kib"
MIGRATIONS = Path(__file__).parent / "migrations"


VERSION_TABLE = "alembic_version"
_REVISION = re.compile(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*=\s*(None|['\"]([^'\"]+)['\"])\s*$", re.MULTILINE)


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def head_revision() -> str:
    """The newest revision in kibitz/migrations, once per process: from the files' text when they
    form one chain (each names one revision and the one before it), else as Alembic reads them."""
    return _head_from_text() or _head_from_alembic()


def _head_from_text() -> str | None:
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.findall(source), _DOWN.findall(source)
        if len(revision) != 1 or len(down) != 1:
            return None  # not the plain form: Alembic decides
        revisions.add(revision[0])
        if down[0][1]:
            downs.add(down[0][1])
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 and downs <= revisions else None


def _head_from_alembic() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The database's revision (None: never migrated). Several rows (branches Kibitz never makes)
    read as none, which sends the database to Alembic."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()  # noqa: S608
    return str(rows[0][0]) if len(rows) == 1 else None


def _upgrade(connection: Connection) -> str | None:
    """Migrate unless the database is at the head revision. Any other revision, an older one or
    one this release does not know (a newer release's), goes to Alembic, which migrates the first
    and refuses the second."""
    current = current_revision(connection)
    if current != head_revision():
        from alembic import command

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
