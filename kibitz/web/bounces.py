"""POST /api/v1/bounces: bounces and complaints from a mail provider's webhook (DESIGN.md §3b).

``Authorization: Bearer <bounce_webhook_secret>`` (compared in constant time); with no secret set the
route is not there (404). The credentials are checked before the body is read, so a caller without
them learns nothing about what the body should hold. A machine's route: no Origin, no CORS
(web/edge.py), its own body limit.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import Request
from pydantic import BaseModel, Field, ValidationError
from starlette.responses import Response

from kibitz import bounces, errors, inputs
from kibitz.web import schemas
from kibitz.web.api import bearer, ctx_of, json_response

MAX_EVENTS = 1000
NO_STORE = {"Cache-Control": "no-store"}


class BounceEventIn(schemas.Strict):
    email: Annotated[schemas.Str, Field(min_length=1, max_length=inputs.MAX_EMAIL)]
    kind: Literal["hard", "soft", "complaint"]
    message_id: Annotated[schemas.Str, Field(max_length=300)] | None = None
    detail: Annotated[schemas.Str, Field(max_length=500)] | None = None


class BouncesIn(schemas.Strict):
    events: Annotated[list[BounceEventIn], Field(max_length=MAX_EVENTS)]


class RecordedOut(BaseModel):
    recorded: int


def _inlined(schema: Any, defs: dict[str, Any]) -> Any:
    """A JSON schema with its ``#/$defs/…`` references replaced by what they name."""
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
        return {key: _inlined(value, defs) for key, value in schema.items() if key != "$defs"}
    if isinstance(schema, list):
        return [_inlined(item, defs) for item in schema]
    return schema


# The body, for the API description (the handler reads it itself, after the credentials).
_SCHEMA = BouncesIn.model_json_schema()
OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _inlined(_SCHEMA, _SCHEMA.get("$defs", {}))}},
    }
}


def _authorized(request: Request, secret: str) -> None:
    given = bearer(request.headers.get("authorization")) or ""
    if not hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode("utf-8")):
        raise errors.Unauthorized("A valid bearer token is required")


def _path(loc: tuple[int | str, ...]) -> str:
    """``("events", 3, "email")`` → ``events[3].email``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "body"


def _body(raw: bytes) -> BouncesIn:
    try:
        return BouncesIn.model_validate_json(raw)
    except ValidationError as exc:
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            raise errors.MalformedRequest("The body is not valid JSON") from None
        fields = [errors.FieldError(_path(p["loc"]), str(p.get("msg", "is invalid"))) for p in problems]
        detail = "; ".join(f"{f.field}: {f.message}" for f in fields[:5])
        raise errors.InvalidInput(detail, errors=fields) from None


async def receive(request: Request) -> Response:
    """POST /api/v1/bounces — ``{"events": [{"email", "kind", "message_id"?, "detail"?}]}`` →
    ``{"recorded": N}``; a hard bounce or complaint suppresses the address on every site."""
    ctx = ctx_of(request)
    secret = ctx.settings.bounce_webhook_secret
    if not secret:
        raise errors.NotFound()
    _authorized(request, secret)
    body = _body(await request.body())
    events = [bounces.Event(e.email, e.kind, e.message_id, e.detail) for e in body.events]
    recorded = await bounces.record_events(
        ctx.db,
        events,
        host=urlsplit(ctx.settings.base_url).hostname or "localhost",  # of our Message-IDs (mailer.py)
        now=ctx.clock(),
        soft_limit=ctx.settings.soft_bounce_limit,
    )
    return json_response({"recorded": recorded}, headers=NO_STORE)
