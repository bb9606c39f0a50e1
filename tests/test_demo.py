"""`kibitz demo`: the seeded discussion read through the API, the news pages, and the real command."""

from __future__ import annotations

import asyncio
import html
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from kibitz.config import Settings
from kibitz.demo import DEMO_DATABASE_URL, STATIC, articles, build_app, demo_settings, seed
from kibitz.demo_config import ignored_settings
from tests.conftest import FakeClock, PgDatabase, missing
from tests.server import KIBITZ, child_env, free_port

pytestmark = pytest.mark.anyio

LEAD = articles()[0]  # the article listed first carries the long discussion
COUNT_SPAN = re.compile(r'<span data-kibitz-count data-page="([^"]+)">(\d+) comments?</span>')


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, pg_database: PgDatabase | None) -> dict[str, Settings]:
    """One seeded demo store per engine, shared by this module's tests, which only read it.

    Seeding is the slow part (every comment and vote goes through the rules), so it is done once:
    the first seed must report that it seeded."""
    data_dir = tmp_path_factory.mktemp("demo")
    urls = {"sqlite": DEMO_DATABASE_URL}
    if pg_database is not None:
        asyncio.run(pg_database.truncate())  # whatever other modules left behind
        urls["postgresql"] = pg_database.url
    found: dict[str, Settings] = {}
    for engine, url in urls.items():
        found[engine] = demo_settings("127.0.0.1", 8000, data_dir, env={}, database_url=url)
        assert asyncio.run(seed(found[engine], now=FakeClock().now)) is True
    return found


@pytest.fixture
def demo(engine: str, stores: dict[str, Settings]) -> Settings:
    if engine not in stores:
        missing("PostgreSQL on 127.0.0.1:5432")
    return stores[engine]


@pytest.fixture
async def site(demo: Settings, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """The demo's app in-process on the seeded store."""
    # Seeds again only if another module's test emptied the shared PostgreSQL database meanwhile.
    await seed(demo, now=clock.now)
    app = build_app(demo)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            yield client


def walk(comments: list[dict[str, Any]], depth: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    for comment in comments:
        yield depth, comment
        yield from walk(comment["replies"], depth + 1)


async def thread(client: httpx.AsyncClient, page: str, **params: Any) -> dict[str, Any]:
    r = await client.get("/api/v1/sites/demo/comments", params={"page": page, **params})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def counts(client: httpx.AsyncClient) -> dict[str, int]:
    r = await client.get("/api/v1/sites/demo/counts", params={"page": [a.path for a in articles()]})
    assert r.status_code == 200, r.text
    found: dict[str, int] = r.json()["counts"]
    return found


async def test_seeded_discussion_reads_like_a_real_thread(site: httpx.AsyncClient) -> None:
    first_load = await thread(site, LEAD.path)
    assert first_load["thread"]["count"] >= 40
    assert first_load["thread"]["title"] == LEAD.headline
    assert len(first_load["comments"]) >= 10
    assert first_load["next"] is not None  # more top-level comments than one page holds

    everything = await thread(site, LEAD.path, limit=100)
    comments = list(walk(everything["comments"]))
    shown = [c for _, c in comments if not c["deleted"]]
    assert len(shown) == everything["thread"]["count"]
    assert max(depth for depth, _ in comments) >= 4
    tombstones = [c for _, c in comments if c["deleted"]]
    assert tombstones
    assert all(t["replies"] and t["author"]["name"] == "" and t["html"] == "" for t in tombstones)
    assert sum(c["score"] > 0 for c in shown) >= 20
    assert any(c["down"] > 0 for c in shown)
    assert any(c["edited"] for c in shown)
    assert len({c["author"]["name"] for c in shown}) >= 20
    created = [datetime.fromisoformat(c["created"]) for c in shown]
    assert (max(created) - min(created)).days >= 700  # relative times from minutes to two years


async def test_front_page_lists_articles_with_their_comment_counts(site: httpx.AsyncClient) -> None:
    r = await site.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    listed = {path: int(n) for path, n in COUNT_SPAN.findall(page)}
    assert list(listed) == [a.path for a in articles()]
    assert len(listed) >= 3
    assert listed == await counts(site)
    assert listed[LEAD.path] >= 40
    assert 0 in listed.values()  # one article shows the empty state
    text = html.unescape(page)
    for item in articles():
        assert f'href="{item.path}"' in page
        assert item.headline in text
        assert item.standfirst in text
    assert "<script" not in page or (STATIC / "count.js").is_file()
    assert re.search(r"""(src|href)=["']?(https?:)?//""", page) is None  # nothing fetched from elsewhere


async def test_article_page_shows_the_story_and_its_thread_server_rendered(site: httpx.AsyncClient) -> None:
    r = await site.get(LEAD.path)
    assert r.status_code == 200
    page = r.text
    text = html.unescape(page)
    assert len(LEAD.paragraphs) >= 3
    for paragraph in LEAD.paragraphs:
        assert f"<p>{paragraph}</p>" in text
    assert f'<div id="kibitz" data-site="demo" data-page="{LEAD.path}"' in page
    assert f'data-title="{LEAD.headline}"' in text
    assert len(re.findall(r'data-comment-id="\d+"', page)) >= 40
    assert 'itemtype="https://schema.org/Comment"' in page
    assert 'itemtype="https://schema.org/DiscussionForumPosting"' in page
    assert "This comment was deleted." in page
    assert "Marta Okafor" in page
    # The thread is exactly what GET .../comments.html serves.
    fragment = await site.get("/api/v1/sites/demo/comments.html", params={"page": LEAD.path, "limit": 50})
    assert fragment.status_code == 200
    assert fragment.text in page
    assert ('<script src="/embed.js" async></script>' in page) == (STATIC / "embed.js").is_file()
    sources = re.findall(r'src="([^"]+)"', page)
    assert sources
    assert all(s.startswith(("/", "http://127.0.0.1:8000/")) for s in sources)  # no third party


async def test_article_without_comments_shows_the_empty_thread(site: httpx.AsyncClient) -> None:
    quiet = next(a for a in articles() if not a.comments)
    r = await site.get(quiet.path)
    assert r.status_code == 200
    assert 'data-count="0"' in r.text
    assert 'class="kibitz-empty"' in r.text
    assert "data-comment-id" not in r.text

    missing = await site.get("/articles/no-such-story")
    assert missing.status_code == 404
    assert "couldn" in missing.text


async def test_seeding_twice_does_not_duplicate(
    site: httpx.AsyncClient, demo: Settings, clock: FakeClock
) -> None:
    before = await counts(site)
    clock.advance(days=3)
    assert await seed(demo, now=clock.now) is False
    assert await counts(site) == before
    lead = await thread(site, LEAD.path, limit=100)
    assert len(list(walk(lead["comments"]))) == len(LEAD.comments)


def test_demo_settings_follow_host_and_port(tmp_path: Path) -> None:
    settings = demo_settings("127.0.0.1", 9123, tmp_path / "data", env={})
    assert settings.base_url == "http://127.0.0.1:9123"
    assert settings.data_dir == (tmp_path / "data").resolve()
    assert settings.sqlalchemy_url.endswith(f"{(tmp_path / 'data').resolve()}/kibitz.db")
    [only] = settings.sites
    assert only.id == "demo"
    assert only.allows_origin("http://127.0.0.1:9123")
    assert only.allows_origin("http://localhost:9123")
    assert not only.allows_origin("http://127.0.0.1:8000")
    anywhere = demo_settings("0.0.0.0", 9124, tmp_path, env={})  # noqa: S104 - only a setting here
    assert anywhere.base_url == "http://127.0.0.1:9124"


def test_demo_origins_let_other_pages_embed_the_widget(tmp_path: Path) -> None:
    extra = ["http://127.0.0.1:8080", "http://LOCALHOST:9123/", "https://news.example.org"]
    settings = demo_settings("127.0.0.1", 9123, tmp_path, env={}, origins=extra)
    [only] = settings.sites
    assert only.origins == (
        "http://127.0.0.1:9123",
        "http://localhost:9123",
        "http://127.0.0.1:8080",
        "https://news.example.org",
    )
    assert not only.allows_origin("http://localhost:8080")  # another host name is another origin


def test_demo_warns_about_the_settings_it_replaces(tmp_path: Path) -> None:
    sites = '[{"id": "news", "origins": ["http://127.0.0.1:8080"]}]'
    settings = demo_settings("127.0.0.1", 9123, tmp_path, env={"KIBITZ_SITES": sites})
    assert [site.id for site in settings.sites] == ["demo"]  # replaced, and said so:
    [line] = ignored_settings(settings, {"KIBITZ_SITES": sites})
    assert line.startswith("warning: the demo ignores KIBITZ_SITES: its one site 'demo' allows its own")
    assert "--origin http://127.0.0.1:8080" in line
    assert ignored_settings(settings, {}) == []

    config = tmp_path / "kibitz.toml"
    config.write_text('data_dir = "x"\n\n[[sites]]\nid = "news"\n', encoding="utf-8")
    env = {"KIBITZ_CONFIG": str(config), "KIBITZ_SMTP__HOST": "smtp.example.org"}
    from_file = demo_settings("127.0.0.1", 9123, tmp_path, env=env)
    lines = ignored_settings(from_file, env)
    assert [line.split(": ")[:2] for line in lines] == [
        ["warning", f"the demo ignores sites in {config}"],
        ["warning", f"the demo ignores data_dir in {config}"],
        ["warning", "the demo ignores KIBITZ_SMTP__HOST"],
    ]


def test_demo_origin_must_be_an_origin() -> None:
    from click.testing import CliRunner

    from kibitz.cli import main

    result = CliRunner().invoke(main, ["demo", "--origin", "http://127.0.0.1:8080/story.html"])
    assert result.exit_code == 2
    assert "Invalid value for '--origin': must be an origin without a path" in result.stderr
    assert "e.g. http://127.0.0.1:8080" in result.stderr


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_kibitz_demo_command_serves_the_news_site(tmp_path: Path, stop: signal.Signals) -> None:
    port = free_port()
    data = tmp_path / "demo-data"
    page = f"http://127.0.0.1:{free_port()}"  # a publisher's page trying the widget
    command = [str(KIBITZ), "demo", "--port", str(port), "--data", str(data), "--origin", page]
    env = child_env(KIBITZ_SITES='[{"id": "news", "origins": ["https://news.example.org"]}]')
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        front = None
        for _ in range(600):  # up to about a minute: migrations, seeding, start-up
            try:
                front = httpx.get(f"{base}/", timeout=5)
                break
            except httpx.TransportError:
                try:
                    proc.wait(timeout=0.1)  # waits for the server, and notices if it died
                except subprocess.TimeoutExpired:
                    continue
                pytest.fail(f"kibitz demo exited early: {proc.stderr.read() if proc.stderr else ''}")
        assert front is not None, "kibitz demo did not answer"
        assert front.status_code == 200
        assert LEAD.headline in html.unescape(front.text)
        story = httpx.get(f"{base}{LEAD.path}", timeout=5)
        assert story.status_code == 200
        assert "data-comment-id" in story.text
        assert f"{base}/api/v1/avatars/" in story.text  # avatars from this server, at its own address
        assert (data / "kibitz.db").is_file()
        api = f"{base}/api/v1/sites/demo/comments"
        for origin, allowed in ((page, True), ("https://news.example.org", False)):
            r = httpx.get(api, params={"page": LEAD.path}, headers={"Origin": origin}, timeout=5)
            assert (r.headers.get("access-control-allow-origin") == origin) is allowed
    finally:
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"{base}/" in out
    assert "Press Ctrl+C to stop." in out
    assert f"Its widget may be embedded in pages at {base}, http://localhost:{port}, {page} " in out
    assert "warning: the demo ignores KIBITZ_SITES: its one site 'demo'" in err
    # The demo's owner account: its sign-in is printed, and works in the admin.
    line = next(line for line in out.splitlines() if line.startswith("Moderate it at"))
    assert f"{base}/admin/ as editor@daily-kibitz.example, password " in line
    password = line.rsplit(" ", 1)[1]
    assert (data / "demo-admin.txt").read_text().strip() == password
    assert (data / "demo-admin.txt").stat().st_mode & 0o077 == 0


async def test_the_demo_seeds_held_and_reported_comments_for_the_admin(
    site: httpx.AsyncClient, demo: Settings
) -> None:
    from kibitz.context import close_context, open_context
    from kibitz.store.moderation import QueueFilter

    moderated = next(a for a in articles() if a.moderation == "all")
    shown = await thread(site, moderated.path, limit=100)
    assert shown["thread"]["count"] == sum(not c.held for c in moderated.comments)
    page = await site.get(moderated.path)
    assert "once a moderator has approved them" in page.text
    ctx = await open_context(demo)
    try:
        pending, _ = await ctx.moderation.queue("demo", QueueFilter(status="pending"), None, 50)
        reported, _ = await ctx.moderation.queue("demo", QueueFilter(status="flagged"), None, 50)
    finally:
        await close_context(ctx)
    assert sorted(i.comment.author.name for i in pending) == sorted(
        c.name for c in moderated.comments if c.held
    )
    assert all(i.page == moderated.path for i in pending)
    assert [(f.reason, f.count) for f in reported[0].flags] == [("Off-topic", 2), ("Rude", 1)]


async def test_the_demo_list_follows_its_own_feed_and_mailed_a_digest_of_the_newest_articles(
    site: httpx.AsyncClient, demo: Settings, clock: FakeClock
) -> None:
    from kibitz import outbound
    from kibitz.context import close_context, open_context
    from kibitz.demo_feed import SAMPLE_READER
    from kibitz.feed_digests import FeedDigests
    from kibitz.store.schema import campaigns, outbox

    r = await site.get("/feed.xml")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/rss+xml")
    newest = sorted(articles(), key=lambda item: item.published_ago)
    assert re.findall(r"<title>([^<]*)</title>", html.unescape(r.text))[1:] == [
        item.headline for item in newest
    ]

    async def over_asgi(url: str, **_: Any) -> outbound.Response:
        """The worker's read of the feed, answered by the demo's app in-process."""
        answer = await site.get(url)
        headers = tuple((name.lower(), value) for name, value in answer.headers.items())
        return outbound.Response(url, answer.status_code, headers, answer.content, truncated=False)

    ctx = await open_context(demo, clock=clock)
    try:
        async with ctx.db.read() as tx:
            [issue] = (await tx.conn.execute(campaigns.select().where(campaigns.c.site == "demo"))).all()
            mails = (await tx.conn.execute(outbox.select().where(outbox.c.campaign_id == issue.id))).all()
        # An hour on, the worker reads the feed: nothing it has not seen, and the digest is done.
        clock.advance(hours=2)
        digests = FeedDigests(ctx.db, ctx.settings, ctx.campaigns, clock, fetch=over_asgi)
        assert await digests.run_due() == 0
        async with ctx.db.read() as tx:
            assert len((await tx.conn.execute(campaigns.select())).all()) == 1
            state = await tx.feeds.state("demo", "news")
        assert state is not None
        assert (state.checked, state.failures, state.last_error) == (clock(), 0, "")  # read, and well
    finally:
        await close_context(ctx)
    assert issue.subject == "The Daily Kibitz newsletter: 2 new articles"
    assert (issue.status, issue.created_by) == ("sending", "feed digest")
    assert [mail.recipient for mail in mails] == [SAMPLE_READER]
    assert newest[0].headline in mails[0].text_body
    assert newest[1].headline in mails[0].text_body
    assert newest[2].headline not in mails[0].text_body  # the list knew it before
    assert "Inês Carvalho (4 votes)" in mails[0].text_body  # the most-voted comment, quoted


async def test_the_demo_signs_its_subscribers_in_with_its_own_key(site: httpx.AsyncClient) -> None:
    """/demo/subscriber: the paper's own login, its token signed with the demo's key (docs/sign-in.md)."""
    origin = {"Origin": "http://127.0.0.1:8000"}
    signed_in: dict[str, Any] = {}
    sessions: dict[str, str] = {}
    for who in ("reader", "editor"):
        page = await site.get("/demo/subscriber", params={"as": who})
        assert page.status_code == 200
        found = re.search(r'data-sso="([A-Za-z0-9_.-]+)"', page.text)
        assert found, page.text
        r = await site.post("/api/v1/sites/demo/auth/sso", json={"token": found.group(1)}, headers=origin)
        assert r.status_code == 200, r.text
        signed_in[who] = r.json()["account"]
        sessions[who] = r.json()["session"]
    assert signed_in["reader"]["name"] == "Sam Subscriber"
    assert signed_in["reader"]["badges"] == ["verified"]
    assert signed_in["editor"]["badges"] == ["staff", "moderator", "verified"]
    # The demo site lets its login's moderators moderate from the widget: the editor does.
    assert signed_in["editor"]["moderates"] is True
    assert signed_in["reader"]["moderates"] is False
    # The paper's login says the editor wrote the story: her comment there is the author's.
    story = articles()[0].path
    for who in ("reader", "editor"):
        body = {"page": story, "text": f"A word from the {who}.", "author": {"name": "typed"}}
        r = await site.post(
            "/api/v1/sites/demo/comments", json=body, headers={**origin, "X-Kibitz-Session": sessions[who]}
        )
        assert r.status_code in (201, 202), r.text
        assert ("author" in r.json()["comment"]["author"]["badges"]) == (who == "editor")
    # Signed out on the paper's site: the widget gets an empty data-sso, which ends that session.
    nobody = await site.get("/demo/subscriber", params={"as": "none"})
    assert 'data-sso=""' in nobody.text
    # The widget's "Sign in" mails a link, which the demo's mail pages show.
    r = await site.post(
        "/api/v1/sites/demo/auth/email", json={"email": "visitor@mail.example"}, headers=origin
    )
    assert r.status_code == 202
    front = await site.get("/")
    assert 'href="/demo/subscriber"' in front.text
