"""The manage page a mail's link opens: the guest's subscriptions and comments, and what they may do
with them. Deleting a comment takes two presses: Delete shows the comment and asks, and only "Delete
this comment" on that page deletes. Every post follows pages_common.py's rules (same site, the page's
form token); deleting, cancelling all and confirming what waits need a link from the last hour."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Request
from starlette.responses import Response

from kibitz import consent, errors, markup, newsletter
from kibitz.context import Context
from kibitz.links import Links, links_for, one_line
from kibitz.models import Comment, Thread
from kibitz.preferences import INDEFINITELY, RESUME, UNTIL_RESUMED, Preferences, Saved, paused
from kibitz.subscriptions import FreshLinkNeeded, ManageView
from kibitz.web.api import client_of, ctx_of
from kibitz.web.pages import capital
from kibitz.web.pages_common import (
    TITLE_SHOWN,
    Chrome,
    chrome,
    form_token,
    message,
    page,
    problem,
    read_form,
    refusal,
)
from kibitz.web.subscribe import subscriptions_of

_COMMENT_ID = re.compile(r"[1-9][0-9]{0,17}")
# Checked in the handler, so a bad id gets the same HTML 404 page as any other bad link.
CommentId = Annotated[str, Path(alias="id")]
SURE = "sure"  # the field of the second press that deletes: sure=yes
PAUSE_CHOICES = (("week", "For a week"), ("month", "For a month"), (UNTIL_RESUMED, "Until I resume them"))


def _action(request: Request, token: str) -> str:
    # Forms post to explicit paths: after an action the page is shown at the action's path.
    return f"{request.scope.get('root_path', '')}/manage/{token}"


def _story(ctx: Context, thread: Thread) -> str:
    """A story as the publisher names it (never the title a reader's widget sent)."""
    if thread.page_title:
        return f"“{one_line(thread.page_title, TITLE_SHOWN)}”"
    return f"a story on {links_for(ctx.tokens, ctx.settings).site_name(thread.site)}"


def _comment(ctx: Context, comment: Comment, thread: Thread) -> dict[str, Any]:
    return {
        "id": comment.id,
        "excerpt": _short(markup.plain_text(comment.html)),
        "story": _story(ctx, thread),
        # The publisher's URL of the story, never the one a reader's widget sent.
        "url": f"{thread.page_url}#comment-{comment.id}" if thread.page_url else "",
    }


def _manage(request: Request, token: str, view: ManageView, notice: str = "") -> Response:
    ctx = ctx_of(request)
    links = links_for(ctx.tokens, ctx.settings)
    site_id = view.subscriber.site
    site = ctx.settings.site(site_id)
    now = ctx.clock()
    subs = [
        {
            "id": s.id,
            "digest": s.digest,
            "pending": s.pending,
            "label": capital(consent.label(links, site_id, s, thread)),
            "url": thread.page_url if thread is not None else "",
            "story": _story(ctx, thread) if thread is not None else "",
        }
        for s, thread in view.subscriptions
    ]
    own = [
        {
            **_comment(ctx, c, thread),
            "text": c.text,
            "editable": site is not None and now - c.created <= site.edit_window,
        }
        for c, thread in view.comments
    ]
    until = paused(view, now)
    return page(
        "pages/manage.html",
        chrome(ctx, site_id),
        site_name=links.site_name(site_id),
        email=view.subscriber.email,
        subscriber_status=view.subscriber.status,
        subscriptions=subs,
        comments=own,
        lists=_lists(links, view),
        paused=None if until is None else UNTIL_RESUMED if until >= INDEFINITELY else _day(until),
        pauses=PAUSE_CHOICES,
        notice=notice,
        fresh=view.fresh,
        form=form_token(ctx, token),
        action=_action(request, token),
    )


def _lists(links: Links, view: ManageView) -> list[dict[str, Any]]:
    """The preference centre's checkboxes: every list of the site, ticked when subscribed or waiting."""
    shown = []
    for state in newsletter.list_states(links, view.subscriber.site, view.subscriptions):
        note = "Waiting for your confirmation: nothing is sent until you confirm." if state.waiting else ""
        shown.append(
            {
                "id": state.list.id,
                "name": state.list.name,
                "checked": state.subscription is not None,
                "note": " ".join(part for part in (state.list.description, note) if part),
            }
        )
    return shown


def _day(when: datetime) -> str:
    return f"{when.day} {when:%B %Y}"


def _saved(saved: Saved) -> str:
    """What a change of lists did, in words."""
    said = []
    if saved.started:
        said.append("Subscribed to " + ", ".join(saved.started) + ".")
    if saved.waiting:
        said.append(
            "Check your inbox to confirm " + ", ".join(saved.waiting) + ": nothing is sent until you do."
        )
    if saved.stopped:
        said.append("Unsubscribed from " + ", ".join(saved.stopped) + ".")
    return " ".join(said) or "Saved: nothing changed."


def _short(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


async def manage_page(request: Request, token: str) -> Response:
    """GET /manage/{token} — the guest's subscriptions (each with a cancel button) and comments."""
    ctx = ctx_of(request)
    try:
        view = await subscriptions_of(ctx).manage(token)
    except errors.KibitzError as exc:
        return problem(ctx, exc)
    return _manage(request, token, view)


async def manage(request: Request, token: str) -> Response:
    """POST /manage/{token} — cancel one subscription (``cancel=<id>``) or all (``cancel=all``, a
    fresh link only), confirm what waits (``confirm=<id>|all``, a fresh link only), mail a fresh
    link (``send=link``), void every manage link so far (``signout=everywhere``), get exactly the
    ticked newsletter lists (``lists=save&list=<id>&list=…``), or pause newsletters
    (``pause=week|month|resumed``, ``pause=resume``)."""
    ctx = ctx_of(request)
    form = await read_form(request)
    if refused := await refusal(request, token, form):
        return refused
    subs = subscriptions_of(ctx)
    try:
        if form.get("signout") == ["everywhere"]:
            subscriber = await subs.sign_out_everywhere(token)
            name = links_for(ctx.tokens, ctx.settings).site_name(subscriber.site)
            text = (
                f"Every link to manage {subscriber.email} on {name} sent so far has stopped working, "
                "this one too. Mails we send from now on carry new links."
            )
            return message(chrome(ctx, subscriber.site), 200, "Signed out everywhere", text)
        if form.get("send") == ["link"]:
            subscriber = await subs.mail_fresh_link(token)
            view = await subs.manage(token)
            return _manage(request, token, view, notice=f"A fresh link is on its way to {subscriber.email}.")
        if len(confirming := form.get("confirm", [])) == 1:
            view = await subs.confirm_waiting(token, confirming[0])
            return _manage(request, token, view, notice="Confirmed.")
        if form.get("lists") == ["save"]:
            saved = await Preferences(subs).set_lists(token, form.get("list", []))
            return _manage(request, token, saved.view, notice=_saved(saved))
        if len(pausing := form.get("pause", [])) == 1:
            view = await Preferences(subs).pause(token, pausing[0])
            resumed = pausing[0] == RESUME
            return _manage(request, token, view, notice="Resumed." if resumed else "Paused.")
        what = form.get("cancel", [])
        if len(what) != 1:
            raise errors.MalformedRequest()
        view = await subs.cancel(token, what[0])
    except errors.KibitzError as exc:
        return await _action_problem(exc, request, token)
    return _manage(request, token, view, notice="Cancelled.")


async def _holder_chrome(ctx: Context, token: str) -> Chrome:
    """The header and way back of the link's own site (a link that no longer works: none of its own)."""
    try:
        return chrome(ctx, (await subscriptions_of(ctx).holder(token)).site)
    except errors.KibitzError:
        return chrome(ctx, None)


async def _action_problem(exc: errors.KibitzError, request: Request, token: str) -> Response:
    """A refused change from the manage page: a plain page saying why, when the reader can act on it."""
    ctx = ctx_of(request)
    if isinstance(exc, FreshLinkNeeded):
        return page(
            "pages/fresh.html",
            await _holder_chrome(ctx, token),
            403,
            action=_action(request, token),
            form=form_token(ctx, token),
        )
    if isinstance(exc, errors.EditWindowClosed):
        text = "The time to edit this comment is over; nothing was changed. You can still delete it."
        return message(await _holder_chrome(ctx, token), 403, "Too late to edit", text)
    if isinstance(exc, errors.InvalidInput):
        text = "; ".join(f"{e.field.capitalize()} {e.message}." for e in exc.errors) or exc.detail
        return message(await _holder_chrome(ctx, token), 422, "Not saved", text)
    if isinstance(exc, errors.RateLimited):
        text = "Too many changes in a short time; nothing was changed. Try again in a minute."
        response = message(await _holder_chrome(ctx, token), 429, "Too many changes", text)
        response.headers.update(exc.headers)
        return response
    return problem(ctx, exc, posted=True)


async def delete_own_comment(request: Request, token: str, comment_id: CommentId) -> Response:
    """POST /manage/{token}/comments/{id}/delete — first press: a page that shows the comment and asks;
    with ``sure=yes`` (that page's button): soft delete one's own comment, at any time. Both need a
    link issued within the hour."""
    ctx = ctx_of(request)
    form = await read_form(request)
    if refused := await refusal(request, token, form):
        return refused
    if form.get(SURE) == ["yes"]:
        return await _own_comment(request, token, comment_id, "delete")
    wanted = int(comment_id) if _COMMENT_ID.fullmatch(comment_id) else 0  # 0: nobody's (404)
    try:
        comment, thread = await subscriptions_of(ctx).own_comment(token, wanted)
    except errors.KibitzError as exc:
        return await _action_problem(exc, request, token)
    return page(
        "pages/delete.html",
        chrome(ctx, thread.site),
        comment=_comment(ctx, comment, thread),
        manage_url=_action(request, token),
        form=form_token(ctx, token),
        sure=SURE,
    )


async def edit_own_comment(request: Request, token: str, comment_id: CommentId) -> Response:
    """POST /manage/{token}/comments/{id}/edit — body ``text=...``: edit one's own comment within the
    site's edit window."""
    form = await read_form(request)
    if refused := await refusal(request, token, form):
        return refused
    text = form.get("text", [])
    if len(text) != 1:
        return problem(ctx_of(request), errors.MalformedRequest())
    return await _own_comment(request, token, comment_id, "edit", text[0])


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
        return await _action_problem(exc, request, token)
    notice = "Comment deleted." if change == "delete" else "Comment saved."
    return _manage(request, token, view, notice=notice)
