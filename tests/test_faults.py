"""Faults (QUALITY.md C-2): kill -9 during a stream of posts (R01) and SQLite lock contention (R08)."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import uuid
from pathlib import Path

import httpx
import pytest

from kibitz.config import Settings
from tests.conftest import ORIGIN_A, FakeClock, make_settings, open_api
from tests.server import serve

pytestmark = pytest.mark.anyio
PAGE = "/crash-story"


def _body(key: str) -> dict[str, object]:
    return {"page": PAGE, "text": f"comment {key}", "author": {"name": "Crash Tester"}}


async def _post(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.post(
        "/api/v1/sites/a/comments", json=_body(key), headers={"Origin": ORIGIN_A, "Idempotency-Key": key}
    )


async def _stream_until_killed(url: str, kill_after: int, kill: object) -> tuple[dict[str, str], list[str]]:
    """Four writers post until the server dies after ``kill_after`` acknowledgements."""
    acked: dict[str, str] = {}
    unacked: list[str] = []
    stop = asyncio.Event()

    async def writer(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            key = uuid.uuid4().hex
            try:
                r = await _post(client, key)
            except httpx.TransportError:
                unacked.append(key)
                stop.set()
                return
            assert r.status_code == 201, r.text
            acked[key] = r.json()["comment"]["id"]
            if len(acked) >= kill_after and not stop.is_set():
                assert callable(kill)
                kill()
                stop.set()

    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await asyncio.wait_for(asyncio.gather(*(writer(client) for _ in range(4))), timeout=60)
    return acked, unacked


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_kill_9_loses_no_acknowledged_comment_and_retries_do_not_duplicate(
    tmp_path: Path, database_url: str, seed: int
) -> None:
    kill_after = random.Random(seed).randint(3, 40)
    with serve(tmp_path, database_url) as server:
        acked, unacked = await _stream_until_killed(server.url, kill_after, server.process.kill)
        server.process.wait(timeout=15)
    assert len(acked) >= kill_after

    if database_url.startswith("sqlite"):
        db = sqlite3.connect(tmp_path / "kibitz.db")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()

    with serve(tmp_path, database_url) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            # A client that never saw its answer retries with the same key: the original, or a first post.
            retried = {}
            for key in unacked:
                r = await _post(client, key)
                assert r.status_code == 201, r.text
                retried[key] = r.json()["comment"]["id"]
            for key, cid in acked.items():  # a retry of an acknowledged post is a replay
                r = await _post(client, key)
                assert r.json()["comment"]["id"] == cid
            r = await client.get("/api/v1/sites/a/comments", params={"page": PAGE, "limit": 100})
            thread = r.json()
    ids = {c["id"] for c in thread["comments"]}
    assert set(acked.values()) <= ids
    assert set(retried.values()) <= ids
    assert thread["thread"]["count"] == len(acked) + len(retried) == len(ids)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, "sqlite:///kibitz.db")


async def test_a_write_lock_held_past_the_busy_timeout_answers_503_and_writes_nothing(
    sqlite_settings: Settings,
) -> None:
    async for api in open_api(sqlite_settings, FakeClock()):
        assert (await api.post(text="before")).status_code == 201
        blocker = sqlite3.connect(sqlite_settings.data_dir / "kibitz.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            r = await api.post(text="during")
        finally:
            blocker.rollback()
            blocker.close()
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "unavailable"
        assert int(r.headers["Retry-After"]) >= 1
        assert (await api.thread())["thread"]["count"] == 1
        assert (await api.post(text="after")).status_code == 201
        assert (await api.thread())["thread"]["count"] == 2


async def test_a_write_waits_for_a_short_lock_and_then_succeeds(sqlite_settings: Settings) -> None:
    async for api in open_api(sqlite_settings, FakeClock()):
        blocker = sqlite3.connect(
            sqlite_settings.data_dir / "kibitz.db", isolation_level=None, check_same_thread=False
        )
        blocker.execute("BEGIN IMMEDIATE")
        asyncio.get_running_loop().call_later(1.0, blocker.rollback)
        try:
            r = await api.post(text="waits")
        finally:
            blocker.close()
        assert r.status_code == 201, r.text
        assert (await api.thread())["thread"]["count"] == 1
