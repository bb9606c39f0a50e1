"""`kibitz demo`: a zero-configuration sample news site on SQLite, served by the API's own process,
with a discussion seeded on the first start (the text lives in templates/demo/content.toml)."""

from __future__ import annotations

import asyncio
import re
import secrets
import signal
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import click
from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, Response

from kibitz import errors
from kibitz.app import create_app
from kibitz.comments import PostRequest
from kibitz.config import ConfigError, Settings, SiteConfig
from kibitz.context import Context, close_context, open_context
from kibitz.demo_config import DEMO_DATABASE_URL as DEMO_DATABASE_URL
from kibitz.demo_config import DEMO_SITE as DEMO_SITE
from kibitz.demo_config import MAIL_SENDER as MAIL_SENDER
from kibitz.demo_config import SITE_NAME as SITE_NAME
from kibitz.demo_config import demo_settings as demo_settings
from kibitz.demo_config import ignored_settings
from kibitz.models import Sort
from kibitz.templating import render_template
from kibitz.web import feeds
from kibitz.web.api import ctx_of, site_of

DEMO_ADMIN = "editor@daily-kibitz.example"
ADMIN_FILE = "demo-admin.txt"  # in the data directory: the demo owner's sign-in, for the next start
SEEDED_AT = "demo_seeded_at"  # meta key: when the discussion was seeded (articles are dated from it)
STATIC = Path(__file__).parent / "static"
THREAD_LIMIT = 50  # top-level comments drawn server-side, as GET .../comments.html draws them
_AGO = re.compile(r"(?:[0-9]+[dhm])+")
_AGO_PART = re.compile(r"([0-9]+)([dhm])")
_AGO_UNITS = {"d": 86400, "h": 3600, "m": 60}


# -- the content ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedComment:
    key: str
    name: str
    ago: timedelta  # before the moment of seeding
    text: str
    parent: str | None = None
    url: str | None = None
    email: str | None = None
    up: int = 0
    down: int = 0
    edit_after: timedelta | None = None
    edit: str | None = None
    delete_after: timedelta | None = None
    reports: tuple[str, ...] = ()  # readers' reports to the moderators, one reader each
    held: bool = False  # posted after its story switched to pre-moderation: it waits in the queue


@dataclass(frozen=True)
class Article:
    slug: str
    headline: str
    standfirst: str
    byline: str
    published_ago: timedelta
    paragraphs: tuple[str, ...]
    comments: tuple[SeedComment, ...]
    moderation: str | None = None  # the story's own moderation mode (its comments wait for a moderator)

    @property
    def path(self) -> str:
        """The page key of the article's thread (its URL path)."""
        return f"/articles/{self.slug}"


def _ago(value: object, where: str) -> timedelta:
    if not isinstance(value, str) or not _AGO.fullmatch(value):
        raise ValueError(f"{where}: expected a time like '2d3h' or '40m', not {value!r}")
    return timedelta(seconds=sum(int(n) * _AGO_UNITS[unit] for n, unit in _AGO_PART.findall(value)))


def _comment(raw: Mapping[str, Any], where: str) -> SeedComment:
    where = f"{where}/{raw.get('key')}"
    edit_after, delete_after = raw.get("edit_after"), raw.get("delete_after")
    return SeedComment(
        key=str(raw["key"]),
        name=str(raw["name"]),
        ago=_ago(raw["ago"], where),
        text=str(raw["text"]).strip(),
        parent=raw.get("parent"),
        url=raw.get("url"),
        email=raw.get("email"),
        up=int(raw.get("up", 0)),
        down=int(raw.get("down", 0)),
        edit_after=_ago(edit_after, where) if edit_after else None,
        edit=str(raw["edit"]).strip() if edit_after else None,
        delete_after=_ago(delete_after, where) if delete_after else None,
        reports=tuple(str(reason) for reason in raw.get("reports", [])),
        held=bool(raw.get("held", False)),
    )


def _article(raw: Mapping[str, Any]) -> Article:
    slug = str(raw["slug"])
    comments = tuple(_comment(item, slug) for item in raw.get("comments", []))
    posted: dict[str, timedelta] = {}
    for comment in sorted(comments, key=lambda c: c.ago, reverse=True):  # oldest first
        if comment.key in posted:
            raise ValueError(f"{slug}/{comment.key}: the key is used twice")
        if comment.parent is not None and posted.get(comment.parent, timedelta(0)) <= comment.ago:
            raise ValueError(f"{slug}/{comment.key}: its parent must be an earlier comment")
        posted[comment.key] = comment.ago
    body = str(raw["body"]).strip()
    return Article(
        slug=slug,
        headline=str(raw["headline"]),
        standfirst=str(raw["standfirst"]),
        byline=str(raw["byline"]),
        published_ago=_ago(raw["published_ago"], slug),
        paragraphs=tuple(" ".join(p.split()) for p in body.split("\n\n") if p.strip()),
        comments=comments,
        moderation=raw.get("moderation"),
    )


@cache
def articles() -> tuple[Article, ...]:
    """The demo's articles in front-page order; the first carries the long discussion."""
    source = resources.files("kibitz").joinpath("templates/demo/content.toml").read_text("utf-8")
    return tuple(_article(raw) for raw in tomllib.loads(source)["articles"])


def article(slug: str) -> Article | None:
    return next((a for a in articles() if a.slug == slug), None)


# -- seeding --------------------------------------------------------------------------------------


class SeedClock:
    """The clock the seeding Comments instance reads, moved by hand to each seeded act."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _already_seeded(ctx: Context, site: SiteConfig) -> bool:
    async with ctx.db.read() as tx:
        for item in articles():
            if await tx.threads.get(site.id, item.path) is not None:
                return True
    return False


async def seed(settings: Settings, *, now: datetime | None = None) -> bool:
    """Post the demo discussion unless the demo's threads exist already; True when it seeded.

    Comments are posted through the ordinary rules (markup, tree, counts), each at its own time
    on a clock set by hand, each from its own client key so that rate limits do not apply."""
    site = settings.site(DEMO_SITE)
    if site is None:
        raise errors.NotFound(f"The settings have no site {DEMO_SITE!r}")
    clock = SeedClock(now or datetime.now(UTC))
    started = clock.now
    ctx = await open_context(settings, clock=clock)
    try:
        if await _already_seeded(ctx, site):
            return False
        for item in articles():
            url = f"{settings.base_url}{item.path}"
            await _seed_article(ctx, site, item, clock, url, held=False)
            # What a publisher's CMS would do: the story's title for mail, through the publisher API's
            # rule (stories nobody has commented on get theirs from their page, read by the worker).
            await ctx.titles.set_by_publisher(site, item.path, item.headline, url, "demo")
            if item.moderation:
                await ctx.moderation.set_story_moderation(site.id, item.path, item.moderation, "demo")
                await _seed_article(ctx, site, item, clock, url, held=True)
            clock.now = started
        async with ctx.db.write() as tx:
            await tx.meta.put_if_absent(SEEDED_AT, started.isoformat())
        from kibitz.demo_feed import seed_digest  # it reads the articles from here

        await seed_digest(ctx, site, started)
        return True
    finally:
        await close_context(ctx)


async def _seed_article(
    ctx: Context, site: SiteConfig, item: Article, clock: SeedClock, url: str, *, held: bool
) -> None:
    """Post the article's comments (those marked held, or the others) at their own times."""
    comments, votes = ctx.comments, ctx.votes
    started = clock.now
    acts: list[tuple[datetime, int, SeedComment]] = []  # (when, 0 post / 1 edit / 2 delete, comment)
    for c in item.comments:
        if c.held != held:
            continue
        acts.append((started - c.ago, 0, c))
        if c.edit_after is not None:
            acts.append((started - c.ago + c.edit_after, 1, c))
        if c.delete_after is not None:
            acts.append((started - c.ago + c.delete_after, 2, c))
    ids: dict[str, int] = {}
    tokens: dict[str, str] = {}
    for when, act, c in sorted(acts, key=lambda a: (a[0], a[1])):
        clock.now = when
        if act == 0:
            posted = await comments.post(
                PostRequest(
                    site=site,
                    page=item.path,
                    text=c.text,
                    author_name=c.name,
                    author_email=c.email,
                    author_url=c.url,
                    title=item.headline,
                    url=url,
                    parent_id=ids[c.parent] if c.parent else None,
                    client=f"demo-seed:{item.slug}:{c.key}",
                )
            )
            ids[c.key], tokens[c.key] = posted.comment.id, posted.token
            for n, reason in enumerate(c.reports):
                reporter = f"demo-reporter-{n:03d}"
                await votes.flag(site, posted.comment.id, reporter, reason, f"demo-seed:{c.key}:flag{n}")
        elif act == 1:
            await comments.edit(site, ids[c.key], tokens[c.key], c.edit or c.text, f"demo-seed:{c.key}")
        else:
            await comments.delete(site, ids[c.key], tokens[c.key], f"demo-seed:{c.key}")
    clock.now = started
    for c in item.comments:
        if c.delete_after is not None or c.held != held:
            continue
        for n in range(c.up + c.down):
            reader = f"demo-reader-{n:03d}"  # one vote per reader: a distinct reader for each vote
            client = f"demo-seed:{item.slug}:{c.key}:vote{n}"
            await votes.vote(site, ids[c.key], reader, 1 if n < c.up else -1, client)


async def ensure_admin(settings: Settings, data_dir: Path) -> tuple[str, str]:
    """The demo's owner account, made on the first start with a random password kept (mode 0600) in
    the data directory; (email, password) to print."""
    path = data_dir / ADMIN_FILE
    ctx = await open_context(settings)
    try:
        if any(member.email == DEMO_ADMIN for member in await ctx.staff.listing()) and path.is_file():
            return DEMO_ADMIN, path.read_text("utf-8").strip()
        password = secrets.token_urlsafe(12)
        if any(member.email == DEMO_ADMIN for member in await ctx.staff.listing()):
            await ctx.staff.remove(DEMO_ADMIN, "demo")
        await ctx.staff.add(DEMO_ADMIN, "owner", (), password, "demo")
        path.touch(mode=0o600)
        path.write_text(password + "\n", encoding="utf-8")
        return DEMO_ADMIN, password
    finally:
        await close_context(ctx)


# -- pages ----------------------------------------------------------------------------------------


async def when_seeded(ctx: Context) -> datetime:
    async with ctx.db.read() as tx:
        value = await tx.meta.get(SEEDED_AT)
    return datetime.fromisoformat(value) if value else ctx.clock()


def _view(item: Article, seeded_at: datetime, count: int = 0) -> dict[str, Any]:
    published = seeded_at - item.published_ago
    return {
        "slug": item.slug,
        "path": item.path,
        "headline": item.headline,
        "standfirst": item.standfirst,
        "byline": item.byline,
        "paragraphs": item.paragraphs,
        "published_iso": published.date().isoformat(),
        "published_text": f"{published.day} {published:%B %Y}",
        "count": count,
        "moderated": item.moderation in ("first", "all"),
    }


def _html(body: str, status: int = 200) -> HTMLResponse:
    # Fresh on every visit: a reader who posted and reloads sees the new count and comment.
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-cache"})


def _common(ctx: Context, site: SiteConfig) -> dict[str, Any]:
    return {"site_name": site.name, "site_id": site.id, "docs": ctx.settings.public_docs}


async def front_page(request: Request) -> Response:
    """GET / — the demo's front page: every article with its comment count."""
    ctx = ctx_of(request)
    site = site_of(ctx, DEMO_SITE)
    items = articles()
    counts = await ctx.comments.counts(site, [item.path for item in items])
    seeded_at = await when_seeded(ctx)
    return _html(
        render_template(
            "demo/front.html",
            **_common(ctx, site),
            articles=[_view(item, seeded_at, counts[item.path]) for item in items],
            count_js=(STATIC / "count.js").is_file(),
        )
    )


async def article_page(request: Request, slug: str) -> Response:
    """GET /articles/{slug} — one article and its thread, server-rendered under it."""
    ctx = ctx_of(request)
    site = site_of(ctx, DEMO_SITE)
    item = article(slug)
    if item is None:
        return _html(render_template("demo/not_found.html", **_common(ctx, site)), 404)
    # The very code behind GET /api/v1/sites/demo/comments.html, called in-process.
    fragment = await feeds.thread_fragment(ctx, site, item.path, Sort.NEWEST, THREAD_LIMIT)
    return _html(
        render_template(
            "demo/article.html",
            **_common(ctx, site),
            a=_view(item, await when_seeded(ctx)),
            thread_html=fragment,
            embed_js=(STATIC / "embed.js").is_file(),
        )
    )


def build_app(settings: Settings) -> FastAPI:
    """The API app with the demo's pages mounted on it (kept out of the OpenAPI schema)."""
    app = create_app(settings)
    app.router.add_api_route("/", front_page, methods=["GET"], include_in_schema=False)
    app.router.add_api_route("/articles/{slug}", article_page, methods=["GET"], include_in_schema=False)
    from kibitz import demo_feed, demo_mail, demo_sso  # they read DEMO_SITE from here

    app.router.add_api_route("/feed.xml", demo_feed.feed_xml, methods=["GET"], include_in_schema=False)

    app.router.add_api_route("/demo/mail", demo_mail.mail_list_page, methods=["GET"], include_in_schema=False)
    app.router.add_api_route(
        "/demo/mail/{name}", demo_mail.mail_page, methods=["GET"], include_in_schema=False
    )
    app.router.add_api_route(
        "/demo/subscriber", demo_sso.subscriber_page, methods=["GET"], include_in_schema=False
    )
    return app


def run_demo(host: str, port: int, data_dir: Path, origins: Sequence[str] = ()) -> None:
    """Create the data directory, seed it on the first start, start the demo's SMTP server (its mail
    is kept in the data directory, shown at /demo/mail), then serve until Ctrl+C."""
    import uvicorn

    from kibitz.demo_mail import MailServer, mail_dir

    data_dir = data_dir.resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        mail = MailServer(mail_dir(data_dir)).start()
        settings = demo_settings(host, port, data_dir, smtp_port=mail.port, origins=origins)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(f"error: cannot create the data directory {data_dir}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    for line in ignored_settings(settings):
        click.echo(line, err=True)
    try:
        # The owner first: the held and reported comments of the seed mail them, as they would a desk.
        admin_email, admin_password = asyncio.run(ensure_admin(settings, data_dir))
        seeded = asyncio.run(seed(settings))
    except errors.KibitzError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)
    app = build_app(settings)
    click.echo(f"{'Seeded a sample discussion in' if seeded else 'Using the demo data in'} {data_dir}")
    click.echo(f"{SITE_NAME} is at {settings.base_url}/")
    [site] = settings.sites
    click.echo(f"Its widget may be embedded in pages at {', '.join(site.origins)} (add more with --origin)")
    click.echo(f"Its mail goes to 127.0.0.1:{mail.port} (SMTP): read it at {settings.base_url}/demo/mail")
    click.echo(f"Moderate it at {settings.base_url}/admin/ as {admin_email}, password {admin_password}")
    click.echo("Press Ctrl+C to stop.")
    # uvicorn stops gracefully on SIGTERM, then raises it again: a requested stop ends with status 0.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(0))
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            proxy_headers=False,
            timeout_graceful_shutdown=5,
            log_level="warning",
            http="kibitz.web.wire:KibitzHttp",  # bounded heads; cached reads on the spot (web/wire.py)
        )
    finally:
        mail.stop()
