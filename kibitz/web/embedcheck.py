"""GET /api/v1/sites/{site}/embed-check — whether the requesting page's Origin may embed a site's widget.

A refused CORS request is unreadable in the browser (fetch only throws), so the widget asks here why
it could not read its thread: a simple request (no custom headers, so no preflight) that any origin may
read (``Access-Control-Allow-Origin: *``). The answer says whether that one Origin is allowed and which
setting decides it; it never lists the site's origins.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path, Request
from pydantic import BaseModel
from starlette.responses import Response

from kibitz import errors
from kibitz.origins import MAX_URL, origin_of
from kibitz.web.api import ctx_of, json_response
from kibitz.web.problems import problem_response

HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}
SETTING = "sites.origins"  # the [[sites]] table's `origins` in kibitz.toml, or KIBITZ_SITES
_SITE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class EmbedCheckOut(BaseModel):
    site: str
    origin: str | None  # the request's Origin, canonical; null without one (or an unreadable one)
    allowed: bool
    setting: str  # the setting that decides it: "sites.origins"


async def embed_check(request: Request, site: Annotated[str, Path(max_length=256)]) -> Response:
    """GET /api/v1/sites/{site}/embed-check — `{"site", "origin", "allowed", "setting"}` for the
    request's Origin (`origin` null without one); 404 problem+json, readable too, for an unknown site."""
    config = ctx_of(request).settings.site(site) if _SITE.fullmatch(site) else None
    if config is None:
        return problem_response(errors.NotFound("No such site"), HEADERS)
    sent = request.headers.get("origin", "")
    # Bounded: a longer header is no origin (and is not echoed).
    origin = origin_of(sent) if sent and sent != "null" and len(sent) <= MAX_URL else None
    allowed = origin is not None and config.allows_origin(origin)
    body = {"site": config.id, "origin": origin, "allowed": allowed, "setting": SETTING}
    return json_response(body, headers=HEADERS)
