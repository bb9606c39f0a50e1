"""Feed digests (DESIGN.md §3b "Newsletter"): a list that follows the publisher's feed mails its
subscribers the new articles daily or weekly, each with its comment count here and its most-voted
comments, as an issue of the list (a campaign). Nothing new: nothing sent."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from kibitz import outbound
from kibitz.campaign_render import sanitise
from kibitz.campaigns import Campaigns
from kibitz.config import ListFeed, NewsletterList, Settings, SiteConfig
from kibitz.feeds import FeedError, Fetch, fetch_feed, plain_text, policy
from kibitz.origins import origin_of
from kibitz.store.db import Database
from kibitz.store.feeds import Article
from kibitz.store.tx import Tx
from kibitz.templating import render_template

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]

EVERY = timedelta(minutes=15)  # how often the job looks for feeds to read and digests that are due
READ_EVERY = timedelta(hours=1)  # a feed read well is read again after this; a failed one next run
MAX_ARTICLES = 30  # shown in one digest; the rest go with it, counted
MAX_EXCERPT = 280  # characters of a quoted comment
AUTHOR = "feed digest"  # the campaigns' created_by


@dataclass(frozen=True)
class Quote:
    author: str
    text: str
    url: str
    score: int


@dataclass(frozen=True)
class Entry:
    title: str
    url: str
    summary: str
    comments: int
    quotes: tuple[Quote, ...]


def last_slot(feed: ListFeed, now: datetime) -> datetime:
    """The latest digest time at or before ``now``: ``hour`` o'clock UTC today or the day before,
    and for a weekly list on its weekday."""
    slot = now.replace(hour=feed.hour, minute=0, second=0, microsecond=0)
    if slot > now:
        slot -= timedelta(days=1)
    if feed.every == "weekly":
        slot -= timedelta(days=(slot.weekday() - feed.weekday) % 7)
    return slot


def article_pages(site: SiteConfig, url: str) -> list[str]:
    """The page keys a thread of this article may have: its path (without and with a trailing
    slash) and its whole address; none when it is not on one of the site's origins."""
    if not url or origin_of(url) not in site.origins:
        return []
    path = urlsplit(url).path or "/"
    return list(dict.fromkeys([path.rstrip("/") or "/", path, url]))


class FeedDigests:
    """The ``feed-digests`` job: read the followed feeds, make the digests that are due.

    Each followed feed is read about hourly (feeds.py) and the articles not seen before are recorded,
    once each. What the feed holds at the first good read is the baseline: recorded, never sent, so
    following a feed does not mail its back catalogue. At the list's time (``feed_hour`` UTC, daily or
    on ``feed_day``) the waiting articles become one issue: a campaign row (campaigns.py) made in the
    transaction that marks them sent, so an article is in exactly one digest. The campaign machinery
    enqueues the recipients (confirmed, not pausing, not suppressed, one-click unsubscribe each), and
    the issue shows in the archive, the statistics and the admin like any other.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        campaigns: Campaigns,
        clock: Clock,
        *,
        fetch: Fetch = outbound.fetch,
    ) -> None:
        self.db = db
        self.settings = settings
        self.campaigns = campaigns
        self.clock = clock
        self.fetch = fetch
        self.guard = policy(settings.outbound_allow)

    def followed(self) -> list[tuple[SiteConfig, NewsletterList, ListFeed]]:
        return [
            (site, chosen, chosen.feed)
            for site in self.settings.sites
            for chosen in site.lists
            if chosen.feed is not None
        ]

    async def run_due(self) -> int:
        """Read the feeds that are due and make the digests that are due; how many digests were made.
        One list's failure (its feed, say) is logged and leaves the others alone."""
        made = 0
        for site, chosen, feed in self.followed():
            try:
                made += await self.run_list(site, chosen, feed)
            except Exception:
                log.exception("feed digest of %s/%s failed; tried again next run", site.id, chosen.id)
        return made

    async def run_list(self, site: SiteConfig, chosen: NewsletterList, feed: ListFeed) -> int:
        now = self.clock()
        async with self.db.write() as tx:
            state = await tx.feeds.follow(site.id, chosen.id, feed.url)
        slot = last_slot(feed, now)
        since = state.last_slot or state.following_since
        digest_due = since is not None and slot > since
        read_due = (
            state.checked is None
            or state.failures > 0
            or now - state.checked >= READ_EVERY
            or now < state.checked  # the clock went back
        )
        if not (read_due or digest_due):
            return 0
        try:
            fetched = await fetch_feed(state, site.origins, guard=self.guard, fetch=self.fetch)
        except FeedError as exc:
            # Loud when it starts failing; quieter while it goes on failing every run.
            level = logging.WARNING if state.failures == 0 else logging.INFO
            log.log(level, "feed %s of %s/%s not read: %s", feed.url, site.id, chosen.id, exc.reason)
            async with self.db.write() as tx:
                await tx.feeds.read_failed(site.id, chosen.id, now, exc.reason)
            return 0  # a broken feed sends nothing; the next run tries again
        async with self.db.write() as tx:
            first = state.following_since is None
            if fetched.articles:
                status = "baseline" if first else "waiting"
                added = await tx.feeds.add_articles(site.id, chosen.id, fetched.articles, status, now)
                if added:
                    log.info("feed of %s/%s: %d new articles (%s)", site.id, chosen.id, added, status)
            await tx.feeds.read_ok(
                site.id, chosen.id, now, etag=fetched.etag, last_modified=fetched.last_modified
            )
        if not digest_due:
            return 0
        return 1 if await self.make_digest(site, chosen, feed, slot) else 0

    async def make_digest(
        self, site: SiteConfig, chosen: NewsletterList, feed: ListFeed, slot: datetime
    ) -> int | None:
        """The digest of the waiting articles as a campaign being sent, its recipients enqueued; its
        id, or None when nothing is new (the slot is then dealt with, and nothing recorded as sent)."""
        now = self.clock()
        async with self.db.write() as tx:
            state = await tx.feeds.state(site.id, chosen.id, for_update=True)
            if state is None or (state.last_slot is not None and state.last_slot >= slot):
                return None  # another run made it meanwhile
            articles = await tx.feeds.waiting(site.id, chosen.id)
            if not articles:
                await tx.feeds.slot_done(site.id, chosen.id, slot, sent=None)
                return None
            shown = articles[:MAX_ARTICLES]
            entries = [await self._entry(tx, site, article, feed.top_comments) for article in shown]
            count = len(articles)
            noun = "article" if count == 1 else "articles"
            subject = f"{chosen.name}: {count} new {noun}"
            values = {
                "entries": entries,
                "lead": f"{count} new {noun} from {site.name}",
                "more": count - len(shown),
                "more_url": site.origins[0],
            }
            body_html = sanitise(render_template("email/feed_digest_body.html", **values))
            body_text = render_template("email/feed_digest_body.txt", **values).strip()
            campaign = await tx.campaigns.add(
                site=site.id, list_id=chosen.id, subject=subject, markdown=body_text, html=body_html,
                text=body_text, send_at=None, created_by=AUTHOR, now=now,
            )  # fmt: skip
            await tx.campaigns.set_status(campaign.id, "sending", ("draft",), started=now)
            await tx.feeds.mark_sent([article.id for article in articles], campaign.id)
            await tx.feeds.slot_done(site.id, chosen.id, slot, sent=now)
        log.info("feed digest of %s/%s: campaign %d, %d articles", site.id, chosen.id, campaign.id, count)
        await self.campaigns.enqueue_all(campaign.id)
        return campaign.id

    async def _entry(self, tx: Tx, site: SiteConfig, article: Article, top: int) -> Entry:
        """An article with its comment count here and its most-voted comments (plain-text excerpts)."""
        pages = article_pages(site, article.url)
        thread = await tx.threads.for_article(site.id, pages, article.url) if pages else None
        quotes: list[Quote] = []
        if thread is not None and top:
            for comment in await tx.comments.top_voted(thread.id, top):
                quotes.append(
                    Quote(
                        author=" ".join(comment.author.name.split()) or "Anonymous",
                        text=plain_text(comment.html, MAX_EXCERPT),
                        url=f"{article.url}#comment-{comment.id}",
                        score=comment.score,
                    )
                )
        return Entry(
            title=article.title,
            url=article.url,
            summary=article.summary,
            comments=thread.count if thread is not None else 0,
            quotes=tuple(quotes),
        )
