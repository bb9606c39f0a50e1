"""Signing up to a site's newsletter: the lists as JSON (for newsletter.js), and the sign-up form that
works without JavaScript: a page of our own, and the form post a publisher's page may send.

Every answer to a sign-up is the same whatever the address (QUALITY T37), and the same when the
hidden field is filled or the form token is bad (then nothing is stored or sent).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Path, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from kibitz import errors, guard, inputs, newsletter
from kibitz.config import SiteConfig
from kibitz.context import Context
from kibitz.origins import MAX_URL, origin_of
from kibitz.web.api import SiteId, client_of, ctx_of, json_response, site_of
from kibitz.web.pages_common import Chrome, chrome, message, page, read_form
from kibitz.web.subscribe import subscriptions_of

LISTS_CACHE = "public, max-age=300"  # lists change only with the configuration
AnySite = Annotated[str, Path()]  # checked in the handler: a bad one gets the 404 page
FIELDS = ("email", "list", "hp", "form")


class ListOut(BaseModel):
    id: str
    name: str
    description: str


class ListsOut(BaseModel):
    lists: list[ListOut]


async def lists(request: Request, site: SiteId) -> Response:
    """GET /api/v1/sites/{site}/lists — the site's newsletter lists, the default first:
    `{"lists": [{"id", "name", "description"}]}`."""
    config = site_of(ctx_of(request), site)
    shown = [{"id": item.id, "name": item.name, "description": item.description} for item in config.lists]
    return json_response({"lists": shown}, headers={"Cache-Control": LISTS_CACHE})


def _site(ctx: Context, site: str) -> SiteConfig | None:
    return ctx.settings.site(site) if len(site) <= 64 else None


def _no_site(ctx: Context) -> Response:
    return message(chrome(ctx, None), 404, "No such newsletter", "There is no newsletter at this address.")


def _action(request: Request, site: SiteConfig) -> str:
    return f"{request.scope.get('root_path', '')}/newsletter/{site.id}/subscribe"


async def signup_page(
    request: Request, site: AnySite, list_id: Annotated[str | None, Query(alias="list")] = None
) -> Response:
    """GET /newsletter/{site} — a sign-up page of our own that the publisher may link to: the form,
    drawn here, works without JavaScript (`?list=ID` chooses a list beforehand)."""
    ctx = ctx_of(request)
    config = _site(ctx, site)
    if config is None:
        return _no_site(ctx)
    chosen = next((item for item in config.lists if item.id == list_id), config.lists[0])
    return page(
        "pages/signup.html",
        chrome(ctx, config.id),
        site_name=config.name,
        lists=config.lists,
        chosen=chosen.id,
        action=_action(request, config),
        form=guard.issue_form_token(ctx.tokens, config.id, ctx.clock()),
    )


def _from_the_site(ctx: Context, config: SiteConfig, request: Request) -> bool:
    """Sent by a page of the site (one of its origins) or by our own sign-up page: ``Sec-Fetch-Site:
    same-origin``, else the ``Origin``, else (no Origin, or "null") the ``Referer``'s origin."""
    if request.headers.get("sec-fetch-site", "").strip().lower() == "same-origin":
        return True
    sent = request.headers.get("origin", "").strip()
    if not sent or sent == "null":
        sent = request.headers.get("referer", "").strip()
    found = origin_of(sent) if sent and len(sent) <= MAX_URL else None
    if found is None:
        return False
    own = origin_of(ctx.settings.base_url)
    return config.allows_origin(found) or (own is not None and hmac.compare_digest(found, own))


def _bad(look: Chrome, text: str) -> Response:
    return message(look, 400, "Not subscribed", text + " Go back, correct it and send the form again.")


async def subscribe(request: Request, site: AnySite) -> Response:
    """POST /newsletter/{site}/subscribe — the sign-up form without JavaScript (form-encoded `email`,
    `list`?, `hp`, `form`?), from a page of the site's own origins or from GET /newsletter/{site}:
    a page saying "Check your inbox", the same for every address; a page that says what to correct
    (400) for bad input."""
    ctx = ctx_of(request)
    config = _site(ctx, site)
    if config is None:
        return _no_site(ctx)
    look = chrome(ctx, config.id)
    if not _from_the_site(ctx, config, request):
        text = (
            "This form was not sent from a page of this site, so nothing was done. "
            "Sign up on the site's own pages."
        )
        return message(look, 403, "Not sent from this site", text)
    form = await read_form(request)
    if set(form) - set(FIELDS) or any(len(values) != 1 for values in form.values()):
        return _bad(look, "The form could not be read.")
    one = {name: values[0] for name, values in form.items()}
    if len(one.get("email", "")) > inputs.MAX_EMAIL:
        return _bad(look, "That is not an email address we can send to.")
    try:
        chosen = newsletter.choose_list(config, one.get("list") or None)
        await subscriptions_of(ctx).subscribe(
            config,
            one.get("email", ""),
            newsletter.TOPIC,
            None,
            None,
            client_of(ctx, request)[1],
            list_id=chosen.id,
            honeypot=one.get("hp", ""),
            form=one.get("form") or None,
        )
    except errors.UnknownList:
        return _bad(look, "This site has no such newsletter.")
    except errors.InvalidInput:
        return _bad(look, "That is not an email address we can send to.")
    except errors.RateLimited as exc:
        text = "Too many sign-ups from your network in a short time; nothing was done. Try again later."
        response = message(look, 429, "Too many sign-ups", text)
        response.headers.update(exc.headers)
        return response
    lead = (
        f"To start getting “{chosen.name}”, open the link in the mail we are sending you and press Confirm."
    )
    return message(
        look,
        200,
        "Check your inbox",
        f"{lead} Nothing is sent to you until you confirm.",
        after="No mail within a few minutes? Look in your spam folder. An address already subscribed "
        "gets no new mail.",
    )
