"""The publisher's title and URL of each page, the only names mail gives a thread.

Anyone can post the first comment on a page and send any ``title`` and ``url`` with it; those stay
placeholders for the widget. What mail says a thread is comes from the publisher: read from the
article page itself on one of the site's own origins (through the SSRF guard in outbound.py: public
addresses only unless the operator allows more, no redirects off the site's origins, bounded in
size and time), or set through the publisher API, which a later read never overrides.

A new thread's page is due at once; the ``page-titles`` job (worker.py) reads due pages in small
batches. A page that cannot be read is tried again later, less often the older its thread; a page
read once is read again when a comment arrives more than ``REFRESH`` later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit, urlunsplit

from kibitz import errors, inputs, outbound, pagemeta
from kibitz.config import SiteConfig
from kibitz.models import Thread
from kibitz.origins import origin_of
from kibitz.store.db import Database
from kibitz.store.tx import Tx

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Fetch = Callable[..., Awaitable[outbound.Response]]

REFRESH = timedelta(days=7)  # a page read this long ago is read again on its thread's next comment
RETRY_MIN = timedelta(hours=1)
RETRY_MAX = timedelta(days=7)
BATCH = 20  # pages read per run of the job
PARALLEL = 4  # pages read at once
MAX_TITLE = 300
MAX_URL = 2048
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


@dataclass(frozen=True)
class Learned:
    """What one read of a page found: ``title`` "" when nothing usable (``reason`` says why)."""

    title: str
    url: str
    reason: str = ""


def page_address(site: SiteConfig, thread: Thread) -> str | None:
    """Where the thread's article lives on the site's own origins, or None when that cannot be told.

    The widget's ``url`` is used only when it is on one of the site's origins; otherwise a page key
    that is a path is taken on the site's first origin, and a key that is an absolute URL only when
    it is on one of them. Nothing a reader sends can point the server elsewhere."""
    for candidate in (thread.url, thread.page):
        if candidate.startswith(("http://", "https://")) and origin_of(candidate) in site.origins:
            parts = urlsplit(candidate)
            return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))
    if thread.page.startswith("/") and not thread.page.startswith("//") and site.origins:
        return site.origins[0] + quote(thread.page, safe=_PATH_SAFE)
    return None


def retry_after(thread: Thread, now: datetime) -> datetime:
    """When to try an unreadable page again: soon for a new thread, rarely for an old one."""
    age = max(now - thread.created, timedelta(0))
    return now + min(RETRY_MAX, max(RETRY_MIN, age / 2))


def clean_title(value: str) -> str:
    """A publisher-set title on one line, within the column's limit."""
    flat = " ".join(value.split())
    return flat if len(flat) <= MAX_TITLE else flat[: MAX_TITLE - 1].rstrip() + "…"


def on_origins(site: SiteConfig, url: str) -> str:
    """``url`` without its fragment if it is an http(s) URL on one of the site's origins, else ""."""
    if not url or len(url) > MAX_URL or origin_of(url) not in site.origins:
        return ""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


class Titles:
    """Reads article pages for their titles (the job) and takes titles from the publisher (the API)."""

    def __init__(
        self,
        db: Database,
        sites: Callable[[str], SiteConfig | None],
        clock: Clock,
        policy: outbound.OutboundPolicy,
        *,
        fetch: Fetch = outbound.fetch,
    ) -> None:
        self.db = db
        self.sites = sites
        self.clock = clock
        self.policy = policy
        self.fetch = fetch

    async def read_page(self, site: SiteConfig, address: str) -> Learned:
        """Fetch the page through the guard and read its title and canonical URL."""
        try:
            response = await self.fetch(address, policy=self.policy, allowed_origins=site.origins)
        except outbound.OutboundError as exc:
            return Learned("", "", exc.reason)
        if response.status != 200:
            return Learned("", "", f"status {response.status}")
        if response.content_type not in ("text/html", "application/xhtml+xml"):
            return Learned("", "", "not_html")
        meta = pagemeta.parse(response.body, base_url=response.url, charset=response.charset)
        if not meta.title:
            return Learned("", "", "no_title")
        # The page's own canonical URL when it is on the site's origins, else where it was found.
        url = on_origins(site, meta.canonical) or on_origins(site, response.url)
        return Learned(clean_title(meta.title), url)

    async def learn(self, thread: Thread) -> Learned:
        """Read one thread's page now and record the outcome."""
        site = self.sites(thread.site)
        address = page_address(site, thread) if site else None
        learned = await self.read_page(site, address) if site and address else Learned("", "", "no_address")
        now = self.clock()
        async with self.db.write() as tx:
            if learned.title:
                await tx.threads.record_page(
                    thread.id, title=learned.title, url=learned.url, source="page", now=now, due=None
                )
            else:
                due = retry_after(thread, now) if address else None
                await tx.threads.page_unreadable(thread.id, now=now, due=due)
        if not learned.title:
            log.info("page title of %s %r not learned: %s", thread.site, thread.page, learned.reason)
        return learned

    async def run_due(self, limit: int = BATCH) -> int:
        """The ``page-titles`` job: read the pages that are due; how many gave a title."""
        async with self.db.read() as tx:
            due = await tx.threads.pages_due(self.clock(), limit)
        gate = asyncio.Semaphore(PARALLEL)

        async def one(thread: Thread) -> bool:
            async with gate:
                return bool((await self.learn(thread)).title)

        return sum(await asyncio.gather(*(one(thread) for thread in due)))

    async def set_by_publisher(
        self, site: SiteConfig, page: str, title: str, url: str | None, actor: str
    ) -> Thread:
        """The publisher API: the page's title (and URL, on the site's origins) for good; the thread
        is made when it has none yet. Audited."""
        key = inputs.page_key(page)
        title = clean_title(inputs.title(title))
        if not title:
            raise errors.InvalidInput.field("title", "is required")
        address = on_origins(site, url) if url else ""
        if url and not address:
            raise errors.InvalidInput.field("url", "must be an http(s) URL on one of the site's origins")
        now = self.clock()
        async with self.db.write() as tx:
            thread = await tx.threads.get_or_create(site.id, key, "", "", now)
            recorded = await tx.threads.record_page(
                thread.id, title=title, url=address or thread.page_url, source="api", now=now, due=None
            )
            assert recorded is not None
            await tx.audit.record(
                at=now, site=site.id, actor=actor, action="thread.page", target=f"thread:{key}",
                detail={"title": recorded.page_title, "url": recorded.page_url},
            )  # fmt: skip
        return recorded


async def refresh_if_stale(tx: Tx, thread: Thread, now: datetime) -> None:
    """On a new comment: a page read long ago (never one the publisher set) becomes due again."""
    if thread.page_source == "page" and thread.page_checked and now - thread.page_checked > REFRESH:
        await tx.threads.set_page_due(thread.id, now)
