"""The webhooks API under /api/v1/admin/sites/{site}/webhooks (DESIGN.md §3b): register (the secret is
shown once), list, delete, the delivery log and resend. For an owner's session, or an API key with the
`moderate` scope of that site: a webhook sends the site's comments to another server, which a
moderator of the site alone may not decide.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request
from pydantic import Field
from starlette.responses import Response

from kibitz import errors
from kibitz.config import SiteConfig
from kibitz.staff import Principal
from kibitz.store.webhooks import Delivery, Webhook
from kibitz.web import schemas
from kibitz.web.admin_api import NO_STORE, ok
from kibitz.web.api import SiteId, ctx_of
from kibitz.web.shapes import rfc3339
from kibitz.web.staff_auth import principal

IdPath = Annotated[str, Path(alias="id", pattern=r"^[1-9][0-9]{0,17}$")]
DeliveryPath = Annotated[str, Path(alias="delivery", pattern=r"^[1-9][0-9]{0,17}$")]
Event = Literal[
    "comment.created",
    "comment.pending",
    "comment.approved",
    "comment.rejected",
    "comment.flagged",
    "subscription.confirmed",
]


class WebhookIn(schemas.Strict):
    url: Annotated[schemas.Str, Field(min_length=1, max_length=2048)]
    events: Annotated[list[Event], Field(min_length=1, max_length=20)]


def may_manage(who: Principal, site: str) -> bool:
    """Owners (every site), and API keys with the `moderate` scope of this site."""
    return who.is_owner or (who.key is not None and who.can(site, "moderate"))


async def managed_site(request: Request, site: str) -> tuple[Principal, SiteConfig]:
    """The principal and the site whose webhooks it may manage; 403 alike for a site that is not
    there and one it may not manage (an owner gets 404 for an unknown site)."""
    who = await principal(request)
    if not may_manage(who, site):
        raise errors.Forbidden("Not allowed")
    return who, ctx_of(request).moderation.site(site)


def webhook_out(hook: Webhook, counts: dict[str, int] | None = None) -> dict[str, Any]:
    """A webhook as listed: never its secret."""
    shaped: dict[str, Any] = {
        "id": str(hook.id),
        "url": hook.url,
        "events": list(hook.events),
        "created": rfc3339(hook.created),
        "created_by": hook.created_by,
    }
    if counts is not None:
        shaped["deliveries"] = counts
    return shaped


def delivery_out(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": str(delivery.id),
        "webhook": str(delivery.webhook_id),
        "event_id": delivery.event_id,  # the webhook-id header, the same on every attempt
        "type": delivery.event,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "created": rfc3339(delivery.created),
        "last_attempt": rfc3339(delivery.last_attempt) if delivery.last_attempt else None,
        "next_attempt": rfc3339(delivery.next_attempt) if delivery.status == "pending" else None,
        "delivered": rfc3339(delivery.delivered) if delivery.delivered else None,
        "response": {"status": delivery.last_code, "body": delivery.last_body}
        if delivery.last_code is not None
        else None,
        "error": delivery.last_error or None,
        "payload": json.loads(delivery.payload),
    }


async def list_webhooks(request: Request, site: SiteId) -> Response:
    """GET /api/v1/admin/sites/{site}/webhooks — the site's webhooks (without their secrets)."""
    _, config = await managed_site(request, site)
    found = await ctx_of(request).webhooks.listing(config)
    return ok({"webhooks": [webhook_out(hook, counts) for hook, counts in found]})


async def add_webhook(request: Request, site: SiteId, body: WebhookIn) -> Response:
    """POST /api/v1/admin/sites/{site}/webhooks — register a webhook; the answer shows its secret,
    once."""
    who, config = await managed_site(request, site)
    made = await ctx_of(request).webhooks.register(config, body.url, body.events, who.actor)
    return ok({"webhook": webhook_out(made.webhook), "secret": made.secret}, 201)


async def delete_webhook(request: Request, site: SiteId, hook: IdPath) -> Response:
    """DELETE /api/v1/admin/sites/{site}/webhooks/{id} — delete a webhook and its waiting deliveries."""
    who, config = await managed_site(request, site)
    await ctx_of(request).webhooks.remove(config, int(hook), who.actor)
    return Response(status_code=204, headers=NO_STORE)


async def deliveries(
    request: Request,
    site: SiteId,
    hook: IdPath,
    status: Literal["pending", "sending", "delivered", "failed"] | None = None,
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^[1-9][0-9]{0,17}$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    """GET /api/v1/admin/sites/{site}/webhooks/{id}/deliveries — the delivery log, newest first."""
    _, config = await managed_site(request, site)
    before = int(cursor) if cursor else None
    found = await ctx_of(request).webhooks.deliveries(config, int(hook), before, limit + 1, status)
    more = len(found) > limit
    found = found[:limit]
    return ok(
        {"items": [delivery_out(d) for d in found], "next": str(found[-1].id) if more and found else None}
    )


async def resend(request: Request, site: SiteId, hook: IdPath, delivery: DeliveryPath) -> Response:
    """POST /api/v1/admin/sites/{site}/webhooks/{id}/deliveries/{delivery}/resend — send it again now."""
    who, config = await managed_site(request, site)
    again = await ctx_of(request).webhooks.resend(config, int(hook), int(delivery), who.actor)
    return ok({"delivery": delivery_out(again)}, 202)
