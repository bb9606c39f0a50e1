"""A newsletter list's public archive: the issues sent, as an HTML page, one page per issue, and an
Atom feed (DESIGN.md §3b "Newsletter"). Only sent campaigns appear; drafts, scheduled, paused and
cancelled ones answer 404 like a missing one. The issue's own links to unsubscribe and manage
(stand-ins while stored) lead to the sign-up page here: a reader of the archive has neither.
"""

from __future__ import annotations

from typing import Annotated
from xml.etree import ElementTree as ET

from fastapi import Path, Query, Request
from starlette.responses import Response

from kibitz import errors
from kibitz.campaign_render import personal
from kibitz.config import NewsletterList, SiteConfig
from kibitz.context import Context
from kibitz.store.campaigns import Campaign
from kibitz.web.api import ctx_of
from kibitz.web.feeds import ATOM, _sub
from kibitz.web.newsletter import AnySite
from kibitz.web.pages_common import chrome, message, page
from kibitz.web.shapes import rfc3339

ListPath = Annotated[str, Path(alias="list", max_length=80)]
IssuePath = Annotated[str, Path(alias="id", max_length=20)]
ARCHIVE_CACHE = "public, max-age=60"


def _base(ctx: Context) -> str:
    return ctx.settings.base_url.rstrip("/")


def _not_found(ctx: Context, site: str | None) -> Response:
    return message(chrome(ctx, site), 404, "No such newsletter", "There is nothing at this address.")


def _site(ctx: Context, site: str) -> SiteConfig | None:
    return ctx.settings.site(site) if len(site) <= 64 else None


def _body(ctx: Context, site: SiteConfig, campaign: Campaign) -> str:
    signup = f"{_base(ctx)}/newsletter/{site.id}"
    return personal(campaign.html, signup, signup, is_html=True)


def _issue_url(ctx: Context, site: SiteConfig, chosen: NewsletterList, campaign: Campaign) -> str:
    return f"{_base(ctx)}/newsletter/{site.id}/{chosen.id}/{campaign.id}"


def _when(campaign: Campaign) -> str:
    return (campaign.finished or campaign.started or campaign.created).date().isoformat()


async def archive(
    request: Request,
    site: AnySite,
    list_id: ListPath,
    format: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """GET /newsletter/{site}/{list} — the sent issues, newest first (`?format=atom`: the feed)."""
    ctx = ctx_of(request)
    config = _site(ctx, site)
    if config is None:
        return _not_found(ctx, None)
    if format == "atom":
        return await _atom(ctx, config, list_id)
    try:
        chosen, issues = await ctx.campaigns.archive(config, list_id)
    except errors.NotFound:
        return _not_found(ctx, config.id)
    shown = [
        {"subject": c.subject, "url": _issue_url(ctx, config, chosen, c), "date": _when(c)} for c in issues
    ]
    response = page(
        "pages/archive.html",
        chrome(ctx, config.id),
        list_name=chosen.name,
        description=chosen.description,
        issues=shown,
        signup_url=f"{_base(ctx)}/newsletter/{config.id}?list={chosen.id}",
        feed_url=f"{_base(ctx)}/newsletter/{config.id}/{chosen.id}.atom",
    )
    response.headers["Cache-Control"] = ARCHIVE_CACHE
    return response


async def atom(request: Request, site: AnySite, list_id: ListPath) -> Response:
    """GET /newsletter/{site}/{list}.atom — the sent issues as an Atom feed, whole issues as content."""
    ctx = ctx_of(request)
    config = _site(ctx, site)
    if config is None:
        return _not_found(ctx, None)
    return await _atom(ctx, config, list_id)


async def _atom(ctx: Context, config: SiteConfig, list_id: str) -> Response:
    try:
        chosen, issues = await ctx.campaigns.archive(config, list_id)
    except errors.NotFound:
        return _not_found(ctx, config.id)
    feed_id = f"{_base(ctx)}/newsletter/{config.id}/{chosen.id}.atom"
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed")
    _sub(root, "title", f"{chosen.name} · {config.name}")
    _sub(root, "id", feed_id)
    _sub(root, "link", rel="self", href=feed_id)
    _sub(root, "link", rel="alternate", href=f"{_base(ctx)}/newsletter/{config.id}/{chosen.id}")
    newest = issues[0].finished or issues[0].created if issues else None
    _sub(root, "updated", rfc3339(newest) if newest else "1970-01-01T00:00:00.000Z")
    for campaign in issues:
        url = _issue_url(ctx, config, chosen, campaign)
        entry = _sub(root, "entry")
        _sub(entry, "id", url)
        _sub(entry, "title", campaign.subject)
        _sub(_sub(entry, "author"), "name", config.name)
        _sub(entry, "published", rfc3339(campaign.started or campaign.created))
        _sub(entry, "updated", rfc3339(campaign.finished or campaign.created))
        _sub(entry, "link", rel="alternate", href=url)
        _sub(entry, "content", _body(ctx, config, campaign), type="html")
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(
        body, media_type="application/atom+xml; charset=utf-8", headers={"Cache-Control": ARCHIVE_CACHE}
    )


async def issue(request: Request, site: AnySite, list_id: ListPath, campaign: IssuePath) -> Response:
    """GET /newsletter/{site}/{list}/{id} — one sent issue."""
    ctx = ctx_of(request)
    config = _site(ctx, site)
    if config is None:
        return _not_found(ctx, None)
    if not campaign.isdigit() or len(campaign) > 18:
        return _not_found(ctx, config.id)
    try:
        chosen, found = await ctx.campaigns.issue(config, list_id, int(campaign))
    except errors.NotFound:
        return _not_found(ctx, config.id)
    response = page(
        "pages/issue.html",
        chrome(ctx, config.id),
        subject=found.subject,
        list_name=chosen.name,
        date=_when(found),
        body_html=_body(ctx, config, found),
        archive_url=f"{_base(ctx)}/newsletter/{config.id}/{chosen.id}",
        signup_url=f"{_base(ctx)}/newsletter/{config.id}?list={chosen.id}",
    )
    response.headers["Cache-Control"] = ARCHIVE_CACHE
    return response
