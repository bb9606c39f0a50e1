"""Votes: one per reader, valid values only, never on one's own comment, limited per client address,
and the tallies always equal the vote rows (QUALITY T28, T29, T30, T31); both engines."""

from __future__ import annotations

import asyncio
import itertools
import random
from ipaddress import IPv4Address, IPv6Address, ip_network
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import case, func, select

from kibitz.config import Settings
from kibitz.security import client_address, rate_key
from kibitz.store.schema import comments, votes
from tests.conftest import LOOSE, ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, make_settings, site_table

pytestmark = pytest.mark.anyio


# These tests are about one vote per reader and the per-address rate limit; they vote from one
# client address with many readers, so the per-address vote limit (tests/test_review_votes.py) is
# set out of their way.
MANY = 1000


def vote_limit(limit: str) -> list[dict[str, Any]]:
    limits = {**LOOSE, "votes": limit}
    return [
        site_table("a", ORIGIN_A, rate_limits=limits, votes_per_address=MANY),
        site_table("b", ORIGIN_B, rate_limits=limits, votes_per_address=MANY),
    ]


@pytest.fixture(name="settings")
def many_votes_settings(tmp_path: Path, database_url: str) -> Settings:
    sites = [
        site_table("a", ORIGIN_A, votes_per_address=MANY),
        site_table("b", ORIGIN_B, votes_per_address=MANY),
    ]
    return make_settings(tmp_path, database_url, sites=sites)


def reader(api: Api, name: str) -> str:
    """A signed reader id as the widget would keep it."""
    signed: str = api.app.state.ctx.tokens.sign_reader(f"r{name}")
    return signed


def client_at(api: Api, address: str) -> httpx.AsyncClient:
    """Another client on the same app, seen at ``address``."""
    transport = httpx.ASGITransport(app=api.app, client=(address, 4444))
    return httpx.AsyncClient(transport=transport, base_url="http://kibitz.test")


async def vote_from(
    client: httpx.AsyncClient, comment_id: str, value: int, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        f"/api/v1/comments/{comment_id}/vote",
        json={"value": value},
        headers={"Origin": ORIGIN_A, **(headers or {})},
    )


async def tallies(api: Api) -> dict[str, tuple[int, int, int, int, int, int]]:
    """Per comment id: stored (score, up, down) and, from the vote rows, (sum, ups, downs)."""
    up_rows = func.coalesce(func.sum(case((votes.c.value == 1, 1), else_=0)), 0)
    down_rows = func.coalesce(func.sum(case((votes.c.value == -1, 1), else_=0)), 0)
    stmt = (
        select(
            comments.c.id,
            comments.c.score,
            comments.c.up,
            comments.c.down,
            func.coalesce(func.sum(votes.c.value), 0),
            up_rows,
            down_rows,
        )
        .select_from(comments.outerjoin(votes, votes.c.comment_id == comments.c.id))
        .group_by(comments.c.id, comments.c.score, comments.c.up, comments.c.down)
    )
    async with api.app.state.ctx.db.read() as tx:
        rows = (await tx.conn.execute(stmt)).all()
    out: dict[str, tuple[int, int, int, int, int, int]] = {}
    for row in rows:
        score, up, down, total, ups, downs = (int(v) for v in row[1:])
        out[str(row[0])] = (score, up, down, total, ups, downs)
    return out


async def assert_store_consistent(api: Api) -> None:
    for cid, (score, up, down, total, ups, downs) in (await tallies(api)).items():
        assert (score, up, down) == (total, ups, downs), cid
        assert score == up - down


async def vote_rows(api: Api, comment_id: str) -> int:
    async with api.app.state.ctx.db.read() as tx:
        stmt = select(func.count()).select_from(votes).where(votes.c.comment_id == int(comment_id))
        n: int = (await tx.conn.execute(stmt)).scalar_one()
    return n


async def shown(api: Api, comment_id: str, page: str = "/story") -> dict[str, Any]:
    thread = await api.thread(page)
    stack = list(thread["comments"])
    while stack:
        comment = stack.pop()
        if comment["id"] == comment_id:
            found: dict[str, Any] = comment
            return found
        stack.extend(comment["replies"])
    raise AssertionError(f"comment {comment_id} not shown")


# -- T28: one vote per reader --------------------------------------------------------------------------


async def test_the_same_reader_voting_twice_counts_once(api: Api) -> None:
    cid = (await api.post()).json()["comment"]["id"]
    voter = reader(api, "voter")
    first = await api.vote(cid, 1, reader=voter)
    second = await api.vote(cid, 1, reader=voter)
    assert first.json() == {"score": 1, "up": 1, "down": 0, "value": 1}
    assert second.json() == {"score": 1, "up": 1, "down": 0, "value": 1}
    assert "x-kibitz-reader" not in second.headers
    assert await vote_rows(api, cid) == 1
    assert (await shown(api, cid))["score"] == 1


async def test_fifty_concurrent_upvotes_from_one_reader_count_once(api: Api) -> None:
    cid = (await api.post()).json()["comment"]["id"]
    voter = reader(api, "racer")
    answers = await asyncio.gather(*(api.vote(cid, 1, reader=voter) for _ in range(50)))
    assert {r.status_code for r in answers} == {200}
    assert {r.json()["score"] for r in answers} == {1}
    assert await vote_rows(api, cid) == 1
    comment = await shown(api, cid)
    assert (comment["score"], comment["up"], comment["down"]) == (1, 1, 0)
    await assert_store_consistent(api)


async def test_concurrent_votes_from_different_readers_all_count(api: Api) -> None:
    cid = (await api.post()).json()["comment"]["id"]
    answers = await asyncio.gather(
        *(api.vote(cid, 1 if i % 3 else -1, reader=reader(api, f"crowd{i}")) for i in range(30))
    )
    assert {r.status_code for r in answers} == {200}
    comment = await shown(api, cid)
    assert (comment["score"], comment["up"], comment["down"]) == (10, 20, 10)
    await assert_store_consistent(api)


async def test_a_vote_without_a_reader_id_issues_one(api: Api) -> None:
    cid = (await api.post()).json()["comment"]["id"]
    r = await api.vote(cid, 1)
    issued = r.headers["X-Kibitz-Reader"]
    again = await api.vote(cid, 1, reader=issued)
    assert again.json() == {"score": 1, "up": 1, "down": 0, "value": 1}


# -- T29: valid values only, never one's own comment -----------------------------------------------


async def test_invalid_vote_values_are_refused(api: Api) -> None:
    cid = (await api.post()).json()["comment"]["id"]
    for value in (2, -5, "1", 1e9, 1.0, True, False, None, 0.5, [1], {"v": 1}):
        r = await api.client.post(
            f"/api/v1/comments/{cid}/vote", json={"value": value}, headers={"Origin": ORIGIN_A}
        )
        assert r.status_code == 422, (value, r.text)
        assert r.json()["code"] == "invalid_input"
    assert await vote_rows(api, cid) == 0
    assert (await shown(api, cid))["score"] == 0


async def test_vote_bodies_with_missing_or_extra_fields_are_refused(api: Api) -> None:
    cid = (await api.post()).json()["comment"]["id"]
    for body in ({}, {"value": 1, "reader": "someone"}, [1]):
        r = await api.client.post(f"/api/v1/comments/{cid}/vote", json=body, headers={"Origin": ORIGIN_A})
        assert r.status_code == 422, body
    assert await vote_rows(api, cid) == 0


async def test_voting_on_ones_own_comment_is_forbidden(api: Api) -> None:
    posted = (await api.post()).json()
    cid, own = posted["comment"]["id"], posted["reader"]
    for value in (1, -1, 0):
        r = await api.vote(cid, value, reader=own)
        assert r.status_code == 403
        assert r.json()["code"] == "own_comment"
    assert await vote_rows(api, cid) == 0
    assert (await shown(api, cid))["score"] == 0


async def test_votes_on_missing_deleted_or_hidden_comments_are_not_found(api: Api) -> None:
    voter = reader(api, "voter")
    gone = (await api.post(text="Gone")).json()
    r = await api.client.delete(
        f"/api/v1/comments/{gone['comment']['id']}",
        headers={"Origin": ORIGIN_A, "Authorization": f"Bearer {gone['token']}"},
    )
    assert r.status_code == 204
    tomb = (await api.post(text="Tombstone")).json()
    await api.post(text="Reply keeps the tombstone", parent=tomb["comment"]["id"])
    await api.client.delete(
        f"/api/v1/comments/{tomb['comment']['id']}",
        headers={"Origin": ORIGIN_A, "Authorization": f"Bearer {tomb['token']}"},
    )
    hidden = (await api.post(text="Hidden")).json()["comment"]["id"]
    ctx = api.app.state.ctx
    assert await ctx.moderation.set_hidden(int(hidden), True)

    for cid in (gone["comment"]["id"], tomb["comment"]["id"], hidden, "987654321"):
        for value in (1, -1, 0):
            r = await api.vote(cid, value, reader=voter)
            assert r.status_code == 404, (cid, value)
            assert r.json()["code"] == "not_found"
    for cid in (gone["comment"]["id"], tomb["comment"]["id"], hidden):
        assert await vote_rows(api, cid) == 0


async def test_a_comment_of_another_site_cannot_be_voted_from_this_sites_origin(api: Api) -> None:
    cid = (await api.post(site="b", origin=ORIGIN_B)).json()["comment"]["id"]
    r = await api.vote(cid, 1, origin=ORIGIN_A)
    assert r.status_code in (403, 404)
    assert await vote_rows(api, cid) == 0
    assert (await api.vote(cid, 1, origin=ORIGIN_B)).status_code == 200


async def test_zero_removes_a_vote_and_the_opposite_value_flips_it(api: Api) -> None:
    cid = (await api.post()).json()["comment"]["id"]
    voter = reader(api, "flipper")
    assert (await api.vote(cid, 0, reader=voter)).json() == {"score": 0, "up": 0, "down": 0, "value": 0}
    assert (await api.vote(cid, 1, reader=voter)).json() == {"score": 1, "up": 1, "down": 0, "value": 1}
    assert (await api.vote(cid, 0, reader=voter)).json() == {"score": 0, "up": 0, "down": 0, "value": 0}
    assert await vote_rows(api, cid) == 0
    assert (await api.vote(cid, -1, reader=voter)).json() == {"score": -1, "up": 0, "down": 1, "value": -1}
    assert (await api.vote(cid, 1, reader=voter)).json() == {"score": 1, "up": 1, "down": 0, "value": 1}
    assert (await api.vote(cid, -1, reader=voter)).json() == {"score": -1, "up": 0, "down": 1, "value": -1}
    assert await vote_rows(api, cid) == 1
    comment = await shown(api, cid)
    assert (comment["score"], comment["up"], comment["down"]) == (-1, 0, 1)


# -- T30: limits per client address, forwarded headers only from trusted proxies ------------------------


SPOOFS = [
    {"X-Forwarded-For": f"198.51.100.{i}", "X-Real-IP": f"192.0.2.{i}", "Forwarded": f"for=198.51.100.{i}"}
    for i in range(1, 11)
]


async def test_forwarded_headers_from_an_untrusted_peer_do_not_escape_the_vote_limit(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=vote_limit("3/minute")) as api:
        cid = (await api.post()).json()["comment"]["id"]
        statuses = []
        for i, spoof in enumerate(SPOOFS):
            r = await vote_from(api.client, cid, 1, {**spoof, "X-Kibitz-Reader": reader(api, f"v{i}")})
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert r.json()["code"] == "rate_limited"
                assert int(r.headers["Retry-After"]) >= 1
        assert statuses == [200] * 3 + [429] * 7
        assert (await shown(api, cid))["score"] == 3
        clock.advance(minutes=1)
        r = await vote_from(api.client, cid, 1, {"X-Kibitz-Reader": reader(api, "later")})
        assert r.status_code == 200


async def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(
        tmp_path, database_url, clock, sites=vote_limit("3/minute"), trusted_proxies=["203.0.113.0/24"]
    ) as api:
        cid = (await api.post()).json()["comment"]["id"]
        for i in range(10):
            r = await vote_from(
                api.client,
                cid,
                1,
                {"X-Forwarded-For": f"198.51.100.{i}", "X-Kibitz-Reader": reader(api, f"p{i}")},
            )
            assert r.status_code == 200, i
        statuses = []
        for i in range(5):
            headers = {
                "X-Forwarded-For": "192.0.2.1, 198.51.100.200",
                "X-Kibitz-Reader": reader(api, f"q{i}"),
            }
            statuses.append((await vote_from(api.client, cid, 1, headers)).status_code)
        assert statuses == [200] * 3 + [429] * 2
        # X-Real-IP is not a header Kibitz believes: with it alone the proxy's address counts.
        statuses = []
        for i in range(5):
            headers = {"X-Real-IP": f"192.0.2.{i + 10}", "X-Kibitz-Reader": reader(api, f"s{i}")}
            statuses.append((await vote_from(api.client, cid, 1, headers)).status_code)
        assert statuses == [200] * 3 + [429] * 2
        assert (await shown(api, cid))["score"] == 16


async def test_ipv6_clients_in_one_slash_64_share_a_limit(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=vote_limit("3/minute")) as api:
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
                r = await vote_from(client, cid, 1, {"X-Kibitz-Reader": reader(api, f"n{i}")})
                statuses.append(r.status_code)
        assert statuses == [200, 200, 200, 429]
        async with client_at(api, "2001:db8:5:7::1") as other_net:
            r = await vote_from(other_net, cid, 1, {"X-Kibitz-Reader": reader(api, "elsewhere")})
            assert r.status_code == 200


def test_rate_key_groups_ipv6_by_slash_64_and_keeps_ipv4_whole() -> None:
    assert rate_key("2001:db8:1:2::1") == rate_key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert rate_key("2001:db8:1:2::1") != rate_key("2001:db8:1:3::1")
    assert rate_key("203.0.113.7") == "203.0.113.7"
    assert rate_key("203.0.113.7") != rate_key("203.0.113.8")
    assert rate_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert rate_key("2001:DB8:1:2::1") == rate_key("2001:db8:1:2:0:0:0:1")


@settings(derandomize=True, max_examples=50, deadline=None)
@given(prefix=st.integers(0, 2**64 - 1), a=st.integers(0, 2**64 - 1), b=st.integers(0, 2**64 - 1))
def test_any_two_addresses_in_one_slash_64_share_a_rate_key(prefix: int, a: int, b: int) -> None:
    first, second = IPv6Address((prefix << 64) | a), IPv6Address((prefix << 64) | b)
    if first.ipv4_mapped is None and second.ipv4_mapped is None:
        assert rate_key(str(first)) == rate_key(str(second))
    other = IPv6Address((((prefix + 1) % 2**64) << 64) | a)
    if first.ipv4_mapped is None and other.ipv4_mapped is None:
        assert rate_key(str(first)) != rate_key(str(other))


@settings(derandomize=True, max_examples=50, deadline=None)
@given(a=st.integers(0, 2**32 - 1), b=st.integers(0, 2**32 - 1))
def test_distinct_ipv4_addresses_have_distinct_rate_keys(a: int, b: int) -> None:
    assert (rate_key(str(IPv4Address(a))) == rate_key(str(IPv4Address(b)))) == (a == b)


def test_client_address_believes_forwarded_for_only_from_trusted_proxies() -> None:
    proxies = (ip_network("203.0.113.0/24"), ip_network("10.0.0.0/8"))
    # Untrusted peer: whatever it claims, its own address counts.
    assert client_address("198.51.100.5", "192.0.2.1", proxies) == "198.51.100.5"
    assert client_address("198.51.100.5", "192.0.2.1", ()) == "198.51.100.5"
    assert client_address("203.0.113.7", "192.0.2.1", ()) == "203.0.113.7"
    # Trusted peer: the last hop not in a trusted network (earlier hops may be spoofed by the client).
    assert client_address("203.0.113.7", "192.0.2.1", proxies) == "192.0.2.1"
    assert client_address("203.0.113.7", "6.6.6.6, 192.0.2.1", proxies) == "192.0.2.1"
    assert client_address("203.0.113.7", "6.6.6.6, 192.0.2.1, 10.1.2.3", proxies) == "192.0.2.1"
    # Only proxies in the chain: the first of them.
    assert client_address("203.0.113.7", "10.1.2.3", proxies) == "10.1.2.3"
    # Garbage in the chain: fall back to what is known.
    assert client_address("203.0.113.7", "not-an-ip", proxies) == "203.0.113.7"
    assert client_address("203.0.113.7", "", proxies) == "203.0.113.7"
    assert client_address("203.0.113.7", None, proxies) == "203.0.113.7"
    # IPv6 hops behind a trusted proxy.
    assert client_address("203.0.113.7", "2001:db8::1", proxies) == "2001:db8::1"
    assert rate_key(client_address("203.0.113.7", "2001:db8::1", proxies)) == rate_key(
        client_address("203.0.113.7", "2001:db8::abcd", proxies)
    )
    assert client_address(None, "192.0.2.1", proxies) == "0.0.0.0"  # noqa: S104 - a placeholder key


# -- T31: tallies always equal the vote rows ---------------------------------------------------------


class Model:
    """What the tallies should be: each reader's current vote per comment."""

    def __init__(self) -> None:
        self.votes: dict[tuple[str, int], int] = {}

    def set(self, comment: str, voter: int, value: int) -> None:
        if value:
            self.votes[(comment, voter)] = value
        else:
            self.votes.pop((comment, voter), None)

    def tally(self, comment: str) -> tuple[int, int, int]:
        values = [v for (c, _), v in self.votes.items() if c == comment]
        up, down = values.count(1), values.count(-1)
        return up - down, up, down


async def post_authored(api: Api, page: str, authors: list[str]) -> list[str]:
    ids = []
    for i, author in enumerate(authors):
        r = await api.post(page=page, text=f"Comment {i}", headers={"X-Kibitz-Reader": author})
        assert r.status_code == 201, r.text
        ids.append(r.json()["comment"]["id"])
    return ids


async def apply_and_check(
    api: Api, model: Model, ids: list[str], voters: list[str], op: tuple[int, int, int]
) -> None:
    c, v, value = op
    r = await api.vote(ids[c], value, reader=voters[v])
    if c == v:  # voter i wrote comment i
        assert r.status_code == 403
        assert r.json()["code"] == "own_comment"
        return
    assert r.status_code == 200, r.text
    model.set(ids[c], v, value)
    score, up, down = model.tally(ids[c])
    assert r.json() == {"score": score, "up": up, "down": down, "value": value}


async def assert_thread_matches(api: Api, model: Model, page: str, ids: list[str]) -> None:
    listed = {c["id"]: c for c in (await api.thread(page))["comments"]}
    for cid in ids:
        assert (listed[cid]["score"], listed[cid]["up"], listed[cid]["down"]) == model.tally(cid)


async def test_random_vote_sequence_keeps_tallies_equal_to_vote_rows(api: Api) -> None:
    rng = random.Random(20261127)
    voters = [reader(api, f"seq{i}") for i in range(5)]
    ids = await post_authored(api, "/fuzz", voters[:3])
    model = Model()
    for step in range(200):
        op = (rng.randrange(3), rng.randrange(5), rng.choice((-1, 0, 1)))
        await apply_and_check(api, model, ids, voters, op)
        if step % 50 == 49:
            await assert_store_consistent(api)
    await assert_store_consistent(api)
    await assert_thread_matches(api, model, "/fuzz", ids)


async def test_concurrent_random_votes_keep_tallies_equal_to_vote_rows(api: Api) -> None:
    rng = random.Random(7)
    voters = [reader(api, f"con{i}") for i in range(6)]
    ids = await post_authored(api, "/fuzz-concurrent", voters[:3])
    for _ in range(4):
        ops = [(rng.randrange(3), rng.randrange(3, 6), rng.choice((-1, 0, 1))) for _ in range(25)]
        answers = await asyncio.gather(*(api.vote(ids[c], v, reader=voters[r]) for c, r, v in ops))
        assert {a.status_code for a in answers} == {200}
        await assert_store_consistent(api)
    # Whatever order the races settled in, each (comment, reader) holds one row and the tallies agree.
    stored = await tallies(api)
    listed = {c["id"]: c for c in (await api.thread("/fuzz-concurrent"))["comments"]}
    for cid in ids:
        assert (listed[cid]["score"], listed[cid]["up"], listed[cid]["down"]) == stored[cid][:3]
        assert await vote_rows(api, cid) <= 3


_examples = itertools.count()


@settings(
    derandomize=True,
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 3), st.sampled_from([-1, 0, 1])), min_size=1, max_size=25
    )
)
async def test_vote_model_property(api: Api, ops: list[tuple[int, int, int]]) -> None:
    # The app and its database live across examples: each example gets its own page and comments,
    # and a fresh rate-limit window.
    n = next(_examples)
    api.clock.advance(minutes=1)
    voters = [reader(api, f"h{n}v{i}") for i in range(4)]
    page = f"/property/{n}"
    ids = await post_authored(api, page, voters[:3])
    model = Model()
    for op in ops:
        await apply_and_check(api, model, ids, voters, op)
    await assert_store_consistent(api)
    await assert_thread_matches(api, model, page, ids)
