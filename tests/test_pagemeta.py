"""What a publisher's page says about itself (kibitz.pagemeta): title and canonical URL, from any bytes."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kibitz.pagemeta import PARSE_SECONDS, PageMeta, parse

BASE = "https://news.example/2026/story?ref=home"


def title(html: str, limit: int = 300) -> str:
    return parse(html.encode(), base_url=BASE, limit=limit).title


def canonical(html: str) -> str:
    return parse(html.encode(), base_url=BASE).canonical


def test_og_title_wins_over_title_and_twitter() -> None:
    page = """<html><head><title>Site | Plain</title>
    <meta name="twitter:title" content="Twitter"><meta property="og:title" content="Open Graph">
    <meta property="og:title" content="Second og"></head><body></body></html>"""
    assert title(page) == "Open Graph"


def test_title_only_and_the_first_one() -> None:
    assert title("<head><title>First</title><title>Second</title></head>") == "First"


def test_twitter_title_is_the_last_resort() -> None:
    assert title('<head><meta name="twitter:title" content="Card"></head>') == "Card"
    assert (
        title('<head><meta property="og:title" content="  "><meta name=twitter:title content=Card>') == "Card"
    )
    assert title("<head><title> \n </title><meta name=twitter:title content=Card>") == "Card"


def test_nothing_found() -> None:
    assert parse(b"", base_url=BASE) == PageMeta(title="", canonical="")
    assert parse(b"<p>just text</p>", base_url=BASE) == PageMeta(title="", canonical="")


def test_entities_are_decoded() -> None:
    assert title("<title>Tom &amp; Jerry &#8212; &lt;b&gt; &eacute;t&eacute; &#x1F600;</title>") == (
        "Tom & Jerry — <b> été 😀"
    )
    assert title('<meta property="og:title" content="Q&amp;A &quot;live&quot;">') == 'Q&A "live"'


def test_whitespace_and_controls_collapse() -> None:
    assert (
        title("<title>\n\t  Big\r\n   news\u2028today\u00a0\x0bnow\x00!\x85 </title>")
        == "Big news today now !"
    )


def test_bidi_overrides_and_zero_width_characters_are_removed() -> None:
    raw = "\u202eevil\u202c \u200bzero\u200dwidth\u2066iso\u2069 \ufeffbom \u200e\u200f"
    assert title(f"<title>{raw}</title>") == "evil zerowidthiso bom"


def test_long_titles_are_cut_with_an_ellipsis() -> None:
    cut = title(f"<title>{'word ' * 100}</title>")
    assert len(cut) <= 300
    assert cut.endswith("…")
    assert cut.startswith("word word")
    exact = "x" * 300
    assert title(f"<title>{exact}</title>") == exact
    assert title(f"<title>{exact}y</title>") == "x" * 299 + "…"
    assert title("<title>abcdef</title>", limit=4) == "abc…"


def test_titles_inside_svg_script_or_style_are_ignored() -> None:
    page = """<head><svg><title>Icon</title><g><title>Deep</title></g></svg>
    <script>document.write("<title>Script</title>")</script><style>/* <title>Style</title> */</style>
    <title>Real</title></head>"""
    assert title(page) == "Real"
    assert title("<svg/><title>After a self-closed svg</title>") == "After a self-closed svg"


def test_nothing_after_the_head_counts() -> None:
    assert title("<head></head><body><title>Late</title></body>") == ""
    assert title("<html><body><title>Late</title>") == ""
    assert title("<html><body><meta property=og:title content=Late>") == ""
    assert title("<html><title>Headless</title><body><h1>x</h1>") == "Headless"
    assert canonical('<head></head><link rel="canonical" href="/late">') == ""


def test_canonical_link_resolved_against_the_base() -> None:
    assert (
        canonical('<link rel="canonical" href="/2026/story#comments">') == "https://news.example/2026/story"
    )
    assert canonical('<link rel="canonical" href="other">') == "https://news.example/2026/other"
    assert (
        canonical('<link rel="Alternate CANONICAL" href="//cdn.example/a?b=1">')
        == "https://cdn.example/a?b=1"
    )
    assert canonical('<link rel="alternate" href="/alt"><link rel="canonical" href="/c">') == (
        "https://news.example/c"
    )


def test_canonical_falls_back_to_og_url() -> None:
    page = '<meta property="og:url" content="https://news.example/og"><link rel="canonical" href="/link">'
    assert canonical(page) == "https://news.example/link"
    assert canonical('<meta property="og:url" content="/og">') == "https://news.example/og"


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://news.example/file",
        "mailto:desk@news.example",
        "http://",
        "https://news.example:99999/",
        "https://[::1/",
        "https://news.example/" + "a" * 2048,
    ],
)
def test_unusable_canonicals_are_dropped(href: str) -> None:
    assert canonical(f'<link rel="canonical" href="{href}">') == ""
    page = f'<link rel="canonical" href="{href}"><meta property="og:url" content="/fallback">'
    assert canonical(page) == "https://news.example/fallback"


def test_charset_from_a_meta_tag() -> None:
    body = '<meta charset="windows-1252"><title>Café “quoted”</title>'.encode("cp1252")
    assert parse(body, base_url=BASE).title == "Café “quoted”"
    page = '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1"><title>Été</title>'
    assert parse(page.encode("latin-1"), base_url=BASE).title == "Été"


def test_charset_from_the_caller_wins_and_unknown_ones_fall_back_to_utf8() -> None:
    body = '<meta charset="utf-8"><title>Café</title>'.encode("cp1252")
    assert parse(body, base_url=BASE, charset="windows-1252").title == "Café"
    utf8 = "<title>Café</title>".encode()
    for odd in ("no-such-charset", "hex", "base64", "rot13", "idna", "undefined", ""):
        assert parse(utf8, base_url=BASE, charset=odd).title == "Café", odd
    assert parse(b"<meta charset=zlib><title>Caf\xc3\xa9</title>", base_url=BASE).title == "Café"
    assert parse(b"<title>Caf\xff</title>", base_url=BASE).title == "Caf\ufffd"


def test_byte_order_marks() -> None:
    assert parse("\ufeff<title>Bom</title>".encode("utf-16"), base_url=BASE).title == "Bom"
    assert parse("\ufeff<title>Bom</title>".encode(), base_url=BASE, charset="latin-1").title == "Bom"


@pytest.mark.parametrize("piece", [b"<!--", b"<![CDATA[", b"<!x", b"<", b"<x>"])
def test_pathological_pages_are_cut_short_in_time(piece: bytes) -> None:
    # HTMLParser needs minutes for 512 KB of unclosed "<!--"; the parse stops after PARSE_SECONDS.
    started = time.monotonic()
    assert parse(b"<title>Early</title>" + piece * (512 * 1024 // len(piece)), base_url=BASE).title == "Early"
    assert time.monotonic() - started < PARSE_SECONDS + 0.5


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(
        st.binary(max_size=2000),
        st.lists(
            st.sampled_from(
                [
                    b"<title>",
                    b"</title>",
                    b"<svg>",
                    b"</svg>",
                    b"<script>",
                    b"<head>",
                    b"</head>",
                    b"<body>",
                    b"<!--",
                    b"<![CDATA[",
                    b"<!",
                    b"<?",
                    b"</",
                    b"<meta property=og:title content=",
                    b'<link rel=canonical href="',
                    b"<meta charset=",
                    b"utf-16",
                    b"&#x110000;",
                    b"&#0;",
                    b"&amp",
                    b'"',
                    b"'",
                    b">",
                    b"\xff\xfe",
                    b"\x00",
                    "\u202e\u2028é".encode(),
                    b"x",
                ]
            ),
            max_size=40,
        ).map(b"".join),
    ),
    charset=st.one_of(st.none(), st.sampled_from(["utf-8", "cp1252", "utf-16", "hex", "bogus", "shift_jis"])),
    limit=st.integers(min_value=-5, max_value=400),
)
def test_any_bytes_never_raise(body: bytes, charset: str | None, limit: int) -> None:
    meta = parse(body, base_url=BASE, charset=charset, limit=limit)
    assert len(meta.title) <= max(limit, 0)
    assert meta.title == meta.title.strip()
    assert "\n" not in meta.title
    assert meta.canonical == "" or meta.canonical.startswith(("http://", "https://"))
