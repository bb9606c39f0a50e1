"""Commento's JSON export (``{"version": 1, "comments": [...], "commenters": [...]}``, also as
Comentario writes it, gzip or not): one document, read whole up to a cap. Field by field: docs/import.md."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kibitz.imports.files import read_document
from kibitz.imports.records import CommentRecord, Record, Refused, SkippedRecord, ThreadRecord, iso_time
from kibitz.models import CommentStatus

STATES = {
    "approved": CommentStatus.APPROVED,
    "unapproved": CommentStatus.PENDING,
    "flagged": CommentStatus.SPAM,
}
# What Commento writes where it has nothing: a commenter without an account, fields never filled in.
NOBODY = {"anonymous", ""}
UNSET = {"undefined", "null"}


def _str(value: Any) -> str:
    text = value if isinstance(value, str) else ""
    return "" if text in UNSET else text


class CommentoSource:
    format = "commento"

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> Iterator[Record]:
        data = read_document(self.path)
        if not isinstance(data, dict) or data.get("version") != 1:
            found = data.get("version") if isinstance(data, dict) else None
            raise Refused(f"{self.path.name} is not a Commento export of version 1 (version {found!r})")
        comments = data.get("comments") or []
        commenters = data.get("commenters") or []
        if not isinstance(comments, list) or not isinstance(commenters, list):
            raise Refused(
                f"{self.path.name}: 'comments' and 'commenters' must be lists; nothing was imported"
            )
        people = {
            str(c.get("commenterHex")): c for c in commenters if isinstance(c, dict) and c.get("commenterHex")
        }
        threads: set[str] = set()
        for item in comments:
            if not isinstance(item, dict):
                continue
            # Comentario names the page by host and path where Commento says domain and url.
            host = _str(item.get("domain") or item.get("host"))
            path = _str(item.get("url") or item.get("path"))
            thread = f"{host}{path}"
            if thread not in threads:
                threads.add(thread)
                link = f"https://{host}{path}" if host else path
                yield ThreadRecord(source_id=thread, link=link)
            yield self._comment(item, thread, people)

    def _comment(self, item: dict[str, Any], thread: str, people: dict[str, dict[str, Any]]) -> Record:
        sid = _str(item.get("commentHex"))
        if not sid:
            return SkippedRecord("comment", "(no id)", "it has no commentHex")
        created = iso_time(item.get("creationDate"))
        if created is None:
            return SkippedRecord("comment", sid, "its creationDate is not a date")
        deleted = item.get("deleted") is True
        markdown, html = _str(item.get("markdown")), _str(item.get("html"))
        if not deleted and not markdown.strip() and not html.strip():
            return SkippedRecord("comment", sid, "it has no text")
        who = _str(item.get("commenterHex"))
        person = people.get(who, {}) if who not in NOBODY else {}
        score = item.get("score")
        score = score if isinstance(score, int) and abs(score) < 2**31 else 0
        parent = _str(item.get("parentHex"))
        return CommentRecord(
            source_id=sid,
            thread_id=thread,
            parent_id=None if parent in ("", "root") else parent,
            author_name=_str(person.get("name")),
            author_email=_str(person.get("email")),
            author_url=_str(person.get("link")),
            created=created,
            text=markdown if markdown.strip() else "",
            html="" if markdown.strip() else html,
            status=STATES.get(_str(item.get("state")), CommentStatus.APPROVED),
            deleted=deleted,
            up=max(score, 0),
            down=max(-score, 0),
        )
