"""The desk's webhooks page for a site (owners only): the webhooks with their delivery counts, a form
to add one (its secret is shown on the answer page, once), delete, and each webhook's delivery log
with a Resend button. The rules are kibitz/webhooks.py's, as for the API."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from kibitz import errors
from kibitz.config import SiteConfig
from kibitz.staff import Principal
from kibitz.web.admin import Form, ident, page, posted, query, redirect, render, site_for, staff
from kibitz.web.api import ctx_of

LOG_PAGE = 50
EVENTS = {
    "comment.created": "A comment became public",
    "comment.pending": "A comment is held for moderation",
    "comment.approved": "A moderator approved a comment",
    "comment.rejected": "A moderator rejected a comment (or marked it as spam)",
    "comment.flagged": "A reader reported a comment",
    "subscription.confirmed": "A reader confirmed a subscription",
}


def _owners_site(request: Request, who: Principal) -> SiteConfig:
    site = site_for(request, who)
    if not who.is_owner:  # a webhook sends the site's comments elsewhere: the owners' decision
        raise errors.Forbidden("Only owners manage webhooks")
    return site


async def _list_page(
    request: Request, who: Principal, site: SiteConfig, *, status: int = 200, error: str = "",
    form: Form | None = None, secret: str = "", made: int | None = None,
) -> Response:  # fmt: skip
    hooks = await ctx_of(request).webhooks.listing(site)
    return render(
        request, "admin/webhooks.html", status=status, who=who, site=site, section="webhooks",
        hooks=hooks, events=EVENTS, error=error, values=form.fields if form else {}, secret=secret,
        made=made, done=query(request, "done", 20),
    )  # fmt: skip


@page
async def webhooks(request: Request) -> Response:
    """GET /admin/sites/{site}/webhooks — the site's webhooks, and the form to add one."""
    who = await staff(request)
    return await _list_page(request, who, _owners_site(request, who))


@page
async def add(request: Request) -> Response:
    """POST /admin/sites/{site}/webhooks — add a webhook; the answer shows its secret, this once."""
    who, form = await posted(request)
    site = _owners_site(request, who)
    chosen = form.all("events", limit=40)
    try:
        made = await ctx_of(request).webhooks.register(site, form.one("url", limit=4096), chosen, who.actor)
    except errors.InvalidInput as exc:
        message = "; ".join(f"{e.field}: {e.message}" for e in exc.errors) or exc.detail
        return await _list_page(request, who, site, status=422, error=message, form=form)
    return await _list_page(request, who, site, secret=made.secret, made=made.webhook.id)


@page
async def delete(request: Request) -> Response:
    """POST /admin/sites/{site}/webhooks/{id}/delete — delete a webhook (nothing more is sent to it)."""
    who, _ = await posted(request)
    site = _owners_site(request, who)
    hook = ident(str(request.path_params.get("id", "")), "webhook")
    await ctx_of(request).webhooks.remove(site, hook, who.actor)
    return redirect(f"/admin/sites/{site.id}/webhooks?done=deleted")


@page
async def deliveries(request: Request) -> Response:
    """GET /admin/sites/{site}/webhooks/{id} — a webhook's delivery log, newest first (``?before=``
    pages back)."""
    who = await staff(request)
    site = _owners_site(request, who)
    hooks = ctx_of(request).webhooks
    hook = await hooks.get(site, ident(str(request.path_params.get("id", "")), "webhook"))
    before_text = query(request, "before", 20)
    before = int(before_text) if before_text.isdigit() and len(before_text) < 19 else None
    found = await hooks.deliveries(site, hook.id, before, LOG_PAGE + 1)
    more = len(found) > LOG_PAGE
    found = found[:LOG_PAGE]
    return render(
        request, "admin/webhooks.html", who=who, site=site, section="webhooks", hook=hook,
        log=found, events=EVENTS, next_before=found[-1].id if more and found else None,
        done=query(request, "done", 20),
    )  # fmt: skip


@page
async def resend(request: Request) -> Response:
    """POST /admin/sites/{site}/webhooks/{id}/deliveries/{delivery}/resend — send a delivery again
    now, with the same webhook-id and body."""
    who, _ = await posted(request)
    site = _owners_site(request, who)
    hook = ident(str(request.path_params.get("id", "")), "webhook")
    delivery = ident(str(request.path_params.get("delivery", "")), "delivery")
    await ctx_of(request).webhooks.resend(site, hook, delivery, who.actor)
    return redirect(f"/admin/sites/{site.id}/webhooks/{hook}?done=resent")
