"""Moderating from the widget (kibitz/reader_moderation.py): a reader the publisher's login marks
``moderator``, on a site that sets ``sso_moderators``, acts on one comment of that site.

CSRF: the session travels in the ``X-Kibitz-Session`` header, never in a cookie, so a cross-site form,
link or image cannot carry it, and a script on another site can set it only through CORS, which the
edge grants to the site's own origins alone. The Origin must still be one of the comment's site's, as
for every reader write (check_origin).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from kibitz import errors
from kibitz.web.api import CommentIdPath, check_origin, ctx_of, json_response, site_of
from kibitz.web.schemas import CommentOut, Str, Strict
from kibitz.web.sessions import reader_of


class ReaderModerateIn(Strict):
    action: Literal["approve", "reject", "spam", "pin", "unpin", "feature", "unfeature"]
    reason: Annotated[Str, Field(max_length=500)] | None = None


class ModeratedOut(BaseModel):
    comment: CommentOut


async def moderate(request: Request, comment: CommentIdPath, body: ReaderModerateIn) -> Response:
    """POST /api/v1/comments/{id}/moderate — a moderator from the site's own login acts on a comment
    (hide = ``reject``, ``spam``, ``pin``…); 403 ``forbidden`` and nothing changed unless allowed."""
    ctx = ctx_of(request)
    site = site_of(ctx, await ctx.comments.site_of(int(comment)))
    check_origin(site, request)
    # Read without a site: another site's (valid) session is refused 403 below, not signed out.
    reader = await reader_of(ctx, request)
    if reader is None:
        raise errors.Unauthorized("Send the session in X-Kibitz-Session")
    item = await ctx.reader_moderation.act(site, reader, int(comment), body.action, body.reason or "")
    shaped = ctx.shaper.own(item.comment, item.comment.status.value)
    return json_response({"comment": shaped}, headers={"Cache-Control": "no-store"})
