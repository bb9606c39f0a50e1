"""The desk's imports page for a site: the runs of `kibitz import` (when, who, format, file, counts)
and each run's whole report. Owners and the site's moderators: a report names source ids, counts
and reasons, never an author's address."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from kibitz.imports import history
from kibitz.web.admin import ident, page, query, render, site_for, staff
from kibitz.web.api import ctx_of

RUNS_PAGE = 50


@page
async def imports(request: Request) -> Response:
    """GET /admin/sites/{site}/imports — the site's imports, the latest first (``?before=`` pages back)."""
    who = await staff(request)
    site = site_for(request, who)
    before_text = query(request, "before", 20)
    before = int(before_text) if before_text.isdigit() and len(before_text) < 19 else None
    runs = await history.listing(ctx_of(request).db, site.id, before, RUNS_PAGE + 1)
    more = len(runs) > RUNS_PAGE
    runs = runs[:RUNS_PAGE]
    return render(
        request, "admin/imports.html", who=who, site=site, section="imports", runs=runs,
        kinds=history.KINDS, next_before=runs[-1].id if more and runs else None,
    )  # fmt: skip


@page
async def report(request: Request) -> Response:
    """GET /admin/sites/{site}/imports/{id} — one import's whole report: counts, and each reason a
    record was skipped or noted, with the source ids behind it."""
    who = await staff(request)
    site = site_for(request, who)
    run = await history.one(
        ctx_of(request).db, site.id, ident(str(request.path_params.get("id", "")), "import")
    )
    return render(
        request, "admin/imports.html", who=who, site=site, section="imports", run=run, kinds=history.KINDS
    )
