"""The desk's suppression list for a site (owners only): the addresses no mail goes to, with why and
since when, searchable, and Lift, which bounces.py's rules do (audited, as `kibitz bounces lift`)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import Response

from kibitz import bounces, errors
from kibitz.store.suppressions import EVERY_SITE
from kibitz.web.admin import page, posted, query, redirect, render, staff
from kibitz.web.admin_newsletter import owners_site
from kibitz.web.api import ctx_of

SHOWN = 200
REASONS = {
    "hard_bounce": "Bounced (the address does not exist)",
    "complaint": "Marked our mail as spam",
    "unsubscribed": "Unsubscribed from everything",
    "erased": "Asked to be erased",
}


@page
async def suppressions(request: Request) -> Response:
    """GET /admin/sites/{site}/newsletter/suppressions?q= — the addresses not mailed from this site
    (its own suppressions and every site's), newest first; ``q`` keeps those containing it."""
    who = await staff(request)
    site = owners_site(request, who)
    ctx = ctx_of(request)
    text = query(request, "q", 320)
    found = await bounces.suppressed_on(ctx.db, site.id, text, SHOWN + 1)
    return render(
        request, "admin/newsletter_suppressions.html", who=who, site=site, section="newsletter",
        rows=found[:SHOWN], more=len(found) > SHOWN, q=text, reasons=REASONS, every_site=EVERY_SITE,
        lifted=query(request, "lifted", 320),
    )  # fmt: skip


@page
async def lift(request: Request) -> Response:
    """POST /admin/sites/{site}/newsletter/suppressions/lift — ``email`` and ``scope`` ("site" for this
    site's row, "all" for the every-site one): mail may go to the address again once it confirms."""
    who, form = await posted(request)
    site = owners_site(request, who)
    ctx = ctx_of(request)
    scope = form.one("scope", limit=10)
    if scope not in ("site", "all"):
        raise errors.InvalidInput.field("scope", "must be site or all")
    address = bounces.canonical(form.one("email", limit=320))
    removed = await bounces.lift(
        ctx.db, address, site.id if scope == "site" else EVERY_SITE, who.actor, ctx.clock()
    )
    if not removed:
        raise errors.NotFound("No such suppression")
    return redirect(f"/admin/sites/{site.id}/newsletter/suppressions?" + urlencode({"lifted": address}))
