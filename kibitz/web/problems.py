"""The one place errors become responses: RFC 9457 problem+json, with no trace, path or SQL."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from kibitz import errors

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
# On every answer (web/edge.py adds them; the fast path and the last-resort 500 below too).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def _printable(value: object) -> str:
    """Text safe to serialise even when the client sent lone surrogates."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def problem_body(exc: errors.KibitzError) -> bytes:
    return orjson.dumps(
        {
            "type": f"urn:kibitz:problem:{exc.code}",
            "status": exc.status,
            "code": exc.code,
            "title": exc.title,
            "detail": _printable(exc.detail),
            "errors": [{"field": _printable(e.field), "message": _printable(e.message)} for e in exc.errors],
        }
    )


def problem_response(exc: errors.KibitzError, headers: dict[str, str] | None = None) -> Response:
    return Response(
        problem_body(exc),
        status_code=exc.status,
        media_type=PROBLEM_JSON,
        headers={**exc.headers, **(headers or {})},
    )


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def from_validation(exc: RequestValidationError) -> errors.KibitzError:
    problems = list(exc.errors())
    if any(p.get("type") == "json_invalid" for p in problems):
        return errors.MalformedRequest("The body is not valid JSON")
    fields = [
        errors.FieldError(_field(tuple(p.get("loc", ()))), str(p.get("msg", "is invalid"))) for p in problems
    ]
    detail = "; ".join(f"{f.field}: {f.message}" for f in fields[:5])
    return errors.InvalidInput(detail, errors=fields)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into problem+json."""

    async def on_kibitz(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, errors.KibitzError)
        if exc.status in (401, 403):
            log.info("refused %s: %s", exc.code, _printable(exc.detail))
        return problem_response(exc)

    async def on_validation(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem_response(from_validation(exc))

    async def on_http(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        mapped: errors.KibitzError
        if exc.status_code == 404:
            mapped = errors.NotFound()
        elif exc.status_code == 405:
            mapped = errors.MethodNotAllowed()
        elif exc.status_code == 400:
            mapped = errors.MalformedRequest(_printable(exc.detail))
        else:
            mapped = (
                errors.InternalError()
                if exc.status_code >= 500
                else errors.KibitzError(_printable(exc.detail))
            )
            mapped.status = exc.status_code
        return problem_response(mapped, dict(exc.headers or {}))

    async def on_crash(_request: Request, exc: Exception) -> Response:
        # Only faults outside the edge get here (the edge answers the app's own, with CORS).
        log.exception("unhandled error", exc_info=exc)
        return problem_response(errors.InternalError(), SECURITY_HEADERS)

    app.add_exception_handler(errors.KibitzError, on_kibitz)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)
