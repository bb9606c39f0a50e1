"""The public JSON API v1 (DESIGN.md §3): threads, comments, votes, flags, counts, previews."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import Header, Path, Query, Request
from starlette.responses import Response

from kibitz import errors, guard, inputs
from kibitz.comments import PostRequest, body_fingerprint
from kibitz.config import SiteConfig
from kibitz.context import Context
from kibitz.models import Anchor, Sort
from kibitz.origins import origin_of
from kibitz.security import client_address
from kibitz.web import schemas, sessions
from kibitz.web.sessions import writer_of

READER_HEADER = "X-Kibitz-Reader"
SiteId = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
# Read past shared caches (web/cached.py reads it from the raw query; declared for the API description).
Fresh = Annotated[
    str | None,
    Query(
        max_length=64,
        description="Any value: the answer is `Cache-Control: no-store` (after one's own write)",
    ),
]
CommentIdPath = Annotated[str, Path(alias="id", pattern=r"^[1-9][0-9]{0,17}$")]


def ctx_of(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def site_of(ctx: Context, site_id: str) -> SiteConfig:
    site = ctx.settings.site(site_id)
    if site is None:
        raise errors.NotFound("No such site")
    return site


def client_of(ctx: Context, request: Request) -> tuple[str, str]:
    """(address, rate-limit key) of the client; forwarded-for only from trusted proxies. The key is
    the keyed hash of the address (an IPv6 address by its /64; Policies.address_hash): what rate
    counters and replayable answers store, so no table holds a client's address in clear."""
    peer = request.client.host if request.client else None
    addr = client_address(peer, request.headers.get("x-forwarded-for"), ctx.settings.trusted_proxies)
    return addr, ctx.policies.address_hash(addr)


def reader_of(ctx: Context, request: Request) -> tuple[str, str | None]:
    """(raw reader id, signed id to hand back when it is new); a forged id counts as none."""
    raw = ctx.tokens.reader(request.headers.get(READER_HEADER))
    if raw is not None:
        return raw, None
    raw = ctx.tokens.new_reader()
    return raw, ctx.tokens.sign_reader(raw)


def check_origin(site: SiteConfig, request: Request) -> None:
    """Writes addressed by comment id: the Origin must belong to the comment's own site."""
    origin = origin_of(request.headers.get("origin") or "")
    if origin is None or not site.allows_origin(origin):
        raise errors.OriginNotAllowed("Writes need an Origin in the site's list")


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= 255 or not value.isascii() or not value.isprintable():
        raise errors.InvalidIdempotencyKey("Idempotency-Key must be 1-255 printable ASCII characters")
    return value


async def get_comments(
    request: Request,
    site: SiteId,
    page: Annotated[str, Query(min_length=1, max_length=2048)],
    sort: Sort = Sort.NEWEST,
    limit: Annotated[int, Query(ge=1)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    filter: Literal["all", "inline"] = "all",
    fresh: Fresh = None,
) -> Response:
    """GET /api/v1/sites/{site}/comments — a thread's comments, newest first by default.

    Anonymous and the same for every reader: cached per thread version (web/cached.py)."""
    ctx = ctx_of(request)
    config = site_of(ctx, site)
    key = inputs.page_key(page)
    limit = min(limit, 100)

    async def render() -> tuple[bytes, str]:
        found = await ctx.comments.thread_page(
            config, key, sort, limit, cursor, inline_only=filter == "inline"
        )
        updates = await ctx.story_updates.latest(found.thread)
        data = {
            "thread": ctx.shaper.thread(found.thread),
            "comments": ctx.shaper.nodes(found.comments),
            "next": found.next_cursor,
            "updates": [ctx.shaper.update(update) for update in updates],
        }
        return orjson.dumps(data), "application/json"

    return await ctx.reads.thread_read(
        request, config, key, ("comments", config.id, key, sort, limit, cursor, filter), render
    )


async def get_replies(
    request: Request,
    comment: CommentIdPath,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    sort: Literal["oldest", "votes"] = "oldest",
) -> Response:
    """GET /api/v1/comments/{id}/replies — the replies of one comment held back inline."""
    ctx = ctx_of(request)
    nodes, next_cursor = await ctx.comments.replies(int(comment), cursor, Sort(sort))
    return json_response({"comments": ctx.shaper.nodes(nodes), "next": next_cursor})


async def post_comment(
    request: Request,
    site: SiteId,
    body: schemas.PostIn,
    idempotency: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """POST /api/v1/sites/{site}/comments — post a comment or a reply."""
    ctx = ctx_of(request)
    config = site_of(ctx, site)
    key = idempotency_key(idempotency)
    reader = await sessions.reader_of(ctx, request, config)  # its policy: checked in comments.post
    addr, client = client_of(ctx, request)
    raw_reader = ctx.tokens.reader(request.headers.get(READER_HEADER))
    a = body.anchor
    anchor = (
        None if a is None else Anchor(a.exact, a.prefix or "", a.suffix or "", a.start, a.end, a.hash or "")
    )
    posted = await ctx.comments.post(
        PostRequest(
            site=config,
            page=body.page,
            text=body.text,
            author_name=body.author.name,
            author_email=body.author.email,
            author_url=body.author.url,
            title=body.title,
            url=body.url,
            parent_id=int(body.parent) if body.parent else None,
            anchor=anchor,
            reader_id=raw_reader,
            client=client,
            client_addr=addr,
            idempotency_key=key,
            fingerprint=body_fingerprint(await request.body()) if key else "",
            notify=body.notify or "none",
            digest=body.digest or "instant",
            honeypot=body.hp or "",
            form_token=body.form,
            user_agent=request.headers.get("user-agent", ""),
            referrer=request.headers.get("referer", ""),
            account=ctx.accounts.author(reader) if reader is not None else None,
            writer=reader,
        )
    )
    # A held comment, a shadow-banned one, or one caught by a blocked word: its poster sees it as
    # their own, with the status they may know (DESIGN.md §3b).
    shaped = ctx.shaper.own(posted.comment, posted.status)
    data: dict[str, Any] = {"comment": shaped, "token": posted.token}
    headers: dict[str, str] = {}
    if posted.new_reader:
        signed = ctx.tokens.sign_reader(posted.reader_id)
        data["reader"] = signed
        headers[READER_HEADER] = signed
    if posted.replayed is not None:
        headers["Idempotent-Replayed"] = "true"
    if posted.status == "pending":
        data["status"] = "pending"
        return json_response(data, 202, headers)
    return json_response(data, 201, headers)


async def form_token(request: Request, site: SiteId) -> Response:
    """GET /api/v1/sites/{site}/form — a token for the comment form, sent back as `form` with the
    post: it tells a person from a script (issued when, used once). Never cached."""
    ctx = ctx_of(request)
    config = site_of(ctx, site)
    token = guard.issue_form_token(ctx.tokens, config.id, ctx.clock())
    return json_response({"form": token}, headers={"Cache-Control": "no-store"})


async def preview(request: Request, site: SiteId, body: schemas.PreviewIn) -> Response:
    """POST /api/v1/sites/{site}/preview — the exact HTML a post of this text would get."""
    ctx = ctx_of(request)
    config = site_of(ctx, site)
    html = await ctx.comments.preview(config, body.text, client_of(ctx, request)[1])
    return json_response({"html": html})


async def _comment_site(ctx: Context, request: Request, comment: str) -> SiteConfig:
    site = site_of(ctx, await ctx.comments.site_of(int(comment)))
    check_origin(site, request)
    return site


async def get_own_comment(
    request: Request,
    comment: CommentIdPath,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """GET /api/v1/comments/{id} — one's own comment with its edit token, whatever its status (a
    held comment answers "pending")."""
    ctx = ctx_of(request)
    site = site_of(ctx, await ctx.comments.site_of(int(comment)))
    found, status = await ctx.comments.own(site, int(comment), bearer(authorization))
    return json_response({"comment": ctx.shaper.own(found, status)}, headers={"Cache-Control": "no-store"})


async def patch_comment(
    request: Request,
    comment: CommentIdPath,
    body: schemas.EditIn,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """PATCH /api/v1/comments/{id} — edit one's own comment within the edit window."""
    ctx = ctx_of(request)
    site = await _comment_site(ctx, request, comment)
    await writer_of(ctx, request, site)
    updated = await ctx.comments.edit(
        site, int(comment), bearer(authorization), body.text, client_of(ctx, request)[1]
    )
    return json_response({"comment": ctx.shaper.comment(updated)})


async def delete_comment(
    request: Request,
    comment: CommentIdPath,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """DELETE /api/v1/comments/{id} — delete one's own comment (a tombstone stays for its replies)."""
    ctx = ctx_of(request)
    site = await _comment_site(ctx, request, comment)
    await ctx.comments.delete(site, int(comment), bearer(authorization), client_of(ctx, request)[1])
    return Response(status_code=204)


async def vote(request: Request, comment: CommentIdPath, body: schemas.VoteIn) -> Response:
    """POST /api/v1/comments/{id}/vote — set this reader's vote to +1, 0 or -1."""
    ctx = ctx_of(request)
    site = await _comment_site(ctx, request, comment)
    await writer_of(ctx, request, site)
    reader, signed = reader_of(ctx, request)
    addr, key = client_of(ctx, request)
    tally = await ctx.votes.vote(site, int(comment), reader, body.value, key, addr)
    headers = {READER_HEADER: signed} if signed else None
    return json_response(
        {"score": tally.score, "up": tally.up, "down": tally.down, "value": tally.value}, headers=headers
    )


async def flag(request: Request, comment: CommentIdPath, body: schemas.FlagIn) -> Response:
    """POST /api/v1/comments/{id}/flag — a reader reports a comment to the moderators."""
    ctx = ctx_of(request)
    site = await _comment_site(ctx, request, comment)
    await writer_of(ctx, request, site)
    reader, signed = reader_of(ctx, request)
    await ctx.votes.flag(site, int(comment), reader, body.reason, client_of(ctx, request)[1])
    headers = {READER_HEADER: signed} if signed else None
    return json_response({"status": "received"}, 202, headers)


async def counts(
    request: Request,
    site: SiteId,
    page: Annotated[list[str], Query(min_length=1, max_length=100)],
    fresh: Fresh = None,
) -> Response:
    """GET /api/v1/sites/{site}/counts — visible comment counts of up to 100 pages (read with the
    batched version check, so exact and cheap under a spike)."""
    ctx = ctx_of(request)
    config = site_of(ctx, site)
    for value in page:
        if not 1 <= len(value) <= 2048:
            raise errors.InvalidInput.field("page", "must be 1 to 2048 characters")
    pairs = tuple((value, inputs.page_key(value)) for value in page)
    return await ctx.reads.counts_read(request, config.id, pairs)
