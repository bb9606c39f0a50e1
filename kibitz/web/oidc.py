"""OpenID Connect sign-in (kibitz/oidc.py): the popup's start, which sends the browser to the
provider, and the callback, a page that hands the session to the widget by ``postMessage`` to the
site's origin only. Both are pages for people (HTML), not part of the JSON API."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import Path, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from kibitz import errors, guard
from kibitz.oidc import FlowFailed
from kibitz.templating import render_template
from kibitz.web.api import client_of, ctx_of
from kibitz.web.auth import FRAGMENT
from kibitz.web.pages_common import Chrome, chrome, message

COOKIE = "kibitz_oidc"
COOKIE_PATH = "/auth/oidc/"
ProviderId = Annotated[str, Path(max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
Param = Annotated[str | None, Query(max_length=2048)]


def _headers(nonce: str) -> dict[str, str]:
    return {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex, nofollow",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
    }


def _done(status: int, heading: str, text: str, payload: dict[str, Any], back_url: str = "") -> Response:
    nonce = secrets.token_urlsafe(16)
    body = render_template(
        "pages/oidc_done.html",
        chrome=Chrome(),
        heading=heading,
        text=text,
        payload=payload,
        nonce=nonce,
        back_url=back_url,
    )
    return HTMLResponse(body, status_code=status, headers=_headers(nonce))


async def start(
    request: Request,
    provider: ProviderId,
    site: Annotated[str, Query(max_length=64)],
    return_: Annotated[str | None, Query(alias="return", max_length=2048)] = None,
) -> Response:
    """GET /auth/oidc/{provider}/start?site=&return= — open the provider's sign-in (in the popup)."""
    ctx = ctx_of(request)
    config = ctx.settings.site(site)
    if config is None or provider not in ctx.oidc.providers:
        return message(chrome(ctx, None), 404, "Not found", "This sign-in is not offered here.")
    try:
        async with ctx.db.write() as tx:
            await guard.check_rate(
                tx,
                site=config.id,
                action="sign_ins",
                limit=config.rate_limits.sign_ins,
                client=client_of(ctx, request)[1],
                now=ctx.clock(),
            )
        started = await ctx.oidc.start(provider, config, return_)
    except errors.RateLimited as exc:
        return message(chrome(ctx, config.id), 429, "Too many sign-ins", exc.detail)
    except errors.Unavailable:
        text = "The sign-in service could not be reached. Close this window and try again later."
        return message(chrome(ctx, config.id), 503, "Sign-in unavailable", text)
    response = RedirectResponse(started.url, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        COOKIE,
        started.binding,
        max_age=15 * 60,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",  # sent on the provider's redirect back (a top-level GET)
        secure=ctx.settings.base_url.startswith("https://"),
    )
    return response


async def callback(
    request: Request,
    provider: ProviderId,
    state: Param = None,
    code: Param = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """GET /auth/oidc/{provider}/callback — the provider's answer: sign in and hand the session over."""
    ctx = ctx_of(request)
    if provider not in ctx.oidc.providers:
        return message(chrome(ctx, None), 404, "Not found", "This sign-in is not offered here.")
    try:
        done = await ctx.oidc.finish(provider, state, code, error, request.cookies.get(COOKIE))
    except FlowFailed as exc:
        payload = {"origin": exc.origin, "message": {"kibitz": "sign-in", "error": exc.code}}
        text = f"{exc.detail}. Close this window and try again."
        return _forget(_done(401, "Not signed in", text, payload))
    except errors.Unavailable:
        text = "The sign-in service could not be reached. Close this window and try again later."
        return _forget(message(chrome(ctx, None), 503, "Sign-in unavailable", text))
    signed = done.signed
    account = ctx.accounts.me(signed.reader)
    payload = {
        "origin": done.origin,
        "message": {"kibitz": "sign-in", "session": signed.session, "account": account},
        "fallback": f"{signed.return_url}#{FRAGMENT}={signed.session}",
    }
    text = f"You are signed in as {account['name']}. This window closes by itself."
    return _forget(_done(200, "Signed in", text, payload, signed.return_url))


def _forget(response: Response) -> Response:
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response
