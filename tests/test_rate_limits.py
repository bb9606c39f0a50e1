"""Rate limits are sliding windows: at most N writes in any span of the window's length, across the
boundary of a clock-aligned window too (a fixed window let 2 × N through there), counted exactly
across two app instances on one database, on SQLite and PostgreSQL (QUALITY T30)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from kibitz.config import RateLimit
from kibitz.guard import check_rate, forget_old_counters
from kibitz.store.db import Database
from tests.conftest import Api, FakeClock, custom_api
from tests.test_votes import reader, vote_from, vote_limit

pytestmark = pytest.mark.anyio
LIMIT, WINDOW = 4, 60


@contextlib.asynccontextmanager
async def two_instances(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> AsyncIterator[tuple[Api, Api]]:
    """Two apps (two instances, each with its own connections) on one database, votes limited."""
    sites = vote_limit(f"{LIMIT}/minute")
    async with (
        custom_api(tmp_path, database_url, clock, sites=sites) as one,
        custom_api(tmp_path, database_url, clock, sites=sites) as two,
    ):
        yield one, two


async def comments(api: Api, count: int) -> list[str]:
    ids = []
    for i in range(count):
        r = await api.post(text=f"Comment number {i} on the story", page="/story")
        assert r.status_code == 201, r.text
        ids.append(r.json()["comment"]["id"])
    return ids


async def vote(api: Api, comment_id: str) -> httpx.Response:
    return await vote_from(api.client, comment_id, 1, {"X-Kibitz-Reader": reader(api, "voter")})


async def test_no_burst_of_twice_the_limit_at_a_window_boundary(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with two_instances(tmp_path, database_url, clock) as (one, two):
        ids = iter(await comments(one, 3 * LIMIT))
        boundary = clock.now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        clock.now = boundary - timedelta(milliseconds=500)  # the last half second of a window
        for api in (one, two, one, two):
            assert (await vote(api, next(ids))).status_code == 200
        clock.now = boundary + timedelta(milliseconds=500)  # the first half second of the next
        for api in (two, one):
            r = await vote(api, next(ids))
            assert r.status_code == 429, r.text
            assert r.json()["code"] == "rate_limited"
            assert r.headers["Retry-After"] == "59"  # when the first of the four leaves the span
        clock.now = boundary + timedelta(seconds=59, milliseconds=400)
        assert (await vote(one, next(ids))).status_code == 429  # still within 60 s of all four
        clock.now = boundary + timedelta(seconds=59, milliseconds=600)
        for api in (one, two, one, two):  # 60 s after the four: as many again, and no more
            assert (await vote(api, next(ids))).status_code == 200
        assert (await vote(two, next(ids))).status_code == 429


async def test_any_span_of_the_window_holds_at_most_the_limit_and_nothing_more_is_refused(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    rng = random.Random(18)
    async with two_instances(tmp_path, database_url, clock) as (one, two):
        ids = await comments(one, 60)
        start = clock.now
        accepted: list[datetime] = []
        for i, comment_id in enumerate(ids):
            clock.now = start + timedelta(seconds=i * 5 + rng.uniform(0, 4.9))
            r = await vote(rng.choice((one, two)), comment_id)
            in_span = [t for t in accepted if t > clock.now - timedelta(seconds=WINDOW)]
            if r.status_code == 200:
                assert len(in_span) < LIMIT
                accepted.append(clock.now)
            else:  # refused only when the span is full, told when its oldest hit leaves
                assert r.status_code == 429, r.text
                assert len(in_span) == LIMIT
                wait = (in_span[0] + timedelta(seconds=WINDOW) - clock.now).total_seconds()
                assert int(r.headers["Retry-After"]) == max(1, math.ceil(wait))
        assert len(accepted) > LIMIT * 3  # the windows moved on: later hits were let through


async def test_concurrent_writes_of_two_instances_are_counted_exactly(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with two_instances(tmp_path, database_url, clock) as (one, two):
        ids = await comments(one, 6 * LIMIT)
        answers = await asyncio.gather(*(vote((one, two)[i % 2], cid) for i, cid in enumerate(ids)))
        assert sorted(r.status_code for r in answers) == [200] * LIMIT + [429] * (5 * LIMIT)


async def test_old_hits_are_forgotten_and_refused_hits_are_not_counted(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock) as api:
        db: Database = api.app.state.ctx.db
        limit = RateLimit(2, 60)

        async def hit() -> bool:
            try:
                async with db.write() as tx:
                    await check_rate(tx, site="a", action="votes", limit=limit, client="c", now=clock())
            except Exception:
                return False
            return True

        assert [await hit() for _ in range(5)] == [True, True, False, False, False]
        clock.advance(seconds=61)  # the refused three did not count: two again, at once
        assert [await hit() for _ in range(3)] == [True, True, False]
        clock.advance(days=3)
        async with db.write() as tx:
            await forget_old_counters(tx, now=clock())
            left = await tx.conn.exec_driver_sql("SELECT count(*) FROM rate_counters WHERE key LIKE 'rate:%'")
            assert left.scalar_one() == 0


@pytest.mark.parametrize("rebase", [False, True], ids=["totals", "rebased"])
async def test_forgetting_old_hits_keeps_the_count_of_the_hits_still_in_the_span(
    tmp_path: Path, database_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, rebase: bool
) -> None:
    """A day-long window: the oldest hits are forgotten while a newer one is still in its span. The
    hits left are counted from the key's base, not from 0 (mutation tried: no base row written, which
    refuses the second hit), and a key whose totals are rebased counts the same."""
    if rebase:
        monkeypatch.setattr("kibitz.store.limits.REBASE_AT", 1)
    async with custom_api(tmp_path, database_url, clock) as api:
        db: Database = api.app.state.ctx.db
        limit = RateLimit(3, 86400)

        async def hit() -> int | None:
            try:
                async with db.write() as tx:
                    await check_rate(tx, site="a", action="votes", limit=limit, client="c", now=clock())
            except Exception as exc:
                return int(getattr(exc, "retry_after", -1))
            return None

        start = clock.now
        assert [await hit(), await hit()] == [None, None]
        clock.now = start + timedelta(days=1.5)
        assert await hit() is None  # the first two left the day-long span
        clock.now = start + timedelta(days=2.1)
        async with db.write() as tx:
            await forget_old_counters(tx, now=clock())  # the first two are forgotten, the third kept
        clock.now = start + timedelta(days=2.2)
        assert [await hit(), await hit()] == [None, None]  # with the third: three in the span
        assert await hit() == round(0.3 * 86400)  # until the third leaves it
        clock.now = start + timedelta(days=2.5, seconds=1)
        assert await hit() is None
