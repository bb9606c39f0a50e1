"""Remark42's backup file: JSON records one after another (a metadata record, then one per comment;
remark42 writes one a line, but reads any whitespace between them), read as a stream. Field by
field: docs/import.md."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kibitz.imports.files import open_input
from kibitz.imports.records import CommentRecord, Record, Refused, SkippedRecord, ThreadRecord, iso_time
from kibitz.models import CommentStatus

MAX_RECORD = 64 << 20  # bytes of one record (the metadata record lists every post of the site)
_DECODER = json.JSONDecoder()


def _values(path: Path) -> Iterator[Any]:
    """Each JSON value of the file in turn, whatever whitespace separates them."""
    with open_input(path) as stream:
        buffer = ""
        pending = b""
        done = False
        offset = 0  # characters consumed before ``buffer``: for messages
        while True:
            buffer = buffer.lstrip()
            if buffer:
                try:
                    value, end = _DECODER.raw_decode(buffer)
                except ValueError as exc:
                    if done or len(buffer) > MAX_RECORD:
                        where = "is cut short" if done else f"is longer than {MAX_RECORD >> 20} MB"
                        raise Refused(
                            f"{path.name}: the record after character {offset} {where} or is not JSON "
                            f"({exc}); nothing was imported"
                        ) from None
                else:
                    yield value
                    buffer = buffer[end:]
                    offset += end
                    continue
            if done:
                return
            chunk = stream.read(1 << 16)
            done = not chunk
            data = pending + chunk
            try:
                text = data.decode("utf-8") if done else _decode_prefix(data)
            except UnicodeDecodeError as exc:
                raise Refused(
                    f"{path.name} is not valid UTF-8 ({exc.reason}); nothing was imported"
                ) from None
            pending = data[len(text.encode("utf-8")) :]
            buffer += text


def _decode_prefix(data: bytes) -> str:
    """The UTF-8 text of ``data`` but a character cut at its end (completed by the next read)."""
    for cut in range(4):
        try:
            return data[: len(data) - cut].decode("utf-8")
        except UnicodeDecodeError:
            if cut == 3:
                raise
    raise AssertionError("unreachable")


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class Remark42Source:
    format = "remark42"

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> Iterator[Record]:
        read_only: set[str] = set()
        threads: set[str] = set()
        first = True
        for value in _values(self.path):
            if not isinstance(value, dict):
                raise Refused(f"{self.path.name}: a record is not a JSON object; nothing was imported")
            if first and "version" in value:
                first = False
                if value.get("version") != 1:
                    raise Refused(
                        f"{self.path.name} is a remark42 backup of version {value.get('version')!r}"
                    )
                for post in value.get("posts") or []:
                    if isinstance(post, dict) and post.get("read_only") is True:
                        read_only.add(str(post.get("url")))
                continue
            first = False
            locator = _object(value.get("locator"))
            url = str(locator.get("url") or "")
            if url and url not in threads:
                threads.add(url)
                yield ThreadRecord(source_id=url, link=url, closed=url in read_only)
            yield self._comment(value, url)

    def _comment(self, item: dict[str, Any], thread: str) -> Record:
        sid = str(item.get("id") or "")
        if not sid:
            return SkippedRecord("comment", "(no id)", "it has no id")
        created = iso_time(item.get("time"))
        if created is None:
            return SkippedRecord("comment", sid, "its time is not a date")
        deleted = item.get("delete") is True
        text = str(item.get("text") or "")
        if not deleted and not text.strip():
            return SkippedRecord("comment", sid, "it has no text")
        user = _object(item.get("user"))
        score = item.get("score")
        score = score if isinstance(score, int) and abs(score) < 2**31 else 0
        parent = str(item.get("pid") or "")
        return CommentRecord(
            source_id=sid,
            thread_id=thread,
            parent_id=parent or None,
            author_name=str(user.get("name") or ""),
            created=created,
            html=text,  # remark42 keeps each comment rendered
            status=CommentStatus.APPROVED,
            deleted=deleted,
            up=max(score, 0),
            down=max(-score, 0),
        )
