"""Signing in and out of the admin: the login form (with its own pre-session CSRF token), sign out,
sign out everywhere, setting a password from a mailed link, the way into a site's queue, and one's
own account page (how held and reported comments reach one by mail: kibitz/moderator_mail.py)."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import Response

from kibitz import errors, moderator_mail
from kibitz.signin import MIN_PASSWORD
from kibitz.web import staff_auth
from kibitz.web.admin import (
    SignInFirst,
    error_page,
    local_admin_path,
    page,
    posted,
    query,
    read_form,
    redirect,
    render,
    staff,
    visible_sites,
)
from kibitz.web.api import client_of, ctx_of

LOGIN_PURPOSE = "admin-login"
LOGIN_TTL = timedelta(hours=2)
MAIL_CHOICES = (
    ("instant", "Instantly", "A mail for each comment held for moderation or reported by readers."),
    ("digest", "Hourly digest", "At most one mail an hour, listing what still needs a moderator."),
    ("off", "Never", "No mail; the queue in the admin shows everything."),
)
NOTICES = {
    "1": "Done. Sign in to go on.",
    "all": "You are signed out on every device.",
}


def _login_cookie(request: Request) -> tuple[str, bool]:
    """(name, secure) of the pre-session cookie: ``__Host-`` prefixed on https, as the session's is."""
    secure = ctx_of(request).settings.base_url.startswith("https://")
    return ("__Host-kibitz_login" if secure else "kibitz_login"), secure


def _login_form(
    request: Request, *, status: int = 200, email: str = "", totp: bool = False, error: str = "",
    headers: dict[str, str] | None = None, nxt: str | None = None,
) -> Response:  # fmt: skip
    """The sign-in form with a fresh pre-session token, in a hidden field and in a cookie: a post
    must carry both, so another site cannot sign a browser in to an account of its choosing."""
    ctx = ctx_of(request)
    token = ctx.tokens.issue(LOGIN_PURPOSE, secrets.token_urlsafe(16), now=ctx.clock(), ttl=LOGIN_TTL)
    response = render(
        request,
        "admin/login.html",
        status=status,
        login_token=token,
        email=email,
        totp=totp,
        error=error,
        next=local_admin_path(query(request, "next", 2000) if nxt is None else nxt),
        notice=NOTICES.get(query(request, "signed_out", 5) or query(request, "password_set", 5), ""),
        headers=headers,
    )
    name, secure = _login_cookie(request)
    response.set_cookie(
        name,
        token,
        max_age=int(LOGIN_TTL.total_seconds()),
        path="/" if secure else "/admin",
        secure=secure,
        httponly=True,
        samesite="strict",
    )
    return response


@page
async def login_page(request: Request) -> Response:
    """GET /admin/login — the sign-in form (email, password, and a one-time code when needed)."""
    try:
        await staff(request)
    except SignInFirst:
        return _login_form(request)
    return redirect(local_admin_path(query(request, "next", 2000)))


@page
async def login(request: Request) -> Response:
    """POST /admin/login — sign in; on success the session cookie is set (a new session each time)
    and the browser goes to ``next`` when it is a path of this admin."""
    ctx = ctx_of(request)
    form = await read_form(request)
    email = form.one("email", limit=320).strip()
    nxt = form.one("next", limit=2000)
    sent = form.one("login_token", limit=300)
    name, secure = _login_cookie(request)
    kept = request.cookies.get(name, "")
    try:
        if not sent or not hmac.compare_digest(sent.encode(), kept.encode()):
            raise errors.Forbidden("missing")
        ctx.tokens.verify(LOGIN_PURPOSE, sent, now=ctx.clock())
    except Exception:  # a forged, expired or missing token: the same answer for each
        message = "This sign-in form expired or came from elsewhere. Please sign in again."
        return _login_form(request, nxt=nxt, status=403, email=email, error=message)
    code = form.one("totp", limit=12).strip().replace(" ", "")
    try:
        signed = await ctx.staff.sign_in(
            email,
            form.one("password", limit=1000),
            code or None,
            client_of(ctx, request)[1],
            request.headers.get("user-agent", "")[:200],
        )
    except errors.TotpRequired:
        error = "Enter the six-digit code from your authenticator app." if not code else "That code is wrong."
        return _login_form(request, nxt=nxt, status=401, email=email, totp=True, error=error)
    except errors.InvalidCredentials:
        return _login_form(
            request,
            nxt=nxt,
            status=401,
            email=email,
            totp=bool(code),
            error="The email or password is wrong.",
        )
    except errors.RateLimited as exc:
        wait = int(exc.headers.get("Retry-After", "60"))
        when = f"{wait} seconds" if wait < 90 else f"{(wait + 59) // 60} minutes"
        return _login_form(
            request, nxt=nxt, status=429, email=email, error=f"Too many attempts. Try again in {when}.",
            headers=exc.headers,
        )  # fmt: skip
    response = redirect(local_admin_path(nxt))
    previous = staff_auth.session_token(request)
    if previous:  # rotated at sign-in: a session this browser held before ends now
        await ctx.staff.sign_out(previous)
    staff_auth.set_session_cookie(response, signed.token, ctx.settings)
    response.delete_cookie(name, path="/" if secure else "/admin", secure=secure, httponly=True)
    return response


@page
async def logout(request: Request) -> Response:
    """POST /admin/logout — end this session."""
    await posted(request)
    ctx = ctx_of(request)
    token = staff_auth.session_token(request)
    if token:
        await ctx.staff.sign_out(token)
    response = redirect("/admin/login?" + urlencode({"signed_out": "1"}))
    staff_auth.clear_session_cookie(response, ctx.settings)
    return response


@page
async def sign_out_everywhere(request: Request) -> Response:
    """POST /admin/sign-out-everywhere — end every session of this account, on every device."""
    who, _ = await posted(request)
    ctx = ctx_of(request)
    assert who.member is not None  # staff() refuses API keys
    await ctx.staff.sign_out_everywhere(who.member.id, who.actor)
    response = redirect("/admin/login?" + urlencode({"signed_out": "all"}))
    staff_auth.clear_session_cookie(response, ctx.settings)
    return response


@page
async def set_password_page(request: Request) -> Response:
    """GET /admin/set-password/{token} — the form to choose a password; the GET changes nothing."""
    token = str(request.path_params.get("token", ""))
    ctx = ctx_of(request)
    try:
        member = await ctx.staff.check_set_password(token)
    except errors.KibitzError as exc:
        return error_page(request, exc if exc.status in (404, 410) else errors.Gone())
    email = getattr(member, "email", "")
    return render(request, "admin/set_password.html", email=email, error="", minimum=MIN_PASSWORD)


@page
async def set_password(request: Request) -> Response:
    """POST /admin/set-password/{token} — set the password (the link works once), then sign in."""
    token = str(request.path_params.get("token", ""))
    ctx = ctx_of(request)
    form = await read_form(request)
    password = form.one("password", limit=1000)
    error = ""
    if len(password) < MIN_PASSWORD:
        error = f"Choose a password of at least {MIN_PASSWORD} characters."
    elif password != form.one("confirm", limit=1000):
        error = "The two passwords differ."
    if error:
        try:
            member = await ctx.staff.check_set_password(token)
        except errors.KibitzError as exc:
            return error_page(request, exc if exc.status in (404, 410) else errors.Gone())
        return render(
            request, "admin/set_password.html", status=422, email=getattr(member, "email", ""),
            error=error, minimum=MIN_PASSWORD,
        )  # fmt: skip
    try:
        await ctx.staff.set_password(token, password)
    except errors.InvalidInput as exc:
        member = await ctx.staff.check_set_password(token)
        message = "; ".join(e.message for e in exc.errors) or exc.detail
        return render(
            request, "admin/set_password.html", status=422, email=getattr(member, "email", ""),
            error=f"Not saved: {message}.", minimum=MIN_PASSWORD,
        )  # fmt: skip
    except errors.KibitzError as exc:
        return error_page(request, exc if exc.status in (404, 410) else errors.Gone())
    return redirect("/admin/login?" + urlencode({"password_set": "1"}))


@page
async def home(request: Request) -> Response:
    """GET /admin/ — the first site's queue (or a page saying no site is assigned yet)."""
    who = await staff(request)
    sites = visible_sites(ctx_of(request), who)
    if not sites:
        return render(
            request, "admin/message.html", who=who, heading="No sites yet",
            message="No site is assigned to your account yet. Ask an owner to add one.",
        )  # fmt: skip
    return redirect(f"/admin/sites/{sites[0].id}/queue")


@page
async def switch(request: Request) -> Response:
    """GET /admin/switch?site=S&to=queue — the site switcher's target (it works without script)."""
    who = await staff(request)
    site = query(request, "site", 64)
    section = query(request, "to", 20)
    if section not in ("queue", "dashboard", "bans", "settings", "stories", "imports"):
        section = "queue"
    if section == "stories":
        section = "dashboard"
    if not who.can(site):
        raise errors.Forbidden("Not allowed") if not who.is_owner else errors.NotFound("No such site")
    return redirect(f"/admin/sites/{site}/{section}")


@page
async def account(request: Request) -> Response:
    """GET /admin/account — your mail about comments that need a moderator, and your sites."""
    who = await staff(request)
    assert who.member is not None  # staff() refuses API keys
    own = [s.name for s in ctx_of(request).settings.sites if who.member.may_see(s.id)]
    return render(
        request, "admin/account.html", who=who, section="account", choices=MAIL_CHOICES,
        current=who.member.moderation_mail, own_sites=own, saved=query(request, "saved", 2) == "1",
    )  # fmt: skip


@page
async def save_account(request: Request) -> Response:
    """POST /admin/account — ``moderation_mail`` = instant, digest or off (audited)."""
    who, form = await posted(request)
    assert who.member is not None
    ctx = ctx_of(request)
    value = form.one("moderation_mail", limit=10)
    await moderator_mail.set_preference(ctx.db, ctx.clock, who.member.email, value, who.actor)
    return redirect("/admin/account?saved=1")
