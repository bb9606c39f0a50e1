"""A newsletter list's subscribers in and out as CSV (subscriber_io.py): import and export under
/api/v1/admin/sites/{site}/lists/{list}/, for API keys with the `publish` scope of the site and owners'
sessions (with X-CSRF-Token on the import); anyone else gets the same 403 whatever the list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request
from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse

from kibitz.config import SiteConfig
from kibitz.staff import Principal
from kibitz.subscriber_csv import MAX_SOURCE, text_source
from kibitz.web.admin_api import NO_STORE, ok
from kibitz.web.api import SiteId, ctx_of
from kibitz.web.staff_auth import principal, require

ListId = Annotated[str, Path(alias="list", max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Flag = Annotated[bool, Query()]
# What the OpenAPI description says of the bodies (FastAPI sees neither: they are not JSON).
IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The subscribers: UTF-8 CSV, the first line naming the columns (email required;"
        " name, consent_at, consent_source read; list, status, suppressed as an export writes them)",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


class SkippedOut(BaseModel):
    line: int
    reason: str


class ImportReportOut(BaseModel):
    created: int
    updated: int
    unchanged: int
    skipped: list[SkippedOut]
    skipped_total: int
    confirmations: int
    ignored_columns: list[str]
    dry_run: bool


IMPORT_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"model": ImportReportOut, "description": "The report"}
}
EXPORT_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The list's subscribers as CSV",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


async def _site(request: Request, site: str) -> tuple[Principal, SiteConfig]:
    who = await principal(request)
    require(who, site, "publish")
    return who, ctx_of(request).moderation.site(site)


async def import_subscribers(
    request: Request,
    site: SiteId,
    list_id: ListId,
    dry_run: Flag = False,
    send_confirmation: Flag = False,
    source: Annotated[str, Query(max_length=MAX_SOURCE)] = "",
) -> Response:
    """POST /api/v1/admin/sites/{site}/lists/{list}/import — a CSV of subscribers into the list;
    the report of what was (``dry_run``: would be) created, updated, left unchanged and skipped."""
    who, config = await _site(request, site)
    data = await request.body()  # bounded by the edge (web/edge.py IMPORT_BODY)
    report = await ctx_of(request).subscriber_io.import_csv(
        config, list_id, text_source(data), who.actor, dry_run=dry_run, default_source=source.strip(),
        send_confirmation=send_confirmation,
    )  # fmt: skip
    return ok(report.as_dict())


async def export_subscribers(request: Request, site: SiteId, list_id: ListId) -> Response:
    """GET /api/v1/admin/sites/{site}/lists/{list}/export — the list's subscribers as a CSV file."""
    who, config = await _site(request, site)
    lines = await ctx_of(request).subscriber_io.export_csv(config, list_id, who.actor)
    filename = f"{config.id}-{list_id}-subscribers.csv"
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'}
    return StreamingResponse(lines, media_type="text/csv; charset=utf-8", headers=headers)
