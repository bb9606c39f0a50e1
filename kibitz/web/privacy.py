"""Privacy pages (HTML, form posts; privacy.py has the rules): "Download my data" and "Erase me" from
the guest's manage page, the page where a guest without a mail asks for a manage link, and the
owners' "Privacy requests" page in the admin for requests that arrive by post."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from pydantic import BaseModel
from starlette.responses import Response

from kibitz import errors
from kibitz.accounts import Reader
from kibitz.config import ErasePolicy, SiteConfig
from kibitz.context import Context
from kibitz.links import links_for
from kibitz.privacy import Identity
from kibitz.staff import Principal
from kibitz.web import admin
from kibitz.web.admin import Form
from kibitz.web.api import READER_HEADER, check_origin, client_of, ctx_of, json_response, site_of
from kibitz.web.auth import signed_in
from kibitz.web.manage_pages import SURE, _action, _action_problem
from kibitz.web.pages_common import (
    chrome,
    form_ok,
    form_token,
    message,
    page,
    problem,
    read_form,
    refusal,
    refused,
)
from kibitz.web.subscribe import subscriptions_of

ASKED = (
    "If this address has comments or subscriptions on {site}, a mail with a link to them is on its "
    "way; it works for an hour. Nothing is sent to an address we do not know."
)


def _download(data: dict[str, Any], filename: str) -> Response:
    body = json.dumps(data, ensure_ascii=False, indent=2).encode()
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _filename(site: str) -> str:
    return f"kibitz-{site}-my-data.json"


async def download(request: Request, token: str) -> Response:
    """POST /manage/{token}/data — "Download my data": everything kept about the link's address on
    its site, as a JSON file (comments, votes, reports, subscriptions with their consent, mails)."""
    ctx = ctx_of(request)
    form = await read_form(request)
    if refused_ := await refusal(request, token, form):
        return refused_
    try:
        holder = await subscriptions_of(ctx).holder(token)
    except errors.KibitzError as exc:
        return await _action_problem(exc, request, token)
    data = await ctx.privacy.export(ctx.privacy.of_address(holder.site, holder.email))
    return _download(data, _filename(holder.site))


async def erase(request: Request, token: str) -> Response:
    """POST /manage/{token}/erase — "Erase me": the first press shows what erasing does and asks; the
    second (``sure=yes``) erases the link's address from its site under the site's ``erase`` policy.
    Both need a link issued within the hour."""
    ctx = ctx_of(request)
    form = await read_form(request)
    if refused_ := await refusal(request, token, form):
        return refused_
    try:
        holder = await subscriptions_of(ctx).holder(token, destructive=True)
        site = ctx.settings.site(holder.site)
        if site is None:
            raise errors.NotFound()
        policy = (await ctx.policies.current(site)).erase
        if form.get(SURE) != ["yes"]:
            return page(
                "pages/erase.html",
                chrome(ctx, site.id),
                site_name=links_for(ctx.tokens, ctx.settings).site_name(site.id),
                email=holder.email,
                remove=policy is ErasePolicy.REMOVE,
                manage_url=_action(request, token),
                form=form_token(ctx, token),
                sure=SURE,
            )
        await ctx.privacy.erase(ctx.privacy.of_address(site.id, holder.email), policy)
    except errors.KibitzError as exc:
        return await _action_problem(exc, request, token)
    name = links_for(ctx.tokens, ctx.settings).site_name(site.id)
    words = "removed" if policy is ErasePolicy.REMOVE else "shown as written by “deleted”"
    text = (
        f"Your address is gone from {name}: your subscriptions and mail are cancelled, your votes "
        f"withdrawn, and your comments {words}. No mail will be sent to this address from {name} again."
    )
    return message(chrome(ctx, site.id), 200, "You are erased", text)


# -- asking for a manage link by address -------------------------------------------------------------


def _ask_page(request: Request, site_id: str, notice: str = "", status: int = 200) -> Response:
    ctx = ctx_of(request)
    return page(
        "pages/privacy.html",
        chrome(ctx, site_id),
        status,
        site_name=links_for(ctx.tokens, ctx.settings).site_name(site_id),
        action=f"{request.scope.get('root_path', '')}/privacy/{site_id}",
        form=form_token(ctx, f"privacy:{site_id}"),
        notice=notice,
    )


async def ask_page(request: Request, site: str) -> Response:
    """GET /privacy/{site} — a form asking for one's address, to get a manage link by mail."""
    ctx = ctx_of(request)
    if ctx.settings.site(site) is None:
        return problem(ctx, errors.NotFound())
    return _ask_page(request, site)


async def ask(request: Request, site: str) -> Response:
    """POST /privacy/{site} — ``email``: mail a manage link to it when it has comments or
    subscriptions here; the same answer for every address; rate-limited per client address."""
    ctx = ctx_of(request)
    config = ctx.settings.site(site)
    if config is None:
        return problem(ctx, errors.NotFound(), posted=True)
    form = await read_form(request)
    if not form_ok(ctx, request, form, f"privacy:{site}"):
        return refused(chrome(ctx, site))
    email = form.get("email", [])
    try:
        if len(email) != 1 or len(email[0]) > 320:
            raise errors.InvalidInput.field("email", "is required")
        links = links_for(ctx.tokens, ctx.settings)
        await ctx.privacy.request_link(config, email[0], client_of(ctx, request)[1], links)
    except errors.RateLimited as exc:
        text = "Too many requests from here in a short time; nothing was sent. Try again later."
        response = message(chrome(ctx, site), 429, "Too many requests", text)
        response.headers.update(exc.headers)
        return response
    except errors.InvalidInput:
        return _ask_page(request, site, "Enter the address you used here.", 422)
    name = links_for(ctx.tokens, ctx.settings).site_name(site)
    return _ask_page(request, site, ASKED.format(site=name))


# -- the owners' page ------------------------------------------------------------------------------


@admin.page
async def requests_page(request: Request) -> Response:
    """GET /admin/sites/{site}/privacy — export or erase a reader by address (owners only)."""
    who = await admin.staff(request)
    site = _owners_site(request, who)
    ctx = ctx_of(request)
    current = await ctx.policies.current(site)
    return admin.render(
        request, "admin/privacy.html", who=who, site=site, section="privacy",
        erase_mode=current.erase.value, done=admin.query(request, "done", 20),
    )  # fmt: skip


def _owners_site(request: Request, who: Principal) -> SiteConfig:
    site = admin.site_for(request, who)
    if not who.is_owner:
        raise errors.Forbidden("Only owners handle privacy requests")
    return site


async def _person(request: Request) -> tuple[Principal, SiteConfig, Identity, Form]:
    who, form = await admin.posted(request)
    site = _owners_site(request, who)
    ctx = ctx_of(request)
    return who, site, ctx.privacy.identity(site, form.one("email", limit=320)), form


@admin.page
async def requests_export(request: Request) -> Response:
    """POST /admin/sites/{site}/privacy/export — ``email``: the reader's data as a JSON file (audited,
    without the address)."""
    who, site, person, _ = await _person(request)
    data = await ctx_of(request).privacy.export(person, actor=who.actor)
    return _download(data, f"kibitz-{site.id}-privacy-export.json")


@admin.page
async def requests_erase(request: Request) -> Response:
    """POST /admin/sites/{site}/privacy/erase — ``email`` and ``confirm=erase``: erase the reader under
    the site's policy (audited, without the address)."""
    who, site, person, form = await _person(request)
    if form.one("confirm", limit=10) != "erase":
        raise errors.InvalidInput.field("confirm", "type erase to confirm")
    ctx = ctx_of(request)
    policy = (await ctx.policies.current(site)).erase
    await ctx.privacy.erase(person, policy, actor=who.actor)
    return admin.redirect(f"/admin/sites/{site.id}/privacy?done=erased")


class ErasureOut(BaseModel):
    mode: str  # anonymise | remove: the site's erase policy
    comments: int
    votes: int
    subscriber: bool
    mails: int
    accounts: int


class ErasedOut(BaseModel):
    erased: ErasureOut


async def my_data(request: Request) -> Response:
    """GET /api/v1/me/export — "Download my data" for a signed-in reader: everything kept about them
    on their account's site (the account, its ways to sign in and sessions, comments, votes, reports,
    subscriptions, mails), as a JSON file."""
    ctx = ctx_of(request)
    reader = await signed_in(ctx, request)
    data = await ctx.privacy.export(_account_identity(ctx, request, reader))
    response = _download(data, _filename(reader.account.site))
    response.headers["Cache-Control"] = "no-store"
    return response


async def erase_me(request: Request) -> Response:
    """DELETE /api/v1/me — "Erase me" for a signed-in reader: the account, its sessions (signed out at
    once) and everything of theirs on the site, under the site's ``erase`` policy; the address, if
    proven, stays only as a keyed hash on the suppression list."""
    ctx = ctx_of(request)
    reader = await signed_in(ctx, request)
    site = site_of(ctx, reader.account.site)
    check_origin(site, request)
    policy = (await ctx.policies.current(site)).erase
    done = await ctx.privacy.erase(_account_identity(ctx, request, reader), policy)
    return json_response({"erased": done.counts()}, headers={"Cache-Control": "no-store"})


def _account_identity(ctx: Context, request: Request, reader: Reader) -> Identity:
    # The browser's reader id too (when it is a genuine one): votes and reports are kept under it.
    raw = ctx.tokens.reader(request.headers.get(READER_HEADER))
    account = reader.account
    return ctx.privacy.of_account(account.site, account.id, account.email, [raw] if raw else [])
