"""Pages for people (HTML, form posts, signed links from mails): confirm, unsubscribe, manage.

A GET never changes anything (mail scanners fetch every link); tokens come from the path only.
Bad links get one page with no hint why (404), spent or expired ones 410.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Path, Request
from starlette.responses import HTMLResponse, Response

from kibitz import errors, markup
from kibitz.subscriptions import Links, ManageView, links_for
from kibitz.templating import render_template
from kibitz.web.api import client_of, ctx_of
from kibitz.web.subscribe import subscriptions_of

ONE_CLICK = "One-Click"
_COMMENT_ID = re.compile(r"[1-9][0-9]{0,17}")
# Checked in the handler, so a bad id gets the same HTML 404 page as any other bad link.
CommentId = Annotated[str, Path(alias="id")]
MESSAGES = {
    400: ("Bad request", "This request could not be read."),
    404: ("Link not valid", "This link is not valid."),
    410: ("Link expired", "This link was already used or has expired."),
}


def _page(template: str, status: int = 200, *, script_nonce: str = "", **values: Any) -> Response:
    script = f"'nonce-{script_nonce}'" if script_nonce else "'none'"
    headers = {
        "Cache-Control": "no-store",
        # The token is in the URL: never hand it to another site or an index.
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex, nofollow",
        "Content-Security-Policy": f"default-src 'none'; style-src 'unsafe-inline'; script-src {script}; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    }
    html = render_template(template, **values)
    if script_nonce:
        html = html.replace("<script>", f'<script nonce="{script_nonce}">')
    return HTMLResponse(html, status_code=status, headers=headers)


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
        subscriber = await subscriptions_of(ctx).confirmable(token)
    except errors.KibitzError as exc:
        return _problem(exc)
    links = links_for(ctx.tokens, ctx.settings)
    return _page(
        "pages/confirm.html",
        script_nonce=secrets.token_urlsafe(12),
        email=subscriber.email,
        site_name=links.site_name(subscriber.site),
    )


async def confirm(request: Request, token: str) -> Response:
    """POST /confirm/{token} — confirm the address; the link works once."""
    ctx = ctx_of(request)
    try:
        subscriber = await subscriptions_of(ctx).confirm(token)
    except errors.KibitzError as exc:
        return _problem(exc)
    links = links_for(ctx.tokens, ctx.settings)
    return _page(
        "pages/message.html",
        heading="Subscription confirmed",
        message=f"Thank you: {subscriber.email} will get the notifications it asked for from "
        f"{links.site_name(subscriber.site)}.",
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
    subs = [
        {
            "id": s.id,
            "digest": s.digest,
            "label": "The newsletter"
            if thread is None
            else ("Replies to your comments on " if s.topic == "replies" else "All comments on ")
            + (thread.title or thread.page),
        }
        for s, thread in view.subscriptions
    ]
    own = [
        {
            "id": c.id,
            "excerpt": _short(markup.plain_text(c.html)),
            "text": c.text,
            "editable": site is not None and now - c.created <= site.edit_window,
            "thread_name": thread.title or thread.page,
            "url": f"{thread.url}#comment-{c.id}" if thread.url else "",
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
        # Forms post to explicit paths: after an action the page is shown at the action's path.
        action=f"{request.scope.get('root_path', '')}/manage/{token}",
    )


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
    """POST /manage/{token} — cancel one subscription (``cancel=<id>``) or all (``cancel=all``)."""
    ctx = ctx_of(request)
    what = (await _form(request)).get("cancel", [])
    try:
        if len(what) != 1:
            raise errors.MalformedRequest()
        view = await subscriptions_of(ctx).cancel(token, what[0])
    except errors.KibitzError as exc:
        return _problem(exc)
    return _manage(request, token, view, notice="Cancelled.")


def _action_problem(exc: errors.KibitzError) -> Response:
    """A refused change of one's own comment: a plain page saying why, when the reader can act on it."""
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
    """Edit or delete one of the link holder's own comments, then show the page again."""
    ctx = ctx_of(request)
    subs = subscriptions_of(ctx)
    try:
        holder = await subs.holder(token)
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
        return _action_problem(exc)
    notice = "Comment deleted." if change == "delete" else "Comment saved."
    return _manage(request, token, view, notice=notice)


async def delete_own_comment(request: Request, token: str, comment_id: CommentId) -> Response:
    """POST /manage/{token}/comments/{id}/delete — soft delete one's own comment, at any time."""
    return await _own_comment(request, token, comment_id, "delete")


async def edit_own_comment(request: Request, token: str, comment_id: CommentId) -> Response:
    """POST /manage/{token}/comments/{id}/edit — body ``text=...``: edit one's own comment within the
    site's edit window."""
    text = (await _form(request)).get("text", [])
    if len(text) != 1:
        return _problem(errors.MalformedRequest())
    return await _own_comment(request, token, comment_id, "edit", text[0])
