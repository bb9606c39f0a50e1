"""What the spam pipeline reads from a comment, computed once per post (``Parsed``): its links and
their domains, the text without links and quoted lines, folded to one canonical form (look-alike
letters, accents, invisible characters and leetspeak undone: wordlists.fold), its word tokens, and
the hashed features the classifier counts.

Features are strings hashed (CRC-32, the same in every process and release) into ``BUCKETS``
buckets, and counted once per comment (presence, not frequency):

- ``w:<word>`` every word, ``b:<word> <word>`` every pair of neighbours, and ``w:`` each word of a
  link's host name (``cheap-meds-online.shop``: cheap, meds, online; "www" and the TLD left out);
- ``x:…`` the shape of the comment: whether it has a link and how many, each link's top-level
  domain, a URL shortener, a phone number, an email address or @handle in the text, a money amount,
  shouting, a run of exclamation marks, its length in words.

Numbers become their length (``#4``), so that "$4,000" and "$9,500" are one feature. Only the first
``MAX_CHARS`` characters are read: a very long comment costs no more than a long one.
"""

from __future__ import annotations

import itertools
import re
import zlib
from dataclasses import dataclass
from functools import cached_property

from kibitz.wordlists import _TOKEN, _deleet, fold

BUCKETS = 1 << 18
MASK = BUCKETS - 1
MAX_CHARS = 2000
FEATURES_VERSION = 1  # bump when what is hashed changes: stored counts of the old kind mean nothing

URL = re.compile(r"(?:\bhttps?://|(?<![/\w.@-])www\.)[^\s<>\"'`]+", re.IGNORECASE)
BARE_DOMAIN = re.compile(r"\b(?:[a-z0-9][a-z0-9-]*\.)+([a-z]{2,12})\b(?![@\w])", re.IGNORECASE)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
HANDLE = re.compile(r"(?<![\w@])@[A-Za-z_][\w.]{2,30}")
PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d\s().-]{7,18}\d(?!\w)")
MONEY = re.compile(r"[$€£¥₹]\s?\d|\d\s?(?:[$€£]|usd|eur|gbp|dollars|euros)\b", re.IGNORECASE)
QUOTED_LINE = re.compile(r"^[ \t]*>.*$", re.MULTILINE)
TOKEN = re.compile(r"[^\W_]+")
_DOTTED = re.compile(r"[a-z0-9-]\.[a-z]", re.IGNORECASE)
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LEET_CHAR = re.compile(r"[013457@$+!]")  # what wordlists' _deleet may change
SHORTENERS = frozenset(
    {
        "bit.ly",
        "tinyurl.com",
        "cutt.ly",
        "t.co",
        "is.gd",
        "rb.gy",
        "shorturl.at",
        "ow.ly",
        "tiny.cc",
        "buff.ly",
        "goo.gl",
        "t.ly",
        "rebrand.ly",
        "s.id",
        "v.gd",
        "bl.ink",
        "lnkd.in",
        "shorte.st",
        "adf.ly",
        "qrco.de",
        "t.me",
        "wa.me",
        "linktr.ee",
    }
)
# Second-level labels under which a registrable domain has three labels (example.co.uk).
_SECOND_LEVEL = frozenset(
    {
        "co",
        "com",
        "org",
        "net",
        "gov",
        "ac",
        "edu",
        "ltd",
        "plc",
        "sch",
        "nhs",
        "police",
        "mod",
    }
)


def registrable(host: str) -> str:
    """``www.news.example.co.uk`` -> ``example.co.uk``: the part a person registers."""
    labels = host.lower().strip(".").split(".")
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def host_of(url: str) -> str:
    """The host of a link as written in a comment ('' when there is none)."""
    rest = url.split("://", 1)[1] if "://" in url else url
    host = re.split(r"[/?#\\]", rest, maxsplit=1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    return host.lower().rstrip(".,;:!)")


def host_words(host: str) -> list[str]:
    """The words of a host name, its top-level domain and "www" left out: cheap, meds, online."""
    labels = host.lower().split(".")[:-1]
    if labels and labels[0] == "www":
        labels = labels[1:]
    return [word for label in labels for word in TOKEN.findall(label) if len(word) > 2]


def bucket(feature: str) -> int:
    return zlib.crc32(feature.encode("utf-8", "surrogatepass")) & MASK


_W, _B, _SPACE = zlib.crc32(b"w:"), zlib.crc32(b"b:"), b" "


@dataclass(frozen=True)
class Link:
    url: str
    host: str
    domain: str  # registrable

    @property
    def shortener(self) -> bool:
        return self.host in SHORTENERS or self.domain in SHORTENERS


class Parsed:
    """A comment as the spam pipeline sees it; each part is computed when first asked for."""

    def __init__(self, text: str, name: str = "", author_url: str = "") -> None:
        self.raw = text[: MAX_CHARS * 4]
        self.name = name
        self.author_url = author_url
        # Most comments have no link: then the link pattern need not run at all.
        self._linkless = "://" not in self.raw and "www." not in self.raw.lower()

    @cached_property
    def links(self) -> tuple[Link, ...]:
        if self._linkless:
            return ()
        found = []
        for match in URL.finditer(self.raw):
            url = match.group().rstrip(".,;:!?)]}")
            host = host_of(url)
            if host:
                found.append(Link(url, host, registrable(host)))
        return tuple(found)

    @cached_property
    def unlinked(self) -> str:
        """The text without its links."""
        return self.raw if self._linkless else URL.sub(" ", self.raw)

    @cached_property
    def own_words(self) -> str:
        """The text without links and without quoted lines (what its author wrote themselves)."""
        return QUOTED_LINE.sub(" ", self.unlinked)[:MAX_CHARS]

    @cached_property
    def folded(self) -> str:
        return fast_fold(self.own_words)

    @cached_property
    def tokens(self) -> list[str]:
        return [f"#{min(len(t), 5)}" if t.isdigit() else t for t in TOKEN.findall(self.folded)]

    @cached_property
    def words_outside_links(self) -> int:
        return len(TOKEN.findall(self.unlinked))

    @cached_property
    def features(self) -> list[int]:
        """The comment's distinct feature buckets. Each is bucket(name), computed without building
        the name: a CRC-32 goes on from the CRC of what came before (crc32(b, crc32(a)) is
        crc32(a + b)), so every word is encoded once."""
        crc = zlib.crc32
        tokens = self.tokens
        words = [token.encode("utf-8", "surrogatepass") for token in tokens]
        found = {crc(word, _W) for token, word in zip(tokens, words, strict=True) if len(token) > 1}
        found.update(crc(b, crc(_SPACE, crc(a, _B))) for a, b in itertools.pairwise(words))
        for link in self.links:  # the words a link's host is made of: cheap-meds-online.shop
            found.update(crc(word.encode(), _W) for word in host_words(link.host))
        found.update(crc(name.encode()) for name in self.shape)
        return list({h & MASK for h in found})

    @cached_property
    def shape(self) -> list[str]:
        """The ``x:`` features (see the module's docstring)."""
        raw, links = self.raw, self.links
        out = [f"x:len:{_length_class(len(self.tokens))}"]
        if links:
            out.append("x:link")
            if len(links) > 1:
                out.append("x:links2")
            if any(link.shortener for link in links):
                out.append("x:short")
        without_links = self.unlinked
        tlds = {link.host.rsplit(".", 1)[-1] for link in links}
        if _DOTTED.search(without_links):
            found = BARE_DOMAIN.finditer(without_links)
            tlds.update(m.group(1).lower() for m in found if "@" not in m.group())
        out += [f"x:tld:{tld}" for tld in sorted(tlds)[:5]]
        if "@" in without_links:
            if EMAIL.search(without_links):
                out.append("x:email")
            if HANDLE.search(EMAIL.sub(" ", without_links)):
                out.append("x:handle")
        # The character counts run in C (map over the string): no Python loop per character.
        if sum(map(str.isdigit, without_links)) >= 9 and any(
            sum(map(str.isdigit, m.group())) >= 9 for m in PHONE.finditer(without_links)
        ):
            out.append("x:phone")
        if MONEY.search(raw):
            out.append("x:money")
        letters = sum(map(str.isalpha, raw))
        if letters >= 12 and sum(map(str.isupper, raw)) > 0.5 * letters:
            out.append("x:caps")
        if "!!!" in raw:
            out.append("x:bang")
        return out


def fast_fold(text: str) -> str:
    """wordlists.fold, with a short cut for ASCII text (most comments), which has no look-alikes,
    accents or invisible characters to undo: the same result at a third of the cost."""
    if not text.isascii():
        return fold(text)
    chunks = _ASCII_CONTROL.sub("", text).lower().split()
    for i, chunk in enumerate(chunks):  # tokens never span whitespace: leetspeak chunk by chunk
        if not chunk.isalpha() and _LEET_CHAR.search(chunk):
            chunks[i] = _TOKEN.sub(_deleet, chunk)
    return " ".join(chunks)


def _length_class(n: int) -> str:
    return "1" if n <= 3 else "2" if n <= 10 else "3" if n <= 30 else "4"
