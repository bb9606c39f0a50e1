"""POST /api/v1/sites/{site}/subscriptions — follow a thread, replies or the newsletter (double opt-in)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from kibitz import inputs
from kibitz.context import Context
from kibitz.subscriptions import Subscriptions, links_for
from kibitz.web.api import SiteId, client_of, ctx_of, json_response, site_of
from kibitz.web.schemas import Str, Strict


class SubscribeIn(Strict):
    email: Annotated[Str, Field(min_length=1, max_length=inputs.MAX_EMAIL)]
    topic: Literal["newsletter", "thread", "replies"]
    page: Annotated[Str, Field(min_length=1, max_length=inputs.MAX_PAGE)] | None = None
    digest: Literal["instant", "daily"] | None = "instant"


class SubscribeOut(BaseModel):
    status: str


def subscriptions_of(ctx: Context) -> Subscriptions:
    subscriptions = Subscriptions(ctx.db, links_for(ctx.tokens, ctx.settings), ctx.clock)
    subscriptions.webhooks = ctx.webhooks
    return subscriptions


async def subscribe(request: Request, site: SiteId, body: SubscribeIn) -> Response:
    """POST /api/v1/sites/{site}/subscriptions — the same 202 whatever the address; a confirmation
    mail goes out when the address is not confirmed yet (at most one an hour)."""
    ctx = ctx_of(request)
    config = site_of(ctx, site)
    answer = await subscriptions_of(ctx).subscribe(
        config, body.email, body.topic, body.page, body.digest, client_of(ctx, request)[1]
    )
    return json_response(answer, 202)
