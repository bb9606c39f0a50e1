"""Server-rendered views of a thread: the Atom feed and the no-JavaScript HTML fragment."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from xml.etree import ElementTree as ET

from fastapi import Query, Request
from starlette.responses import Response

from kibitz import inputs, markup
from kibitz.config import SiteConfig
from kibitz.context import Context
from kibitz.models import Sort, Thread
from kibitz.store.story_updates import StoryUpdate
from kibitz.story_updates import KINDS
from kibitz.templating import render_template
from kibitz.web.api import Fresh, SiteId, ctx_of, site_of
from kibitz.web.shapes import rfc3339

ATOM = "http://www.w3.org/2005/Atom"
FEED_UPDATES = 20  # a thread's feed carries its newest updates beside its newest comments


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


async def atom(
    request: Request,
    site: SiteId,
    page: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,
) -> Response:
    """GET /api/v1/sites/{site}/feed.atom — newest comments of a thread, or of the whole site."""
    ctx = ctx_of(request)
    config = site_of(ctx, site)
    thread, items = await ctx.comments.recent(config, page)
    base = ctx.settings.base_url
    feed_id = f"{base}/api/v1/sites/{config.id}/feed.atom" + (f"?page={page}" if page else "")
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed")
    title = f"Comments on {thread.shown_title or thread.page}" if thread else f"Comments on {config.name}"
    if page and not thread:
        title = f"Comments on {page}"
    _sub(root, "title", title)
    _sub(root, "id", feed_id)
    _sub(root, "link", rel="self", href=feed_id)
    updates = await ctx.story_updates.latest(thread, FEED_UPDATES) if page else []
    entries: list[tuple[datetime, ET.Element]] = []
    for comment, t_page, t_title, t_url in items:
        entry = ET.Element(f"{{{ATOM}}}entry")
        _sub(entry, "id", f"{base}/api/v1/sites/{config.id}/comments/{comment.id}")
        _sub(entry, "title", f"{comment.author.name} on {t_title or t_page}")
        author = _sub(entry, "author")
        _sub(author, "name", comment.author.name)
        _sub(entry, "published", rfc3339(comment.created))
        _sub(entry, "updated", rfc3339(comment.edited or comment.created))
        if t_url:
            _sub(entry, "link", rel="alternate", href=f"{t_url}#comment-{comment.id}")
        _sub(entry, "summary", markup.plain_text(comment.html)[:280])
        _sub(entry, "content", comment.html, type="html")
        entries.append((comment.edited or comment.created, entry))
    for update in updates:
        entries.append((update.created, _update_entry(base, config, thread, update)))
    entries.sort(key=lambda found: found[0], reverse=True)
    updated = entries[0][0] if entries else (thread.created if thread else None)
    _sub(root, "updated", rfc3339(updated) if updated else "1970-01-01T00:00:00.000Z")
    root.extend(entry for _, entry in entries)
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, media_type="application/atom+xml; charset=utf-8")


def _update_entry(base: str, config: SiteConfig, thread: Thread | None, update: StoryUpdate) -> ET.Element:
    """A story update as a feed entry, by the site (staff wrote it), linking to the story."""
    entry = ET.Element(f"{{{ATOM}}}entry")
    _sub(entry, "id", f"{base}/api/v1/sites/{config.id}/updates/{update.id}")
    _sub(entry, "title", f"{KINDS.get(update.kind, 'Update')}: {update.title}")
    author = _sub(entry, "author")
    _sub(author, "name", config.name)
    _sub(entry, "category", term=update.kind)
    _sub(entry, "published", rfc3339(update.created))
    _sub(entry, "updated", rfc3339(update.created))
    link = update.url or (thread.shown_url if thread is not None else "")
    if link:
        _sub(entry, "link", rel="alternate", href=link)
    _sub(entry, "summary", markup.plain_text(update.html)[:280])
    _sub(entry, "content", update.html, type="html")
    return entry


async def thread_html(
    request: Request,
    site: SiteId,
    page: Annotated[str, Query(min_length=1, max_length=2048)],
    sort: Sort = Sort.NEWEST,
    limit: Annotated[int, Query(ge=1)] = 50,
    fresh: Fresh = None,
) -> Response:
    """GET /api/v1/sites/{site}/comments.html — the thread as an HTML fragment with schema.org
    Comment microdata, for a server-side include; the widget hydrates it. Cached per thread version."""
    ctx = ctx_of(request)
    config = site_of(ctx, site)
    key = inputs.page_key(page)
    limit = min(limit, 100)

    async def render() -> tuple[bytes, str]:
        return (await thread_fragment(ctx, config, key, sort, limit)).encode(), "text/html; charset=utf-8"

    return await ctx.reads.thread_read(request, config, key, ("html", config.id, key, sort, limit), render)


async def thread_fragment(ctx: Context, config: SiteConfig, page: str, sort: Sort, limit: int) -> str:
    """The thread's HTML fragment (what comments.html answers, and what the demo puts under articles)."""
    found = await ctx.comments.thread_page(config, page, sort, min(limit, 100), None)
    return render_template(
        "pages/thread.html",
        thread=ctx.shaper.thread(found.thread),
        comments=ctx.shaper.nodes(found.comments),
        sort=sort.value,
        site=config,
        more=found.next_cursor is not None,
    )
