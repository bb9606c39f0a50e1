"""Who an admin request is: an API key (`Authorization: Bearer kbz_…`) or a staff session cookie
(with its CSRF token on every write), the check that it may act on a site, and the session cookie."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from fastapi import Request, Response

from kibitz import errors
from kibitz.apikeys import PREFIX
from kibitz.config import Settings
from kibitz.staff import IDLE, Principal

if TYPE_CHECKING:
    from kibitz.context import Context

SESSION_COOKIE = "kibitz_admin"
# Browsers accept a __Host- cookie only when Secure, with Path=/ and no Domain: it cannot be set or
# overwritten by a sibling subdomain or over plain HTTP.
SECURE_SESSION_COOKIE = "__Host-kibitz_admin"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_https(settings: Settings) -> bool:
    return settings.base_url.lower().startswith("https://")


def session_cookie_name(settings: Settings) -> str:
    """``__Host-kibitz_admin`` when the service is served over https, else ``kibitz_admin``."""
    return SECURE_SESSION_COOKIE if is_https(settings) else SESSION_COOKIE


def session_token(request: Request) -> str:
    """The session cookie's value under this service's cookie name, or ""."""
    ctx: Context = request.app.state.ctx
    return request.cookies.get(session_cookie_name(ctx.settings), "")


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise errors.Unauthorized("Send an API key as Authorization: Bearer kbz_…")
    return value.strip()


async def principal(request: Request, *, form_csrf: str | None = None) -> Principal:
    """The key or staff member behind the request, or Unauthorized. A cookie session's write must
    carry its CSRF token (header ``X-CSRF-Token``, or the form field ``csrf`` the caller passes)."""
    ctx: Context = request.app.state.ctx
    secret = _bearer(request)
    if secret is not None:
        found = await ctx.staff.key_principal(secret) if secret.startswith(PREFIX) else None
        if found is None:
            raise errors.Unauthorized("This API key is unknown or revoked")
        return found
    token = session_token(request)
    if not token:
        raise errors.Unauthorized("Sign in, or send an API key")
    found = await ctx.staff.session(token)
    if found is None:
        raise errors.Unauthorized("The session is over; sign in again")
    if request.method.upper() in UNSAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER) or form_csrf or ""
        if not sent or not hmac.compare_digest(sent.encode("utf-8", "replace"), found.csrf.encode()):
            raise errors.CsrfFailed()
    return found


def require(principal: Principal, site_id: str, scope: str = "moderate") -> None:
    """Forbidden unless the principal may act on the site in this scope (the same answer whether the
    site exists or not)."""
    if not principal.can(site_id, scope):
        raise errors.Forbidden("Not allowed")


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Path=/, Secure over https; it lives no longer
    than a session may stay idle (the server ends idle sessions itself)."""
    response.set_cookie(
        session_cookie_name(settings),
        token,
        max_age=int(IDLE.total_seconds()),
        path="/",
        secure=is_https(settings),
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        session_cookie_name(settings),
        path="/",
        secure=is_https(settings),
        httponly=True,
        samesite="strict",
    )
