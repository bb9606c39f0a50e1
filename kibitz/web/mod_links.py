"""The pages a moderation mail's Approve / Reject / Spam links open (rules: kibitz/moderator_links.py).

GET /moderate/{token} shows the comment and one button, and changes nothing: mail scanners fetch
links, some run their scripts, and the page has none (nothing submits by itself). POST acts, from
that page only (pages_common.py's same-site and form-token checks), as acting in the admin does.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import Response

from kibitz import errors
from kibitz.context import Context
from kibitz.links import links_for
from kibitz.moderator_links import AlreadyDone, CommentGone, LinkRevoked, LinkView, ModLinks
from kibitz.moderator_mail import HELD, LINK_TTL, queue_url, reasons
from kibitz.notify import excerpt, thread_name
from kibitz.web.api import ctx_of
from kibitz.web.pages_common import (
    chrome,
    form_ok,  # the check every page for people makes of a post
    form_token,
    message,
    page,
    problem,
    read_form,
    refused,
)

# (question, button, heading when done, what it did) per act; "approve" of a reported comment differs.
WORDS = {
    "approve": (
        "Approve this comment?",
        "Approve",
        "Approved",
        "The comment is public now, and those who follow the story are told of it.",
    ),
    "keep": (
        "Keep this comment up?",
        "Approve (keep it)",
        "Approved",
        "The comment stays up, and its reports are closed.",
    ),
    "reject": ("Reject this comment?", "Reject", "Rejected", "Nobody but its author sees the comment now."),
    "spam": (
        "Mark this comment as spam?",
        "Mark as spam",
        "Marked as spam",
        "Nobody but its author sees the comment now, and it counts against its author.",
    ),
}
STATES = {
    "approved": "approved and public",
    "pending": "waiting in the queue",
    "rejected": "rejected",
    "spam": "marked as spam",
    "gone": "gone",
}
DONE_WORDS = {"approve": "approved", "reject": "rejected", "spam": "marked as spam", "restore": "restored"}


def links_of(ctx: Context) -> ModLinks:
    return ModLinks(ctx.db, ctx.moderation, ctx.tokens, ctx.clock, ctx.settings.site)


def _words(view: LinkView) -> tuple[str, str, str, str]:
    key = "keep" if view.link.action == "approve" and view.link.event != HELD else view.link.action
    return WORDS[key]


def _values(ctx: Context, view: LinkView) -> dict[str, Any]:
    links = links_for(ctx.tokens, ctx.settings)
    comment = view.item.comment
    story = thread_name(links, view.thread, quoted=True) if view.thread else f"a story on {view.site.name}"
    return {
        "site_name": view.site.name,
        "story": story,
        "author": comment.author.name,
        "text": excerpt(comment),
        "held": view.link.event == HELD,
        "why": reasons(comment, view.link.event, view.item.flags),
        "email": view.member.email,
        "queue_url": queue_url(links, view.site.id, view.link.event),
        "days": LINK_TTL.days,
    }


async def action_page(request: Request, token: str) -> Response:
    """GET /moderate/{token} — the comment and one button; the GET itself changes nothing."""
    ctx = ctx_of(request)
    try:
        view = await links_of(ctx).view(token)
    except errors.KibitzError as exc:
        return _refusal(ctx, exc)
    question, button, _, _ = _words(view)
    return page(
        "pages/mod_action.html",
        chrome(ctx, view.site.id, view.thread),
        heading=question,
        button=button,
        danger=view.link.action != "approve",
        form=form_token(ctx, token),
        **_values(ctx, view),
    )


async def act(request: Request, token: str) -> Response:
    """POST /moderate/{token} — body ``form=<the page's form token>``, same site: approve, reject or
    mark as spam, once, as the link's staff member."""
    ctx = ctx_of(request)
    form = await read_form(request)
    links = links_of(ctx)
    try:
        view = await links.view(token)  # a dead link answers as its GET would, before anything else
    except errors.KibitzError as exc:
        return _refusal(ctx, exc)
    if not form_ok(ctx, request, form, token):
        return refused(chrome(ctx, view.site.id, view.thread))
    try:
        view, item = await links.use(token)
    except errors.KibitzError as exc:
        return _refusal(ctx, exc)
    _, _, heading, done = _words(view)
    values = _values(ctx, view)
    values["text"] = excerpt(item.comment)
    return page("pages/mod_action_done.html", chrome(ctx, view.site.id, view.thread), heading=heading,
                lead=done, **values)  # fmt: skip


def _refusal(ctx: Context, exc: errors.KibitzError) -> Response:
    """Why a link does nothing, in words a moderator can act on."""
    site = exc.site if isinstance(exc, AlreadyDone | LinkRevoked) and exc.site else None
    look = chrome(ctx, site)
    if isinstance(exc, AlreadyDone):
        state = STATES.get(exc.state, exc.state)
        last = ""
        if exc.last is not None:
            action, actor, at = exc.last
            last = f" It was {DONE_WORDS.get(action, action)} by {actor} on {at:%d %b %Y, %H:%M} UTC."
        if exc.used is not None:
            text = f"This link was used on {exc.used:%d %b %Y, %H:%M} UTC; the comment is {state} now."
        else:
            text = f"Nothing was changed: the comment was dealt with already and is {state} now."
        return message(look, 410, "Already done", text + last)
    if isinstance(exc, LinkRevoked):
        text = f"{exc.detail}, so this link does nothing. Nothing was changed."
        return message(look, 403, "No longer allowed", text)
    if isinstance(exc, CommentGone):
        return message(look, 410, "Comment gone", "This comment was deleted. Nothing was changed.")
    if isinstance(exc, errors.Gone):
        text = (
            f"Links in moderation mails work for {LINK_TTL.days} days. "
            "Nothing was changed: the comment waits in the admin's queue."
        )
        return message(look, 410, "Link expired", text)
    return problem(ctx, exc)
