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
from kibitz.web.sessions import writer_of


class SubscribeIn(Strict):
    email: Annotated[Str, Field(min_length=1, max_length=inputs.MAX_EMAIL)]
    topic: Literal["newsletter", "thread", "replies", "updates"]
    page: Annotated[Str, Field(min_length=1, max_length=inputs.MAX_PAGE)] | None = None
    digest: Literal["instant", "daily"] | None = "instant"
    # Which newsletter list (the site's first when left out); only with topic "newsletter".
    list: Annotated[Str, Field(min_length=1, max_length=64)] | None = None
    # Anti-automation, as on comments: the form's hidden field, and its form token (GET .../form).
    hp: Annotated[Str, Field(max_length=200)] | None = None
    form: Annotated[Str, Field(max_length=200)] | None = None


class SubscribeOut(BaseModel):
    status: str


def subscriptions_of(ctx: Context) -> Subscriptions:
    subscriptions = Subscriptions(ctx.db, links_for(ctx.tokens, ctx.settings), ctx.clock)
    subscriptions.webhooks = ctx.webhooks
    return subscriptions


async def subscribe(request: Request, site: SiteId, body: SubscribeIn) -> Response:
    """POST /api/v1/sites/{site}/subscriptions — the same 202 whatever the address; a confirmation
    mail goes out when the address is not confirmed yet (at most one an hour). A filled-in ``hp`` or a
    bad ``form`` token gets the same 202, and nothing is stored or sent."""
    ctx = ctx_of(request)
    config = site_of(ctx, site)
    if body.topic != "newsletter":  # following a discussion is a comment reader's write (``authors``)
        await writer_of(ctx, request, config)
    answer = await subscriptions_of(ctx).subscribe(
        config,
        body.email,
        body.topic,
        body.page,
        body.digest,
        client_of(ctx, request)[1],
        list_id=body.list,
        honeypot=body.hp or "",
        form=body.form,
    )
    return json_response(answer, 202)
