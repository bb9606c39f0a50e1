"""QUALITY R09: SQLite out of space (``PRAGMA max_page_count`` on the writer connection, just above
the file's size). Posts then answer 503 with Retry-After and a generic body, every post that was
acknowledged is kept, the file stays sound, and posts succeed again once space returns."""

from __future__ import annotations

import asyncio
import random
import string
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from kibitz.store.db import Database
from tests.conftest import FakeClock, custom_api

pytestmark = pytest.mark.anyio
ROOMY = 1_073_741_823  # SQLite's default max_page_count


def filler(rng: random.Random, size: int = 9_000) -> str:
    """Text that does not compress or repeat (the spam screen holds repeats)."""
    words = ("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(size // 5))
    return " ".join(words)[:size]


async def set_max_pages(db: Database, pages: int | None) -> int:
    """Cap the writer connection's file at ``pages`` beyond its size now (None: no cap); the size."""
    async with db.write() as tx:
        size = int(await tx.conn.scalar(text("PRAGMA page_count")))
        await tx.conn.execute(text(f"PRAGMA max_page_count = {ROOMY if pages is None else size + pages}"))
        return size


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
async def test_a_full_sqlite_disk_answers_503_loses_nothing_acknowledged_and_recovers(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    rng = random.Random(9)
    async with custom_api(tmp_path, database_url, clock) as api:
        db: Database = api.app.state.ctx.db

        async def post(i: int) -> httpx.Response:
            return await api.post(page=f"/full/{i % 5}", text=filler(rng), author={"name": f"Reader {i}"})

        assert (await post(0)).status_code == 201
        await set_max_pages(db, 8)  # a few comments' worth of room left
        acknowledged: list[str] = []
        refused: list[httpx.Response] = []
        for round_ in range(1, 40):  # posts in concurrent batches (group commit) until the disk is full
            answers = await asyncio.gather(*(post(round_ * 10 + j) for j in range(5)))
            acknowledged += [r.json()["comment"]["id"] for r in answers if r.status_code == 201]
            refused += [r for r in answers if r.status_code != 201]
            if refused:
                break
        assert refused, "the disk never filled"
        for r in refused:
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "unavailable"
            assert int(r.headers["Retry-After"]) > 0
            lowered = r.text.lower()
            assert "full" not in lowered
            assert "sqlite" not in lowered
            assert "disk" not in lowered

        async with db.read() as tx:
            assert (await tx.conn.execute(text("PRAGMA integrity_check"))).scalars().all() == ["ok"]
            stored = {str(i) for i in (await tx.conn.execute(text("SELECT id FROM comments"))).scalars()}
        assert set(acknowledged) <= stored

        await set_max_pages(db, None)  # space returns
        again = await post(999)
        assert again.status_code == 201, again.text
        assert (await api.client.get("/readyz")).status_code == 200
