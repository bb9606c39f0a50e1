"""The read cache (readcache.py, web/cached.py): ETags that follow every visible change, 304s,
gzip/br, Cache-Control, the fast path answering like the handler, counts, and two apps on one
database (as two processes would be); both engines."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import brotli
import httpx
import pytest

from kibitz.context import Context
from kibitz.readcache import Bodies, Entry, Versions
from kibitz.web import encoding
from tests.conftest import ORIGIN_A, Api, FakeClock, custom_api, make_settings, open_api, site_table

pytestmark = pytest.mark.anyio

URL = "/api/v1/sites/a/comments"


def ctx_of(api: Api) -> Context:
    ctx: Context = api.app.state.ctx
    return ctx


async def read(
    api: Api, page: str = "/story", headers: dict[str, str] | None = None, **params: Any
) -> httpx.Response:
    return await api.client.get(URL, params={"page": page, **params}, headers=headers or {})


async def etag(api: Api, page: str = "/story") -> str:
    r = await read(api, page)
    assert r.status_code == 200, r.text
    return r.headers["etag"]


async def posted(api: Api, **body: Any) -> dict[str, Any]:
    r = await api.post(**body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def hits(api: Api, result: str = "hit") -> float:
    ctx_of(api).reads.flush_metrics()
    value = ctx_of(api).metrics.registry.get_sample_value("kibitz_read_cache_total", {"result": result})
    return value or 0.0


async def test_a_thread_read_carries_a_weak_etag_and_cdn_friendly_headers(api: Api) -> None:
    r = await read(api, headers={"Origin": ORIGIN_A})
    assert r.status_code == 200
    assert r.headers["etag"].startswith('W/"')
    assert r.headers["etag"].endswith('.0.0"')  # no thread yet
    assert r.headers["cache-control"] == "public, max-age=5, stale-while-revalidate=30"
    assert {v.strip() for v in r.headers["vary"].split(",")} == {"Origin", "Accept-Encoding"}
    assert r.headers["access-control-allow-origin"] == ORIGIN_A
    assert r.json()["thread"]["count"] == 0


async def test_an_unchanged_thread_answers_304_on_the_handler_and_on_the_fast_path(api: Api) -> None:
    await posted(api)
    tag = await etag(api)
    for _ in range(2):  # the first is routed, the second is answered by the fast path
        r = await read(api, headers={"If-None-Match": tag})
        assert r.status_code == 304
        assert r.content == b""
        assert r.headers["etag"] == tag
        assert "content-type" not in r.headers
    r = await read(api, headers={"If-None-Match": f'W/"other", {tag}'})
    assert r.status_code == 304
    r = await read(api, headers={"If-None-Match": '"something-else"'})
    assert r.status_code == 200


async def test_every_visible_change_changes_the_etag_and_the_body_at_once(api: Api) -> None:
    first = await posted(api, text="First")
    comment_id, token = first["comment"]["id"], first["token"]
    seen = [await etag(api)]

    async def changed(check: Any) -> None:
        tag = await etag(api)
        assert tag not in seen
        r = await read(api, headers={"If-None-Match": seen[-1]})
        assert r.status_code == 200  # the old tag no longer matches
        check(r.json())
        seen.append(tag)

    await posted(api, text="Second")
    await changed(lambda data: len(data["comments"]) == 2 or pytest.fail("no second comment"))

    assert (await api.vote(comment_id, 1)).status_code == 200
    await changed(lambda data: _find(data, comment_id)["score"] == 1 or pytest.fail("score"))

    edit = await api.client.patch(
        f"/api/v1/comments/{comment_id}",
        json={"text": "First, edited"},
        headers={"Origin": ORIGIN_A, "Authorization": f"Bearer {token}"},
    )
    assert edit.status_code == 200, edit.text
    await changed(lambda data: "edited" in _find(data, comment_id)["html"] or pytest.fail("edit"))

    moderation = ctx_of(api).moderation
    assert await moderation.set_hidden(int(comment_id), True)
    await changed(lambda data: comment_id not in [c["id"] for c in data["comments"]] or pytest.fail("hide"))

    assert await moderation.set_closed("a", "/story", True)
    await changed(lambda data: data["thread"]["closed"] or pytest.fail("close"))


def _find(data: dict[str, Any], comment_id: str) -> dict[str, Any]:
    for comment in data["comments"]:
        if comment["id"] == comment_id:
            found: dict[str, Any] = comment
            return found
    raise AssertionError(f"comment {comment_id} is not in the thread")


async def test_compressed_forms_carry_the_same_json(api: Api) -> None:
    for i in range(30):
        await posted(api, text=f"Comment number {i} with enough words to be worth compressing")
    plain = await read(api, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    for accept, expected in (
        ("gzip", "gzip"),
        ("br", "br"),
        ("gzip, deflate, br", "br"),
        ("br;q=0, gzip", "gzip"),
    ):
        for _ in range(2):  # routed, then the fast path; httpx decodes what came on the wire
            r = await read(api, headers={"Accept-Encoding": accept})
            assert r.headers["content-encoding"] == expected
            assert int(r.headers["content-length"]) < len(plain.content)
            assert r.content == plain.content
    assert gzip.decompress(encoding.compress(plain.content, "gzip")) == plain.content
    assert brotli.decompress(encoding.compress(plain.content, "br")) == plain.content


async def test_the_fast_path_answers_with_the_handlers_headers(api: Api) -> None:
    await posted(api)
    headers = {"Origin": ORIGIN_A, "Accept-Encoding": "gzip"}
    before = hits(api)
    routed = await read(api, headers=headers)
    fast = await read(api, headers=headers)
    assert hits(api) == before + 1
    assert routed.content == fast.content
    assert sorted(routed.headers.items()) == sorted(fast.headers.items())
    # A new Origin gets its own CORS answer on the fast path too; an unknown one gets none.
    other = await read(api, headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_the_fast_path_keeps_the_edges_body_rules(api: Api) -> None:
    await posted(api)
    for _ in range(3):  # routed, then a URL the fast path knows
        assert (await read(api)).status_code == 200
        r = await read(api, headers={"Content-Length": "999999"})
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"


async def test_fresh_reads_skip_shared_caches_but_not_the_exact_one(api: Api) -> None:
    await posted(api)
    r = await read(api, fresh="1700000000000")
    assert r.headers["cache-control"] == "no-store"
    assert r.json()["thread"]["count"] == 1
    again = await read(api, fresh="1700000000000")
    assert again.headers["cache-control"] == "no-store"  # never remembered for the fast path
    assert (await read(api)).headers["cache-control"].startswith("public")


async def test_counts_are_exact_at_once_on_a_repeated_url(api: Api) -> None:
    url = "/api/v1/sites/a/counts"
    params = {"page": ["/story", "/other", "/story/"]}
    for expected in (0, 1, 2):
        for _ in range(2):  # routed, then the fast path
            r = await api.client.get(url, params=params)
            assert r.status_code == 200
            assert r.json()["counts"] == {"/story": expected, "/other": 0, "/story/": expected}
            assert r.headers["cache-control"].startswith("public")
        await posted(api)


async def test_the_html_fragment_is_cached_per_version(api: Api) -> None:
    await posted(api, text="Server-rendered")
    url = "/api/v1/sites/a/comments.html"
    first = await api.client.get(url, params={"page": "/story"})
    assert first.status_code == 200
    assert "Server-rendered" in first.text
    tag = first.headers["etag"]
    assert (
        await api.client.get(url, params={"page": "/story"}, headers={"If-None-Match": tag})
    ).status_code == 304
    await posted(api, text="A second one")
    second = await api.client.get(url, params={"page": "/story"}, headers={"If-None-Match": tag})
    assert second.status_code == 200
    assert "A second one" in second.text


async def test_a_thread_closing_by_age_changes_its_etag(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    sites = [site_table("a", ORIGIN_A, close_after="30d")]
    async with custom_api(tmp_path, database_url, clock, sites=sites) as api:
        await posted(api)
        open_tag = await etag(api)
        assert (await read(api)).json()["thread"]["closed"] is False
        clock.advance(days=31)
        closed = await read(api)
        assert closed.headers["etag"] != open_tag
        assert closed.headers["etag"].endswith('.c"')
        assert closed.json()["thread"]["closed"] is True


async def test_two_apps_on_one_database_see_each_others_writes_at_once(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    """As two worker processes would: each has its own cache; a write on one shows on the other
    at the next read, with no waiting."""
    settings = make_settings(tmp_path, database_url)
    async with _api(settings, clock) as a, _api(settings, clock) as b:
        await posted(a)
        tags = {await etag(b)}
        counts_url = "/api/v1/sites/a/counts?page=/story"
        for n in range(2, 6):
            await posted(a, text=f"Comment {n}")
            r = await read(b)
            assert r.json()["thread"]["count"] == n
            assert r.headers["etag"] not in tags
            tags.add(r.headers["etag"])
            assert (await b.client.get(counts_url)).json()["counts"]["/story"] == n


def _api(settings: Any, clock: FakeClock) -> Any:
    import contextlib

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[Api]:
        async for api in open_api(settings, clock):
            yield api

    return opened()


async def test_concurrent_version_checks_share_queries(api: Api) -> None:
    """Many reads at once cost far fewer version queries than reads (PostgreSQL batches them; SQLite
    reuses what it read until a commit changes the shared marker)."""
    await posted(api)
    ctx = ctx_of(api)
    versions: Versions = ctx.reads.versions
    registry = ctx.metrics.registry
    before = registry.get_sample_value("kibitz_version_queries_total") or 0.0
    results = await asyncio.gather(*(versions.get("a", ["/story", "/nobody"]) for _ in range(200)))
    after = registry.get_sample_value("kibitz_version_queries_total") or 0.0
    assert all(set(r) == {"/story"} and r["/story"].count == 1 for r in results)
    if not ctx.db.is_sqlite:
        assert 1 <= after - before < 20


def test_the_body_cache_stays_within_its_byte_budget() -> None:
    bodies = Bodies(10_000)
    for i in range(50):
        bodies.put(("k", i), Entry(f"t{i}", "application/json", b"x" * 1000, float("inf")))
        assert bodies.size <= 10_000
    assert 0 < len(bodies) < 50
    assert bodies.get(("k", 49), "t49") is not None
    assert bodies.get(("k", 0), "t0") is None  # the oldest went first
    assert bodies.get(("k", 49), "t48") is None  # another version never answers
    bodies.put(("big",), Entry("t", "application/json", b"x" * 20_000, float("inf")))
    assert bodies.get(("big",), "t") is None  # larger than the whole budget: not kept


async def test_the_widget_scripts_come_compressed(api: Api) -> None:
    plain = await api.client.get("/embed.js", headers={"Accept-Encoding": "identity"})
    for accept in ("br", "gzip"):
        r = await api.client.get("/embed.js", headers={"Accept-Encoding": accept})
        assert r.headers["content-encoding"] == accept
        assert r.headers["vary"] == "Accept-Encoding"
        assert r.content == plain.content
        assert int(r.headers["content-length"]) < len(plain.content) / 2


async def test_a_read_never_joins_a_version_query_that_started_before_it(api: Api) -> None:
    """The batched path: a request that arrives while a query runs waits for the next one, so a
    write acknowledged before it arrived is never missed (the first query is held open here)."""
    await posted(api)
    versions: Versions = ctx_of(api).reads.versions
    versions._sqlite_file = None  # the batched path on both engines
    original = versions._query
    selected, release = asyncio.Event(), asyncio.Event()

    async def held(pending: dict[str, set[str]]) -> Any:
        found = await original(pending)
        if not release.is_set():
            selected.set()
            await release.wait()
        return found

    versions._query = held  # type: ignore[method-assign]
    first = asyncio.create_task(versions.get("a", ["/story"]))
    await selected.wait()
    await posted(api, text="Acknowledged while the first query was running")
    second = asyncio.create_task(versions.get("a", ["/story"]))
    await asyncio.sleep(0)  # let it queue
    release.set()
    before, after = await first, await second
    assert before["/story"].count == 1
    assert after["/story"].count == 2
    assert after["/story"].version > before["/story"].version
