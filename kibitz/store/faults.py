"""What counts as the database being away (answered 503 ``unavailable``), for every write and read path."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError

from kibitz import errors


def is_unavailable(exc: BaseException) -> bool:
    """A fault of the database (locked, gone, restarting), not of the request."""
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    name = type(getattr(exc, "orig", exc)).__name__
    return name in {
        "ConnectionDoesNotExistError",
        "CannotConnectNowError",
        "ConnectionFailureError",
        "AdminShutdownError",
        "InterfaceError",
        "TooManyConnectionsError",
    }


def unavailable(cause: BaseException) -> errors.Unavailable:
    """The 503 a database fault becomes, with the fault as its cause."""
    exc = errors.Unavailable("The database is busy or unreachable", retry_after=2)
    exc.__cause__ = cause
    return exc
