"""``kibitz export --format wxr``: a WordPress export (WXR 1.2), an ``<item>`` per thread holding its
comments, with wpDiscuz's vote meta; written as a stream. Field by field: docs/export.md."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from kibitz.models import CommentStatus, Thread

if TYPE_CHECKING:  # the readers run in the import's worker, which needs no database code
    from kibitz.imports.export import ExportComment, ExportThread

NAMESPACES = (
    'xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:wfw="http://wellformedweb.org/CommentAPI/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:wp="http://wordpress.org/export/1.2/"'
)
# WordPress has no "rejected": a rejected comment stays out of sight as spam does.
APPROVED = {
    CommentStatus.APPROVED: "1", CommentStatus.PENDING: "0", CommentStatus.SPAM: "spam",
    CommentStatus.REJECTED: "spam",
}  # fmt: skip


def _date(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _html(value: str) -> str:
    """WordPress keeps names and titles HTML-escaped (its importer and ours unescape them)."""
    return escape(html.escape(value, quote=False))


def _content(rendered: str) -> str:
    """A comment's HTML as WordPress's comment text: WordPress turns a line break into <br> and a blank
    line into a paragraph (wpautop), so the rendering's own line breaks go as character references,
    which HTML reads as the same whitespace (kept inside <pre>)."""
    return escape(rendered.strip().replace("\n", "&#10;"))


def _meta(key: str, value: str) -> str:
    return (
        f"<wp:commentmeta><wp:meta_key>{key}</wp:meta_key>"
        f"<wp:meta_value>{escape(value)}</wp:meta_value></wp:commentmeta>"
    )


class WxrWriter:
    """Comment and post ids are Kibitz's own numbers (WordPress wants integers, unique in the file).
    Authors' addresses are included; a deleted comment is in the trash, with nothing of its text."""

    def __init__(self, out: IO[str], origin: str, name: str) -> None:
        self.out = out
        self.origin = origin.rstrip("/")  # a thread's link is its page on the site
        self.name = name
        self.open = False

    def start(self, site: str) -> None:
        base = escape(self.origin)
        self.out.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<rss version="2.0" {NAMESPACES}>\n<channel>\n'
            f"<title>{_html(self.name or site)}</title><link>{base}</link><description></description>"
            f"<wp:wxr_version>1.2</wp:wxr_version><wp:base_site_url>{base}</wp:base_site_url>"
            f"<wp:base_blog_url>{base}</wp:base_blog_url>"
            "<generator>Kibitz</generator>\n"
        )

    def _link(self, t: Thread) -> str:
        """A link whose path is the page key (what an import reads back), the thread's own URL if so."""
        if t.page.startswith("/"):
            shown = urlsplit(t.shown_url)
            same = (shown.path.rstrip("/") or "/") == t.page and not shown.query
            return t.shown_url if t.shown_url and same else self.origin + t.page
        return t.page if t.page.startswith(("http://", "https://")) else ""

    def thread(self, item: ExportThread) -> None:
        self._close()
        t = item.thread
        link = self._link(t)
        # A page key that is not a URL (an identifier the site chose) goes as the post's slug.
        slug = "" if link else t.page
        self.out.write(
            f"<item><title>{_html(t.shown_title)}</title><link>{escape(link)}</link>"
            f"<pubDate>{format_datetime(t.created.astimezone(UTC), usegmt=True)}</pubDate>"
            f'<dc:creator></dc:creator><guid isPermaLink="false">{escape(link or t.page)}</guid>'
            "<description></description><content:encoded></content:encoded><excerpt:encoded></excerpt:encoded>"
            f"<wp:post_id>{t.id}</wp:post_id><wp:post_date>{_date(t.created)}</wp:post_date>"
            f"<wp:post_date_gmt>{_date(t.created)}</wp:post_date_gmt>"
            f"<wp:comment_status>{'closed' if t.closed else 'open'}</wp:comment_status>"
            f"<wp:ping_status>closed</wp:ping_status><wp:post_name>{escape(slug)}</wp:post_name>"
            "<wp:status>publish</wp:status><wp:post_parent>0</wp:post_parent>"
            "<wp:menu_order>0</wp:menu_order><wp:post_type>post</wp:post_type>"
            "<wp:post_password></wp:post_password><wp:is_sticky>0</wp:is_sticky>\n"
        )
        self.open = True

    def comment(self, item: ExportComment) -> None:
        c = item.comment
        parent = c.parent_id or 0
        approved = "trash" if c.deleted else APPROVED[c.status]
        votes = ""
        if c.up or c.down:
            # wpDiscuz's keys, its spelling: the net count, and the two tallies PHP-serialized.
            separate = f'a:2:{{s:4:"like";i:{c.up};s:7:"dislike";i:{-c.down};}}'
            votes = _meta("wpdiscuz_votes", str(c.up - c.down)) + _meta("wpdiscuz_votes_seperate", separate)
        self.out.write(
            f"<wp:comment><wp:comment_id>{c.id}</wp:comment_id>"
            f"<wp:comment_author>{_html(c.author.name)}</wp:comment_author>"
            f"<wp:comment_author_email>{escape(c.author.email)}</wp:comment_author_email>"
            f"<wp:comment_author_url>{escape(c.author.url)}</wp:comment_author_url>"
            "<wp:comment_author_IP></wp:comment_author_IP>"
            f"<wp:comment_date>{_date(c.created)}</wp:comment_date>"
            f"<wp:comment_date_gmt>{_date(c.created)}</wp:comment_date_gmt>"
            f"<wp:comment_content>{'' if c.deleted else _content(c.html)}</wp:comment_content>"
            f"<wp:comment_approved>{approved}</wp:comment_approved><wp:comment_type>comment</wp:comment_type>"
            f"<wp:comment_parent>{parent}</wp:comment_parent><wp:comment_user_id>0</wp:comment_user_id>"
            f"{votes}</wp:comment>\n"
        )

    def _close(self) -> None:
        if self.open:
            self.out.write("</item>\n")
            self.open = False

    def end(self) -> None:
        self._close()
        self.out.write("</channel>\n</rss>\n")
