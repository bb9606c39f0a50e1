"""Security review finding 6: votes count people, not requests. At most ``votes_per_address`` votes
per comment from one client address (an IPv6 address by its /64), whatever reader ids it sends,
counted exactly under concurrency; self-votes still refused by reader id (QUALITY T28-T30)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from kibitz.store.schema import votes
from tests.conftest import LOOSE, ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, site_table

pytestmark = pytest.mark.anyio

ATTACKER = "198.51.100.23"


def sites(**extra: Any) -> list[dict[str, Any]]:
    return [site_table("a", ORIGIN_A, **extra), site_table("b", ORIGIN_B, **extra)]


def client_at(api: Api, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=api.app, client=(address, 4444))
    return httpx.AsyncClient(transport=transport, base_url="http://kibitz.test")


async def vote(
    client: httpx.AsyncClient,
    cid: str,
    value: int = 1,
    reader: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {"Origin": ORIGIN_A, **(headers or {})}
    if reader:
        sent["X-Kibitz-Reader"] = reader
    return await client.post(f"/api/v1/comments/{cid}/vote", json={"value": value}, headers=sent)


def signed(api: Api, name: str) -> str:
    value: str = api.app.state.ctx.tokens.sign_reader(f"r{name}")
    return value


async def rows(api: Api, cid: str) -> int:
    async with api.app.state.ctx.db.read() as tx:
        stmt = select(func.count()).select_from(votes).where(votes.c.comment_id == int(cid))
        n: int = (await tx.conn.execute(stmt)).scalar_one()
    return n


async def score(api: Api, cid: str) -> tuple[int, int, int]:
    for comment in (await api.thread())["comments"]:
        if comment["id"] == cid:
            return comment["score"], comment["up"], comment["down"]
    raise AssertionError(f"comment {cid} not shown")


def assert_vote_limit(r: httpx.Response) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "vote_limit"


async def test_minting_fresh_reader_ids_buys_no_more_than_three_votes(api: Api) -> None:
    cid = (await api.post()).json()["comment"]["id"]
    async with client_at(api, ATTACKER) as attacker:
        answers = [await vote(attacker, cid) for _ in range(10)]  # no X-Kibitz-Reader: a new id each
    assert [r.status_code for r in answers] == [200] * 3 + [403] * 7
    for r in answers[3:]:
        assert_vote_limit(r)
    # Reader ids are still handed out as DESIGN.md §3 says, to every accepted vote.
    assert all(r.headers.get("X-Kibitz-Reader") for r in answers[:3])
    assert await score(api, cid) == (3, 3, 0)
    assert await rows(api, cid) == 3


async def test_concurrent_votes_from_one_address_count_exactly_the_limit(api: Api) -> None:
    cid = (await api.post()).json()["comment"]["id"]
    async with client_at(api, ATTACKER) as attacker:
        answers = await asyncio.gather(*(vote(attacker, cid, reader=signed(api, f"c{i}")) for i in range(25)))
    assert sorted(r.status_code for r in answers) == [200] * 3 + [403] * 22
    assert await rows(api, cid) == 3
    assert await score(api, cid) == (3, 3, 0)


async def test_the_limit_is_per_comment(api: Api) -> None:
    first = (await api.post()).json()["comment"]["id"]
    second = (await api.post(text="Another")).json()["comment"]["id"]
    async with client_at(api, ATTACKER) as attacker:
        for cid in (first, second):
            statuses = [
                (await vote(attacker, cid, reader=signed(api, f"{cid}-{i}"))).status_code for i in range(4)
            ]
            assert statuses == [200, 200, 200, 403]


async def test_changing_or_withdrawing_a_vote_does_not_count_again(api: Api) -> None:
    cid = (await api.post()).json()["comment"]["id"]
    async with client_at(api, ATTACKER) as attacker:
        readers = [signed(api, f"h{i}") for i in range(3)]
        for r in readers:
            assert (await vote(attacker, cid, 1, r)).status_code == 200
        # Each of the three changes its mind, repeatedly: still three votes from this address.
        for value in (-1, 1, -1):
            for r in readers:
                answer = await vote(attacker, cid, value, r)
                assert answer.status_code == 200, answer.text
                assert answer.json()["value"] == value
        assert await score(api, cid) == (-3, 0, 3)
        assert_vote_limit(await vote(attacker, cid, 1, signed(api, "fourth")))
        # A withdrawn vote frees its place: the address still gives at most three at once.
        assert (await vote(attacker, cid, 0, readers[0])).status_code == 200
        assert (await vote(attacker, cid, 1, signed(api, "fourth"))).status_code == 200
        assert_vote_limit(await vote(attacker, cid, 1, signed(api, "fifth")))
    assert await rows(api, cid) == 3
    assert await score(api, cid) == (-1, 1, 2)


async def test_a_reader_who_moves_to_another_address_can_still_change_their_vote(api: Api) -> None:
    cid = (await api.post()).json()["comment"]["id"]
    async with client_at(api, ATTACKER) as home:
        readers = [signed(api, f"m{i}") for i in range(3)]
        for r in readers:
            assert (await vote(home, cid, 1, r)).status_code == 200
    async with client_at(api, "192.0.2.44") as phone:
        answer = await vote(phone, cid, -1, readers[0])
        assert answer.status_code == 200
    assert await score(api, cid) == (1, 2, 1)


async def test_self_votes_stay_refused_by_reader_id_and_neighbours_may_vote(api: Api) -> None:
    # The author and the voters share one address (people do): the author's own vote is refused
    # by reader id, and the others count up to the limit.
    async with client_at(api, ATTACKER) as shared:
        posted = await shared.post(
            "/api/v1/sites/a/comments",
            json={"page": "/story", "text": "Mine", "author": {"name": "Ann"}},
            headers={"Origin": ORIGIN_A},
        )
        cid, own = posted.json()["comment"]["id"], posted.headers["X-Kibitz-Reader"]
        r = await vote(shared, cid, 1, own)
        assert r.status_code == 403
        assert r.json()["code"] == "own_comment"
        statuses = [(await vote(shared, cid, 1, signed(api, f"n{i}"))).status_code for i in range(3)]
        assert statuses == [200, 200, 200]
        r = await vote(shared, cid, 1, own)
        assert r.json()["code"] == "own_comment"
    assert await score(api, cid) == (3, 3, 0)


async def test_ipv6_addresses_in_one_slash_64_share_the_limit(api: Api) -> None:
    cid = (await api.post()).json()["comment"]["id"]
    neighbours = [
        "2001:db8:5:6::1",
        "2001:db8:5:6::2",
        "2001:db8:5:6:ffff:ffff:ffff:fffe",
        "2001:db8:5:6:1::9",
    ]
    statuses = []
    for i, address in enumerate(neighbours):
        async with client_at(api, address) as client:
            statuses.append((await vote(client, cid, reader=signed(api, f"six{i}"))).status_code)
    assert statuses == [200, 200, 200, 403]
    async with client_at(api, "2001:db8:5:7::1") as other_net:
        assert (await vote(other_net, cid, reader=signed(api, "seven"))).status_code == 200


async def test_rotating_forwarded_headers_from_an_untrusted_peer_share_the_peers_limit(api: Api) -> None:
    cid = (await api.post()).json()["comment"]["id"]
    async with client_at(api, ATTACKER) as attacker:
        statuses = []
        for i in range(8):
            spoof = {"X-Forwarded-For": f"192.0.2.{i}", "X-Real-IP": f"192.0.2.{i + 100}"}
            statuses.append(
                (await vote(attacker, cid, reader=signed(api, f"x{i}"), headers=spoof)).status_code
            )
    assert statuses == [200] * 3 + [403] * 5


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, trusted_proxies=["127.0.0.1/32"]) as api:
        cid = (await api.post()).json()["comment"]["id"]
        async with client_at(api, "127.0.0.1") as proxy:
            for client in ("192.0.2.1", "192.0.2.2"):
                statuses = [
                    (
                        await vote(
                            proxy,
                            cid,
                            reader=signed(api, f"{client}{i}"),
                            headers={"X-Forwarded-For": client},
                        )
                    ).status_code
                    for i in range(4)
                ]
                assert statuses == [200, 200, 200, 403]
        assert await score(api, cid) == (6, 6, 0)


async def test_votes_per_address_follows_the_file_and_the_admins_override(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites(votes_per_address=1)) as api:
        cid = (await api.post()).json()["comment"]["id"]
        async with client_at(api, ATTACKER) as attacker:
            assert (await vote(attacker, cid, reader=signed(api, "one"))).status_code == 200
            assert_vote_limit(await vote(attacker, cid, reader=signed(api, "two")))
            ctx = api.app.state.ctx
            site = ctx.settings.site("a")
            async with ctx.db.write() as tx:
                await ctx.policies.update(
                    tx, site, {"votes_per_address": 2}, now=datetime(2026, 12, 7, tzinfo=UTC), by="test"
                )
            assert (await vote(attacker, cid, reader=signed(api, "two"))).status_code == 200
            assert_vote_limit(await vote(attacker, cid, reader=signed(api, "three")))
        assert await score(api, cid) == (2, 2, 0)


async def test_the_per_address_rate_limit_still_applies_on_top(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    limits = {**LOOSE, "votes": "2/minute"}
    async with custom_api(tmp_path, database_url, clock, sites=sites(rate_limits=limits)) as api:
        cid = (await api.post()).json()["comment"]["id"]
        async with client_at(api, ATTACKER) as attacker:
            statuses = [
                (await vote(attacker, cid, reader=signed(api, f"t{i}"))).status_code for i in range(3)
            ]
        assert statuses == [200, 200, 429]
