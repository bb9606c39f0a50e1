"""Disqus exports (``<disqus xmlns="http://disqus.com">``): read as a stream into the record stream,
and written by ``kibitz export --format disqus``. Field by field: docs/import.md."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, overload
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from kibitz.imports import xmlsafe
from kibitz.imports.records import (
    CommentRecord,
    CommentShape,
    Record,
    SkippedRecord,
    ThreadRecord,
    iso_time,
)
from kibitz.models import CommentStatus

if TYPE_CHECKING:  # the readers run in the import's worker, which needs no database code
    from kibitz.imports.export import ExportComment, ExportThread

NS = "http://disqus.com"
DSQ = "http://disqus.com/disqus-internals"


def _flag(fields: dict[str, etree._Element], name: str, default: bool = False) -> bool:
    value = xmlsafe.content(fields.get(name)).strip().lower()
    return default if not value else value in ("true", "1")


class DisqusSource:
    format = "disqus"

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> Iterator[Record]:
        for element in xmlsafe.elements(self.path, {"thread", "post"}):
            if xmlsafe.local(element.tag) == "thread":
                yield self._thread(element)
            else:
                yield self._post(element)

    def shapes(self) -> Iterator[Record | CommentShape]:
        """``records()`` with each comment's place only (the plan's read: a third less work)."""
        for element in xmlsafe.elements(self.path, {"thread", "post"}):
            if xmlsafe.local(element.tag) == "thread":
                yield self._thread(element)
            else:
                yield self._post(element, shape=True)

    def _thread(self, element: etree._Element) -> Record:
        sid = xmlsafe.attribute(element, "id")
        if not sid:
            return SkippedRecord("thread", "(no id)", "it has no dsq:id")
        fields = xmlsafe.children(element)
        if _flag(fields, "isDeleted"):
            return SkippedRecord("thread", sid, "deleted in Disqus")
        return ThreadRecord(
            source_id=sid,
            link=xmlsafe.content(fields.get("link")).strip(),
            identifier=xmlsafe.content(fields.get("id")).strip(),
            title=xmlsafe.content(fields.get("title")),
            closed=_flag(fields, "isClosed"),
        )

    @overload
    def _post(self, element: etree._Element, *, shape: Literal[False] = False) -> Record: ...
    @overload
    def _post(self, element: etree._Element, *, shape: Literal[True]) -> Record | CommentShape: ...
    def _post(self, element: etree._Element, *, shape: bool = False) -> Record | CommentShape:
        fields = xmlsafe.children(element)
        sid = xmlsafe.attribute(element, "id") or xmlsafe.content(fields.get("id")).strip()
        if not sid:
            return SkippedRecord("comment", "(no id)", "it has no dsq:id or id")
        thread = fields.get("thread")
        parent = fields.get("parent")
        created = iso_time(xmlsafe.content(fields.get("createdAt")).strip())
        if created is None:
            return SkippedRecord("comment", sid, "its createdAt is not a date")
        deleted = _flag(fields, "isDeleted")
        message = xmlsafe.content(fields.get("message")).strip()
        if not message and not deleted:
            return SkippedRecord("comment", sid, "it has no message")
        if shape:
            parent_sid = xmlsafe.attribute(parent, "id") if parent is not None else ""
            thread_sid = xmlsafe.attribute(thread, "id") if thread is not None else ""
            return CommentShape(sid, thread_sid, parent_sid or None)
        author = fields.get("author")
        name = email = link = ""
        if author is not None:
            who = xmlsafe.children(author)
            name = xmlsafe.content(who.get("name")) or xmlsafe.content(who.get("username"))
            email = xmlsafe.content(who.get("email"))
            link = xmlsafe.content(who.get("link"))
        if _flag(fields, "isSpam"):
            status = CommentStatus.SPAM
        elif not _flag(fields, "isApproved", default=True):
            status = CommentStatus.PENDING
        else:
            status = CommentStatus.APPROVED
        parent_id = xmlsafe.attribute(parent, "id") if parent is not None else ""
        return CommentRecord(
            source_id=sid,
            thread_id=xmlsafe.attribute(thread, "id") if thread is not None else "",
            parent_id=parent_id or None,
            author_name=name,
            author_email=email,
            author_url=link,
            created=created,
            html=message,
            status=status,
            deleted=deleted,
        )


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bool(value: bool) -> str:
    return "true" if value else "false"


class DisqusWriter:
    """Writes a Disqus export that Disqus's own importer and ours read: one category, each thread,
    then its posts. A comment's HTML is its sanitised rendering; authors' addresses are included."""

    def __init__(self, out: IO[str], origin: str) -> None:
        self.out = out
        self.origin = origin.rstrip("/")  # a thread without a URL links to its page on the site
        self.forum = ""

    def start(self, site: str) -> None:
        self.forum = escape(site)
        self.out.write(
            '<?xml version="1.0" encoding="utf-8"?>\n'
            f'<disqus xmlns="{NS}" xmlns:dsq="{DSQ}">\n'
            f'<category dsq:id="1"><forum>{self.forum}</forum><title>General</title>'
            "<isDefault>true</isDefault></category>\n"
        )

    def thread(self, item: ExportThread) -> None:
        t = item.thread
        link = t.shown_url or (self.origin + t.page if t.page.startswith("/") else "")
        self.out.write(
            f"<thread dsq:id={quoteattr(item.id)}><id>{escape(t.page)}</id><forum>{self.forum}</forum>"
            f'<category dsq:id="1"/><link>{escape(link)}</link><title>{escape(t.shown_title)}</title>'
            f"<message/><createdAt>{_time(t.created)}</createdAt>"
            f"<isClosed>{_bool(t.closed)}</isClosed><isDeleted>false</isDeleted></thread>\n"
        )

    def comment(self, item: ExportComment) -> None:
        c = item.comment
        parent = f"<parent dsq:id={quoteattr(item.parent_id)}/>" if item.parent_id else ""
        author = (
            f"<author><name>{escape(c.author.name)}</name><email>{escape(c.author.email)}</email>"
            + (f"<link>{escape(c.author.url)}</link>" if c.author.url else "")
            + "<isAnonymous>true</isAnonymous></author>"
        )
        self.out.write(
            f"<post dsq:id={quoteattr(item.id)}><id/><message>{escape(c.html)}</message>"
            f"<createdAt>{_time(c.created)}</createdAt><isDeleted>{_bool(c.deleted)}</isDeleted>"
            f"<isApproved>{_bool(c.status is not CommentStatus.PENDING)}</isApproved>"
            f"<isSpam>{_bool(c.status in (CommentStatus.SPAM, CommentStatus.REJECTED))}</isSpam>"
            f"{author}<thread dsq:id={quoteattr(item.thread_id)}/>{parent}</post>\n"
        )

    def end(self) -> None:
        self.out.write("</disqus>\n")
