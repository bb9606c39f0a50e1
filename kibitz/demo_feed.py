"""The demo's RSS feed of its own articles (GET /feed.xml), which its newsletter list follows, and
the digest that list made of it, seeded on the first start so that /demo/mail shows one."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime

from starlette.requests import Request
from starlette.responses import Response

from kibitz.config import SiteConfig
from kibitz.context import Context
from kibitz.demo import DEMO_SITE, Article, articles, when_seeded
from kibitz.feed_digests import last_slot
from kibitz.feeds import article_key
from kibitz.store.feeds import NewArticle
from kibitz.templating import render_template
from kibitz.web.api import ctx_of, site_of

FRESH = 2  # the newest articles the seeded digest carries; the list knew the others already
SAMPLE_READER = "reader@daily-kibitz.example"  # the seeded digest's one recipient


def guid(item: Article) -> str:
    """The article's permanent id in the feed: the same whatever address the demo listens on."""
    return f"tag:daily-kibitz.example,2026:{item.slug}"


def _newest_first() -> list[Article]:
    return sorted(articles(), key=lambda item: item.published_ago)


async def feed_xml(request: Request) -> Response:
    """GET /feed.xml — the demo's articles as RSS 2.0, newest first, as a publisher's CMS serves them."""
    ctx = ctx_of(request)
    site = site_of(ctx, DEMO_SITE)
    seeded_at = await when_seeded(ctx)
    base = ctx.settings.base_url
    items = [
        {
            "guid": guid(item),
            "title": item.headline,
            "link": f"{base}{item.path}",
            "description": item.standfirst,
            "published": format_datetime(seeded_at - item.published_ago, usegmt=True),
        }
        for item in _newest_first()
    ]
    body = render_template("demo/feed.xml", site_name=site.name, base_url=base, items=items)
    return Response(
        body, media_type="application/rss+xml; charset=utf-8", headers={"Cache-Control": "no-cache"}
    )


def _article(ctx: Context, item: Article, started: datetime) -> NewArticle:
    return NewArticle(
        key=article_key(guid(item)),
        title=item.headline,
        url=f"{ctx.settings.base_url}{item.path}",
        summary=item.standfirst,
        published=started - item.published_ago,
    )


async def seed_digest(ctx: Context, site: SiteConfig, started: datetime) -> None:
    """What the feed-digests job would have done: the list has followed the feed since the day before
    (every article but the newest known then), a sample reader subscribes, and this morning's digest
    of the newest articles is made and queued to them. The worker's later reads find nothing new."""
    chosen = site.lists[0]
    if chosen.feed is None:
        return
    newest = _newest_first()
    following = started - timedelta(days=1)
    async with ctx.db.write() as tx:
        await tx.feeds.follow(site.id, chosen.id, chosen.feed.url)
        known = [_article(ctx, item, following) for item in newest[FRESH:]]
        await tx.feeds.add_articles(site.id, chosen.id, known, "baseline", following)
        await tx.feeds.read_ok(site.id, chosen.id, following, etag=None, last_modified=None)
        fresh = [_article(ctx, item, started) for item in newest[:FRESH]]
        await tx.feeds.add_articles(site.id, chosen.id, fresh, "waiting", started)
        reader = await tx.subscribers.get_or_create(site.id, SAMPLE_READER, started)
        await tx.subscribers.set_status(reader.id, "confirmed")
        await tx.subscribers.subscribe(
            reader.id, "newsletter", None, "instant", started, pending=False, list_id=chosen.id
        )
    await ctx.feed_digests.make_digest(site, chosen, chosen.feed, last_slot(chosen.feed, started))
