"""The desk's queue pages: a site's queue by tab with search, a moderator's acts on one comment or
many (plain form posts; with htmx the item is redrawn in place), per-comment history, arrivals for
an open queue, and a story's page with every comment of its thread, the close button and its updates."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from starlette.responses import Response

from kibitz import errors
from kibitz.config import SiteConfig
from kibitz.models import QueueItem, Sort
from kibitz.staff import Principal
from kibitz.store.moderation import QUEUE_STATUSES, QueueFilter
from kibitz.store.story_updates import StoryUpdate
from kibitz.story_updates import KINDS
from kibitz.web.admin import (
    Form,
    ident,
    ids,
    is_htmx,
    local_admin_path,
    page,
    posted,
    query,
    redirect,
    render,
    site_for,
    staff,
)
from kibitz.web.api import ctx_of

PER_PAGE = 25
TABS = {
    "pending": "Pending",
    "flagged": "Reported",
    "spam": "Spam",
    "rejected": "Rejected",
    "approved": "Approved",
    "all": "All",
}
ACTION_DONE = {
    "approve": "approved",
    "reject": "rejected",
    "spam": "marked as spam",
    "restore": "back in the pending queue",
    "pin": "pinned",
    "unpin": "unpinned",
    "feature": "featured",
    "unfeature": "no longer featured",
}
BULK_ACTIONS = ("approve", "reject", "spam")


def _filter(request: Request) -> QueueFilter:
    status = query(request, "status", 20) or "pending"
    if status not in QUEUE_STATUSES:
        raise errors.InvalidInput.field("status", "must be one of " + ", ".join(QUEUE_STATUSES))
    return QueueFilter(
        status=status,
        text=query(request, "q", 200),
        author=query(request, "author", 320).lower(),
        page=query(request, "page", 1024),
    )


@page
async def queue(request: Request) -> Response:
    """GET /admin/sites/{site}/queue — a tab of the queue (status, q, author, page, cursor)."""
    who = await staff(request)
    site = site_for(request, who)
    f = _filter(request)
    cursor = query(request, "cursor", 200) or None
    items, next_cursor = await ctx_of(request).moderation.queue(site.id, f, cursor, PER_PAGE)
    counts = await ctx_of(request).moderation.tab_counts(site.id)
    return render(
        request,
        "admin/queue.html",
        who=who,
        site=site,
        section="queue",
        f=f,
        tabs=TABS,
        counts=counts,
        items=items,
        next_cursor=next_cursor,
        cursor=cursor,
        bulk_actions=BULK_ACTIONS,
        live=f.status in ("pending", "flagged") and not (f.text or f.author or f.page or cursor),
    )


@page
async def arrivals(request: Request) -> Response:
    """GET /admin/sites/{site}/queue/updates?status=pending&after=ID — comments that arrived in a tab
    after the newest one on screen, as items to add on top (204 when there are none)."""
    who = await staff(request)
    site = site_for(request, who)
    status = query(request, "status", 20) or "pending"
    if status not in ("pending", "flagged"):
        raise errors.InvalidInput.field("status", "must be pending or flagged")
    after_text = query(request, "after", 20) or "0"
    after = int(after_text) if after_text.isdigit() else 0
    moderation = ctx_of(request).moderation
    items = await moderation.arrivals(site.id, status, after)
    if not items:
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    counts = await moderation.tab_counts(site.id)
    f = QueueFilter(status=status)
    return render(
        request, "admin/_arrivals.html", who=who, site=site, items=items, counts=counts, tabs=TABS, f=f,
        back=f"/admin/sites/{site.id}/queue?status={status}",
    )  # fmt: skip


async def _answer(
    request: Request, who: Principal, site: SiteConfig, form: Form, items: list[QueueItem], note: str
) -> Response:
    """After an act: with htmx, the items redrawn (and the tab counts, on a queue page); without,
    back to the page the form was on."""
    back = local_admin_path(form.one("back", limit=2000), f"/admin/sites/{site.id}/queue")
    if not is_htmx(request):
        return redirect(back)
    tab = form.one("tab", limit=20)
    counts = await ctx_of(request).moderation.tab_counts(site.id) if tab in QUEUE_STATUSES else None
    return render(
        request,
        "admin/_acted.html",
        who=who,
        site=site,
        items=items,
        note=note,
        counts=counts,
        tabs=TABS,
        f=QueueFilter(status=tab) if counts is not None else None,
        oob=form.has("bulk"),
        back=back,
        selectable=tab in QUEUE_STATUSES,
    )


@page
async def act(request: Request) -> Response:
    """POST /admin/sites/{site}/comments/{id}/moderate — approve, reject, spam, restore, pin, unpin,
    feature or unfeature one comment (form field ``action``)."""
    who, form = await posted(request)
    site = site_for(request, who)
    comment_id = ident(str(request.path_params.get("id", "")), "comment")
    action = form.one("action", limit=20)
    if action not in ACTION_DONE:
        raise errors.InvalidInput.field("action", "must be one of " + ", ".join(ACTION_DONE))
    ctx = ctx_of(request)
    item = await ctx.moderation.act(site, comment_id, action, who.actor, form.one("reason", limit=500))
    return await _answer(request, who, site, form, [item], f"Comment {comment_id} {ACTION_DONE[action]}.")


@page
async def edit(request: Request) -> Response:
    """POST /admin/sites/{site}/comments/{id}/edit — a moderator's edit of the text (form ``text``)."""
    who, form = await posted(request)
    site = site_for(request, who)
    comment_id = ident(str(request.path_params.get("id", "")), "comment")
    item = await ctx_of(request).moderation.edit(site, comment_id, form.one("text", limit=20_000), who.actor)
    return await _answer(request, who, site, form, [item], f"Comment {comment_id} edited.")


@page
async def bulk(request: Request) -> Response:
    """POST /admin/sites/{site}/bulk — one act (``action``) on the selected comments (``ids``)."""
    who, form = await posted(request)
    site = site_for(request, who)
    action = form.one("action", limit=20)
    if action not in BULK_ACTIONS:
        raise errors.InvalidInput.field("action", "must be one of " + ", ".join(BULK_ACTIONS))
    chosen = ids(form.all("ids", 20))
    ctx = ctx_of(request)
    done, failed = await ctx.moderation.bulk(site, chosen, action, who.actor)
    items = [item for item in [await ctx.moderation.item(i) for i in done] if item is not None]
    note = f"{len(done)} comment{'s' if len(done) != 1 else ''} {ACTION_DONE[action]}."
    if failed:
        note += f" {len(failed)} could not be changed."
    return await _answer(request, who, site, form, items, note)


@page
async def history(request: Request) -> Response:
    """GET /admin/sites/{site}/comments/{id}/history — every staff act on one comment."""
    who = await staff(request)
    site = site_for(request, who)
    comment_id = ident(str(request.path_params.get("id", "")), "comment")
    ctx = ctx_of(request)
    item = await ctx.moderation.item(comment_id)
    if item is None or item.comment.site != site.id:
        raise errors.NotFound("No such comment")
    entries = await ctx.moderation.history(comment_id)
    template = "admin/_history.html" if is_htmx(request) else "admin/history.html"
    return render(
        request, template, who=who, site=site, section="queue", item=item, entries=entries,
        back=f"/admin/sites/{site.id}/queue?status=all",
    )  # fmt: skip


@page
async def story(request: Request) -> Response:
    """GET /admin/sites/{site}/stories?page=P — one story's thread: its comments of every status, with
    their actions, the button that closes or reopens it, and its updates (with the form for a new one
    for those who may publish)."""
    who = await staff(request)
    site = site_for(request, who)
    key = query(request, "page", 1024)
    ctx = ctx_of(request)
    thread = None
    items: list[QueueItem] = []
    next_cursor = None
    cursor = query(request, "cursor", 200) or None
    updates: list[StoryUpdate] = []
    if key:
        thread = (await ctx.comments.thread_page(site, key, Sort.NEWEST, 1, None)).thread
        f = QueueFilter(status="all", page=thread.page)
        items, next_cursor = await ctx.moderation.queue(site.id, f, cursor, PER_PAGE)
        updates = await ctx.story_updates.of_story(site.id, thread.page)
    return render(
        request, "admin/story.html", who=who, site=site, section="stories", key=key, thread=thread,
        items=items, next_cursor=next_cursor, cursor=cursor, selectable=False, updates=updates,
        may_publish=who.can(site.id, "publish"), kinds=KINDS, updated=query(request, "updated", 12),
    )  # fmt: skip


@page
async def close(request: Request) -> Response:
    """POST /admin/sites/{site}/stories/close — close a story to new comments (``closed=1``) or reopen it."""
    who, form = await posted(request)
    site = site_for(request, who)
    key = form.one("page", limit=1024)
    closed = form.one("closed", limit=5) == "1"
    await ctx_of(request).moderation.set_closed(site.id, key, closed, who.actor)
    return redirect(f"/admin/sites/{site.id}/stories?page={quote(key, safe='')}")


@page
async def story_moderation(request: Request) -> Response:
    """POST /admin/sites/{site}/stories/moderation — a story's own moderation mode (``mode`` none,
    first, all), or ``site`` for the site's."""
    who, form = await posted(request)
    site = site_for(request, who)
    key = form.one("page", limit=1024)
    mode = form.one("mode", limit=8)
    if mode not in ("none", "first", "all", "site"):
        raise errors.InvalidInput.field("mode", "must be none, first, all or site")
    await ctx_of(request).moderation.set_story_moderation(
        site.id, key, None if mode == "site" else mode, who.actor
    )
    return redirect(f"/admin/sites/{site.id}/stories?page={quote(key, safe='')}")
