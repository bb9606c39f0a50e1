"""The moderation API under /api/v1/admin (DESIGN.md §3b): queue, acts, bans, settings, threads,
spam check, stats and the audit log, for API keys (`moderate` scope) and staff sessions.

Every answer is `Cache-Control: no-store`; a principal that may not see a site gets the same 403
whether the object it names exists or not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request
from pydantic import Field
from starlette.responses import Response

from kibitz import errors, inputs, story_authors
from kibitz.config import SiteConfig
from kibitz.models import AuditEntry, Ban, QueueItem
from kibitz.staff import Principal
from kibitz.store.audit import AuditFilter
from kibitz.store.moderation import QUEUE_STATUSES, QueueFilter
from kibitz.web import schemas
from kibitz.web.api import SiteId, client_of, ctx_of, json_response
from kibitz.web.shapes import rfc3339
from kibitz.web.staff_auth import principal, require

CommentIdPath = Annotated[str, Path(alias="id", pattern=r"^[1-9][0-9]{0,17}$")]
BanIdPath = Annotated[str, Path(alias="ban", pattern=r"^[1-9][0-9]{0,17}$")]
Action = Literal["approve", "reject", "spam", "restore", "pin", "unpin", "feature", "unfeature"]
NO_STORE = {"Cache-Control": "no-store"}


class ModerateIn(schemas.Strict):
    action: Action
    reason: Annotated[schemas.Str, Field(max_length=500)] | None = None


class BulkIn(schemas.Strict):
    ids: Annotated[list[schemas.CommentId], Field(min_length=1, max_length=500)]
    action: Action


class ModEditIn(schemas.Strict):
    text: Annotated[schemas.Str, Field(min_length=1, max_length=10_000)]


class BanIn(schemas.Strict):
    kind: Literal["email", "reader", "address", "network", "name"]
    value: Annotated[schemas.Str, Field(min_length=1, max_length=320)] | None = None
    comment: schemas.CommentId | None = None
    shadow: bool = False
    expires: Annotated[schemas.Str, Field(max_length=40)] | None = None
    reason: Annotated[schemas.Str, Field(max_length=500)] | None = None


class ThreadIn(schemas.Strict):
    page: Annotated[schemas.Str, Field(min_length=1, max_length=1024)]
    closed: bool | None = None
    moderation: Literal["none", "first", "all", "site"] | None = None  # "site": the site's own


class PageIn(schemas.Strict):
    page: Annotated[schemas.Str, Field(min_length=1, max_length=1024)]
    title: Annotated[schemas.Str, Field(min_length=1, max_length=300)] | None = None
    url: Annotated[schemas.Str, Field(max_length=2048)] | None = None
    # Who wrote the story: the ``sub`` the publisher's own login gives each (story_authors.py).
    authors: (
        Annotated[list[Annotated[schemas.Str, Field(min_length=1, max_length=255)]], Field(max_length=20)]
        | None
    ) = None


class SpamCheckIn(schemas.Strict):
    page: Annotated[schemas.Str, Field(min_length=1, max_length=1024)]
    text: Annotated[schemas.Str, Field(min_length=1, max_length=10_000)]
    author: schemas.AuthorIn
    parent: schemas.CommentId | None = None


def ok(data: Any, status: int = 200) -> Response:
    return json_response(data, status, NO_STORE)


def mod_comment(request: Request, item: QueueItem) -> dict[str, Any]:
    """ModComment: the public Comment plus what moderators need (DESIGN.md §3b)."""
    ctx = ctx_of(request)
    c = item.comment
    shaped = ctx.shaper.own(c, c.status.value)
    shaped.update(
        site=c.site,
        page=item.page,
        title=item.title,
        url=item.url or None,
        email=c.author.email or None,
        flags=[{"reason": f.reason, "count": f.count} for f in item.flags],
        spam_score=round(c.spam_score, 3),
        reasons=list(c.reasons),
        featured=c.featured,
        mod_edited=c.mod_edited,
        deleted=c.deleted,
    )
    return shaped


async def _site(request: Request, site: str, *, form_csrf: str | None = None) -> tuple[Principal, SiteConfig]:
    who = await principal(request, form_csrf=form_csrf)
    require(who, site)
    return who, ctx_of(request).moderation.site(site)


async def _comment_site(request: Request, comment_id: int) -> tuple[Principal, SiteConfig]:
    """The principal and the site of a comment it may act on; 403 alike for another site's comment
    and for none at all (owners, who see every site, get 404 for a missing one)."""
    who = await principal(request)
    site_id = await ctx_of(request).moderation.site_of(comment_id)
    if site_id is None:
        if who.is_owner:
            raise errors.NotFound("No such comment")
        raise errors.Forbidden("Not allowed")
    require(who, site_id)
    return who, ctx_of(request).moderation.site(site_id)


async def queue(
    request: Request,
    site: SiteId,
    status: Literal["pending", "flagged", "spam", "rejected", "approved", "all"] = "pending",
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[str, Query(max_length=1024)] = "",
    author: Annotated[str, Query(max_length=320)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    """GET /api/v1/admin/sites/{site}/queue — comments for moderators, newest first."""
    assert status in QUEUE_STATUSES
    _, config = await _site(request, site)
    f = QueueFilter(status=status, text=q.strip(), author=author.strip().lower(), page=page.strip())
    items, next_cursor = await ctx_of(request).moderation.queue(config.id, f, cursor, limit)
    return ok({"items": [mod_comment(request, item) for item in items], "next": next_cursor})


async def moderate(request: Request, comment: CommentIdPath, body: ModerateIn) -> Response:
    """POST /api/v1/admin/comments/{id}/moderate — approve, reject, spam, restore, pin, feature."""
    who, config = await _comment_site(request, int(comment))
    item = await ctx_of(request).moderation.act(
        config, int(comment), body.action, who.actor, body.reason or ""
    )
    return ok({"comment": mod_comment(request, item)})


async def moderate_many(request: Request, site: SiteId, body: BulkIn) -> Response:
    """POST /api/v1/admin/sites/{site}/moderate — one act on many comments of a site."""
    who, config = await _site(request, site)
    done, failed = await ctx_of(request).moderation.bulk(
        config, [int(i) for i in body.ids], body.action, who.actor
    )
    return ok(
        {"done": [str(i) for i in done], "failed": [{"id": str(i), "code": code} for i, code in failed]}
    )


async def edit(request: Request, comment: CommentIdPath, body: ModEditIn) -> Response:
    """PATCH /api/v1/admin/comments/{id} — a moderator's edit (readers see it was edited)."""
    who, config = await _comment_site(request, int(comment))
    item = await ctx_of(request).moderation.edit(config, int(comment), body.text, who.actor)
    return ok({"comment": mod_comment(request, item)})


def ban_out(ban: Ban) -> dict[str, Any]:
    return {
        "id": str(ban.id),
        "kind": ban.kind.value,
        "label": ban.label,
        "shadow": ban.shadow,
        "reason": ban.reason,
        "created": rfc3339(ban.created),
        "created_by": ban.created_by,
        "expires": rfc3339(ban.expires) if ban.expires else None,
    }


async def list_bans(request: Request, site: SiteId) -> Response:
    """GET /api/v1/admin/sites/{site}/bans — the bans in force."""
    _, config = await _site(request, site)
    return ok({"bans": [ban_out(b) for b in await ctx_of(request).bans.listing(config.id)]})


def parse_expiry(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise errors.InvalidInput.field("expires", "must be an RFC 3339 time") from None
    if when.tzinfo is None:
        raise errors.InvalidInput.field("expires", "must carry a time zone")
    return when


async def add_ban(request: Request, site: SiteId, body: BanIn) -> Response:
    """POST /api/v1/admin/sites/{site}/bans — ban by value, or the author of a comment."""
    who, config = await _site(request, site)
    if (body.value is None) == (body.comment is None):
        raise errors.InvalidInput.field("value", "give either a value or a comment")
    ban = await ctx_of(request).bans.add(
        config,
        body.kind,
        actor=who.actor,
        value=body.value,
        comment_id=int(body.comment) if body.comment else None,
        shadow=body.shadow,
        expires=parse_expiry(body.expires),
        reason=body.reason or "",
    )
    return ok({"ban": ban_out(ban)}, 201)


async def lift_ban(request: Request, site: SiteId, ban: BanIdPath) -> Response:
    """DELETE /api/v1/admin/sites/{site}/bans/{ban} — lift a ban."""
    who, config = await _site(request, site)
    await ctx_of(request).bans.remove(config.id, int(ban), who.actor)
    return Response(status_code=204, headers=NO_STORE)


async def get_settings(request: Request, site: SiteId) -> Response:
    """GET /api/v1/admin/sites/{site}/settings — the site's settings as in force now."""
    _, config = await _site(request, site)
    return ok(await ctx_of(request).moderation.settings(config))


async def put_settings(request: Request, site: SiteId, body: dict[str, Any]) -> Response:
    """PUT /api/v1/admin/sites/{site}/settings — change any subset; stored values override the file."""
    who, config = await _site(request, site)
    return ok(await ctx_of(request).moderation.update_settings(config, body, who.actor))


async def set_thread(request: Request, site: SiteId, body: ThreadIn) -> Response:
    """POST /api/v1/admin/sites/{site}/threads — close or reopen a thread; set its own moderation."""
    who, config = await _site(request, site)
    moderation = ctx_of(request).moderation
    changed = False
    if body.closed is not None:
        changed = await moderation.set_closed(config.id, body.page, body.closed, who.actor)
    if body.moderation is not None:
        mode = None if body.moderation == "site" else body.moderation
        changed = await moderation.set_story_moderation(config.id, body.page, mode, who.actor) or changed
    thread = await moderation.story(config.id, body.page)
    return ok(
        {
            "page": thread.page if thread else body.page,
            "closed": bool(thread and thread.closed),
            "moderation": (thread.moderation if thread else None) or "site",
            "changed": changed,
        }
    )


async def set_page(request: Request, site: SiteId, body: PageIn) -> Response:
    """PUT /api/v1/admin/sites/{site}/pages — the publisher's title (and URL) of a page: what mail
    calls its thread from now on; a later read of the page never replaces it. ``authors``: who wrote
    it, by the ``sub`` of the publisher's login (their comments there carry "author") (``publish``)."""
    who = await principal(request)
    require(who, site, "publish")
    ctx = ctx_of(request)
    config = ctx.moderation.site(site)
    if body.title is None and body.authors is None:
        raise errors.InvalidInput.field("title", "give a title, authors, or both")
    if body.authors is not None:
        story_authors.subjects(body.authors)  # checked before anything is stored
    found = (
        await ctx.titles.set_by_publisher(config, body.page, body.title, body.url, who.actor)
        if body.title is not None
        else await ctx.moderation.story(config.id, body.page)
    )
    if body.authors is not None:
        authors = await ctx.story_authors.replace(config, body.page, body.authors, who.actor)
    else:
        authors = await ctx.story_authors.authors(config, body.page)
    return ok(
        {
            "page": found.page if found else inputs.page_key(body.page),
            "title": (found.page_title if found else "") or None,
            "url": (found.page_url if found else "") or None,
            "source": found.page_source if found else None,
            "authors": authors,
        }
    )


async def spam_check(request: Request, site: SiteId, body: SpamCheckIn) -> Response:
    """POST /api/v1/admin/sites/{site}/spam/check — what posting this now would do; writes nothing."""
    _, config = await _site(request, site)
    ctx = ctx_of(request)
    addr, _ = client_of(ctx, request)
    author = body.author
    verdict = await ctx.moderation.spam_check(
        config, body.page, body.text, author.name, author.email, addr, author.url
    )
    status = {"approved": "approve", "pending": "pending"}.get(verdict.status.value, "spam")
    return ok({"verdict": status, "score": round(verdict.spam_score, 3), "reasons": list(verdict.reasons)})


async def stats(request: Request, site: SiteId, days: Annotated[int, Query(ge=1, le=365)] = 30) -> Response:
    """GET /api/v1/admin/sites/{site}/stats — per day: posted, approved, rejected, spam, flagged."""
    _, config = await _site(request, site)
    found = await ctx_of(request).moderation.stats(config.id, days)
    now = ctx_of(request).clock()
    return ok(
        {
            "days": [
                {
                    "day": d.day.isoformat(),
                    "posted": d.posted,
                    "approved": d.approved,
                    "rejected": d.rejected,
                    "spam": d.spam,
                    "flagged": d.flagged,
                }
                for d in found.days
            ],
            "pending": found.pending,
            "flagged": found.flagged,
            "oldest_pending": rfc3339(found.oldest_pending) if found.oldest_pending else None,
            "oldest_pending_seconds": int((now - found.oldest_pending).total_seconds())
            if found.oldest_pending
            else None,
            "most_discussed": [{"page": p, "title": t, "comments": n} for p, t, n in found.most_discussed],
        }
    )


def audit_out(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "at": rfc3339(entry.at),
        "site": entry.site or None,
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "detail": entry.detail,
    }


async def audit(
    request: Request,
    site: Annotated[str, Query(max_length=64)] = "",
    actor: Annotated[str, Query(max_length=200)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    target: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^[1-9][0-9]{0,17}$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """GET /api/v1/admin/audit — the audit log, newest first (a moderator sees their sites only)."""
    who = await principal(request)
    ctx = ctx_of(request)
    if site:
        require(who, site)
    sites = None if who.is_owner else tuple(who.visible_sites([s.id for s in ctx.settings.sites]))
    f = AuditFilter(sites=sites, site=site, actor=actor, action=action, target=target)
    entries = await ctx.moderation.audit(f, int(cursor) if cursor else None, limit + 1)
    more = len(entries) > limit
    entries = entries[:limit]
    return ok(
        {"items": [audit_out(e) for e in entries], "next": str(entries[-1].id) if more and entries else None}
    )
