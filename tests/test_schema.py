"""The migrated database is exactly the declared schema, on both engines; SQLite connections are tuned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.util.exc import CommandError
from sqlalchemy import Connection, text

from kibitz.migrate import head_revision, upgrade
from kibitz.store.db import Database
from kibitz.store.schema import metadata
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parent.parent


def _same_sqlite_default(
    context: MigrationContext,
    inspected_column: Any,
    metadata_column: Any,
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """Compare SQLite defaults as SQLite stores them; Alembic's own comparison flags an empty string
    default (``DEFAULT ''``) as changed. None: Alembic decides (PostgreSQL, and anything else)."""
    if context.dialect.name != "sqlite" or inspected_default is None or rendered_metadata_default is None:
        return None

    def bare(sql: str) -> str:
        return sql.strip().strip("()").strip("'\"")

    return bare(inspected_default) != bare(rendered_metadata_default)


def _differences(conn: Connection) -> tuple[str | None, list[Any]]:
    options = {"compare_type": True, "compare_server_default": _same_sqlite_default, "render_as_batch": True}
    context = MigrationContext.configure(conn, opts=options)
    return context.get_current_revision(), list(compare_metadata(context, metadata))


async def test_migrations_build_exactly_the_declared_schema(tmp_path: Path, fresh_url: str) -> None:
    settings = make_settings(tmp_path, fresh_url)
    db = Database(settings.sqlalchemy_url)
    try:
        await upgrade(db, settings)
        async with db.raw() as conn:
            revision, differences = await conn.run_sync(_differences)
    finally:
        await db.dispose()
    assert revision == head_revision()
    assert differences == []


async def _pragmas(db: Database, *, write: bool) -> dict[str, object]:
    names = ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
    async with db.write() if write else db.read() as tx:
        return {name: (await tx.conn.execute(text(f"PRAGMA {name}"))).scalar_one() for name in names}


async def test_sqlite_connections_use_wal_foreign_keys_full_sync_and_a_busy_timeout(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite:///pragmas.db")
    db = Database(settings.sqlalchemy_url)
    try:
        await upgrade(db, settings)
        expected = {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 2, "busy_timeout": 5000}
        assert await _pragmas(db, write=True) == expected
        assert await _pragmas(db, write=False) == expected
    finally:
        await db.dispose()


async def test_a_database_from_a_newer_release_is_refused_and_left_as_it_is(
    tmp_path: Path, fresh_url: str
) -> None:
    """Only the head revision skips Alembic (migrate.py's check is cheap at head): a revision this
    release does not know is still refused by Alembic, and the database keeps it. Mutation tried:
    skipping Alembic whenever the database has any revision (this start passes silently; the
    legacy-rows test then fails too, its older revision left unmigrated)."""
    settings = make_settings(tmp_path, fresh_url)
    db = Database(settings.sqlalchemy_url)
    try:
        await upgrade(db, settings)
        async with db.raw() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'fffffffffff0'"))
            await conn.commit()
        with pytest.raises(CommandError, match="fffffffffff0"):
            await upgrade(db, settings)
        async with db.raw() as conn:
            assert await conn.scalar(text("SELECT version_num FROM alembic_version")) == "fffffffffff0"
    finally:
        await db.dispose()


def test_the_newest_revision_read_from_the_files_is_alembics() -> None:
    """The start-up check reads the newest revision from the migration files' text; it must be the
    one Alembic finds (a file in another form makes it defer to Alembic, never guess)."""
    from kibitz.migrate import _head_from_alembic, _head_from_text

    assert _head_from_text() == _head_from_alembic() == head_revision()


def test_a_start_on_an_up_to_date_database_loads_no_alembic(tmp_path: Path) -> None:
    """Alembic and the migration scripts (some 20 MB) are loaded only to migrate: a process that
    opens a database already at the newest revision (each worker, each CLI command) does without.
    Mutation tried: reading the revision with Alembic's MigrationContext again loads it here."""
    import asyncio
    import subprocess
    import sys

    async def migrate() -> None:
        settings = make_settings(tmp_path, "sqlite:///kibitz.db")
        db = Database(settings.sqlalchemy_url)
        try:
            await upgrade(db, settings)
        finally:
            await db.dispose()

    asyncio.run(migrate())
    probe = (
        "import asyncio, sys\n"
        "from tests.conftest import make_settings\n"
        "from kibitz.migrate import upgrade\n"
        "from kibitz.store.db import Database\n"
        "from pathlib import Path\n"
        "async def main():\n"
        f"    settings = make_settings(Path({str(tmp_path)!r}), 'sqlite:///kibitz.db')\n"
        "    db = Database(settings.sqlalchemy_url)\n"
        "    try:\n"
        "        await upgrade(db, settings)\n"
        "    finally:\n"
        "        await db.dispose()\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
