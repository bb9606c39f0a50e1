"""Shared fixtures: every store and API test runs on SQLite and on a real PostgreSQL.

PostgreSQL (127.0.0.1:5432, user postgres) is used when reachable; otherwise those tests are
skipped loudly, and with KIBITZ_TEST_REQUIRE_ALL=1 (CI) a skip is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI

from kibitz.app import create_app
from kibitz.config import Settings, load_settings

if TYPE_CHECKING:
    from tests.mailserver import MailServer

PG_ADMIN_DSN = os.environ.get("KIBITZ_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_ALL = os.environ.get("KIBITZ_TEST_REQUIRE_ALL") == "1"
ORIGIN_A = "https://news-a.example"
ORIGIN_B = "https://news-b.example"
LOOSE = {
    "comments": "1000/minute",
    "votes": "1000/minute",
    "subscriptions": "1000/hour",
    "flags": "1000/hour",
    "edits": "1000/minute",
    "previews": "1000/minute",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def missing(what: str) -> None:
    """Skip loudly, or fail when the environment promises everything is there."""
    message = f"NOT TESTED: {what} is unavailable"
    if REQUIRE_ALL:
        pytest.fail(message + " (KIBITZ_TEST_REQUIRE_ALL=1)")
    pytest.skip(message)


def pg_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


async def pg_admin(sql: str) -> None:
    """Run one statement as the PostgreSQL superuser (create or drop a database)."""
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class PgDatabase:
    """One throwaway database for the test session; emptied between tests."""

    def __init__(self) -> None:
        self.name = f"kibitz_test_{uuid.uuid4().hex[:10]}"
        self.url = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{self.name}"
        self.created = False

    def create(self) -> None:
        asyncio.run(pg_admin(f'CREATE DATABASE "{self.name}"'))
        self.created = True

    def drop(self) -> None:
        if self.created:
            asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    async def truncate(self) -> None:
        """Empty every table but ``meta`` and ``alembic_version`` and restart their sequences, as
        ``TRUNCATE ... RESTART IDENTITY CASCADE`` of them all would. DELETE, on the tables that hold
        rows (one query finds them), with foreign-key checks off for that transaction: a few ms, where
        TRUNCATE of all 44 tables costs the server 0.2-0.4 s a test (new files for each table and
        index). Turning the checks off takes the superuser that KIBITZ_TEST_PG names (postgres)."""
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            names = [
                row["tablename"]
                for row in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND NOT tablename = ANY($1)",
                    KEPT_TABLES,
                )
            ]
            exists = "SELECT '{0}' AS name WHERE EXISTS (SELECT 1 FROM \"{0}\")"  # our own tables' names
            probe = " UNION ALL ".join(exists.format(name) for name in names)
            holding = [row["name"] for row in await conn.fetch(probe)] if names else []
            sequences = await conn.fetch(USED_SEQUENCES, KEPT_TABLES)
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")  # no FK triggers
                for name in holding:
                    await conn.execute(f'DELETE FROM "{name}"')  # noqa: S608 (our tables)
                for row in sequences:
                    await conn.execute(f'ALTER SEQUENCE "{row["sequencename"]}" RESTART')
        finally:
            await conn.close()


KEPT_TABLES = ["meta", "alembic_version"]
# The sequences of the emptied tables' columns that have handed out a number since their last restart.
USED_SEQUENCES = """
SELECT q.sequencename FROM pg_sequences q
JOIN pg_class s ON s.relname = q.sequencename AND s.relnamespace = 'public'::regnamespace
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.deptype IN ('a', 'i')
JOIN pg_class t ON t.oid = d.refobjid
WHERE q.schemaname = 'public' AND q.last_value IS NOT NULL AND NOT t.relname = ANY($1)
"""


@pytest.fixture(scope="session")
def pg_database() -> Iterator[PgDatabase | None]:
    if not pg_reachable():
        yield None
        return
    db = PgDatabase()
    db.create()
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


async def _migrate_and_close(settings: Settings) -> None:
    from kibitz.migrate import upgrade
    from kibitz.store.db import Database

    db = Database(settings.sqlalchemy_url)
    try:
        await upgrade(db, settings)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file the production code (migrate.upgrade) brought to the head revision, once per
    test process; ``database_url`` gives each test a copy. Migrating costs ~0.2 s a test otherwise,
    and is tested where it is the subject: on ``fresh_url`` (test_schema.py, test_legacy_rows.py,
    test_cli.py). The copy is the file as any migrated database leaves it: the app still checks its
    revision on open, through the same code path as before."""
    folder = tmp_path_factory.mktemp("migrated")
    asyncio.run(_migrate_and_close(make_settings(folder, "sqlite:///kibitz.db")))
    file = folder / "kibitz.db"
    wal = folder / "kibitz.db-wal"
    # Closing the last connection checkpoints the WAL into the file: the file alone is the database.
    assert not wal.exists() or wal.stat().st_size == 0, "the migrated database left a WAL behind"
    return file


@pytest.fixture
async def database_url(
    engine: str, tmp_path: Path, pg_database: PgDatabase | None, migrated_sqlite: Path
) -> str:
    if engine == "sqlite":
        shutil.copyfile(migrated_sqlite, tmp_path / "kibitz.db")
        return "sqlite:///kibitz.db"
    if pg_database is None:
        missing("PostgreSQL on 127.0.0.1:5432")
        raise AssertionError("unreachable")
    await pg_database.truncate()
    return pg_database.url


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def fresh_breakers() -> Iterator[None]:
    """Every test starts with the process's outbound circuit breakers closed: a port one test left
    failing may be another test's healthy server."""
    from kibitz import outbound

    outbound.BREAKERS.clear()
    yield
    outbound.BREAKERS.clear()


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with small parameters in this process: the same code paths, a millisecond a hash
    instead of 0.2 s of CPU per staff account made or signed in. Servers the tests start as
    processes keep the production parameters; test_security.py tests them here too."""
    from argon2 import PasswordHasher

    from kibitz import security

    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def site_table(site_id: str, origin: str, **extra: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "id": site_id,
        "name": f"Site {site_id}",
        "origins": [origin],
        "rate_limits": LOOSE,
    }
    table.update(extra)
    return table


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": str(tmp_path),
        "database_url": database_url,
        "base_url": "http://127.0.0.1:8000",
        "sites": [site_table("a", ORIGIN_A), site_table("b", ORIGIN_B)],
    }
    values.update(overrides)
    return load_settings(None, env={}, cwd=tmp_path, overrides=values)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@dataclass
class Api:
    """An HTTP client on the app in-process, with helpers for the common calls."""

    client: httpx.AsyncClient
    app: FastAPI
    clock: FakeClock

    async def post(
        self, site: str = "a", origin: str = ORIGIN_A, headers: dict[str, str] | None = None, **body: Any
    ) -> httpx.Response:
        payload: dict[str, Any] = {"page": "/story", "text": "Hello", "author": {"name": "Ann"}}
        payload.update(body)
        return await self.client.post(
            f"/api/v1/sites/{site}/comments", json=payload, headers={"Origin": origin, **(headers or {})}
        )

    async def thread(self, page: str = "/story", site: str = "a", **params: Any) -> dict[str, Any]:
        r = await self.client.get(f"/api/v1/sites/{site}/comments", params={"page": page, **params})
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    async def vote(
        self, comment_id: str, value: int, reader: str | None = None, origin: str = ORIGIN_A
    ) -> httpx.Response:
        headers = {"Origin": origin}
        if reader:
            headers["X-Kibitz-Reader"] = reader
        return await self.client.post(
            f"/api/v1/comments/{comment_id}/vote", json={"value": value}, headers=headers
        )


async def open_api(settings: Settings, clock: FakeClock) -> AsyncIterator[Api]:
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://kibitz.test") as client:
            yield Api(client, app, clock)


@contextlib.asynccontextmanager
async def custom_api(
    tmp_path: Path, database_url: str, clock: FakeClock, **overrides: Any
) -> AsyncIterator[Api]:
    """An Api on sites "a" and "b" with some settings changed (``make_settings`` overrides)."""
    async for api in open_api(make_settings(tmp_path, database_url, **overrides), clock):
        yield api


@pytest.fixture
async def fresh_url(engine: str) -> AsyncIterator[str]:
    """An empty database nobody has migrated: a new SQLite file, or a new PostgreSQL database."""
    if engine == "sqlite":
        yield "sqlite:///fresh.db"
        return
    from tests.server import fresh_pg_database

    async with fresh_pg_database() as url:
        yield url


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, stopped after the test."""
    from tests.mailserver import MailServer

    server = MailServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def api(settings: Settings, clock: FakeClock) -> AsyncIterator[Api]:
    async for item in open_api(settings, clock):
        yield item
