"""Security review (issue 11), finding 4: request heads are bounded before the app, and every cache
is keyed by canonical, length-bounded values, so huge headers and queries cannot pin memory
(QUALITY T57). Finding 10's HEAD and CSP checks live here too."""

from __future__ import annotations

import asyncio
import re
import socket
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import pytest

from kibitz.origins import origin_of
from kibitz.readcache import Alias, Aliases
from kibitz.web import encoding
from kibitz.web.edge import MAX_HEAD, MAX_HEADER, MAX_HEADERS, MAX_TARGET
from tests.conftest import ORIGIN_A, Api
from tests.server import serve

pytestmark = pytest.mark.anyio
THREAD = "/api/v1/sites/a/comments?page=/story"


async def warm(api: Api) -> None:
    """One comment, and the thread read twice so its URL is on the read cache's fast path."""
    assert (await api.post()).status_code == 201
    for _ in range(2):
        assert (await api.client.get(THREAD)).status_code == 200


def assert_problem(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code
    assert r.headers["x-content-type-options"] == "nosniff"


# -- limits answered before the app ------------------------------------------------------------------


async def test_a_header_over_8_kib_is_refused_with_431_even_on_the_fast_path(api: Api) -> None:
    await warm(api)
    r = await api.client.get(THREAD, headers={"Origin": ORIGIN_A + "/" + "x" * MAX_HEADER})
    assert_problem(r, 431, "request_header_fields_too_large")
    r = await api.client.get(THREAD, headers={"Accept-Encoding": "gzip;" * (MAX_HEADER // 4)})
    assert_problem(r, 431, "request_header_fields_too_large")


async def test_headers_over_32_kib_together_are_refused_with_431(api: Api) -> None:
    headers = {f"X-Filler-{n}": "v" * (MAX_HEADER - 100) for n in range(MAX_HEADERS // MAX_HEADER + 1)}
    r = await api.client.get("/healthz", headers=headers)
    assert_problem(r, 431, "request_header_fields_too_large")
    # Just under the limits, the same request is answered.
    fits = {f"X-Filler-{n}": "v" * (MAX_HEADER - 100) for n in range(MAX_HEADERS // MAX_HEADER - 1)}
    assert (await api.client.get("/healthz", headers=fits)).status_code == 200


async def test_a_query_over_16_kib_is_refused_with_414_before_any_write(api: Api) -> None:
    r = await api.client.get(THREAD + "&x=" + "y" * MAX_TARGET)
    assert_problem(r, 414, "uri_too_long")
    r = await api.client.post(
        "/api/v1/sites/a/comments?x=" + "y" * MAX_TARGET,
        json={"page": "/story", "text": "Hi", "author": {"name": "Ann"}},
        headers={"Origin": ORIGIN_A},
    )
    assert_problem(r, 414, "uri_too_long")
    assert (await api.thread())["thread"]["count"] == 0


# -- caches keyed by canonical, bounded values -------------------------------------------------------


async def test_unknown_origins_share_one_edge_entry_on_the_fast_path(api: Api) -> None:
    await warm(api)
    reads = api.app.state.ctx.reads
    for n in range(200):
        r = await api.client.get(THREAD, headers={"Origin": f"https://evil-{n}.example"})
        assert r.status_code == 200
        assert "access-control-allow-origin" not in r.headers
    r = await api.client.get(THREAD, headers={"Origin": "https://" + "a" * 7000 + ".example"})
    assert r.status_code == 200
    r = await api.client.get(THREAD, headers={"Origin": ORIGIN_A})
    assert r.headers["access-control-allow-origin"] == ORIGIN_A
    # One entry without a grant, one per allowed origin seen: never one per Origin sent.
    assert len(reads._edge) <= 2
    assert all(origin in (None, ORIGIN_A) for _, origin in reads._edge)


async def test_an_allowed_origin_spelt_otherwise_still_gets_its_own_grant(api: Api) -> None:
    await warm(api)
    variant = ORIGIN_A.upper()
    r = await api.client.get(THREAD, headers={"Origin": variant})
    assert r.headers["access-control-allow-origin"] == variant
    assert all(origin in (None, ORIGIN_A) for _, origin in api.app.state.ctx.reads._edge)


def test_accept_encoding_is_parsed_to_a_closed_set_without_a_cache_of_raw_values() -> None:
    assert not hasattr(encoding.choose, "cache_info")  # no lru_cache keyed by what clients send
    assert encoding.choose("gzip, deflate, br, zstd") == "br"
    assert encoding.choose("x" * 7000 + ", gzip;q=0.5") == "gzip"
    assert encoding.choose("br;q=0, gzip;q=0, *;q=1") is None
    assert encoding.choose(", ".join(f"enc{n}" for n in range(1000))) is None


def test_over_long_urls_are_refused_before_urlsplit_and_its_cache() -> None:
    cached: Any = urllib.parse.urlsplit  # an lru_cache (undocumented, hence Any)
    cached.cache_clear()
    assert origin_of("https://" + "a" * 200_000 + ".example") is None
    assert cached.cache_info().currsize == 0  # nothing reached urlsplit


def test_aliases_keep_short_urls_only_and_stay_inside_their_byte_budget() -> None:
    aliases = Aliases(max_bytes=64 * 1024)
    alias = Alias("/r", "a", "/story", ("a", "/story"))
    aliases.put("/api/v1/sites/a/comments", b"page=/story&x=" + b"y" * Aliases.MAX_KEY, alias)
    assert len(aliases) == 0
    for n in range(2000):
        aliases.put("/api/v1/sites/a/comments", f"page=/story&n={n}&".encode() + b"y" * 3000, alias)
        assert aliases.size <= aliases.max_bytes
    assert 0 < len(aliases) < 30
    assert aliases.get("/api/v1/sites/a/comments", b"page=/story&n=1999&" + b"y" * 3000) == alias


async def test_the_read_cache_counts_its_aliases_inside_cache_mb(api: Api) -> None:
    reads = api.app.state.ctx.reads
    budget = api.app.state.ctx.settings.cache_mb * 1024 * 1024
    assert reads.aliases.max_bytes + reads.bodies.max_bytes == budget


# -- the real server ---------------------------------------------------------------------------------


def raw_request(port: int, head: bytes) -> bytes:
    """Send one request head on a fresh connection and read the whole answer (`Connection: close`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert match, answer[:200]
    return int(match.group(1))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def huge(kind: int, n: int, size: int) -> bytes:
    """A GET of the thread with one distinct value of ``size`` bytes: an Origin, an Accept-Encoding
    or a query string, by ``kind``."""
    filler = f"{n:06d}".encode() + b"z" * size
    target = b"/api/v1/sites/a/comments?page=/story"
    headers = b"Host: 127.0.0.1\r\nConnection: close\r\n"
    if kind == 0:
        headers += b"Origin: https://" + filler + b".example\r\n"
    elif kind == 1:
        headers += b"Accept-Encoding: gzip, " + filler + b"\r\n"
    else:
        target += b"&q=" + filler
    return b"GET " + target + b" HTTP/1.1\r\n" + headers + b"\r\n"


def post_one_comment(url: str) -> None:
    r = httpx.post(
        f"{url}/api/v1/sites/a/comments",
        json={"page": "/story", "text": "Hello", "author": {"name": "Ann"}},
        headers={"Origin": "https://news-a.example"},
    )
    assert r.status_code == 201, r.text


def rss_growth_over_huge_heads(port: int, pid: int) -> tuple[int, set[int]]:
    """KiB the worker's RSS grew by over 1,000 requests with distinct 200 KB heads and 1,000 with
    distinct 6 KB values that reach the app (measured after a short warm-up), and their statuses."""
    for n in range(60):  # warm-up: every code path and allocator arena in use once
        raw_request(port, huge(n % 3, n, 200_000))
        raw_request(port, huge(n % 3, n, 6000))
    start = rss_kib(pid)
    statuses: set[int] = set()
    for n in range(1000):
        statuses.add(status_of(raw_request(port, huge(n % 3, 1000 + n, 200_000))))
        statuses.add(status_of(raw_request(port, huge(n % 3, 1000 + n, 6000))))
    return rss_kib(pid) - start, statuses


async def test_kibitz_serve_refuses_huge_heads_with_431_and_its_memory_stays_flat(
    tmp_path: Path, database_url: str
) -> None:
    assert MAX_HEAD < 200_000
    with serve(tmp_path, database_url) as server:  # one worker: the served process is the worker
        post_one_comment(server.url)
        port = int(server.url.rsplit(":", 1)[1])
        grown, statuses = rss_growth_over_huge_heads(port, server.process.pid)
        print(f"RSS grew by {grown} KiB")
        assert grown < 10 * 1024, f"RSS grew by {grown} KiB over 2,000 requests"
        # 200 KB heads are refused by the server; 6 KB values within the limits are answered.
        assert statuses == {200, 431}
        answer = raw_request(port, huge(0, 0, 200_000))
        assert status_of(answer) == 431
        assert b"request_header_fields_too_large" in answer
        assert b"x-content-type-options: nosniff" in answer.lower()
        assert status_of(raw_request(port, huge(1, 0, 6000))) == 200


# -- HEAD and CSP (finding 10) -----------------------------------------------------------------------


async def test_head_answers_every_get_route_like_get_without_a_body(api: Api) -> None:
    await warm(api)
    for path in (
        THREAD,  # the fast path
        "/api/v1/sites/a/comments?page=/other",  # the routed path
        "/api/v1/sites/a/comments.html?page=/story",
        "/api/v1/sites/a/counts?page=/story",
        "/healthz",
        "/embed.js",
        "/confirm/not-a-token",
        "/admin/login",
    ):
        get = await api.client.get(path)
        head = await api.client.head(path)
        assert head.status_code == get.status_code != 405, path
        assert head.content == b"", path
        assert head.headers.get("content-type") == get.headers.get("content-type"), path
        assert head.headers.get("etag") == get.headers.get("etag"), path


async def test_head_on_the_event_stream_ends_after_its_headers(api: Api) -> None:
    r = await asyncio.wait_for(api.client.head("/api/v1/sites/a/events?page=/story"), timeout=30)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.content == b""


async def test_html_answers_state_a_policy_that_forbids_framing(api: Api) -> None:
    await warm(api)
    for path in ("/api/v1/sites/a/comments.html?page=/story", "/confirm/not-a-token", "/admin/login"):
        for _ in range(2):  # the routed answer, then the fast path's
            r = await api.client.get(path)
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
    fragment = await api.client.get("/api/v1/sites/a/comments.html?page=/story")
    assert fragment.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
