"""The source-neutral record stream every reader yields and the writer applies: threads, comments
and records skipped with a reason, each under the id the source gave it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from kibitz import errors
from kibitz.models import CommentStatus


@dataclass(frozen=True)
class ThreadRecord:
    """A discussion of one article. ``page``: Kibitz's page key, from a source that knows it (our own
    export); ``link``: the article's URL as the source has it (its path is the page key when there is
    no ``page``); ``identifier``: a page key the source names, used when there is neither."""

    source_id: str
    page: str = ""
    link: str = ""
    identifier: str = ""
    title: str = ""
    closed: bool = False


@dataclass(frozen=True)
class CommentRecord:
    """One comment. Exactly one of ``text`` (Markdown, as Kibitz keeps it) and ``html`` (the source's
    HTML, turned into Markdown before it is rendered like any comment) carries the body."""

    source_id: str
    thread_id: str
    parent_id: str | None
    author_name: str
    created: datetime
    author_email: str = ""
    author_url: str = ""
    text: str = ""
    html: str = ""
    status: CommentStatus = CommentStatus.APPROVED
    deleted: bool = False
    up: int = 0
    down: int = 0
    edited: datetime | None = None


@dataclass(frozen=True)
class SkippedRecord:
    """A record the reader leaves out on purpose (a pingback, a trackback): counted in the report."""

    kind: str
    source_id: str
    reason: str


Record = ThreadRecord | CommentRecord | SkippedRecord


class CommentShape(NamedTuple):
    """Where a comment record sits (its id, thread and parent) and nothing else: what the plan reads
    of a comment, from a source that can give it for less than the whole record (``shapes()``)."""

    source_id: str
    thread_id: str
    parent_id: str | None


Shape = ThreadRecord | CommentShape | SkippedRecord


class Source(Protocol):
    """A file opened for import; ``records()`` reads it from the start each time it is called (the
    writer reads twice: once to check the whole file, once to write)."""

    format: str

    def records(self) -> Iterator[Record]: ...


class Refused(errors.InvalidInput):
    """The file cannot be imported at all (not well-formed, hostile, a parent loop): nothing is written."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


def iso_time(value: Any) -> datetime | None:
    """An ISO 8601 time from a source file, in UTC (one without a zone is taken as UTC); None when
    it is not one."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
