"""The publisher's title of a page (titles.py): read from the article page on the site's own origin
through the SSRF guard, or set through the publisher API; on both engines, against a real HTTP server
on loopback (which the site allows through ``outbound_allow``, as an intranet publisher would)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kibitz.context import Context
from kibitz.store.schema import audit_log, threads
from tests.conftest import Api, FakeClock, custom_api, site_table
from tests.test_moderation import key
from tests.test_subscriptions import confirm_address, rows

pytestmark = pytest.mark.anyio

ARTICLE = b"""<!DOCTYPE html><html><head><meta charset="utf-8">
<title>Harbour works | The Daily</title>
<meta property="og:title" content="Harbour works start on Monday">
<link rel="canonical" href="/2026/harbour-works">
</head><body><h1>Harbour works</h1></body></html>"""


@dataclass
class Publisher:
    """A news site's web server: answers every path with ``pages`` (or 404) and records requests."""

    pages: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode()
        self.requests.append(path)
        status, headers, body = self.pages.get(path, (404, {"Content-Type": "text/plain"}, b"no"))
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()


@pytest.fixture
async def publisher() -> AsyncIterator[Publisher]:
    site = Publisher()
    server = await asyncio.start_server(site.handle, "127.0.0.1", 0)
    site.port = server.sockets[0].getsockname()[1]
    async with server:
        yield site


def html(body: bytes = ARTICLE) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "text/html; charset=utf-8"}, body


@contextlib.asynccontextmanager
async def on_publisher(
    tmp_path: Path, database_url: str, clock: FakeClock, publisher: Publisher, **overrides: Any
) -> AsyncIterator[Api]:
    sites = [site_table("a", publisher.origin)]
    async with custom_api(tmp_path, database_url, clock, sites=sites, **overrides) as api:
        yield api


def ctx_of(api: Api) -> Context:
    ctx: Context = api.app.state.ctx
    return ctx


async def thread_row(api: Api, page: str) -> Any:
    [row] = await rows(api, threads, page=page)
    return row


async def post(api: Api, publisher: Publisher, page: str, **extra: Any) -> None:
    r = await api.post(page=page, origin=publisher.origin, **extra)
    assert r.status_code == 201, r.text


async def test_a_new_thread_learns_its_title_from_the_article_page(
    tmp_path: Path, database_url: str, clock: FakeClock, publisher: Publisher
) -> None:
    publisher.pages["/2026/harbour-works"] = html()
    allow = {"outbound_allow": ["127.0.0.0/8"]}
    async with on_publisher(tmp_path, database_url, clock, publisher, **allow) as api:
        await post(api, publisher, "/2026/harbour-works", title="Reader's own words")
        assert (await api.thread("/2026/harbour-works"))["thread"]["title"] == "Reader's own words"
        assert await ctx_of(api).titles.run_due() == 1
        assert publisher.requests == ["/2026/harbour-works"]
        row = await thread_row(api, "/2026/harbour-works")
        assert (row.page_title, row.page_source, row.page_due) == (
            "Harbour works start on Monday",
            "page",
            None,
        )
        assert row.page_url == f"{publisher.origin}/2026/harbour-works"
        # Readers see it at once (the thread's version moved, so no cached read is stale).
        thread = (await api.thread("/2026/harbour-works"))["thread"]
        assert thread["title"] == "Harbour works start on Monday"
        # Nothing is due any more: the job reads nothing again.
        assert await ctx_of(api).titles.run_due() == 0
        assert len(publisher.requests) == 1

        # A follower's mail is named by the publisher's title.
        r = await api.client.post(
            "/api/v1/sites/a/subscriptions",
            json={"email": "ann@news.example", "topic": "thread", "page": "/2026/harbour-works"},
            headers={"Origin": publisher.origin},
        )
        assert r.status_code == 202
        await confirm_address(api, "ann@news.example")
        await post(api, publisher, "/2026/harbour-works", text="Noise at night?", author={"name": "Bob"})
        [mail] = [m for m in await rows(api) if m.kind == "thread"]
        assert mail.subject == "New comment by Bob on Harbour works start on Monday"


async def test_private_addresses_are_refused_unless_the_operator_allows_them(
    tmp_path: Path, database_url: str, clock: FakeClock, publisher: Publisher
) -> None:
    publisher.pages["/story"] = html()
    async with on_publisher(tmp_path, database_url, clock, publisher) as api:
        await post(api, publisher, "/story")
        assert await ctx_of(api).titles.run_due() == 0
        assert publisher.requests == []  # never even connected
        row = await thread_row(api, "/story")
        assert row.page_title == ""
        assert row.page_due > clock.now  # tried again later, not in a loop
        assert await ctx_of(api).titles.run_due() == 0


async def test_only_the_sites_own_origin_is_read_whatever_the_reader_sends(
    tmp_path: Path, database_url: str, clock: FakeClock, publisher: Publisher
) -> None:
    publisher.pages["/story"] = html()
    # The article redirects elsewhere: not followed off the site's origins.
    publisher.pages["/moved"] = (302, {"Location": "http://localhost:9/elsewhere"}, b"")
    allow = {"outbound_allow": ["127.0.0.0/8", "::1/128"]}
    async with on_publisher(tmp_path, database_url, clock, publisher, **allow) as api:
        # A page key that is no path, with no url on the site's origins: nothing to read.
        await post(api, publisher, "story-42")
        await post(api, publisher, "/moved")
        assert await ctx_of(api).titles.run_due() == 0
        assert publisher.requests == ["/moved"]
        assert (await thread_row(api, "story-42")).page_due is None
        assert (await thread_row(api, "/moved")).page_title == ""


async def test_the_publisher_api_sets_a_title_no_later_read_replaces(
    tmp_path: Path, database_url: str, clock: FakeClock, publisher: Publisher
) -> None:
    publisher.pages["/story"] = html()
    allow = {"outbound_allow": ["127.0.0.0/8"]}
    async with on_publisher(tmp_path, database_url, clock, publisher, **allow) as api:
        path = "/api/v1/admin/sites/a/pages"
        body = {"page": "/story", "title": "Set by the newsroom", "url": f"{publisher.origin}/story"}
        moderate = await api.client.put(path, json=body, headers=await key(api, "a", "moderate"))
        assert moderate.status_code == 403
        publish = await key(api, "a", "publish")
        r = await api.client.put(path, json=body, headers=publish)
        assert r.status_code == 200, r.text
        assert r.json() == {**body, "source": "api", "authors": []}
        off = await api.client.put(path, json={**body, "url": "https://evil.example/x"}, headers=publish)
        assert off.status_code == 422
        assert off.json()["errors"][0]["field"] == "url"
        assert (await api.client.put(path, json={"page": "/story"}, headers=publish)).status_code == 422

        # A stale read of the page later never overrides what the publisher set.
        async with ctx_of(api).db.write() as tx:
            await tx.threads.set_page_due((await thread_row(api, "/story")).id, clock.now)
        await ctx_of(api).titles.run_due()
        assert (await thread_row(api, "/story")).page_title == "Set by the newsroom"
        [entry] = await rows(api, audit_log, action="thread.page")
        assert entry.target == "thread:/story"
