"""The campaigns API under /api/v1/admin/sites/{site}/campaigns (DESIGN.md §3b "Newsletter"): write a
newsletter issue, mail a test of it, send or schedule it, pause, resume, cancel, and read how its mail
fared. For an API key with the `publish` scope of the site, or an owner's session; anyone else gets
the same 403 whether the campaign exists or not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Request
from pydantic import Field
from starlette.responses import Response

from kibitz import errors, inputs
from kibitz.campaigns import MAX_MARKDOWN, MAX_SUBJECT, Stats
from kibitz.config import SiteConfig
from kibitz.staff import Principal
from kibitz.store.campaigns import Campaign
from kibitz.web import schemas
from kibitz.web.admin_api import ok
from kibitz.web.api import SiteId, ctx_of
from kibitz.web.shapes import rfc3339
from kibitz.web.staff_auth import principal, require

IdPath = Annotated[str, Path(alias="id", pattern=r"^[1-9][0-9]{0,17}$")]


class CampaignIn(schemas.Strict):
    list: Annotated[schemas.Str, Field(min_length=1, max_length=64)]
    subject: Annotated[schemas.Str, Field(min_length=1, max_length=MAX_SUBJECT)]
    markdown: Annotated[schemas.Str, Field(max_length=MAX_MARKDOWN)]
    send_at: Annotated[schemas.Str, Field(max_length=40)] | None = None


class CampaignPatch(schemas.Strict):
    """A draft's fields to change; those left out stay (``send_at`` null clears the time)."""

    list: Annotated[schemas.Str, Field(min_length=1, max_length=64)] | None = None
    subject: Annotated[schemas.Str, Field(min_length=1, max_length=MAX_SUBJECT)] | None = None
    markdown: Annotated[schemas.Str, Field(max_length=MAX_MARKDOWN)] | None = None
    send_at: Annotated[schemas.Str, Field(max_length=40)] | None = None


class TestIn(schemas.Strict):
    email: Annotated[schemas.Str, Field(min_length=3, max_length=320)] | None = None


async def _site(request: Request, site: str) -> tuple[Principal, SiteConfig]:
    who = await principal(request)
    require(who, site, "publish")
    return who, ctx_of(request).moderation.site(site)


def parse_time(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise errors.InvalidInput.field(field, "must be an RFC 3339 time") from None
    if when.tzinfo is None:
        raise errors.InvalidInput.field(field, "must carry a time zone")
    return when


def campaign_out(campaign: Campaign, stats: Stats | None = None) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "id": str(campaign.id),
        "status": campaign.status,
        "list": campaign.list_id,
        "subject": campaign.subject,
        "send_at": rfc3339(campaign.send_at) if campaign.send_at else None,
        "created": rfc3339(campaign.created),
        "created_by": campaign.created_by,
        "started": rfc3339(campaign.started) if campaign.started else None,
        "finished": rfc3339(campaign.finished) if campaign.finished else None,
        "total": campaign.total,
    }
    if stats is not None:
        shaped.update(
            sent=stats.sent, failed=stats.failed, bounced=stats.bounced, unsubscribed=stats.unsubscribed
        )
    return shaped


async def _with_stats(request: Request, campaign: Campaign, status: int = 200) -> Response:
    stats = await ctx_of(request).campaigns.stats(campaign)
    return ok(campaign_out(campaign, stats), status)


async def create(request: Request, site: SiteId, body: CampaignIn) -> Response:
    """POST /api/v1/admin/sites/{site}/campaigns — a draft; 201 with the campaign."""
    who, config = await _site(request, site)
    send_at = parse_time(body.send_at, "send_at")
    campaign = await ctx_of(request).campaigns.create(
        config, body.list, body.subject, body.markdown, send_at, who.actor
    )
    return await _with_stats(request, campaign, 201)


async def list_campaigns(request: Request, site: SiteId) -> Response:
    """GET /api/v1/admin/sites/{site}/campaigns — newest first (counts: GET one campaign)."""
    _, config = await _site(request, site)
    found = await ctx_of(request).campaigns.of_site(config)
    return ok({"items": [campaign_out(item) for item in found]})


async def get_campaign(request: Request, site: SiteId, campaign: IdPath) -> Response:
    _, config = await _site(request, site)
    return await _with_stats(request, await ctx_of(request).campaigns.get(config, int(campaign)))


async def update(request: Request, site: SiteId, campaign: IdPath, body: CampaignPatch) -> Response:
    """PATCH /api/v1/admin/sites/{site}/campaigns/{id} — change a draft; 409 once it is sent."""
    who, config = await _site(request, site)
    campaigns = ctx_of(request).campaigns
    found = await campaigns.get(config, int(campaign))
    given = body.model_fields_set
    send_at = parse_time(body.send_at, "send_at") if "send_at" in given else found.send_at
    changed = await campaigns.update(
        config,
        found.id,
        body.list if body.list is not None else found.list_id,
        body.subject if body.subject is not None else found.subject,
        body.markdown if body.markdown is not None else found.markdown,
        send_at,
        who.actor,
    )
    return await _with_stats(request, changed)


async def send_test(request: Request, site: SiteId, campaign: IdPath, body: TestIn | None = None) -> Response:
    """POST …/campaigns/{id}/test — mail the issue to one address: the body's ``email``, else the
    signed-in staff member's own; 202."""
    who, config = await _site(request, site)
    address = inputs.email(body.email if body is not None else None, "email")
    if not address and who.member is not None:
        address = who.member.email
    if not address:
        raise errors.InvalidInput.field("email", "an address to send the test to is needed")
    await ctx_of(request).campaigns.send_test(config, int(campaign), address, who.actor)
    return ok({"sent_to": address}, 202)


async def send(request: Request, site: SiteId, campaign: IdPath) -> Response:
    """POST …/campaigns/{id}/send — now, or at its ``send_at`` (then "scheduled")."""
    who, config = await _site(request, site)
    return await _with_stats(request, await ctx_of(request).campaigns.send(config, int(campaign), who.actor))


async def pause(request: Request, site: SiteId, campaign: IdPath) -> Response:
    who, config = await _site(request, site)
    return await _with_stats(request, await ctx_of(request).campaigns.pause(config, int(campaign), who.actor))


async def resume(request: Request, site: SiteId, campaign: IdPath) -> Response:
    who, config = await _site(request, site)
    found = await ctx_of(request).campaigns.resume(config, int(campaign), who.actor)
    return await _with_stats(request, found)


async def cancel(request: Request, site: SiteId, campaign: IdPath) -> Response:
    who, config = await _site(request, site)
    found = await ctx_of(request).campaigns.cancel(config, int(campaign), who.actor)
    return await _with_stats(request, found)
