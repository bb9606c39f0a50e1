"""Kibitz's own export format (docs/export.md): JSON Lines, a header, then each thread followed by its
comments. Read as a stream, line by line, and written the same way by ``kibitz export --format json``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from kibitz.imports.files import open_input
from kibitz.imports.records import CommentRecord, Record, Refused, ThreadRecord
from kibitz.models import CommentStatus

if TYPE_CHECKING:  # the readers run in the import's worker, which needs no database code
    from kibitz.imports.export import ExportComment, ExportThread

FORMAT = "kibitz"
VERSION = 1
MAX_LINE = 1 << 20  # bytes: a comment is at most 10,000 characters, so a longer line is not ours
HEADER = {"format": FORMAT, "version": VERSION}


def rfc3339(value: datetime) -> str:
    value = value.astimezone(UTC)
    fraction = f".{value.microsecond:06d}" if value.microsecond else ""
    return value.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


class JsonSource:
    format = "json"

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> Iterator[Record]:
        with open_input(self.path) as stream:
            header = False
            number = 0
            while True:
                raw = stream.readline(MAX_LINE + 1)
                if not raw:
                    break
                number += 1
                if len(raw) > MAX_LINE:
                    raise Refused(f"line {number} is longer than {MAX_LINE} bytes; nothing was imported")
                data = _line(raw, number)
                if data is None:
                    continue
                if not header:
                    if data.get("format") != FORMAT or data.get("version") != VERSION:
                        raise Refused(
                            f"line 1 is not a Kibitz export header {json.dumps(HEADER)}; nothing was imported"
                        )
                    header = True
                    continue
                yield _record(data, number)
            if not header:
                raise Refused("the file is empty: a Kibitz export starts with its header line")


def _line(raw: bytes, number: int) -> dict[str, Any] | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(f"line {number} is not valid UTF-8 (byte {exc.start}); nothing was imported") from None
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise Refused(f"line {number} is not valid JSON ({exc}); nothing was imported") from None
    if not isinstance(data, dict):
        raise Refused(f"line {number} is not a JSON object; nothing was imported")
    return data


def _str(data: dict[str, Any], key: str, number: int, *, optional: bool = False) -> str:
    value = data.get(key)
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise Refused(f"line {number}: {key!r} must be a string; nothing was imported")
    return value


def _when(data: dict[str, Any], key: str, number: int) -> datetime | None:
    value = data.get(key)
    if value is None and key != "created":
        return None
    try:
        parsed = datetime.fromisoformat(_str(data, key, number))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise Refused(
            f"line {number}: {key!r} must be an RFC 3339 time with its offset; nothing was imported"
        )
    return parsed.astimezone(UTC)


def _count(data: dict[str, Any], key: str, number: int) -> int:
    value = data.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
        raise Refused(f"line {number}: {key!r} must be a whole number from 0; nothing was imported")
    return value


def _record(data: dict[str, Any], number: int) -> Record:
    kind = data.get("type")
    if kind == "thread":
        closed = data.get("closed", False)
        if not isinstance(closed, bool):
            raise Refused(f"line {number}: 'closed' must be true or false; nothing was imported")
        return ThreadRecord(
            source_id=_str(data, "id", number), page=_str(data, "page", number),
            link=_str(data, "url", number, optional=True), title=_str(data, "title", number, optional=True),
            closed=closed,
        )  # fmt: skip
    if kind == "comment":
        author = data.get("author")
        if not isinstance(author, dict):
            raise Refused(f"line {number}: 'author' must be an object; nothing was imported")
        status = data.get("status", "approved")
        if status not in {s.value for s in CommentStatus}:
            raise Refused(f"line {number}: unknown status {status!r}; nothing was imported")
        deleted = data.get("deleted", False)
        if not isinstance(deleted, bool):
            raise Refused(f"line {number}: 'deleted' must be true or false; nothing was imported")
        parent = data.get("parent")
        created = _when(data, "created", number)
        assert created is not None
        return CommentRecord(
            source_id=_str(data, "id", number), thread_id=_str(data, "thread", number),
            parent_id=None if parent is None else _str(data, "parent", number),
            author_name=_str(author, "name", number, optional=True),
            author_email=_str(author, "email", number, optional=True),
            author_url=_str(author, "url", number, optional=True),
            created=created, edited=_when(data, "edited", number),
            text=_str(data, "text", number, optional=True),
            status=CommentStatus(status), deleted=deleted, up=_count(data, "up", number),
            down=_count(data, "down", number),
        )  # fmt: skip
    raise Refused(f"line {number}: unknown record type {kind!r}; nothing was imported")


class JsonWriter:
    """Writes an export, one line per record."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def _line(self, data: dict[str, Any]) -> None:
        self.out.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")

    def start(self, site: str) -> None:
        self._line(HEADER)

    def thread(self, item: ExportThread) -> None:
        t = item.thread
        self._line({
            "type": "thread", "id": item.id, "page": t.page, "title": t.shown_title, "url": t.shown_url,
            "closed": t.closed,
        })  # fmt: skip

    def comment(self, item: ExportComment) -> None:
        c = item.comment
        self._line({
            "type": "comment", "id": item.id, "thread": item.thread_id, "parent": item.parent_id,
            "author": {"name": c.author.name, "email": c.author.email, "url": c.author.url},
            "created": rfc3339(c.created), "edited": None if c.edited is None else rfc3339(c.edited),
            "status": c.status.value, "deleted": c.deleted, "text": c.text, "up": c.up, "down": c.down,
        })  # fmt: skip

    def end(self) -> None:
        pass
