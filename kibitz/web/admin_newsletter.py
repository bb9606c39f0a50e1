"""The desk's newsletter pages for a site (owners only: campaigns are the `publish` scope): the lists
with their subscribers counted, the campaigns with their figures, the campaign editor with its
preview and test mail, sending, pause, resume and cancel, and the figures the open page polls."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from starlette.responses import JSONResponse, Response

from kibitz import errors, inputs
from kibitz.campaigns import MAX_MARKDOWN, MAX_SUBJECT, Campaigns, Stats
from kibitz.config import SiteConfig
from kibitz.staff import Principal
from kibitz.store.campaigns import Campaign
from kibitz.web.admin import CSP, HEADERS, Form, ident, page, posted, query, redirect, render, site_for, staff
from kibitz.web.api import ctx_of

CAMPAIGNS_SHOWN = 50
STATUS_WORDS = {
    "draft": "Draft",
    "scheduled": "Scheduled",
    "sending": "Sending",
    "paused": "Paused",
    "sent": "Sent",
    "cancelled": "Cancelled",
}
# The page that shows a preview frames it (frame-src); the preview itself is framed by this origin only.
PAGE_HEADERS = {"Content-Security-Policy": CSP + "; frame-src 'self'"}
# The mail as it is: inline style attributes, its images, no script at all, no form, no plugin.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; form-action 'none'; "
    "frame-ancestors 'self'; base-uri 'none'; sandbox"
)
DONE = {
    "created": "Draft saved.",
    "saved": "Draft saved.",
    "tested": "Test mail queued: it arrives within a minute.",
    "sending": "Sending: the mail goes out over the next minutes.",
    "scheduled": "Scheduled.",
    "paused": "Paused: no more mail of this campaign goes out until you resume it.",
    "resumed": "Resumed.",
    "cancelled": "Cancelled: the mail not sent yet was dropped.",
}


def owners_site(request: Request, who: Principal) -> SiteConfig:
    """The site in the path, for someone who may publish on it (an owner); 403 for a moderator."""
    site = site_for(request, who)
    if not who.can(site.id, "publish"):
        raise errors.Forbidden("Only owners write and send newsletters")
    return site


def _campaign_id(request: Request) -> int:
    return ident(str(request.path_params.get("id", "")), "campaign")


def percent(stats: Stats) -> int:
    """How much of the mail queued so far has had its fate, in whole percent (never 100 too early)."""
    total = stats.campaign.total
    if total <= 0:
        return 0
    return 100 if stats.done >= total else min(99, stats.done * 100 // total)


def figures(stats: Stats) -> dict[str, Any]:
    """What the campaign page shows of a campaign's progress, and what its script polls."""
    campaign = stats.campaign
    return {
        "status": campaign.status,
        "status_text": STATUS_WORDS.get(campaign.status, campaign.status),
        "total": campaign.total,
        "done": stats.done,
        "sent": stats.sent,
        "failed": stats.failed,
        "bounced": stats.bounced,
        "unsubscribed": stats.unsubscribed,
        "waiting": stats.waiting,
        "percent": percent(stats),
        "queueing": campaign.status == "sending" and not campaign.queued,
    }


def local_time(value: datetime | None) -> str:
    """A UTC time as a datetime-local field holds it."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if value else ""


def parse_local_time(value: str) -> datetime | None:
    """A datetime-local field's value, read as UTC; None when empty."""
    value = value.strip()
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise errors.InvalidInput.field("send_at", "must be a date and time like 2026-12-01T09:30") from None
    if when.tzinfo is not None:
        raise errors.InvalidInput.field("send_at", "must be a date and time like 2026-12-01T09:30")
    return when.replace(tzinfo=UTC)


def _problem(exc: errors.KibitzError) -> str:
    if isinstance(exc, errors.InvalidInput) and exc.errors:
        return "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
    return exc.detail


# -- the overview ----------------------------------------------------------------------------------


@page
async def overview(request: Request) -> Response:
    """GET /admin/sites/{site}/newsletter — the lists with their subscribers, and the campaigns."""
    who = await staff(request)
    site = owners_site(request, who)
    campaigns = ctx_of(request).campaigns
    found = (await campaigns.of_site(site))[:CAMPAIGNS_SHOWN]
    rows = [figures(await campaigns.stats(campaign)) | {"campaign": campaign} for campaign in found]
    return render(
        request, "admin/newsletter.html", who=who, site=site, section="newsletter",
        lists=await campaigns.audience(site), rows=rows, list_names={x.id: x.name for x in site.lists},
    )  # fmt: skip


# -- writing -----------------------------------------------------------------------------------------


def _fields(form: Form) -> dict[str, str]:
    return {
        "list": form.one("list", limit=64),
        "subject": form.one("subject", limit=MAX_SUBJECT * 2),
        "markdown": form.one("markdown", limit=MAX_MARKDOWN + 1),
        "send_at": form.one("send_at", limit=40),
    }


async def _editor(
    request: Request, who: Principal, site: SiteConfig, *, values: dict[str, str], status: int = 200,
    error: str = "", campaign: Campaign | None = None,
) -> Response:  # fmt: skip
    return render(
        request, "admin/campaign.html", status=status, who=who, site=site, section="newsletter",
        campaign=campaign, values=values, error=error, lists=site.lists, headers=PAGE_HEADERS,
    )  # fmt: skip


@page
async def new(request: Request) -> Response:
    """GET /admin/sites/{site}/newsletter/new — the editor for a new campaign."""
    who = await staff(request)
    site = owners_site(request, who)
    chosen = query(request, "list", 64) or site.lists[0].id
    values = {"list": chosen, "subject": "", "markdown": "", "send_at": ""}
    return await _editor(request, who, site, values=values)


@page
async def create(request: Request) -> Response:
    """POST /admin/sites/{site}/newsletter/campaigns — save a new draft, then 303 to its page."""
    who, form = await posted(request)
    site = owners_site(request, who)
    values = _fields(form)
    try:
        made = await ctx_of(request).campaigns.create(
            site, values["list"], values["subject"], values["markdown"], parse_local_time(values["send_at"]),
            who.actor,
        )  # fmt: skip
    except errors.InvalidInput as exc:
        return await _editor(request, who, site, values=values, status=422, error=_problem(exc))
    return redirect(f"/admin/sites/{site.id}/newsletter/campaigns/{made.id}?done=created")


@page
async def save(request: Request) -> Response:
    """POST /admin/sites/{site}/newsletter/campaigns/{id} — change a draft (409 once sent)."""
    who, form = await posted(request)
    site = owners_site(request, who)
    campaigns = ctx_of(request).campaigns
    campaign = await campaigns.get(site, _campaign_id(request))
    values = _fields(form)
    try:
        await campaigns.update(
            site, campaign.id, values["list"], values["subject"], values["markdown"],
            parse_local_time(values["send_at"]), who.actor,
        )  # fmt: skip
    except errors.InvalidInput as exc:
        return await _campaign_page(
            request, who, site, campaign.id, status=422, error=_problem(exc), values=values
        )
    except errors.Conflict as exc:
        return await _campaign_page(request, who, site, campaign.id, status=409, error=_problem(exc))
    return redirect(f"/admin/sites/{site.id}/newsletter/campaigns/{campaign.id}?done=saved")


# -- one campaign ---------------------------------------------------------------------------------------


async def _campaign_page(
    request: Request, who: Principal, site: SiteConfig, campaign_id: int, *, status: int = 200,
    error: str = "", values: dict[str, str] | None = None, test_to: str = "",
) -> Response:  # fmt: skip
    campaigns: Campaigns = ctx_of(request).campaigns
    campaign = await campaigns.get(site, campaign_id)
    stats = await campaigns.stats(campaign)
    shown = values or {
        "list": campaign.list_id, "subject": campaign.subject, "markdown": campaign.markdown,
        "send_at": local_time(campaign.send_at),
    }  # fmt: skip
    now = ctx_of(request).clock()
    assert who.member is not None  # staff() refuses API keys
    return render(
        request, "admin/campaign.html", status=status, who=who, site=site, section="newsletter",
        campaign=campaign, stats=figures(stats), values=shown, error=error, lists=site.lists,
        list_names={x.id: x.name for x in site.lists}, headers=PAGE_HEADERS,
        scheduled_ahead=campaign.send_at is not None and campaign.send_at > now,
        test_to=test_to or who.member.email, done=DONE.get(query(request, "done", 20), ""),
    )  # fmt: skip


@page
async def campaign_page(request: Request) -> Response:
    """GET /admin/sites/{site}/newsletter/campaigns/{id} — a campaign: its figures (live while it is
    sent), the actions its status allows, its editor while a draft, its preview and a test mail."""
    who = await staff(request)
    site = owners_site(request, who)
    return await _campaign_page(request, who, site, _campaign_id(request))


@page
async def preview(request: Request) -> Response:
    """GET /admin/sites/{site}/newsletter/campaigns/{id}/preview — the issue's HTML mail, for the
    campaign page's sandboxed frame: no script runs in it, and only this origin may frame it."""
    who = await staff(request)
    site = owners_site(request, who)
    body = await ctx_of(request).campaigns.preview(site, _campaign_id(request))
    headers = {
        **HEADERS,
        "Content-Security-Policy": PREVIEW_CSP,
        "X-Frame-Options": "SAMEORIGIN",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)


@page
async def progress(request: Request) -> Response:
    """GET /admin/sites/{site}/newsletter/campaigns/{id}/progress — the campaign's figures as JSON,
    which its open page polls every 2 s while it is sent."""
    who = await staff(request)
    site = owners_site(request, who)
    campaigns = ctx_of(request).campaigns
    stats = await campaigns.stats(await campaigns.get(site, _campaign_id(request)))
    return JSONResponse(figures(stats), headers=HEADERS)


@page
async def send_test(request: Request) -> Response:
    """POST …/campaigns/{id}/test — mail the issue to one address (``email``), marked [Test]."""
    who, form = await posted(request)
    site = owners_site(request, who)
    campaign_id = _campaign_id(request)
    typed = form.one("email", limit=320)
    try:
        address = inputs.email(typed, "email")
        if not address:
            raise errors.InvalidInput.field("email", "an address to send the test to is needed")
        await ctx_of(request).campaigns.send_test(site, campaign_id, address, who.actor)
    except errors.InvalidInput as exc:
        return await _campaign_page(
            request, who, site, campaign_id, status=422, error=_problem(exc), test_to=typed
        )
    return redirect(f"/admin/sites/{site.id}/newsletter/campaigns/{campaign_id}?done=tested")


async def _act(request: Request, action: str) -> Response:
    who, _ = await posted(request)
    site = owners_site(request, who)
    campaign_id = _campaign_id(request)
    campaigns = ctx_of(request).campaigns
    try:
        if action == "send":
            moved = await campaigns.send(site, campaign_id, who.actor)
            done = moved.status  # sending, or scheduled
        elif action == "pause":
            await campaigns.pause(site, campaign_id, who.actor)
            done = "paused"
        elif action == "resume":
            await campaigns.resume(site, campaign_id, who.actor)
            done = "resumed"
        else:
            await campaigns.cancel(site, campaign_id, who.actor)
            done = "cancelled"
    except errors.Conflict as exc:
        return await _campaign_page(request, who, site, campaign_id, status=409, error=_problem(exc))
    return redirect(f"/admin/sites/{site.id}/newsletter/campaigns/{campaign_id}?done={done}")


@page
async def send(request: Request) -> Response:
    """POST …/campaigns/{id}/send — a draft goes out now, or at its time when that is ahead."""
    return await _act(request, "send")


@page
async def pause(request: Request) -> Response:
    """POST …/campaigns/{id}/pause — no more of its mail goes out until it is resumed."""
    return await _act(request, "pause")


@page
async def resume(request: Request) -> Response:
    """POST …/campaigns/{id}/resume — a paused campaign goes on (or waits for its time again)."""
    return await _act(request, "resume")


@page
async def cancel_page(request: Request) -> Response:
    """GET …/campaigns/{id}/cancel — asks whether to cancel, saying what that drops."""
    who = await staff(request)
    site = owners_site(request, who)
    campaigns = ctx_of(request).campaigns
    stats = await campaigns.stats(await campaigns.get(site, _campaign_id(request)))
    return render(
        request, "admin/campaign_cancel.html", who=who, site=site, section="newsletter",
        campaign=stats.campaign, stats=figures(stats),
    )  # fmt: skip


@page
async def cancel(request: Request) -> Response:
    """POST …/campaigns/{id}/cancel — stop for good: the mail not sent yet is dropped."""
    return await _act(request, "cancel")
