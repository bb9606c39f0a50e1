"""What every page for people shares: the response (headers, the layout's header and way back), the
form token each form carries, the same-site check on posts, and the pages that say a link or a post
is refused.

A GET never changes anything (mail scanners fetch every link); tokens come from the path only.
Bad links get one page with no hint why (404), spent or expired ones 410. Every form post but RFC
8058's one-click unsubscribe must come from this site (Sec-Fetch-Site, else Origin) and carry the
page's form token, bound to the link's own token.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from starlette.responses import HTMLResponse, Response

from kibitz import errors
from kibitz.context import Context
from kibitz.links import links_for, one_line
from kibitz.models import Thread
from kibitz.origins import origin_of
from kibitz.security import TokenError
from kibitz.subscriptions import AlreadyConfirmed
from kibitz.templating import render_template
from kibitz.web.api import ctx_of
from kibitz.web.subscribe import subscriptions_of

ONE_CLICK = "One-Click"
FORM_TOKEN = "form"  # noqa: S105 - the name of the hidden field every form on these pages carries
FORM_TTL = timedelta(hours=12)
SAME_SITE = frozenset({"same-origin", "same-site", "none"})
TITLE_SHOWN = 120  # characters of a publisher's title on a page
MAX_FIELDS = 60  # fields of a form post
MESSAGES = {
    400: ("Bad request", "This request could not be read. Open the link from your mail again."),
    404: ("Link not valid", "This link is not valid. Check that the whole link from the mail was opened."),
    410: (
        "Link expired",
        "This link was already used, has expired or was replaced by a newer one. "
        "Use the link in the most recent mail from us.",
    ),
}
POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'none'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Chrome:
    """What the layout shows around a page: the site's name in the header, and the way back to the
    publisher (the story's own URL when the page is about one story, else the site's first origin)."""

    site_name: str = ""
    back_url: str = ""
    back_text: str = ""


def chrome(ctx: Context, site_id: str | None, thread: Thread | None = None) -> Chrome:
    """The header and way back for a page of ``site_id`` (None: a link that names no site; the one
    site's, when there is only one). Only the publisher's words and URLs: never a reader's."""
    if site_id is None:
        sites = ctx.settings.sites
        if len(sites) != 1:
            return Chrome()
        site_id = sites[0].id
    name = links_for(ctx.tokens, ctx.settings).site_name(site_id)
    if thread is not None and thread.page_url:
        title = one_line(thread.page_title, TITLE_SHOWN) if thread.page_title else ""
        return Chrome(name, thread.page_url, f"Back to “{title}”" if title else "Back to the story")
    site = ctx.settings.site(site_id)
    if site is None or not site.origins:
        return Chrome(name)
    return Chrome(name, site.origins[0], f"Back to {name}")


def one_thread(threads: list[Thread | None]) -> Thread | None:
    """The thread when every item is about the same one story, else None (the newsletter, or several)."""
    ids = {thread.id if thread is not None else None for thread in threads}
    return threads[0] if len(ids) == 1 else None


def page(template: str, look: Chrome, status: int = 200, **values: Any) -> Response:
    headers = {
        "Cache-Control": "no-store",
        # The token is in the URL: never hand it to another site or an index.
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex, nofollow",
        # No script at all: every change takes a person pressing a button.
        "Content-Security-Policy": POLICY,
    }
    body = render_template(template, chrome=look, **values)
    return HTMLResponse(body, status_code=status, headers=headers)


def message(look: Chrome, status: int, heading: str, text: str, **values: Any) -> Response:
    """A page that says one thing (what was done, or why not)."""
    return page("pages/message.html", look, status, heading=heading, message=text, **values)


def _bound(ctx: Context, link_token: str) -> str:
    return ctx.tokens.keyed_hash("page-form", link_token)[:32]


def form_token(ctx: Context, link_token: str) -> str:
    """The token a page's forms carry: signed, expiring, and good only for the link it was shown under."""
    return ctx.tokens.issue(FORM_TOKEN, _bound(ctx, link_token), now=ctx.clock(), ttl=FORM_TTL)


def _same_site(ctx: Context, request: Request) -> bool:
    """Sent by a page of this site: ``Sec-Fetch-Site`` when the browser sends it, else ``Origin``
    against ``base_url``'s origin. Neither (no browser's cross-site form) leaves it to the form token."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site.strip().lower() in SAME_SITE
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = origin_of(ctx.settings.base_url)
    return own is not None and hmac.compare_digest(origin.strip().lower().encode(), own.lower().encode())


def form_ok(ctx: Context, request: Request, form: dict[str, list[str]], link_token: str) -> bool:
    if not _same_site(ctx, request):
        return False
    sent = form.get(FORM_TOKEN, [])
    if len(sent) != 1 or len(sent[0]) > 300:
        return False
    try:
        subject = ctx.tokens.verify(FORM_TOKEN, sent[0], now=ctx.clock())
    except TokenError:
        return False
    return hmac.compare_digest(subject.encode(), _bound(ctx, link_token).encode())


async def refusal(
    request: Request, token: str, form: dict[str, list[str]], *, confirming: bool = False
) -> Response | None:
    """Why a form post is refused, or None: a bad link first (the same 404/410 as a GET, so a post
    learns nothing more), then a post from another site or without this page's form token (403)."""
    ctx = ctx_of(request)
    subs = subscriptions_of(ctx)
    try:
        if confirming:
            site = (await subs.confirmable(token)).subscriber.site
        else:
            site = (await subs.holder(token)).site
    except errors.KibitzError as exc:
        return problem(ctx, exc, posted=True)
    return None if form_ok(ctx, request, form, token) else refused(chrome(ctx, site))


def refused(look: Chrome) -> Response:
    """A form post from another site, or without this page's form token: nothing changed."""
    text = (
        "This form was not sent from this site's own page, or the page is too old; nothing was changed. "
        "Open the link from your mail again and press the button there."
    )
    return message(look, 403, "Not sent from this site", text)


def problem(ctx: Context, exc: errors.KibitzError, *, posted: bool = False) -> Response:
    """The page for a link that is bad (404), spent or expired (410), or a request we cannot read.
    A spent confirmation link of a confirmed address says so in friendlier words: 200 to a click,
    410 to a post (the link works once), and it hands out nothing (no manage link)."""
    if isinstance(exc, AlreadyConfirmed):
        text = "This address is already confirmed: nothing more is needed. You can close this page."
        return message(chrome(ctx, exc.site), 410 if posted else 200, "Already confirmed", text)
    status = exc.status if exc.status in MESSAGES else 404
    heading, text = MESSAGES[status]
    return message(chrome(ctx, None), status, heading, text)


async def read_form(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        # RFC 8058 allows either encoding; the one field we read is tiny and fixed.
        text = body.decode("utf-8", "replace")
        if 'name="List-Unsubscribe"' in text and ONE_CLICK in text:
            return {"List-Unsubscribe": [ONE_CLICK]}
        return {}
    try:
        # Enough for the manage page's newsletter checkboxes (MAX_LISTS), a bound for everything else.
        return parse_qs(body.decode("ascii"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return {}
