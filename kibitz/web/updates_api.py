"""Story updates over HTTP (DESIGN.md §3b "Story updates"): the publisher's API under
/api/v1/admin/sites/{site}/updates (a `publish` key or an owner's session) and the admin story page's
"Post an update" form."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote, urlencode

from fastapi import Query, Request
from pydantic import Field
from starlette.responses import Response

from kibitz import inputs
from kibitz.story_updates import MAX_TITLE
from kibitz.web import schemas
from kibitz.web.admin import page, posted, redirect, site_for
from kibitz.web.admin_api import ok
from kibitz.web.api import SiteId, ctx_of
from kibitz.web.staff_auth import principal, require


class UpdateIn(schemas.Strict):
    page: Annotated[schemas.Str, Field(min_length=1, max_length=inputs.MAX_PAGE)]
    kind: Literal["correction", "update", "follow-up"]
    title: Annotated[schemas.Str, Field(min_length=1, max_length=MAX_TITLE)]
    text: Annotated[schemas.Str, Field(min_length=1, max_length=inputs.MAX_TEXT)]
    url: Annotated[schemas.Str, Field(max_length=inputs.MAX_URL)] | None = None


async def post_update(request: Request, site: SiteId, body: UpdateIn) -> Response:
    """POST /api/v1/admin/sites/{site}/updates — a correction, update or follow-up to a story: 201
    with ``{"update", "notified"}``; the same words again answer the first update (200, nothing sent)."""
    who = await principal(request)
    require(who, site, "publish")
    ctx = ctx_of(request)
    config = ctx.moderation.site(site)
    done = await ctx.story_updates.post(
        config, body.page, body.kind, body.title, body.text, body.url, who.actor
    )
    answer = {"update": ctx.shaper.update(done.update), "notified": done.notified}
    return ok(answer, 201 if done.created else 200)


async def list_updates(
    request: Request, site: SiteId, page: Annotated[str, Query(min_length=1, max_length=2048)]
) -> Response:
    """GET /api/v1/admin/sites/{site}/updates?page=P — a story's updates, newest first."""
    who = await principal(request)
    require(who, site, "publish")
    ctx = ctx_of(request)
    config = ctx.moderation.site(site)
    found = await ctx.story_updates.of_story(config.id, page)
    return ok({"items": [ctx.shaper.update(update) for update in found]})


@page
async def post_update_form(request: Request) -> Response:
    """POST /admin/sites/{site}/stories/updates — the story page's "Post an update" form (fields
    ``page``, ``kind``, ``title``, ``text``, ``url``); for those who may publish on the site."""
    who, form = await posted(request)
    config = site_for(request, who)
    require(who, config.id, "publish")
    key = form.one("page", limit=inputs.MAX_PAGE + 1)
    done = await ctx_of(request).story_updates.post(
        config,
        key,
        form.one("kind", limit=20),
        form.one("title", limit=MAX_TITLE + 1),
        form.one("text", limit=inputs.MAX_TEXT + 1),
        form.one("url", limit=inputs.MAX_URL + 1) or None,
        who.actor,
    )
    told = urlencode({"updated": str(done.notified) if done.created else "again"})
    return redirect(f"/admin/sites/{config.id}/stories?page={quote(key, safe='')}&{told}#updates")
