"""Reading the publisher's RSS or Atom feed for a list's digest: one conditional GET through the SSRF
guard (outbound.py), bounded in size and time, parsed from the bytes by feedparser, each item reduced
to plain text (a feed's HTML never reaches a mail as markup)."""

from __future__ import annotations

import calendar
import hashlib
import html
import io
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser
import nh3

from kibitz import outbound
from kibitz.origins import split_http_url
from kibitz.store.feeds import FeedState, NewArticle

Fetch = Callable[..., Awaitable[outbound.Response]]

MAX_BYTES = 2 * 1024 * 1024  # a feed larger than this is refused, not cut (a cut feed is no XML)
TIMEOUT = 10.0  # seconds for the whole read, redirects included
MAX_ITEMS = 200  # items taken from one read; a feed longer than this is cut
MAX_TITLE = 300
MAX_SUMMARY = 400  # characters of plain text under an article's title
MAX_URL = 2048
_BLOCK_END = re.compile(r"<(?:br|/p|/li|/h[1-6]|/blockquote|/div|/pre|/td|/th|/tr)\b", re.IGNORECASE)
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+xml;q=0.9, application/xml;q=0.8, "
    "text/xml;q=0.8, */*;q=0.1"
)


class FeedError(Exception):
    """A read that gave no articles: ``reason`` says why (logged and kept on the list's state)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Fetched:
    """One good read: the feed's articles, or None when it has not changed (304)."""

    articles: tuple[NewArticle, ...] | None
    etag: str | None  # the validators to send next time ("": none); None: keep the ones known
    last_modified: str | None


def policy(allow_networks: tuple[outbound.Network, ...]) -> outbound.OutboundPolicy:
    """The guard's bounds for feeds: public addresses only, unless ``outbound_allow`` lists more."""
    return outbound.OutboundPolicy(
        allow_networks=allow_networks,
        timeout=TIMEOUT,
        max_bytes=MAX_BYTES,
        user_agent="Kibitz (+feed digests)",
    )


async def fetch_feed(
    state: FeedState, origins: tuple[str, ...], *, guard: outbound.OutboundPolicy, fetch: Fetch
) -> Fetched:
    """GET the feed, with If-None-Match / If-Modified-Since from the last good read; FeedError when
    it cannot be read, is not a feed, or is larger than MAX_BYTES."""
    conditions = []
    if state.etag:
        conditions.append(("If-None-Match", state.etag))
    if state.last_modified:
        conditions.append(("If-Modified-Since", state.last_modified))
    try:
        response = await fetch(
            state.url, policy=guard, allowed_origins=origins, accept=ACCEPT, headers=conditions
        )
    except outbound.OutboundError as exc:
        raise FeedError(str(exc)) from None
    etag = _validator(response.header("etag"), 500)
    modified = _validator(response.header("last-modified"), 100)
    if response.status == 304:  # it may leave out validators that still hold
        return Fetched(None, etag or None, modified or None)
    if response.status != 200:
        raise FeedError(f"status {response.status}")
    if response.truncated:
        raise FeedError(f"larger than {MAX_BYTES} bytes")
    articles = parse(response.body, response.url, response.header("content-type") or "")
    return Fetched(articles, etag, modified)


def _validator(value: str | None, limit: int) -> str:
    """A validator worth sending back, or "" (absent, or too long to keep)."""
    value = (value or "").strip()
    return value if len(value) <= limit else ""


def parse(body: bytes, url: str, content_type: str) -> tuple[NewArticle, ...]:
    """The items of an RSS or Atom document; FeedError when the bytes are no feed at all.

    feedparser gets a stream, never a string: a string may be taken for a URL or a file name. Its
    parser resolves no external entities; relative links are resolved against the feed's URL."""
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    parsed: Any = feedparser.parse(io.BytesIO(body), response_headers=headers)
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        raise FeedError(f"not a feed: {problem}" if problem else "not a feed")
    found: list[NewArticle] = []
    keys: set[str] = set()
    for entry in parsed.entries[:MAX_ITEMS]:
        article = _article(entry)
        if article is not None and article.key not in keys:
            keys.add(article.key)
            found.append(article)
    if parsed.get("bozo") and not found:
        # A broken document (cut short, say) is taken for what it still gives, but if that is
        # nothing it is an error to report, not an empty feed.
        raise FeedError(f"not a feed: {parsed.get('bozo_exception')}")
    return tuple(found)


def _article(entry: Any) -> NewArticle | None:
    link = _http_url(str(entry.get("link") or ""))
    title = _text(entry, "title", MAX_TITLE)
    identity = str(entry.get("id") or "") or link
    if not identity or not (title or link):
        return None  # nothing to tell it by, or nothing to show
    return NewArticle(
        key=article_key(identity),
        title=title or link,
        url=link,
        summary=_text(entry, "summary", MAX_SUMMARY),
        published=_when(entry.get("published_parsed") or entry.get("updated_parsed")),
    )


def article_key(identity: str) -> str:
    """How an item is told apart: a hash of its guid (Atom ``id``), else of its link."""
    return hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest()


def _text(entry: Any, name: str, limit: int) -> str:
    """An item's field as plain text: markup (the feed says the field is HTML) reduced to its text;
    plain text kept as it is, to be escaped wherever it is shown."""
    value = str(entry.get(name) or "")
    kind = str((entry.get(f"{name}_detail") or {}).get("type") or "text/html")
    if kind == "text/plain":
        return _trim(" ".join(value.split()), limit)
    return plain_text(value, limit)


def _http_url(value: str) -> str:
    """An http(s) URL without its fragment, or "" (``javascript:`` and the like never become links)."""
    value = value.strip()
    if not value or len(value) > MAX_URL:
        return ""
    try:
        split_http_url(value, allow_query=True)
    except ValueError:
        return ""
    return value.split("#", 1)[0]


def _when(parsed: time.struct_time | None) -> datetime | None:
    if parsed is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def plain_text(value: str, limit: int) -> str:
    """Markup to plain text on one line: tags and the content of scripts and styles dropped,
    character references decoded; cut at a word near ``limit`` with an ellipsis."""
    spaced = _BLOCK_END.sub(lambda found: " " + found.group(0), value)  # "<p>a</p><p>b" is "a b"
    text = html.unescape(nh3.clean(spaced, tags=set(), clean_content_tags={"script", "style"}))
    return _trim(" ".join(text.split()), limit)


def _trim(flat: str, limit: int) -> str:
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:") + "…"
