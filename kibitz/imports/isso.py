"""Isso's data: its SQLite database (opened read-only; the ``preferences`` table, which holds Isso's
session key, is never read) or its "generic" JSON import file. Field by field: docs/import.md."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_plus

from kibitz.imports.files import read_document
from kibitz.imports.records import CommentRecord, Record, Refused, SkippedRecord, ThreadRecord
from kibitz.models import CommentStatus

SQLITE_MAGIC = b"SQLite format 3\x00"
# Isso's comment modes: 1 public, 2 waiting for a moderator, 4 deleted (kept while it has replies).
MODES = {1: CommentStatus.APPROVED, 2: CommentStatus.PENDING, 4: CommentStatus.APPROVED}
COLUMNS = ("tid", "id", "parent", "created", "modified", "mode", "text", "author", "email", "website")
VOTES = ("likes", "dislikes")  # since Isso 0.10; older databases have no tallies


def _epoch(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _tally(value: Any) -> int:
    return value if isinstance(value, int) and 0 <= value < 2**31 else 0


class IssoSource:
    format = "isso"

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> Iterator[Record]:
        try:
            with self.path.open("rb") as probe:
                magic = probe.read(len(SQLITE_MAGIC))
        except OSError as exc:
            raise Refused(f"cannot read {self.path.name}: {exc.strerror or exc}") from None
        if magic == SQLITE_MAGIC:
            yield from self._database()
        else:
            yield from self._generic()

    def _database(self) -> Iterator[Record]:
        # Read-only and immutable: the import never writes to (or leaves journal files beside) the copy.
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro&immutable=1"
        try:
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if not {"threads", "comments"} <= tables:
                    raise Refused(
                        f"{self.path.name} is an SQLite database but not Isso's (no threads/comments)"
                    )
                for tid, uri_, title in db.execute("SELECT id, uri, title FROM threads ORDER BY id"):
                    yield ThreadRecord(source_id=str(tid), link=str(uri_ or ""), title=str(title or ""))
                have = {row[1] for row in db.execute("PRAGMA table_info(comments)")}
                names = COLUMNS + tuple(name for name in VOTES if name in have)
                rows = db.execute(f"SELECT {', '.join(names)} FROM comments ORDER BY id")  # noqa: S608 - fixed names
                for row in rows:
                    yield self._comment(dict(zip(names, row, strict=True)))
        except sqlite3.DatabaseError as exc:
            raise Refused(
                f"{self.path.name} cannot be read as Isso's database ({exc}); nothing was imported"
            ) from None

    def _comment(self, row: dict[str, Any]) -> Record:
        sid = str(row["id"])
        created = _epoch(row["created"])
        if created is None:
            return SkippedRecord("comment", sid, "its created time is not a number")
        mode = row["mode"] if row["mode"] in MODES else 1
        return CommentRecord(
            source_id=sid,
            thread_id=str(row["tid"]),
            parent_id=None if row["parent"] is None else str(row["parent"]),
            author_name=str(row["author"] or ""),
            author_email=str(row["email"] or ""),
            author_url=str(row["website"] or ""),
            created=created,
            edited=_epoch(row["modified"]) if row["modified"] is not None else None,
            text=str(row["text"] or ""),
            status=MODES[mode],
            deleted=mode == 4,
            up=_tally(row.get("likes")),
            down=_tally(row.get("dislikes")),
        )

    def _generic(self) -> Iterator[Record]:
        """Isso's generic import format: ``[{"id": path, "title", "comments": [...]}]``, one document."""
        try:
            data = read_document(self.path)
        except Refused as exc:
            raise Refused(f"neither Isso's database nor its JSON format: {exc.detail}") from None
        if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
            raise Refused(f"{self.path.name}: Isso's JSON format is a list of threads; nothing was imported")
        for thread in data:
            page = str(thread.get("id") or "")
            yield ThreadRecord(source_id=page, link=page, title=unquote_plus(str(thread.get("title") or "")))
            comments = thread.get("comments")
            for item in comments if isinstance(comments, list) else []:
                if not isinstance(item, dict):
                    continue
                # Ids repeat from one thread to the next in this format: a comment is known by both.
                sid = f"{page}#{item.get('id')}"
                try:
                    created = datetime.fromisoformat(str(item.get("created"))).replace(tzinfo=UTC)
                except ValueError:
                    yield SkippedRecord("comment", sid, "its created time is not a date")
                    continue
                parent = item.get("parent")
                yield CommentRecord(
                    source_id=sid,
                    thread_id=page,
                    parent_id=None if parent is None else f"{page}#{parent}",
                    author_name=str(item.get("author") or ""),
                    author_email=str(item.get("email") or ""),
                    author_url=str(item.get("website") or ""),
                    created=created,
                    text=str(item.get("text") or ""),
                )
