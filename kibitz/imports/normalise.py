"""Source values made into what Kibitz keeps: a thread's page key, title and URL (``--map`` applied),
and a comment's author, body (rendered by kibitz/markup.py) and dates; never raises on bad values."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from kibitz import errors, inputs, markup
from kibitz.imports.html_text import to_markdown
from kibitz.imports.records import CommentRecord, ThreadRecord
from kibitz.models import CommentStatus
from kibitz.origins import origin_of

if TYPE_CHECKING:  # not imported by the import's worker, which needs no configuration code
    from kibitz.config import SiteConfig

ANONYMOUS = "Anonymous"  # the name of a comment whose source has none
# Controls, bidi overrides, invisible characters and lone surrogates: never wanted in a name or title.
_CONTROLS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]"
)
# In a text only what no database or renderer wants (PostgreSQL refuses NUL and lone surrogates).
_TEXT_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True)
class PageMap:
    """``--map OLD_PREFIX=NEW_PREFIX``: links starting with ``old`` start with ``new`` instead."""

    old: str
    new: str

    @classmethod
    def parse(cls, value: str) -> PageMap:
        old, sep, new = value.partition("=")
        if not sep or not old:
            raise errors.InvalidInput.field("--map", f"{value!r} is not OLD_PREFIX=NEW_PREFIX")
        return cls(old, new)


@dataclass(frozen=True, slots=True)
class ThreadTarget:
    page: str
    title: str
    url: str  # "" unless on one of the site's origins
    closed: bool


def apply_maps(link: str, maps: list[PageMap]) -> str:
    for item in maps:
        if link.startswith(item.old):
            return item.new + link[len(item.old) :]
    return link


def thread_target(record: ThreadRecord, site: SiteConfig, maps: list[PageMap]) -> ThreadTarget | str:
    """Where a source thread goes, or why it cannot be placed. The page key is the link's path; a
    link whose query names the story (``/?p=123``) keeps its whole URL, so such stories never merge."""
    link = apply_maps(record.link.strip(), maps)
    try:
        url = inputs.web_url(link, "link") if link else ""
    except errors.InvalidInput:
        url = ""
    if record.page:
        page = apply_maps(record.page, maps)
    elif url:
        parts = urlsplit(url)
        page = (
            urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
            if parts.query
            else parts.path
        )
    elif link.startswith("/"):
        page = link
    else:
        page = apply_maps(record.identifier.strip(), maps)
    if not page:
        return "no link or identifier names its page"
    try:
        page = inputs.page_key(_CONTROLS.sub("", page))
    except errors.InvalidInput as exc:
        return f"its page key is unusable ({exc.detail})"
    origin = origin_of(url) if url else None
    kept_url = url if origin is not None and site.allows_origin(origin) else ""
    return ThreadTarget(page=page, title=clean_title(record.title), url=kept_url, closed=record.closed)


def clean_title(value: str) -> str:
    value = " ".join(_CONTROLS.sub("", unicodedata.normalize("NFC", value)).split())
    return value[: inputs.MAX_TITLE]


def clean_name(value: str) -> str:
    value = " ".join(_CONTROLS.sub("", unicodedata.normalize("NFC", value)).split())[
        : inputs.MAX_NAME
    ].strip()
    return value or ANONYMOUS


def clean_email(value: str) -> str:
    try:
        return inputs.email(_CONTROLS.sub("", value).strip() or None)
    except errors.InvalidInput:
        return ""


def clean_url(value: str) -> str:
    try:
        url = inputs.web_url(_CONTROLS.sub("", value).strip() or None)
    except errors.InvalidInput:
        return ""
    return url if markup.safe_url(url) else ""


@dataclass(frozen=True)
class Body:
    """A comment as Kibitz stores it."""

    name: str
    email: str
    url: str
    text: str
    html: str
    truncated: bool
    status: CommentStatus
    deleted: bool

    @property
    def visible(self) -> bool:
        return self.status is CommentStatus.APPROVED and not self.deleted


def body(record: CommentRecord, allow_images: bool) -> Body:
    """Author and text cleaned, the text rendered as every comment is; a deleted comment keeps
    nothing of its author or text (a tombstone, as a deletion in Kibitz leaves it)."""
    if record.deleted:
        return Body("", "", "", "", "", False, record.status, True)
    text = to_markdown(record.html) if record.html else record.text
    text = _TEXT_CONTROLS.sub("", unicodedata.normalize("NFC", text.replace("\r\n", "\n"))).strip()
    truncated = len(text) > inputs.MAX_TEXT
    if truncated:
        text = text[: inputs.MAX_TEXT - 1].rstrip() + "…"
    html = markup.render(text, allow_images=allow_images)
    return Body(
        clean_name(record.author_name), clean_email(record.author_email), clean_url(record.author_url),
        text, html, truncated, record.status, False,
    )  # fmt: skip


def fingerprint(record: CommentRecord, parent: str | None) -> str:
    """A hash of everything an import keeps of a comment: a later run updates the comment when it
    differs. The JSON hashed is json.dumps(``_fingerprinted``, sort_keys=True), written out here field
    by field (a third of the time; the same bytes, so earlier runs' fingerprints still match)."""
    if type(record.up) is not int or type(record.down) is not int:
        return _fingerprint_dumped(record, parent)
    text = "".join((
        '{"created": ', _json_str(_when(record.created)), ', "deleted": ', _JSON_BOOL[record.deleted],
        ', "down": ', int.__repr__(record.down), ', "edited": ', _json_str(_when(record.edited)),
        ', "email": ', _json_str(record.author_email), ', "html": ', _json_str(record.html),
        ', "name": ', _json_str(record.author_name), ', "parent": ', _json_str(parent),
        ', "status": ', _json_str(record.status.value), ', "text": ', _json_str(record.text),
        ', "thread": ', _json_str(record.thread_id), ', "up": ', int.__repr__(record.up),
        ', "url": ', _json_str(record.author_url), "}",
    ))  # fmt: skip
    return hashlib.sha256(text.encode("ascii")).hexdigest()


_JSON_BOOL = {True: "true", False: "false"}


def _json_str(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


def _fingerprint_dumped(record: CommentRecord, parent: str | None) -> str:
    """The fingerprint by json.dumps itself (what ``fingerprint`` writes out)."""
    data = {
        "thread": record.thread_id, "parent": parent, "name": record.author_name,
        "email": record.author_email, "url": record.author_url, "created": _when(record.created),
        "text": record.text, "html": record.html, "status": record.status.value,
        "deleted": record.deleted, "up": record.up, "down": record.down, "edited": _when(record.edited),
    }  # fmt: skip
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8", "surrogatepass")).hexdigest()


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
