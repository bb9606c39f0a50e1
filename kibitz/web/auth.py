"""Reader sign-in and the signed-in reader's account (DESIGN.md §3b): a mailed link, the publisher's
own login (SSO), and ``/api/v1/me``. OpenID Connect's routes are in web/oidc.py.

The session travels in ``X-Kibitz-Session`` (allowed and exposed by CORS), never in a cookie: the API
is usually on another site than the page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request
from pydantic import BaseModel, Field
from starlette.responses import RedirectResponse, Response

from kibitz import errors, guard, inputs, sso
from kibitz.accounts import Reader, SignedIn
from kibitz.context import Context
from kibitz.web.api import SiteId, check_origin, client_of, ctx_of, json_response, site_of
from kibitz.web.pages_common import POLICY, chrome, form_ok, form_token, page, problem, read_form, refused
from kibitz.web.schemas import Str, Strict
from kibitz.web.sessions import SESSION_HEADER, reader_of

# Where a page hands the session to the widget: the fragment never reaches a server (the widget
# reads it, keeps the session and removes it from the address bar).
FRAGMENT = "kibitz-session"
LinkToken = Annotated[str, Path(max_length=300)]


class EmailIn(Strict):
    email: Annotated[Str, Field(min_length=1, max_length=inputs.MAX_EMAIL)]
    # The story to come back to: on one of the site's origins, else the site's first origin.
    return_: Annotated[Str | None, Field(alias="return", max_length=inputs.MAX_URL)] = None


class SsoIn(Strict):
    token: Annotated[Str, Field(min_length=1, max_length=sso.MAX_TOKEN)]


class MeIn(Strict):
    name: Annotated[Str, Field(min_length=1, max_length=inputs.MAX_NAME)] | None = None
    avatar: Annotated[Str, Field(max_length=16)] | None = None
    notify: Annotated[Str, Field(max_length=16)] | None = None
    digest: Annotated[Str, Field(max_length=16)] | None = None


class SignOutIn(Strict):
    everywhere: bool = False


class AccountOut(BaseModel):
    id: str
    site: str
    name: str
    email: str | None
    picture: str | None
    avatar: str
    badges: list[str]
    notify: str
    digest: str
    signed_in_with: str
    identities: list[str]
    moderates: bool = Field(
        description="May moderate the site's comments from the widget now: the site allows moderators "
        "from its own login (sso_moderators) and this session signed in through it with the moderator role"
    )


class SignedInOut(BaseModel):
    session: str
    account: AccountOut


class MeOut(BaseModel):
    account: AccountOut


class SentOut(BaseModel):
    status: str


class JoinedOut(BaseModel):
    joined: int


class ProviderOut(BaseModel):
    id: str
    name: str


class OptionsOut(BaseModel):
    authors: str
    email: bool
    sso: bool
    providers: list[ProviderOut]


async def options(request: Request, site: SiteId) -> Response:
    """GET /api/v1/sites/{site}/auth — how readers of the site may sign in, and who may write."""
    ctx = ctx_of(request)
    config = site_of(ctx, site)
    current = await ctx.policies.current(config)
    body = {
        "authors": current.authors.value,
        # A mailed link alone is no account where the site wants accounts: not offered there.
        "email": current.authors.value != "accounts",
        "sso": sso.enabled(config),
        "providers": [{"id": p.id, "name": p.name} for p in ctx.oidc.providers.values()],
    }
    return json_response(body, headers={"Cache-Control": "no-store"})


async def signed_in(ctx: Context, request: Request) -> Reader:
    """The signed-in reader the request's session names (401 without one)."""
    reader = await reader_of(ctx, request)
    if reader is None:
        raise errors.Unauthorized("Send the session in X-Kibitz-Session")
    return reader


async def account_of(ctx: Context, reader: Reader) -> dict[str, object]:
    """The account as its owner sees it, with whether it moderates its site from the widget now."""
    site = ctx.settings.site(reader.account.site)
    moderates = site is not None and await ctx.reader_moderation.may(site, reader)
    return ctx.accounts.me(reader, moderates=moderates)


async def _signed_in_answer(ctx: Context, signed: SignedIn) -> Response:
    body = {"session": signed.session, "account": await account_of(ctx, signed.reader)}
    return json_response(body, headers={"Cache-Control": "no-store", SESSION_HEADER: signed.session})


async def email_link(request: Request, site: SiteId, body: EmailIn) -> Response:
    """POST /api/v1/sites/{site}/auth/email — mail a single-use sign-in link (15 minutes); 202 for
    every address. Signed in, the link adds the address to the account instead."""
    ctx = ctx_of(request)
    config = site_of(ctx, site)
    reader = await reader_of(ctx, request, config)
    await ctx.email_sign_in.request(config, body.email, body.return_, client_of(ctx, request)[1], reader)
    return json_response({"status": "sent"}, 202, {"Cache-Control": "no-store"})


async def sso_sign_in(request: Request, site: SiteId, body: SsoIn) -> Response:
    """POST /api/v1/sites/{site}/auth/sso — the publisher's signed token → a session. Refused tokens
    are 401 ``invalid_sign_in`` and store nothing."""
    ctx = ctx_of(request)
    config = site_of(ctx, site)
    now = ctx.clock()
    async with ctx.db.write() as tx:  # counted before the token is looked at, as every attempt is
        await guard.check_rate(
            tx,
            site=config.id,
            action="sign_ins",
            limit=config.rate_limits.sign_ins,
            client=client_of(ctx, request)[1],
            now=now,
        )
    profile = sso.verify(config, body.token, now)
    async with ctx.db.write() as tx:
        signed = await ctx.accounts.sign_in(tx, config, profile, now)
        # The token's author_of: the pages this person wrote (their comments there: "author").
        changed = await ctx.story_authors.claimed(tx, config, profile.subject, profile.author_of, now)
    await ctx.story_authors.dispatch(changed)
    return await _signed_in_answer(ctx, signed)


async def me(request: Request) -> Response:
    """GET /api/v1/me — the signed-in reader's account (their own address included)."""
    ctx = ctx_of(request)
    reader = await signed_in(ctx, request)
    return json_response({"account": await account_of(ctx, reader)}, headers={"Cache-Control": "no-store"})


async def update_me(request: Request, body: MeIn) -> Response:
    """PATCH /api/v1/me — name, avatar (identicon | picture), notify and digest defaults."""
    ctx = ctx_of(request)
    reader = await signed_in(ctx, request)
    check_origin(site_of(ctx, reader.account.site), request)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True, exclude_none=True)
    updated = await ctx.accounts.update(reader, changes)
    return json_response({"account": await account_of(ctx, updated)}, headers={"Cache-Control": "no-store"})


async def sign_out(request: Request, body: SignOutIn) -> Response:
    """POST /api/v1/me/sign-out — end this session (``everywhere``: every session of the account)."""
    ctx = ctx_of(request)
    reader = await signed_in(ctx, request)
    check_origin(site_of(ctx, reader.account.site), request)
    await ctx.accounts.sign_out(reader, everywhere=body.everywhere)
    return Response(status_code=204)


async def join(request: Request) -> Response:
    """POST /api/v1/me/join — the guest comments posted on the site under the account's proven
    address become the account's."""
    ctx = ctx_of(request)
    reader = await signed_in(ctx, request)
    check_origin(site_of(ctx, reader.account.site), request)
    return json_response({"joined": await ctx.accounts.join_guest_history(reader)})


async def email_link_page(request: Request, token: LinkToken) -> Response:
    """GET /auth/email/{token} — a page whose button signs in; the GET changes nothing."""
    ctx = ctx_of(request)
    try:
        view = await ctx.email_sign_in.view(token)
    except errors.KibitzError as exc:
        return problem(ctx, exc)
    shown = page(
        "pages/sign_in.html",
        chrome(ctx, view.site),
        site_name=ctx.email_sign_in.links.site_name(view.site),
        email=view.email,
        form=form_token(ctx, token),
    )
    # The form's answer redirects to the story on the publisher's site: form-action must allow it
    # (browsers hold redirects of a form post to the page's form-action too).
    config = ctx.settings.site(view.site)
    origins = " ".join(config.origins) if config is not None else ""
    shown.headers["Content-Security-Policy"] = POLICY.replace(
        "form-action 'self'", f"form-action 'self' {origins}"
    )
    return shown


async def email_link_use(request: Request, token: LinkToken) -> Response:
    """POST /auth/email/{token} — sign in (once) and go back to the story, the session in the fragment."""
    ctx = ctx_of(request)
    form = await read_form(request)
    try:
        view = await ctx.email_sign_in.view(token)
    except errors.KibitzError as exc:
        return problem(ctx, exc, posted=True)
    if not form_ok(ctx, request, form, token):
        return refused(chrome(ctx, view.site))
    try:
        signed = await ctx.email_sign_in.use({s.id: s for s in ctx.settings.sites}, token)
    except errors.KibitzError as exc:
        return problem(ctx, exc, posted=True)
    target = f"{signed.return_url}#{FRAGMENT}={signed.session}"
    return RedirectResponse(
        target, status_code=303, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )
