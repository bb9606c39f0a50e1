"""What a publisher's article page says about itself: its title and canonical URL.

Only the document's head is read (everything after ``</head>`` or ``<body>`` is ignored), with the
standard library's forgiving HTML parser. The title is the Open Graph title, else the first
``<title>``, else the Twitter card title, cleaned up to be shown as plain text: entities decoded,
control characters and runs of white space made single spaces, bidi overrides and zero-width
characters removed, and cut to a length. :func:`parse` never raises, whatever bytes it is given.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit, urlunsplit

MAX_URL = 2048
SNIFF_BYTES = 2048
MAX_BODY = 1024 * 1024
PARSE_SECONDS = 0.5

_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([a-zA-Z0-9_.:-]+)", re.IGNORECASE)
# Labels a browser reads as another encoding (WHATWG Encoding): a page that says "latin1" is cp1252,
# and one that claims UTF-16 in a <meta> (which it could not have been read to find) is UTF-8.
_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252"}
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SKIPPED = frozenset({"svg", "script", "style"})


@dataclass(frozen=True)
class PageMeta:
    title: str  # "" when none
    canonical: str  # an absolute http(s) URL, or ""


def _known(name: str | None) -> str | None:
    """A text codec Python has for ``name`` (after the browsers' aliases), or None."""
    if not name:
        return None
    label = name.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
        b"<".decode(info.name)  # refuses bytes-to-bytes codecs ("hex", "zlib") and odd ones
    except (LookupError, UnicodeError, ValueError, TypeError):
        return None
    return info.name


def decode(body: bytes, charset: str | None = None) -> str:
    """The page's text: a byte order mark, else ``charset`` (from the HTTP header), else a
    ``<meta>`` in the first 2 KB, else UTF-8; bytes that do not decode become U+FFFD."""
    encoding = next((name for bom, name in _BOMS if body.startswith(bom)), None)
    encoding = encoding or _known(charset)
    if encoding is None:
        found = _META_CHARSET.search(body[:SNIFF_BYTES])
        encoding = _known(found.group(1).decode("ascii")) if found else None
        if encoding is not None and encoding.replace("_", "-").startswith(("utf-16", "utf-32")):
            encoding = "utf-8"
    try:
        return body.decode(encoding or "utf-8", errors="replace")
    except (LookupError, UnicodeError, ValueError):
        return body.decode("utf-8", errors="replace")


def clean_title(text: str, limit: int = 300) -> str:
    """One line of plain text of at most ``limit`` characters (ending with "…" when cut)."""
    text = _CONTROL.sub(" ", _INVISIBLE.sub("", text))
    text = " ".join(text.split())
    if limit <= 0:
        return ""
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def clean_url(href: str, base_url: str) -> str:
    """``href`` made absolute against ``base_url``: an http(s) URL without fragment, or ""."""
    try:
        url = urljoin(base_url, href.strip())
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    url = urlunsplit(parts._replace(fragment=""))
    if len(url) > MAX_URL or any(ch.isspace() or not ch.isprintable() for ch in url):
        return ""
    return url


class _Done(Exception):
    """Raised from the parser's callbacks once the head is over (or the time for it)."""


class _HeadParser(HTMLParser):
    def __init__(self, seconds: float) -> None:
        super().__init__(convert_charrefs=True)
        self._deadline = time.monotonic() + seconds
        self.meta: dict[str, str] = {}  # first content of og:title, twitter:title, og:url
        self.title: str | None = None
        self.canonical: str | None = None
        self._title_text: list[str] | None = None
        self._skipping: list[str] = []

    def _tick(self) -> None:
        # HTMLParser rescans the rest of the text for each unclosed "<!--", "<![CDATA[", ... (quadratic:
        # minutes for 512 KB of "<!--"), calling back after each scan: stop there when time is up.
        if time.monotonic() > self._deadline:
            raise _Done

    def handle_comment(self, data: str) -> None:
        self._tick()

    def handle_decl(self, decl: str) -> None:
        self._tick()

    def unknown_decl(self, data: str) -> None:
        self._tick()

    def handle_pi(self, data: str) -> None:
        self._tick()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tick()
        if tag == "body":
            raise _Done
        if self._skipping or tag in _SKIPPED:
            if tag in _SKIPPED:
                self._skipping.append(tag)
            return
        values = {name: value or "" for name, value in reversed(attrs)}  # the first of a name wins
        if tag == "title" and self.title is None and self._title_text is None:
            self._title_text = []
        elif tag == "meta":
            key = (values.get("property") or values.get("name") or "").strip().lower()
            if key in ("og:title", "twitter:title", "og:url") and "content" in values:
                self.meta.setdefault(key, values["content"])
        elif tag == "link" and self.canonical is None and "href" in values:
            rel = values.get("rel", "").lower().split()
            self.canonical = values["href"] if "canonical" in rel else None

    def handle_endtag(self, tag: str) -> None:
        self._tick()
        if self._skipping:
            if tag in self._skipping:
                while self._skipping.pop() != tag:
                    pass
            return
        if tag == "head":
            raise _Done
        if tag == "title":
            self._end_title()

    def handle_data(self, data: str) -> None:
        self._tick()
        if self._title_text is not None and not self._skipping:
            self._title_text.append(data)

    def _end_title(self) -> None:
        if self._title_text is not None:
            self.title = "".join(self._title_text)
            self._title_text = None


def parse(body: bytes, *, base_url: str, charset: str | None = None, limit: int = 300) -> PageMeta:
    """The title and canonical URL a page declares in its head; never raises. Only the first
    ``MAX_BODY`` bytes are read, and what the parser found within ``PARSE_SECONDS`` counts."""
    parser = _HeadParser(PARSE_SECONDS)
    # _Done ends the head; a page the parser chokes on keeps what was found before that point.
    with contextlib.suppress(Exception):
        parser.feed(decode(body[:MAX_BODY], charset))
        parser.close()
    parser._end_title()  # an unclosed <title> at the end of the head
    title = ""
    for found in (parser.meta.get("og:title"), parser.title, parser.meta.get("twitter:title")):
        title = clean_title(found or "", limit)
        if title:
            break
    canonical = ""
    for href in (parser.canonical, parser.meta.get("og:url")):
        canonical = clean_url(href or "", base_url) if href else ""
        if canonical:
            break
    return PageMeta(title=title, canonical=canonical)
