"""Feed digests (feed_digests.py, feeds.py): a list follows the publisher's RSS or Atom feed, served
here by a real HTTP server on loopback (allowed through ``outbound_allow``), and mails its subscribers
the new articles with their comment counts and most-voted comments over a real SMTP server; on both
engines, the days moved by a FakeClock. Also: conditional GETs, weekly lists, the baseline, skipped
subscribers, markup in feeds (QUALITY T44), the SSRF guard (T46) and broken feeds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from kibitz.config import SmtpConfig, SmtpSecurity
from kibitz.context import Context
from kibitz.mailer import SmtpMailer
from kibitz.store.schema import campaigns, feed_states
from kibitz.worker import Worker, default_jobs
from tests.conftest import Api, FakeClock, custom_api, site_table
from tests.mailserver import MailServer
from tests.test_campaigns import member
from tests.test_mail_flow import body
from tests.test_subscriptions import rows

pytestmark = pytest.mark.anyio

LOOPBACK = {"outbound_allow": ["127.0.0.0/8"]}


@dataclass
class Feed:
    body: bytes
    etag: str = ""
    last_modified: str = ""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FeedServer:
    """The publisher's web server: serves ``feeds`` by path, answers a matching If-None-Match with
    304, and records each request's path and headers."""

    feeds: dict[str, Feed] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    port: int = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def asked(self, path: str) -> list[dict[str, str]]:
        return [headers for where, headers in self.requests if where == path]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request, *lines = head.strip().split("\r\n")
        path = request.split(" ")[1]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        self.requests.append((path, headers))
        feed = self.feeds.get(path, Feed(b"no such page", status=404, content_type="text/plain"))
        status, content = feed.status, feed.body
        if feed.etag and headers.get("if-none-match") == feed.etag:
            status, content = 304, b""
        out = [f"HTTP/1.1 {status} X", f"Content-Type: {feed.content_type}", "Connection: close"]
        out += [f"Content-Length: {len(content)}"]
        if feed.etag:
            out.append(f"ETag: {feed.etag}")
        if feed.last_modified:
            out.append(f"Last-Modified: {feed.last_modified}")
        out += [f"{name}: {value}" for name, value in feed.headers.items()]
        writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + content)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()


@pytest.fixture
async def publisher() -> AsyncIterator[FeedServer]:
    site = FeedServer()
    server = await asyncio.start_server(site.handle, "127.0.0.1", 0)
    site.port = server.sockets[0].getsockname()[1]
    async with server:
        yield site


def rss(*items: tuple[str, str, str, str]) -> bytes:
    """An RSS 2.0 document of (guid, title, link, description) items, already XML-escaped."""
    entries = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{title}</title><link>{link}</link>"
        f"<description>{text}</description><pubDate>Fri, 27 Nov 2026 09:00:00 GMT</pubDate></item>"
        for guid, title, link, text in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>The Daily</title>"
        f"<link>http://example.invalid/</link><description>News</description>{entries}</channel></rss>"
    ).encode()


def atom(*items: tuple[str, str, str]) -> bytes:
    """An Atom document of (id, title, relative link) entries."""
    entries = "".join(
        f"<entry><id>{entry_id}</id><title>{title}</title><link href='{link}'/>"
        f"<updated>2026-11-27T09:00:00Z</updated><summary>{title}, in short.</summary></entry>"
        for entry_id, title, link in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>The Daily</title><id>urn:daily</id><updated>2026-11-27T09:00:00Z</updated>{entries}</feed>"
    ).encode()


OLD = ("old-1", "Last week's story", "/2026/last-week", "Old news.")
HARBOUR = (
    "harbour",
    "Harbour works start on Monday",
    "/2026/harbour-works/",
    "&lt;p&gt;The &lt;b&gt;quay&lt;/b&gt; closes for a month.&lt;/p&gt;",
)
TRICKY = (
    "tricky",
    "&lt;script&gt;window.__xss=1&lt;/script&gt;Ports &amp;amp; docks",
    "/2026/ports",
    "&lt;img src=x onerror=alert(1)&gt;Fine &lt;a href='javascript:alert(2)'&gt;print&lt;/a&gt;"
    "&lt;script&gt;alert(3)&lt;/script&gt;",
)


def lists(origin: str, **daily: Any) -> list[dict[str, Any]]:
    return [
        {"id": "daily", "name": "Daily briefing", "welcome": False, "feed": f"{origin}/feed.xml",
         "feed_top_comments": 2, **daily},
        {"id": "weekly", "name": "The week", "welcome": False, "feed": f"{origin}/atom.xml",
         "feed_every": "weekly", "feed_day": "monday", "feed_hour": 8},
    ]  # fmt: skip


@contextlib.asynccontextmanager
async def on_publisher(
    tmp_path: Path, database_url: str, clock: FakeClock, publisher: FeedServer, **overrides: Any
) -> AsyncIterator[Api]:
    values: dict[str, Any] = {
        **LOOPBACK,
        "sites": [site_table("a", publisher.origin, lists=lists(publisher.origin))],
    }
    values.update(overrides)
    async with custom_api(tmp_path, database_url, clock, **values) as api:
        yield api


def ctx_of(api: Api) -> Context:
    ctx: Context = api.app.state.ctx
    return ctx


async def deliver(api: Api, server: MailServer) -> int:
    """Send everything due in the outbox to the real SMTP server, as the worker does."""
    smtp = SmtpConfig(host="127.0.0.1", port=server.port, security=SmtpSecurity.NONE, timeout=5)
    mailer = SmtpMailer(smtp)
    ctx = ctx_of(api)
    worker = Worker(ctx.db, mailer, ctx.settings, ctx.clock)
    sent = 0
    try:
        while claimed := await worker.run_once():
            sent += claimed
    finally:
        await mailer.aclose()
    return sent


async def comment(api: Api, publisher: FeedServer, page: str, name: str, text: str, votes: int) -> None:
    r = await api.post(page=page, origin=publisher.origin, text=text, author={"name": name})
    assert r.status_code == 201, r.text
    for _ in range(votes):
        v = await api.vote(r.json()["comment"]["id"], 1, origin=publisher.origin)
        assert v.status_code == 200, v.text


async def state(api: Api, list_id: str) -> Any:
    """The list's feed state as the database holds it now."""
    async with ctx_of(api).db.read() as tx:
        return (await tx.conn.execute(select(feed_states).where(feed_states.c.list == list_id))).one()


async def test_a_daily_digest_carries_the_new_articles_with_counts_and_top_comments(
    tmp_path: Path, database_url: str, clock: FakeClock, publisher: FeedServer, mail_server: MailServer
) -> None:
    publisher.feeds["/feed.xml"] = Feed(rss(OLD), etag='"v1"')
    publisher.feeds["/atom.xml"] = Feed(atom(), content_type="application/atom+xml")
    async with on_publisher(tmp_path, database_url, clock, publisher) as api:
        ctx = ctx_of(api)
        await member(api, "ann@example.org")
        await member(api, "bob@example.org")
        await member(api, "cid@example.org", status="unsubscribed")
        await member(api, "dan@example.org", paused_until=clock() + timedelta(days=30))
        await member(api, "eve@example.org")
        await member(api, "fay@example.org", "weekly")
        async with ctx.db.write() as tx:
            await tx.suppressions.add("", "eve@example.org", "complaint", "tests", clock())

        # Friday noon: the list starts following; what the feed holds already is never sent.
        assert await ctx.feed_digests.run_due() == 0
        assert await rows(api, campaigns) == []

        publisher.feeds["/feed.xml"] = Feed(rss(HARBOUR, TRICKY, OLD), etag='"v2"')
        await comment(api, publisher, "/2026/harbour-works", "Ann", "The quay **was** overdue.", 2)
        await comment(
            api, publisher, "/2026/harbour-works", "Bob", "Where do the ferries go?\n\nAsking for my aunt.", 1
        )
        await comment(api, publisher, "/2026/harbour-works", "Cid", "First!", 0)

        clock.advance(hours=19)  # Saturday 07:00 UTC, the list's hour
        worker = Worker(ctx.db, SmtpMailer(ctx.settings.smtp), ctx.settings, clock, jobs=default_jobs(ctx))
        assert await worker.run_jobs() >= 1  # the feed-digests job is one of the worker's jobs
        assert await deliver(api, mail_server) == 2
        messages = await mail_server.wait_for(2)
        assert sorted(str(m["To"]) for m in messages) == ["ann@example.org", "bob@example.org"]

        mail = mail_server.to("ann@example.org")[0]
        assert mail["Subject"] == "Daily briefing: 2 new articles"
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = body(mail).replace("\r\n", "\n")
        harbour = f"{publisher.origin}/2026/harbour-works/"
        assert "Harbour works start on Monday" in text
        assert harbour in text
        assert "The quay closes for a month." in text
        assert "3 comments" in text
        assert f"Ann (2 votes): The quay was overdue.\n    {harbour}#comment-" in text
        assert "Bob (1 vote): Where do the ferries go? Asking for my aunt." in text
        assert "First!" not in text  # nobody voted it up, and two are quoted
        assert "Last week's story" not in text  # the baseline
        assert "No comments yet" in text  # the other article

        html = body(mail, "html")
        assert f'<a href="{harbour}"' in html
        assert "Harbour works start on Monday</a>" in html
        assert "<b>" not in html
        assert "quay closes" in html
        # The feed's markup arrives as text or not at all: never as elements or handlers.
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;Ports &amp;amp; docks" in html
        for markup in ("<script", "onerror", "javascript:", "<img", "alert(3)"):
            assert markup not in html
        assert "Fine print" in html

        # The issue is in the list's archive like any campaign, once the campaigns job sees it out.
        await ctx.campaigns.run_due()
        archive = await api.client.get("/newsletter/a/daily")
        assert archive.status_code == 200
        assert "Daily briefing: 2 new articles" in archive.text

        # An hour later the feed is read again with its ETag: 304, nothing new.
        clock.advance(hours=1)
        assert await ctx.feed_digests.run_due() == 0
        assert publisher.asked("/feed.xml")[-1]["if-none-match"] == '"v2"'
        # The next morning: read again (304), due, nothing new: nothing sent, nothing recorded as sent.
        sent_before = (await state(api, "daily")).last_sent
        clock.advance(hours=23)
        assert await ctx.feed_digests.run_due() == 0
        assert (await state(api, "daily")).last_sent == sent_before

        # A feed without validators that holds the same items: read whole, still nothing new.
        publisher.feeds["/feed.xml"] = Feed(rss(TRICKY, HARBOUR, OLD))
        for _ in range(2):
            clock.advance(days=1)
            assert await ctx.feed_digests.run_due() == 0
        assert "if-none-match" not in publisher.asked("/feed.xml")[-1]  # the old ETag is forgotten
        assert len(await rows(api, campaigns, list="daily")) == 1
        assert await deliver(api, mail_server) == 0
        assert len(mail_server.messages) == 2


async def test_a_weekly_list_waits_for_its_day_and_then_a_week(
    tmp_path: Path, database_url: str, clock: FakeClock, publisher: FeedServer
) -> None:
    first = ("urn:1", "Harbour works", "/2026/harbour")
    publisher.feeds["/feed.xml"] = Feed(rss())
    publisher.feeds["/atom.xml"] = Feed(atom(first), content_type="application/atom+xml")
    async with on_publisher(tmp_path, database_url, clock, publisher) as api:
        ctx = ctx_of(api)
        await member(api, "fay@example.org", "weekly")
        assert await ctx.feed_digests.run_due() == 0  # Friday 27 Nov, 12:00: the baseline

        second = ("urn:2", "Ferry timetable", "/2026/ferries")
        publisher.feeds["/atom.xml"] = Feed(atom(second, first), content_type="application/atom+xml")
        clock.advance(hours=20)  # Saturday 08:00: a daily list's time, not the weekly one's
        assert await ctx.feed_digests.run_due() == 0
        clock.advance(days=1)  # Sunday
        assert await ctx.feed_digests.run_due() == 0
        clock.advance(days=1)  # Monday 08:00; two runs at once (two workers) make one digest
        assert sum(await asyncio.gather(ctx.feed_digests.run_due(), ctx.feed_digests.run_due())) == 1
        [issue] = await rows(api, campaigns, list="weekly")
        assert issue.subject == "The week: 1 new article"
        assert "Ferry timetable" in issue.text
        assert "Harbour works" not in issue.text
        assert f"{publisher.origin}/2026/ferries" in issue.html  # the Atom link, resolved
        [row] = await rows(api, recipient="fay@example.org")
        assert row.campaign_id == issue.id

        third = ("urn:3", "Bridge reopens", "/2026/bridge")
        publisher.feeds["/atom.xml"] = Feed(atom(third, second, first), content_type="application/atom+xml")
        for _ in range(6):  # Tuesday to Sunday: it waits
            clock.advance(days=1)
            assert await ctx.feed_digests.run_due() == 0
        clock.advance(days=1)  # the next Monday
        assert await ctx.feed_digests.run_due() == 1
        later = (await rows(api, campaigns, list="weekly"))[-1]
        assert "Bridge reopens" in later.text
        assert "Ferry timetable" not in later.text


async def test_a_feed_on_a_private_address_is_not_read_unless_allowed(
    tmp_path: Path, database_url: str, clock: FakeClock, publisher: FeedServer
) -> None:
    publisher.feeds["/feed.xml"] = Feed(rss(OLD))
    async with on_publisher(tmp_path, database_url, clock, publisher, outbound_allow=[]) as api:
        ctx = ctx_of(api)
        await member(api, "ann@example.org")
        for _ in range(3):
            assert await ctx.feed_digests.run_due() == 0
            clock.advance(days=1)
        assert publisher.requests == []  # refused before any connection
        daily = await state(api, "daily")
        assert "blocked_address" in daily.last_error
        assert daily.following_since is None
        assert await rows(api, campaigns) == []


async def test_a_broken_feed_sends_nothing_and_the_other_lists_go_on(
    tmp_path: Path, database_url: str, clock: FakeClock, publisher: FeedServer
) -> None:
    publisher.feeds["/feed.xml"] = Feed(rss(OLD))
    publisher.feeds["/atom.xml"] = Feed(atom(), content_type="application/atom+xml")
    site_lists = lists(publisher.origin, feed_hour=12)
    site_lists[1].update(feed_every="daily", feed_hour=12)  # both lists daily at noon
    sites = [site_table("a", publisher.origin, lists=site_lists)]
    async with on_publisher(tmp_path, database_url, clock, publisher, sites=sites) as api:
        ctx = ctx_of(api)
        await member(api, "ann@example.org")
        await member(api, "fay@example.org", "weekly")
        assert await ctx.feed_digests.run_due() == 0  # both baselines

        publisher.feeds["/feed.xml"] = Feed(rss(HARBOUR, OLD))
        news = ("urn:9", "Ferry timetable", "/2026/ferries")
        for broken in (
            Feed(b"<html><body>Moved to our new site!</body></html>", content_type="text/html"),
            Feed(b"gone", status=404, content_type="text/plain"),
            Feed(b"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'>" + b" " * (3 << 20)),
            Feed(b"<?xml version='1.0'?><rss version='2.0'><channel><item><title>cut"),
            Feed(b"", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}),
        ):
            publisher.feeds["/atom.xml"] = broken
            clock.advance(days=1)
            assert await ctx.feed_digests.run_due() in (0, 1)
            weekly = await state(api, "weekly")
            assert weekly.failures >= 1
            assert weekly.last_error
        assert "redirect_off_origin" in weekly.last_error  # and nothing asked of the other host
        # The good feed's digest went out on the first day; the broken one never sent a thing.
        assert [r.list for r in await rows(api, campaigns)] == ["daily"]
        assert [r.recipient for r in await rows(api)] == ["ann@example.org"]

        # Mended: read on the next run (not an hour later), and its news goes out at its time.
        publisher.feeds["/atom.xml"] = Feed(atom(news), content_type="application/atom+xml")
        clock.advance(minutes=15)
        assert await ctx.feed_digests.run_due() == 1
        assert (await state(api, "weekly")).failures == 0
        assert [r.recipient for r in await rows(api)] == ["ann@example.org", "fay@example.org"]
