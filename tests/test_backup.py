"""`kibitz backup` while a real server takes a stream of posts, then `kibitz restore` into a fresh
database: integrity ok, every comment acknowledged before the backup began is there, and a server
started on the restored database serves the thread (SQLite's online backup; pg_dump/pg_restore)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from kibitz.backup import BackupError, restore_sqlite, sqlite_in_use
from tests.conftest import ORIGIN_A
from tests.server import fresh_pg_database, run_kibitz, serve, write_config

pytestmark = pytest.mark.anyio
# Opens the database named by argv[1], reads it, says "open" and keeps it open until stdin closes.
HOLD = (
    "import sqlite3, sys\n"
    "c = sqlite3.connect(sys.argv[1]); c.execute('SELECT count(*) FROM comments').fetchall()\n"
    "print('open', flush=True); sys.stdin.read()\n"
)


@dataclass
class Poster:
    """Posts comments one after another until stopped; keeps the ids of those acknowledged (201)."""

    url: str
    acknowledged: list[int] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            i = 0
            while not self.stop.is_set():
                i += 1
                r = await client.post(
                    "/api/v1/sites/a/comments",
                    json={
                        "page": "/story",
                        "text": f"Comment {i} during the backup",
                        "author": {"name": "Ann"},
                    },
                    headers={"Origin": ORIGIN_A},
                )
                assert r.status_code == 201, r.text
                self.acknowledged.append(int(r.json()["comment"]["id"]))


@contextlib.asynccontextmanager
async def posting(url: str) -> AsyncIterator[Poster]:
    poster = Poster(url)
    task = asyncio.create_task(poster.run())
    try:
        while len(poster.acknowledged) < 20:  # a stream under way before the backup starts
            assert not task.done(), task
            await asyncio.sleep(0.02)
        yield poster
    finally:
        poster.stop.set()
        await task


async def backup_while_posting(tmp_path: Path, database_url: str, file: Path) -> list[int]:
    """Back up the database of a server taking posts; the ids acknowledged before the backup began."""
    with serve(tmp_path, database_url) as server:
        async with posting(server.url) as poster:
            before = list(poster.acknowledged)
            done = await asyncio.to_thread(
                run_kibitz, "backup", "--config", str(server.config), str(file), cwd=tmp_path
            )
            assert done.returncode == 0, done.stderr
            count = len(poster.acknowledged)
            while len(poster.acknowledged) < count + 5:  # noqa: ASYNC110 - the posts go on after it
                await asyncio.sleep(0.02)
        return before


async def thread_count(tmp_path: Path, database_url: str) -> int:
    with serve(tmp_path, database_url) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            r = await client.get("/api/v1/sites/a/comments", params={"page": "/story"})
    assert r.status_code == 200, r.text
    count: int = r.json()["thread"]["count"]
    return count


@pytest.mark.timeout(180)
async def test_sqlite_backup_under_posts_restores_into_a_fresh_directory(tmp_path: Path) -> None:
    live, fresh = tmp_path / "live", tmp_path / "fresh"
    live.mkdir()
    fresh.mkdir()
    file = tmp_path / "kibitz-backup.db"
    before = await backup_while_posting(live, "sqlite:///kibitz.db", file)

    config = write_config(fresh / "kibitz.toml", fresh, "sqlite:///kibitz.db")
    done = run_kibitz("restore", "--config", str(config), str(file), cwd=fresh)
    assert done.returncode == 0, done.stderr
    assert "integrity ok" in done.stdout
    with contextlib.closing(sqlite3.connect(fresh / "kibitz.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        ids = {row[0] for row in conn.execute("SELECT id FROM comments")}
    assert set(before) <= ids
    assert await thread_count(fresh, "sqlite:///kibitz.db") == len(ids)

    again = run_kibitz("restore", "--config", str(config), str(file), cwd=fresh)
    assert again.returncode == 1  # an existing database is replaced only with --force
    assert "--force" in again.stderr


def test_restore_refuses_a_database_in_use_and_a_damaged_backup(tmp_path: Path) -> None:
    target, backup = tmp_path / "kibitz.db", tmp_path / "backup.db"
    done = run_kibitz("migrate", "--data", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert run_kibitz("backup", "--data", str(tmp_path), str(backup), cwd=tmp_path).returncode == 0
    # Another process has it open (a server). (POSIX locks are per process: not this one.)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"open\n"
        assert sqlite_in_use(target)
        with pytest.raises(BackupError, match="a process has it open"):
            restore_sqlite(backup, target)
    finally:
        holder.communicate(b"", timeout=10)
    assert not sqlite_in_use(target)
    damaged = tmp_path / "damaged.db"
    data = bytearray(backup.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = b"\xff" * 4096
    damaged.write_bytes(bytes(data))
    with pytest.raises(BackupError):
        restore_sqlite(damaged, tmp_path / "other.db")
    assert not (tmp_path / "other.db").exists()


@pytest.mark.timeout(180)
async def test_postgresql_backup_under_posts_restores_into_a_fresh_database(tmp_path: Path) -> None:
    file = tmp_path / "kibitz.dump"
    async with fresh_pg_database() as live:
        before = await backup_while_posting(tmp_path, live, file)
    async with fresh_pg_database() as restored:
        config = write_config(tmp_path / "restore.toml", tmp_path, restored)
        done = run_kibitz("restore", "--config", str(config), str(file), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        again = run_kibitz("restore", "--config", str(config), str(file), cwd=tmp_path)
        assert again.returncode == 1
        assert "--force" in again.stderr
        count = await thread_count(tmp_path, restored)
    assert count >= len(before) > 0
