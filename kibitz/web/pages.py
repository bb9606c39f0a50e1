"""Pages for people (HTML, form posts, signed links from mails): confirm, unsubscribe, manage.

A GET never changes anything (mail scanners fetch every link); tokens come from the path only.
Bad links get one page with no hint why (404), spent or expired ones 410. Every form post but RFC
8058's one-click unsubscribe must come from this site (Sec-Fetch-Site, else Origin) and carry the
page's form token, bound to the link's own token.
"""

from __future__ import annotations

import hmac
import re
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Path, Request
from starlette.responses import HTMLResponse, Response

from kibitz import consent, errors, markup
from kibitz.context import Context
from kibitz.origins import origin_of
from kibitz.security import TokenError
from kibitz.subscriptions import FreshLinkNeeded, Links, ManageView, links_for
from kibitz.templating import render_template
from kibitz.web.api import client_of, ctx_of
from kibitz.web.subscribe import subscriptions_of

ONE_CLICK = "One-Click"
_COMMENT_ID = re.compile(r"[1-9][0-9]{0,17}")
# Checked in the handler, so a bad id gets the same HTML 404 page as any other bad link.
CommentId = Annotated[str, Path(alias="id")]
FORM_TOKEN = "form"  # noqa: S105 - the name of the hidden field every form on these pages carries
FORM_TTL = timedelta(hours=12)
SAME_SITE = frozenset({"same-origin", "same-site", "none"})
MESSAGES = {
    400: ("Bad request", "This request could not be read."),
    404: ("Link not valid", "This link is not valid."),
    410: ("Link expired", "This link was already used or has expired."),
}


def _page(template: str, status: int = 200, **values: Any) -> Response:
    headers = {
        "Cache-Control": "no-store",
        # The token is in the URL: never hand it to another site or an index.
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex, nofollow",
        # No script at all: every change takes a person pressing a button.
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; script-src 'none'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    }
    return HTMLResponse(render_template(template, **values), status_code=status, headers=headers)


def _bound(ctx: Context, link_token: str) -> str:
    return ctx.tokens.keyed_hash("page-form", link_token)[:32]


def form_token(ctx: Context, link_token: str) -> str:
    """The token a page's forms carry: signed, expiring, and good only for the link it was shown under."""
    return ctx.tokens.issue(FORM_TOKEN, _bound(ctx, link_token), now=ctx.clock(), ttl=FORM_TTL)


def _same_site(ctx: Context, request: Request) -> bool:
    """Sent by a page of this site: ``Sec-Fetch-Site`` when the browser sends it, else ``Origin``
    against ``base_url``'s origin. Neither (no browser's cross-site form) leaves it to the form token."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site.strip().lower() in SAME_SITE
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = origin_of(ctx.settings.base_url)
    return own is not None and hmac.compare_digest(origin.strip().lower().encode(), own.lower().encode())


def _form_ok(ctx: Context, request: Request, form: dict[str, list[str]], link_token: str) -> bool:
    if not _same_site(ctx, request):
        return False
    sent = form.get(FORM_TOKEN, [])
    if len(sent) != 1 or len(sent[0]) > 300:
        return False
    try:
        subject = ctx.tokens.verify(FORM_TOKEN, sent[0], now=ctx.clock())
    except TokenError:
        return False
    return hmac.compare_digest(subject.encode(), _bound(ctx, link_token).encode())


async def _refusal(
    request: Request, token: str, form: dict[str, list[str]], *, confirming: bool = False
) -> Response | None:
    """Why a form post is refused, or None: a bad link first (the same 404/410 as a GET, so a post
    learns nothing more), then a post from another site or without this page's form token (403)."""
    ctx = ctx_of(request)
    subs = subscriptions_of(ctx)
    try:
        if confirming:
            await subs.confirmable(token)
        else:
            await subs.holder(token)
    except errors.KibitzError as exc:
        return _problem(exc)
    return None if _form_ok(ctx, request, form, token) else _refused()


def _refused() -> Response:
    """A form post from another site, or without this page's form token: nothing changed."""
    message = (
        "This form was not sent from this site's own page, or the page is too old; nothing was changed. "
        "Open the link from your mail again and press the button there."
    )
    return _page("pages/message.html", 403, heading="Not sent from this site", message=message, manage_url="")


def _problem(exc: errors.KibitzError) -> Response:
    status = exc.status if exc.status in MESSAGES else 404
    heading, message = MESSAGES[status]
    return _page("pages/message.html", status, heading=heading, message=message, manage_url="")


async def _form(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        # RFC 8058 allows either encoding; the one field we read is tiny and fixed.
        text = body.decode("utf-8", "replace")
        if 'name="List-Unsubscribe"' in text and ONE_CLICK in text:
            return {"List-Unsubscribe": [ONE_CLICK]}
        return {}
    try:
        return parse_qs(body.decode("ascii"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return {}


async def confirm_page(request: Request, token: str) -> Response:
    """GET /confirm/{token} — a page whose form confirms; the GET itself changes nothing."""
    ctx = ctx_of(request)
    try:
        view = await subscriptions_of(ctx).confirmable(token)
    except errors.KibitzError as exc:
        return _problem(exc)
    links = links_for(ctx.tokens, ctx.settings)
    site = view.subscriber.site
    return _page(
        "pages/confirm.html",
        email=view.subscriber.email,
        site_name=links.site_name(site),
        items=[consent.label(links, site, s, thread) for s, thread in view.subscriptions],
        form=form_token(ctx, token),
    )


async def confirm(request: Request, token: str) -> Response:
    """POST /confirm/{token} — confirm the address (from the page's form only); the link works once."""
    ctx = ctx_of(request)
    if refused := await _refusal(request, token, await _form(request), confirming=True):
        return refused
    try:
        view = await subscriptions_of(ctx).confirm(token)
    except errors.KibitzError as exc:
        return _problem(exc)
    links = links_for(ctx.tokens, ctx.settings)
    subscriber = view.subscriber
    return _page(
        "pages/message.html",
        heading="Subscription confirmed",
        message=f"Thank you: {subscriber.email} will get what it confirmed from "
        f"{links.site_name(subscriber.site)}. Anything asked for since our mail waits on your "
        "subscriptions page until you confirm it there.",
        manage_url=links.manage(subscriber.id, ctx.clock()),
    )


async def unsubscribe_page(request: Request, token: str) -> Response:
    """GET /unsubscribe/{token} — a page with a button; the GET itself changes nothing."""
    ctx = ctx_of(request)
    try:
        subscriber, subscription = await subscriptions_of(ctx).unsubscribable(token)
    except errors.KibitzError as exc:
        return _problem(exc)
    links = links_for(ctx.tokens, ctx.settings)
    return _page(
        "pages/unsubscribe.html",
        email=subscriber.email,
        what=_what(links, subscriber.site, subscription is None),
    )


def _what(links: Links, site: str, everything: bool) -> str:
    name = links.site_name(site)
    return f"every mail from {name}" if everything else f"these notifications from {name}"


async def unsubscribe(request: Request, token: str) -> Response:
    """POST /unsubscribe/{token} — RFC 8058 one-click (body ``List-Unsubscribe=One-Click``): 200, no
    redirect, idempotent."""
    ctx = ctx_of(request)
    if (await _form(request)).get("List-Unsubscribe") != [ONE_CLICK]:
        return _problem(errors.MalformedRequest())
    try:
        subscriber, subscription = await subscriptions_of(ctx).unsubscribe(token)
    except errors.KibitzError as exc:
        return _problem(exc)
    links = links_for(ctx.tokens, ctx.settings)
    return _page(
        "pages/message.html",
        heading="Unsubscribed",
        message=f"Done: we stopped {_what(links, subscriber.site, subscription is None)} "
        f"to {subscriber.email}.",
        manage_url="",
    )


def _manage(request: Request, token: str, view: ManageView, notice: str = "") -> Response:
    ctx = ctx_of(request)
    links = links_for(ctx.tokens, ctx.settings)
    site = ctx.settings.site(view.subscriber.site)
    now = ctx.clock()
    site_id = view.subscriber.site
    subs = [
        {
            "id": s.id,
            "digest": s.digest,
            "pending": s.pending,
            "label": _capital(consent.label(links, site_id, s, thread)),
        }
        for s, thread in view.subscriptions
    ]
    own = [
        {
            "id": c.id,
            "excerpt": _short(markup.plain_text(c.html)),
            "text": c.text,
            "editable": site is not None and now - c.created <= site.edit_window,
            "thread_name": thread.shown_title or thread.page,
            "url": f"{thread.shown_url}#comment-{c.id}" if thread.shown_url else "",
        }
        for c, thread in view.comments
    ]
    return _page(
        "pages/manage.html",
        site_name=links.site_name(view.subscriber.site),
        email=view.subscriber.email,
        subscriber_status=view.subscriber.status,
        subscriptions=subs,
        comments=own,
        notice=notice,
        fresh=view.fresh,
        form=form_token(ctx, token),
        # Forms post to explicit paths: after an action the page is shown at the action's path.
        action=f"{request.scope.get('root_path', '')}/manage/{token}",
    )


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _short(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


async def manage_page(request: Request, token: str) -> Response:
    """GET /manage/{token} — the guest's subscriptions (each with a cancel button) and comments."""
    ctx = ctx_of(request)
    try:
        view = await subscriptions_of(ctx).manage(token)
    except errors.KibitzError as exc:
        return _problem(exc)
    return _manage(request, token, view)


async def manage(request: Request, token: str) -> Response:
    """POST /manage/{token} — cancel one subscription (``cancel=<id>``) or all (``cancel=all``, a
    fresh link only), confirm what waits (``confirm=<id>|all``, a fresh link only), mail a fresh
    link (``send=link``), or void every manage link so far (``signout=everywhere``)."""
    ctx = ctx_of(request)
    form = await _form(request)
    if refused := await _refusal(request, token, form):
        return refused
    subs = subscriptions_of(ctx)
    try:
        if form.get("signout") == ["everywhere"]:
            subscriber = await subs.sign_out_everywhere(token)
            name = links_for(ctx.tokens, ctx.settings).site_name(subscriber.site)
            message = (
                f"Every link to manage {subscriber.email} on {name} sent so far has stopped working, "
                "this one too. Mails we send from now on carry new links."
            )
            return _page(
                "pages/message.html", heading="Signed out everywhere", message=message, manage_url=""
            )
        if form.get("send") == ["link"]:
            subscriber = await subs.mail_fresh_link(token)
            view = await subs.manage(token)
            return _manage(request, token, view, notice=f"A fresh link is on its way to {subscriber.email}.")
        if len(confirming := form.get("confirm", [])) == 1:
            view = await subs.confirm_waiting(token, confirming[0])
            return _manage(request, token, view, notice="Confirmed.")
        what = form.get("cancel", [])
        if len(what) != 1:
            raise errors.MalformedRequest()
        view = await subs.cancel(token, what[0])
    except errors.KibitzError as exc:
        return _action_problem(exc, request, token)
    return _manage(request, token, view, notice="Cancelled.")


def _action_problem(exc: errors.KibitzError, request: Request, token: str) -> Response:
    """A refused change from the manage page: a plain page saying why, when the reader can act on it."""
    if isinstance(exc, FreshLinkNeeded):
        return _page(
            "pages/fresh.html",
            403,
            action=f"{request.scope.get('root_path', '')}/manage/{token}",
            form=form_token(ctx_of(request), token),
        )
    if isinstance(exc, errors.EditWindowClosed):
        message = "The time to edit this comment is over; nothing was changed. You can still delete it."
        return _page("pages/message.html", 403, heading="Too late to edit", message=message, manage_url="")
    if isinstance(exc, errors.InvalidInput):
        message = "; ".join(f"{e.field.capitalize()} {e.message}." for e in exc.errors) or exc.detail
        return _page("pages/message.html", 422, heading="Not saved", message=message, manage_url="")
    if isinstance(exc, errors.RateLimited):
        response = _page(
            "pages/message.html",
            429,
            heading="Too many changes",
            message="Too many changes in a short time; nothing was changed. Try again in a minute.",
            manage_url="",
        )
        response.headers.update(exc.headers)
        return response
    return _problem(exc)


async def _own_comment(
    request: Request, token: str, comment_id: str, change: str, text: str = ""
) -> Response:
    """Edit or delete one of the link holder's own comments (deleting needs a fresh link), then show
    the page again."""
    ctx = ctx_of(request)
    subs = subscriptions_of(ctx)
    try:
        holder = await subs.holder(token, destructive=change == "delete")
        site = ctx.settings.site(holder.site)
        if site is None or not _COMMENT_ID.fullmatch(comment_id):
            raise errors.NotFound()
        client = client_of(ctx, request)[1]
        if change == "delete":
            await ctx.comments.delete_own(site, int(comment_id), holder.email, client)
        else:
            await ctx.comments.edit_own(site, int(comment_id), holder.email, text, client)
        view = await subs.manage(token)
    except errors.KibitzError as exc:
        return _action_problem(exc, request, token)
    notice = "Comment deleted." if change == "delete" else "Comment saved."
    return _manage(request, token, view, notice=notice)


async def delete_own_comment(request: Request, token: str, comment_id: CommentId) -> Response:
    """POST /manage/{token}/comments/{id}/delete — soft delete one's own comment, at any time (from a
    link issued within the hour)."""
    if refused := await _refusal(request, token, await _form(request)):
        return refused
    return await _own_comment(request, token, comment_id, "delete")


async def edit_own_comment(request: Request, token: str, comment_id: CommentId) -> Response:
    """POST /manage/{token}/comments/{id}/edit — body ``text=...``: edit one's own comment within the
    site's edit window."""
    form = await _form(request)
    if refused := await _refusal(request, token, form):
        return refused
    text = form.get("text", [])
    if len(text) != 1:
        return _problem(errors.MalformedRequest())
    return await _own_comment(request, token, comment_id, "edit", text[0])
