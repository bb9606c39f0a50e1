"""Pages for people reached from mails: confirm a subscription, unsubscribe (manage_pages.py has the
manage page). Each GET shows a page with a button and changes nothing; pages_common.py holds the
rules every page and post follows."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from kibitz import consent, errors
from kibitz.links import Links, links_for
from kibitz.models import Thread
from kibitz.store.subscribers import Subscription
from kibitz.subscriptions import UnsubscribeView
from kibitz.web.api import ctx_of
from kibitz.web.pages_common import (
    ONE_CLICK,
    chrome,
    form_token,
    message,
    one_thread,
    page,
    problem,
    read_form,
    refusal,
)
from kibitz.web.subscribe import subscriptions_of


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def labels(links: Links, site: str, subscriptions: list[tuple[Subscription, Thread | None]]) -> list[str]:
    """Each subscription in the publisher's words (consent.label), as a list item."""
    return [capital(consent.label(links, site, s, thread)) for s, thread in subscriptions]


async def confirm_page(request: Request, token: str) -> Response:
    """GET /confirm/{token} — a page whose form confirms; the GET itself changes nothing. A used link
    of a confirmed address says it is confirmed already (pages_common.problem)."""
    ctx = ctx_of(request)
    try:
        view = await subscriptions_of(ctx).confirmable(token)
    except errors.KibitzError as exc:
        return problem(ctx, exc)
    links = links_for(ctx.tokens, ctx.settings)
    site = view.subscriber.site
    return page(
        "pages/confirm.html",
        chrome(ctx, site, one_thread([thread for _, thread in view.subscriptions])),
        email=view.subscriber.email,
        site_name=links.site_name(site),
        items=labels(links, site, view.subscriptions),
        form=form_token(ctx, token),
    )


async def confirm(request: Request, token: str) -> Response:
    """POST /confirm/{token} — confirm the address (from the page's form only); the link works once."""
    ctx = ctx_of(request)
    if refused := await refusal(request, token, await read_form(request), confirming=True):
        return refused
    try:
        view = await subscriptions_of(ctx).confirm(token)
    except errors.KibitzError as exc:
        return problem(ctx, exc, posted=True)
    links = links_for(ctx.tokens, ctx.settings)
    subscriber = view.subscriber
    name = links.site_name(subscriber.site)
    items = labels(links, subscriber.site, view.subscriptions)
    lead = f"Thank you: {subscriber.email} will get mail from {name}"
    return message(
        chrome(ctx, subscriber.site, one_thread([thread for _, thread in view.subscriptions])),
        200,
        "Subscription confirmed",
        f"{lead} about:" if items else f"{lead}.",
        items=items,
        after="Anything asked for since our mail waits on your subscriptions page until you confirm it.",
        manage_url=links.manage(subscriber.id, ctx.clock()),
    )


async def unsubscribe_page(request: Request, token: str) -> Response:
    """GET /unsubscribe/{token} — a page with a button; the GET itself changes nothing."""
    ctx = ctx_of(request)
    try:
        target = await subscriptions_of(ctx).unsubscribable(token)
    except errors.KibitzError as exc:
        return problem(ctx, exc)
    links = links_for(ctx.tokens, ctx.settings)
    site = target.subscriber.site
    return page(
        "pages/unsubscribe.html",
        chrome(ctx, site, target.thread),
        email=target.subscriber.email,
        site_name=links.site_name(site),
        everything=target.subscription is None,
        what=_what(links, target),
    )


def _what(links: Links, target: UnsubscribeView) -> str:
    """What one subscription's link stops, in the publisher's words; "" for every mail, or for a
    thread's subscription stopped already (its story is no longer looked up)."""
    subscription = target.subscription
    if subscription is None or (subscription.topic != "newsletter" and target.thread is None):
        return ""
    return consent.label(links, target.subscriber.site, subscription, target.thread)


async def unsubscribe(request: Request, token: str) -> Response:
    """POST /unsubscribe/{token} — RFC 8058 one-click (body ``List-Unsubscribe=One-Click``): 200, no
    redirect, idempotent."""
    ctx = ctx_of(request)
    if (await read_form(request)).get("List-Unsubscribe") != [ONE_CLICK]:
        return problem(ctx, errors.MalformedRequest())
    try:
        target = await subscriptions_of(ctx).unsubscribe(token)
    except errors.KibitzError as exc:
        return problem(ctx, exc)
    links = links_for(ctx.tokens, ctx.settings)
    subscriber = target.subscriber
    name = links.site_name(subscriber.site)
    if target.subscription is None:
        text = f"Done: {subscriber.email} will get no more mail from {name}."
    elif what := _what(links, target):
        text = f"Done: {subscriber.email} will get no more mail about {what}."
    else:
        text = f"Done: {subscriber.email} will get no more of these notifications from {name}."
    return message(chrome(ctx, subscriber.site, target.thread), 200, "Unsubscribed", text)
