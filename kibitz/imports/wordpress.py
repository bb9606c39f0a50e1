"""WordPress exports (WXR, any of its namespaces 1.0-1.2), with wpDiscuz's vote meta: read as a
stream, one ``<item>`` at a time. Field by field: docs/import.md."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from kibitz.imports import xmlsafe
from kibitz.imports.records import CommentRecord, Record, SkippedRecord, ThreadRecord
from kibitz.models import CommentStatus

APPROVAL = {"1": CommentStatus.APPROVED, "0": CommentStatus.PENDING, "spam": CommentStatus.SPAM}
TRASHED = {"trash", "post-trashed"}
NOT_COMMENTS = {"pingback": "a pingback", "trackback": "a trackback"}
# wpDiscuz keeps a comment's likes and dislikes as PHP-serialized meta (its own spelling of the key).
_SEPARATE = re.compile(r'"like";i:(-?\d+);s:7:"dislike";i:(-?\d+);')
_BLANK_LINES = re.compile(r"\n\s*\n")


def _when(value: str) -> datetime | None:
    value = value.strip()
    if not value or value.startswith("0000"):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _paragraphs(content: str) -> str:
    """WordPress's comment text as the HTML WordPress shows: blank lines part paragraphs, a single
    line break is a <br> (its wpautop), markup in the text stays markup."""
    content = content.replace("\r\n", "\n").strip()
    blocks = [block.strip() for block in _BLANK_LINES.split(content) if block.strip()]
    return "".join(f"<p>{block.replace(chr(10), '<br>')}</p>" for block in blocks)


def _votes(comment: etree._Element) -> tuple[int, int]:
    """(up, down) from wpDiscuz's meta: the separate tallies when there, else its net count."""
    meta: dict[str, str] = {}
    for item in comment:
        if xmlsafe.local(item.tag) == "commentmeta":
            meta[xmlsafe.text(item, "meta_key").strip()] = xmlsafe.text(item, "meta_value")
    separate = _SEPARATE.search(meta.get("wpdiscuz_votes_seperate", ""))
    if separate:
        return abs(int(separate.group(1))), abs(int(separate.group(2)))
    try:
        net = int(meta.get("wpdiscuz_votes", "0").strip() or 0)
    except ValueError:
        net = 0
    return max(net, 0), max(-net, 0)


class WordPressSource:
    format = "wordpress"

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> Iterator[Record]:
        blog = ""  # the blog's base URL: post and comment ids are unique within one blog only
        # rss > channel > base_blog_url, link, item (the channel's own elements come first)
        for item in xmlsafe.elements(self.path, {"item", "base_blog_url", "link"}, depth=2):
            name = xmlsafe.local(item.tag)
            if name != "item":
                if name == "base_blog_url" or not blog:
                    blog = "".join(item.itertext()).strip().rstrip("/")
                continue
            link = xmlsafe.text(item, "link").strip()
            post = xmlsafe.text(item, "post_id").strip()
            if not post and not link:
                yield SkippedRecord("thread", "(no id)", "it has no post_id or link")
                continue
            thread = f"{blog} {post}" if post and blog else post or link
            yield ThreadRecord(
                source_id=thread,
                link=link,
                identifier=xmlsafe.text(item, "post_name").strip(),
                title=html.unescape(xmlsafe.text(item, "title")),
                closed=xmlsafe.text(item, "comment_status").strip() == "closed",
            )
            # A comment without a date of its own is dated with its post.
            posted = _when(xmlsafe.text(item, "post_date_gmt")) or _when(xmlsafe.text(item, "post_date"))
            for child in item:
                if xmlsafe.local(child.tag) == "comment":
                    yield self._comment(child, thread, posted)

    def _comment(self, comment: etree._Element, thread: str, posted: datetime | None) -> Record:
        number = xmlsafe.text(comment, "comment_id").strip()
        # Comment ids are unique in one WordPress site, yet exports join sites: known per post (of a blog).
        sid = f"{thread}:{number}"
        if not number:
            return SkippedRecord("comment", f"{thread}:(no id)", "it has no comment_id")
        kind = xmlsafe.text(comment, "comment_type").strip()
        if kind in NOT_COMMENTS:
            return SkippedRecord("comment", sid, NOT_COMMENTS[kind])
        created = (
            _when(xmlsafe.text(comment, "comment_date_gmt"))
            or _when(xmlsafe.text(comment, "comment_date"))
            or posted
        )
        if created is None:
            return SkippedRecord("comment", sid, "neither it nor its post has a date")
        approval = xmlsafe.text(comment, "comment_approved").strip() or "1"
        content = xmlsafe.text(comment, "comment_content")
        deleted = approval in TRASHED
        if not deleted and not content.strip():
            return SkippedRecord("comment", sid, "it has no text")
        parent = xmlsafe.text(comment, "comment_parent").strip()
        up, down = _votes(comment)
        return CommentRecord(
            source_id=sid,
            thread_id=thread,
            parent_id=f"{thread}:{parent}" if parent not in ("", "0") else None,
            # WordPress keeps the author's name HTML-escaped (&#039;, &laquo;).
            author_name=html.unescape(xmlsafe.text(comment, "comment_author")),
            author_email=xmlsafe.text(comment, "comment_author_email").strip(),
            author_url=xmlsafe.text(comment, "comment_author_url").strip(),
            created=created,
            html=_paragraphs(content),
            status=APPROVAL.get(approval, CommentStatus.APPROVED),
            deleted=deleted,
            up=up,
            down=down,
        )
