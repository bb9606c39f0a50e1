"""The moderators' admin UI (HTML under /admin/): rendering with its headers, form parsing, staff
sign-in and site checks, HTML error pages, and the allow-listed static files. The pages live in
admin_auth.py, admin_queue.py, admin_site.py, admin_hooks.py, admin_imports.py and admin_newsletter.py."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from fastapi import Request
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Match

from kibitz import errors
from kibitz.config import SiteConfig
from kibitz.context import Context
from kibitz.staff import Principal
from kibitz.web import staff_auth
from kibitz.web.api import ctx_of

Handler = Callable[[Request], Awaitable[Response]]
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "same-origin",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Frame-Options": "DENY",
}
STATIC = {
    "admin.css": "text/css",
    "admin.js": "text/javascript",
    "htmx.min.js": "text/javascript",
    "campaign.js": "text/javascript",
}
MAX_FIELDS = 600  # a bulk action posts up to 500 ids
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MESSAGES = {
    400: "Bad request",
    401: "Sign in first",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed this way",
    409: "Conflict",
    410: "Link expired",
    413: "Too large",
    415: "Not a form",
    422: "Not saved",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Briefly unavailable",
}


# Every reason code the screening of a post can give (kibitz/guard.py, kibitz/spam/signals.py,
# kibitz/spam/engine.py, kibitz/akismet.py; docs/moderation.md), in the words the queue shows.
# tests/test_admin_pages.py reads the codes off those files and fails on one without words here.
REASONS = {
    "honeypot": "filled in the hidden field (a script)",
    "form_token": "no valid form token",
    "too_fast": "posted too fast after the form appeared",
    "form_replayed": "the same form sent twice",
    "no_form_token": "sent without the widget's form (weak evidence on its own)",
    "shadow_ban": "shadow-banned author",
    "repeat": "repeats a recent comment",
    "near_repeat": "nearly repeats the author's own recent comment",
    "moderation_all": "every comment waits",
    "new_author": "a new author",
    "low_trust": "the author had comments rejected",
    "spam_score": "spam score",
    "classifier": "its words read like spam (the spam filter)",
    "shortener": "a link through a URL shortener",
    "link_only": "little but a link",
    "link_density": "mostly links",
    "name_link": "the author's name reads like an advert, with a web address",
    "lookalike": "letters of another script that look like Latin ones",
    "invisible": "invisible characters inside words",
    "styled": "letters in styled Unicode (bold, script, fullwidth)",
    "contact": "asks readers to write on a messenger",
    "akismet": "Akismet says spam",
    "akismet_unavailable": "Akismet did not answer; held to be safe",
    # Not a screening: every imported comment carries it (kibitz/imports/writer.py).
    "import": "imported, with the status it had in the other system",
}
# Codes with a detail after a colon ("links:5"): the detail goes in the words.
REASONS_WITH = {
    "blocked_word": "blocked word “{}”",
    "suspect_word": "suspect word “{}”",
    "links": "{} links",
    "tld": "a link to a .{} address (a domain ending often used for spam)",
    "spam_domain": "links to {}, marked as spam on this site before",
    "near_duplicates": "near-copies from other authors in the last hour: {}",
}


def reason_text(code: str) -> str:
    """Why a comment was held or filed as spam, in words (an unknown code shows as it is)."""
    kind, _, value = code.partition(":")
    if value and kind in REASONS_WITH:
        return REASONS_WITH[kind].format(value)
    return REASONS.get(code, code)


class SignInFirst(Exception):
    """Raised where a page needs a signed-in member of staff; answered with a redirect to sign in."""


# -- rendering ----------------------------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return value.strftime("%d %b %Y, %H:%M UTC") if value else ""


def age(then: datetime | None, now: datetime) -> str:
    """How long ago, in words a desk editor reads at a glance ("5 min", "3 h", "2 d")."""
    if then is None:
        return ""
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("kibitz", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["iso"] = lambda value: value.isoformat() if value else ""
    env.globals["age"] = age
    env.filters["reason"] = reason_text
    env.globals["static"] = static_url
    env.globals["qs"] = lambda **kw: urlencode({k: v for k, v in kw.items() if v not in (None, "")})
    env.globals["q"] = lambda value: quote(str(value), safe="")
    return env


@cache
def _static(name: str) -> tuple[bytes, str]:
    body = resources.files("kibitz").joinpath("static", "admin", name).read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:12]


def static_url(name: str) -> str:
    """The URL of an admin static file, versioned by its content (it is cached for a year)."""
    return f"/admin/static/{name}?v={_static(name)[1]}"


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    template: str,
    *,
    status: int = 200,
    who: Principal | None = None,
    site: SiteConfig | None = None,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """A page or fragment of the admin, with the admin's headers."""
    ctx = ctx_of(request)
    html = (
        environment()
        .get_template(template)
        .render(
            who=who,
            csrf=who.csrf if who else "",
            site=site,
            sites=visible_sites(ctx, who) if who else [],
            now=ctx.clock(),
            path=request.url.path,
            here=here(request),
            **values,
        )
    )
    return HTMLResponse(html, status_code=status, headers={**HEADERS, **(headers or {})})


def here(request: Request) -> str:
    """This page's path and query: where a form sends the desk editor back to after an action."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def redirect(url: str, headers: dict[str, str] | None = None) -> Response:
    return RedirectResponse(url, status_code=303, headers={**HEADERS, **(headers or {})})


def local_admin_path(value: str, default: str = "/admin/") -> str:
    """``value`` when it is a path of this admin (never another host: no open redirect), else default."""
    if not value or len(value) > 2000 or "\\" in value or _CONTROL.search(value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/"):
        return default
    if parts.path != "/admin" and not parts.path.startswith("/admin/"):
        return default
    return value


def error_page(request: Request, exc: errors.KibitzError, who: Principal | None = None) -> Response:
    """A refused or failed request as a plain page (fragment for htmx) saying what happened."""
    status = exc.status if exc.status in MESSAGES else 400
    detail = exc.detail
    if isinstance(exc, errors.InvalidInput) and exc.errors:
        detail = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
    if status == 403:
        detail = "You may not see this, or your form expired: reload the page and try again."
    elif status == 404:
        detail = "There is nothing here."
    elif status == 429:
        detail = f"Too many attempts: try again in {_minutes(exc.headers.get('Retry-After', '60'))}."
    template = "admin/_error.html" if is_htmx(request) else "admin/message.html"
    return render(
        request,
        template,
        status=status,
        who=who,
        heading=MESSAGES[status],
        message=detail,
        headers=exc.headers,
    )


def _minutes(retry_after: str) -> str:
    seconds = int(retry_after) if retry_after.isdigit() else 60
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{(seconds + 59) // 60} minutes"


def page(handler: Handler) -> Handler:
    """Every admin handler: errors become HTML pages, a missing session a trip to the sign-in page."""

    @functools.wraps(handler)
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except (SignInFirst, errors.Unauthorized):
            target = here(request) if request.method == "GET" else "/admin/"
            login = "/admin/login?" + urlencode({"next": local_admin_path(target)})
            if is_htmx(request):
                return Response(status_code=401, headers={**HEADERS, "HX-Redirect": login})
            return redirect(login)
        except errors.KibitzError as exc:
            return error_page(request, exc)

    return run


# -- forms ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Form:
    """A parsed ``application/x-www-form-urlencoded`` body (what every admin form posts)."""

    fields: dict[str, list[str]]

    def one(self, name: str, default: str = "", limit: int = 10_000) -> str:
        values = self.fields.get(name)
        return clean(values[-1], limit) if values else default

    def all(self, name: str, limit: int = 200) -> list[str]:
        return [clean(value, limit) for value in self.fields.get(name, [])]

    def has(self, name: str) -> bool:
        return name in self.fields


def clean(value: str, limit: int = 10_000) -> str:
    """Text without NUL or other control characters (newlines and tabs stay), cut at ``limit``."""
    return _CONTROL.sub("", value.replace("\r\n", "\n"))[:limit]


async def read_form(request: Request) -> Form:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise errors.UnsupportedMediaType("Send the form as application/x-www-form-urlencoded")
    body = await request.body()
    try:
        fields = parse_qs(body.decode("ascii"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise errors.MalformedRequest("The form could not be read") from None
    return Form(fields)


def query(request: Request, name: str, limit: int = 1024) -> str:
    return clean(request.query_params.get(name, ""), limit).strip()


# -- who may do what -------------------------------------------------------------------------------------


async def staff(request: Request, form: Form | None = None) -> Principal:
    """The signed-in member of staff; for a form post, only with this session's CSRF token."""
    csrf = form.one("csrf", limit=200) if form is not None else None
    try:
        who = await staff_auth.principal(request, form_csrf=csrf)
    except errors.Unauthorized:
        raise SignInFirst from None
    if who.member is None:  # an API key: the JSON API is its way in, not these pages
        raise errors.Forbidden("Sign in as a member of staff")
    if form is not None and not (csrf and hmac.compare_digest(csrf.encode(), who.csrf.encode())):
        raise errors.Forbidden("The form's CSRF token is missing or not this session's")
    return who


async def posted(request: Request) -> tuple[Principal, Form]:
    """A form post by signed-in staff with a valid CSRF token."""
    form = await read_form(request)
    return await staff(request, form), form


def visible_sites(ctx: Context, who: Principal) -> list[SiteConfig]:
    return [s for s in ctx.settings.sites if who.can(s.id)]


def site_for(request: Request, who: Principal) -> SiteConfig:
    """The site named in the path, when ``who`` may moderate it: 403 alike for another's site and
    for none at all, so nothing is learnt about sites one may not see."""
    site_id = str(request.path_params.get("site", ""))
    if not who.can(site_id):
        if who.is_owner:
            raise errors.NotFound("No such site")
        raise errors.Forbidden("Not allowed")
    return ctx_of(request).moderation.site(site_id)


def ident(value: str, field: str = "id") -> int:
    """A numeric id from a path or form; anything else is 404, as for an id that does not exist."""
    if not re.fullmatch(r"[1-9][0-9]{0,17}", value or ""):
        raise errors.NotFound(f"No such {field}")
    return int(value)


def ids(values: Sequence[str]) -> list[int]:
    found = [int(v) for v in values if re.fullmatch(r"[1-9][0-9]{0,17}", v)]
    if not found:
        raise errors.InvalidInput.field("ids", "select at least one comment")
    return found


# -- static files and paths that are not there -------------------------------------------------------------


async def static(request: Request) -> Response:
    """GET /admin/static/{name} — the admin's own CSS and scripts (an allow-list), cached for a year."""
    name = str(request.path_params.get("name", ""))
    if name not in STATIC:
        return error_page(request, errors.NotFound())
    body, _ = _static(name)
    return Response(
        body,
        media_type=STATIC[name],
        headers={"Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"},
    )


async def not_found(request: Request) -> Response:
    """Any other /admin/ path: 405 when the path exists for another method, else 404 (HTML)."""
    for route in request.app.router.routes:
        path = getattr(route, "path", "")
        if not path.startswith("/admin") or "{rest" in path:
            continue
        match, _ = route.matches({**request.scope, "method": "POST" if request.method == "GET" else "GET"})
        if match is Match.FULL:
            return error_page(request, errors.MethodNotAllowed())
    return error_page(request, errors.NotFound())
