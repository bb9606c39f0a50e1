"""The KibitzError tree: one stable string code and HTTP status per class.

    KibitzError
    ├── InvalidInput            422 invalid_input (field errors)
    │   ├── IdempotencyKeyReused 422 idempotency_key_reused
    │   ├── WebhookTargetRefused 422 webhook_target_refused
    │   └── UnknownList         422 unknown_list
    ├── MalformedRequest        400 malformed_request
    │   ├── InvalidIdempotencyKey 400 invalid_idempotency_key
    │   └── InvalidCsv          400 invalid_csv
    ├── Unauthorized            401 unauthorized
    │   ├── InvalidCredentials  401 invalid_credentials
    │   ├── TotpRequired        401 totp_required
    │   ├── SignInRequired      401 sign_in_required
    │   ├── SessionInvalid      401 session_invalid
    │   └── InvalidSignIn       401 invalid_sign_in
    ├── Forbidden               403 forbidden
    │   ├── OriginNotAllowed    403 origin_not_allowed
    │   ├── EditWindowClosed    403 edit_window_closed
    │   ├── ThreadClosed        403 thread_closed
    │   ├── OwnComment          403 own_comment
    │   ├── Banned              403 banned
    │   ├── VoteLimit           403 vote_limit
    │   ├── CsrfFailed          403 csrf_failed
    │   └── AccountRequired     403 account_required
    ├── NotFound                404 not_found
    ├── MethodNotAllowed        405 method_not_allowed
    ├── Conflict                409 conflict
    ├── Gone                    410 token_used
    ├── PayloadTooLarge         413 payload_too_large
    ├── UnsupportedMediaType    415 unsupported_media_type
    ├── RateLimited             429 rate_limited (Retry-After)
    ├── Unavailable             503 unavailable (Retry-After)
    └── InternalError           500 internal_error

Rules raise these; only ``web/`` turns them into responses (problem+json or an HTML page).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field; ``field`` is a dotted path such as ``author.name``."""

    field: str
    message: str


class KibitzError(Exception):
    """Base of every error a client may see; ``code`` is stable and documented in docs/api.md."""

    code = "error"
    status = 400
    title = "Request failed"

    def __init__(self, detail: str = "", *, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors or []

    @property
    def headers(self) -> dict[str, str]:
        return {}


class InvalidInput(KibitzError):
    code, status, title = "invalid_input", 422, "The request has invalid fields"

    @classmethod
    def field(cls, field: str, message: str) -> InvalidInput:
        return cls(f"{field}: {message}", errors=[FieldError(field, message)])


class IdempotencyKeyReused(InvalidInput):
    code, status, title = "idempotency_key_reused", 422, "This Idempotency-Key was used with another body"


class WebhookTargetRefused(InvalidInput):
    code, status, title = "webhook_target_refused", 422, "Webhooks may only call public http(s) addresses"


class UnknownList(InvalidInput):
    code, status, title = "unknown_list", 422, "This site has no newsletter list by that id"


class MalformedRequest(KibitzError):
    code, status, title = "malformed_request", 400, "The request could not be read"


class InvalidIdempotencyKey(MalformedRequest):
    code, status, title = "invalid_idempotency_key", 400, "The Idempotency-Key header is malformed"


class InvalidCsv(MalformedRequest):
    """A subscriber file that cannot be imported as a whole (subscriber_csv.py): nothing is written."""

    code, status, title = "invalid_csv", 400, "The CSV file could not be read"


class Unauthorized(KibitzError):
    code, status, title = "unauthorized", 401, "A token is required"


class InvalidCredentials(Unauthorized):
    code, status, title = "invalid_credentials", 401, "The email, password or code is not right"


class TotpRequired(Unauthorized):
    code, status, title = "totp_required", 401, "This account needs the code from its authenticator app"


class SignInRequired(Unauthorized):
    code, status, title = "sign_in_required", 401, "This site asks readers to sign in before they write"


class SessionInvalid(Unauthorized):
    code, status, title = "session_invalid", 401, "This sign-in has ended; sign in again"


class InvalidSignIn(Unauthorized):
    code, status, title = "invalid_sign_in", 401, "The sign-in could not be verified"


class Forbidden(KibitzError):
    code, status, title = "forbidden", 403, "Not allowed"


class OriginNotAllowed(Forbidden):
    code, status, title = "origin_not_allowed", 403, "This origin may not write to this site"


class EditWindowClosed(Forbidden):
    code, status, title = "edit_window_closed", 403, "The time to edit or delete this comment is over"


class ThreadClosed(Forbidden):
    code, status, title = "thread_closed", 403, "This discussion is closed"


class OwnComment(Forbidden):
    code, status, title = "own_comment", 403, "You cannot vote on your own comment"


class Banned(Forbidden):
    code, status, title = "banned", 403, "You can no longer comment on this site"


class VoteLimit(Forbidden):
    code, status, title = "vote_limit", 403, "Your network has given this comment all the votes it may"


class CsrfFailed(Forbidden):
    code, status, title = "csrf_failed", 403, "The form is stale or was not sent by this site; reload it"


class AccountRequired(Forbidden):
    code, status, title = "account_required", 403, "This site asks readers to sign in with an account"


class NotFound(KibitzError):
    code, status, title = "not_found", 404, "Not found"


class MethodNotAllowed(KibitzError):
    code, status, title = "method_not_allowed", 405, "Method not allowed"


class Conflict(KibitzError):
    code, status, title = "conflict", 409, "This conflicts with what is already there"


class Gone(KibitzError):
    code, status, title = "token_used", 410, "This link was already used or has expired"


class PayloadTooLarge(KibitzError):
    code, status, title = "payload_too_large", 413, "The request body is too large"


class UnsupportedMediaType(KibitzError):
    code, status, title = "unsupported_media_type", 415, "Send the body as application/json"


class _RetryAfter(KibitzError):
    def __init__(self, detail: str = "", *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = max(1, int(retry_after))

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class RateLimited(_RetryAfter):
    code, status, title = "rate_limited", 429, "Too many requests; try again later"


class Unavailable(_RetryAfter):
    code, status, title = "unavailable", 503, "The service is briefly unavailable; try again shortly"


class InternalError(KibitzError):
    code, status, title = "internal_error", 500, "Something went wrong on our side"


def all_error_classes() -> list[type[KibitzError]]:
    """Every concrete error class, for the docs test and the OpenAPI description."""
    seen: list[type[KibitzError]] = []
    stack: list[type[KibitzError]] = [KibitzError]
    while stack:
        cls = stack.pop()
        if cls.code != "error" and not cls.__name__.startswith("_"):
            seen.append(cls)
        stack.extend(cls.__subclasses__())
    return sorted(seen, key=lambda c: (c.status, c.code))


class UriTooLong(KibitzError):
    code, status, title = "uri_too_long", 414, "The request's address is too long"


class HeaderFieldsTooLarge(KibitzError):
    code, status, title = (
        "request_header_fields_too_large",
        431,
        "The request's headers are too large",
    )
