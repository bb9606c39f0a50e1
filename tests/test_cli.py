"""The `kibitz` command line as an operator runs it: version, migrate, bad configs, moderation acts."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from subprocess import PIPE

import pytest
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from kibitz import __version__
from kibitz.migrate import head_revision
from kibitz.store.db import Database
from kibitz.store.schema import metadata
from tests.conftest import Api, FakeClock, make_settings, open_api
from tests.server import KIBITZ, child_env, run_kibitz, write_config

pytestmark = pytest.mark.anyio


def _state(conn: Connection) -> tuple[str | None, set[str]]:
    return MigrationContext.configure(conn).get_current_revision(), set(inspect(conn).get_table_names())


async def schema_state(tmp_path: Path, database_url: str) -> tuple[str | None, set[str]]:
    """(Alembic revision, table names) of the database, read in-process."""
    db = Database(make_settings(tmp_path, database_url).sqlalchemy_url)
    try:
        async with db.raw() as conn:
            return await conn.run_sync(_state)
    finally:
        await db.dispose()


TABLES = set(metadata.tables) | {"alembic_version"}


async def test_version_prints_the_package_version(tmp_path: Path) -> None:
    done = run_kibitz("--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"kibitz, version {__version__}"


async def test_migrate_brings_a_fresh_database_to_head_and_twice_is_harmless(
    tmp_path: Path, fresh_url: str
) -> None:
    config = write_config(tmp_path / "kibitz.toml", tmp_path, fresh_url)
    assert await schema_state(tmp_path, fresh_url) == (None, set())
    for _ in range(2):
        done = run_kibitz("migrate", "--config", str(config), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"database is at revision {head_revision()}"
        assert await schema_state(tmp_path, fresh_url) == (head_revision(), TABLES)


async def test_two_migrations_started_together_both_succeed(tmp_path: Path, fresh_url: str) -> None:
    config = write_config(tmp_path / "kibitz.toml", tmp_path, fresh_url)

    async def migrate() -> tuple[int | None, str, str]:
        proc = await asyncio.create_subprocess_exec(
            KIBITZ, "migrate", "--config", config, cwd=tmp_path, env=child_env(), stdout=PIPE, stderr=PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        return proc.returncode, out.decode(), err.decode()

    for code, out, err in await asyncio.gather(migrate(), migrate()):
        assert code == 0, err
        assert out.strip() == f"database is at revision {head_revision()}"
    assert await schema_state(tmp_path, fresh_url) == (head_revision(), TABLES)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[[sites]]\nid = "a"\nedit_window = "soon"\n', "sites[0].edit_window"),
        ('colour = "blue"\n', "colour"),
        ('[[sites]]\nid = "a"\nrate_limits = { comments = "lots" }\n', "sites[0].rate_limits.comments"),
        ('database_url = "mysql://db/kibitz"\n', "database_url"),
    ],
    ids=["edit_window", "unknown_key", "rate_limit", "database_url"],
)
async def test_bad_config_stops_serve_with_one_line_naming_the_key(
    tmp_path: Path, toml: str, key: str
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(toml, encoding="utf-8")
    done = run_kibitz("serve", "--config", str(bad), "--port", "0", cwd=tmp_path, timeout=30)
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"invalid configuration: {key}: ")
    assert not (tmp_path / "kibitz.db").exists()  # stopped before touching any database


@contextlib.asynccontextmanager
async def api_on(tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    async with contextlib.asynccontextmanager(open_api)(
        make_settings(tmp_path, database_url), FakeClock()
    ) as api:
        yield api


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    group, act, *rest = args
    return run_kibitz(group, act, "--config", str(config), *rest, cwd=config.parent)


async def test_hide_and_restore_a_comment_from_the_command_line(tmp_path: Path, database_url: str) -> None:
    async with api_on(tmp_path, database_url) as api:
        first = (await api.post(text="Keep me")).json()["comment"]["id"]
        second = (await api.post(text="Hide me", author={"name": "Bob"})).json()["comment"]["id"]
    config = write_config(tmp_path / "kibitz.toml", tmp_path, database_url)

    done = cli(config, "comments", "hide", second)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"comment {second} hidden"
    async with api_on(tmp_path, database_url) as api:
        thread = await api.thread()
        assert thread["thread"]["count"] == 1
        assert [c["id"] for c in thread["comments"]] == [first]
    assert cli(config, "comments", "hide", second).stdout.strip() == f"comment {second} was already hidden"

    done = cli(config, "comments", "restore", second)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"comment {second} restored"
    async with api_on(tmp_path, database_url) as api:
        thread = await api.thread()
        assert thread["thread"]["count"] == 2
        assert [c["id"] for c in thread["comments"]] == [second, first]


async def test_close_and_reopen_a_thread_from_the_command_line(tmp_path: Path, database_url: str) -> None:
    async with api_on(tmp_path, database_url) as api:
        assert (await api.post(page="/story")).status_code == 201
    config = write_config(tmp_path / "kibitz.toml", tmp_path, database_url)

    done = cli(config, "threads", "close", "a", "/story")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "thread a /story closed"
    async with api_on(tmp_path, database_url) as api:
        assert (await api.thread())["thread"]["closed"] is True
        r = await api.post(text="Too late")
        assert r.status_code == 403
        assert r.json()["code"] == "thread_closed"
        assert (await api.thread())["thread"]["count"] == 1

    done = cli(config, "threads", "reopen", "a", "/story")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "thread a /story reopened"
    async with api_on(tmp_path, database_url) as api:
        assert (await api.thread())["thread"]["closed"] is False
        assert (await api.post(text="Welcome back")).status_code == 201
        assert (await api.thread())["thread"]["count"] == 2


async def test_acting_on_an_unknown_comment_or_thread_fails_with_a_clear_message(
    tmp_path: Path, database_url: str
) -> None:
    config = write_config(tmp_path / "kibitz.toml", tmp_path, database_url)
    assert run_kibitz("migrate", "--config", str(config), cwd=tmp_path).returncode == 0
    done = cli(config, "comments", "hide", "987654")
    assert done.returncode != 0
    first, where = done.stderr.splitlines()
    assert first == "error: No comment 987654"
    # It may be in another database: the message says which one this was.
    shown = (
        f"(in the database {tmp_path / 'kibitz.db'};" if "sqlite" in database_url else "(in the PostgreSQL"
    )
    assert where.startswith(shown)
    done = cli(config, "threads", "close", "nosuchsite", "/story")
    assert done.returncode != 0
    assert done.stderr.splitlines()[0] == "error: No site 'nosuchsite'"
    # A page nobody has commented on can be closed before its first comment.
    done = cli(config, "threads", "close", "a", "/nobody-commented")
    assert done.returncode == 0, done.stderr
