"""Comment rendering (QUALITY T01-T04, T06) and identicon avatars."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kibitz import markup
from kibitz.avatar import avatar_key, identicon_svg
from kibitz.markup import RENDERER_VERSION, plain_text, render

# What a reviewer expects of the output, written down independently of kibitz.markup's own lists.
TAGS = {"p", "br", "em", "strong", "s", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr"}
ATTRIBUTES = {
    "a": {"href", "title", "rel"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "code": {"class"},
}
REL = {"nofollow", "ugc", "noopener", "noreferrer"}

XSS_CORPUS: list[str] = [
    # script and event handlers in raw HTML (T01, T03)
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<img src=x onerror=alert(1)>",
    "<img src=x onerror=alert(1)//",
    '<img src="x" ONERROR="alert(1)">',
    "<img/src=x/onerror=alert(1)>",
    "<body onload=alert(1)>",
    "<div onmouseover='alert(1)'>hover</div>",
    "<a href=https://ok.example onclick=alert(1)>x</a>",
    "<a href=https://ok.example onclick = alert(1)>x</a>",
    "<p onpointerenter=alert(1) style=width:100%>x</p>",
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<svg><a xlink:href='javascript:alert(1)'><text>x</text></a></svg>",
    "<svg><animate attributeName=href values=javascript:alert(1) /></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<math href=javascript:alert(1)>x</math>",
    "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
    "<iframe src=javascript:alert(1)>",
    "<object data=javascript:alert(1)></object>",
    "<embed src=data:text/html,<script>alert(1)</script>>",
    "<style>body{background:url(javascript:alert(1))}</style>",
    "<link rel=stylesheet href=https://evil.example/x.css>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "<base href=https://evil.example/>",
    "<form action=https://evil.example><button formaction=javascript:alert(1)>x</button></form>",
    "<a href=https://ok.example target=_blank>x</a>",
    # javascript:, vbscript:, data: in every spelling (T02)
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](JaVaScRiPt&#58;alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](&#x6A;avascript:alert(1))",
    "[x](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1))",
    "[x](%6Aavascript:alert(1))",
    "[x](javascript%3Aalert(1))",
    "[x](\x0ejavascript:alert(1))",
    "[x](\x00javascript:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](<java\nscript:alert(1)>)",
    "[x]( javascript:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x](vbscript:msgbox(1))",
    "[x](VBScript:msgbox(1))",
    "[x](data:text/html,<script>alert(1)</script>)",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](data:image/png;base64,iVBORw0KGgo=)",
    "![x](data:image/svg+xml,<svg onload=alert(1)>)",
    "![x](javascript:alert(1))",
    "[x](file:///etc/passwd)",
    "[x](//evil.example)",
    "[x](\\\\evil.example)",
    "[x](/relative/path)",
    "[x](https:evil.example)",
    "[x](http://user:pass@evil.example)",
    '[x](https://ok.example "title" onclick=alert(1))',
    '[x](https://ok.example "a" onmouseover="alert(1)")',
    '[x](https://ok.example"onmouseover="alert(1))',
    # reference-style links and images
    "[x][r]\n\n[r]: javascript:alert(1)",
    "[x][r]\n\n[r]: <javascript:alert(1)> 'title'",
    "![x][r]\n\n[r]: data:text/html,<script>alert(1)</script>",
    "[x]\n\n[x]: //evil.example",
    # autolinks (T03)
    "<http://a.com/'onmouseover='x>",
    '<http://a.com/"onmouseover="alert(1)>',
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "<vbscript:msgbox(1)>",
    "<a@b.com?subject='onmouseover='x>",
    # markdown tricks
    "[<img src=x onerror=alert(1)>](https://ok.example)",
    "[x](https://ok.example)<script>alert(1)</script>",
    "**<script>**alert(1)**</script>**",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    '``` "><script>alert(1)</script>\nx\n```',
    "```javascript:alert(1) onload=x\nx\n```",
    "    <script>alert(1)</script>",
    "> <script>alert(1)</script>",
    "- <img src=x onerror=alert(1)>",
    "# <script>alert(1)</script>",
    "[![x](https://ok.example/i.png)](javascript:alert(1))",
    "![<svg onload=alert(1)>](https://ok.example/i.png)",
    '![x](https://ok.example/i.png "title\\" onerror=\\"alert(1))',
    # broken and unclosed markup, comments, CDATA
    "<img src=x onerror=alert(1)",
    "<a href='javascript:alert(1)",
    "<div><p>unclosed <b>tags",
    "<!-- <script>alert(1)</script> -->",
    "<!--><script>alert(1)</script>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    "<?xml version='1.0'?><x/>",
    "<!DOCTYPE html><html><body onload=alert(1)>",
    "</p><script>alert(1)</script><p>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<textarea></textarea><script>alert(1)</script>",
    # bidi overrides, zero-width characters, template injection
    "[\u202eelpmaxe.knab](https://evil.example)",
    "[bank.ex\u200bample](https://evil.example)",
    "\u202e<script>alert(1)</script>\u202c",
    "java\u200bscript:alert(1)",
    "[x](java\u200bscript:alert(1))",
    "{{constructor.constructor('alert(1)')()}}",
    "${alert(1)}",
    "<%= 7*7 %>{% raw %}{{7*7}}",
]

# A few structural fragments so the property test reaches links, images, code and nesting.
_FRAGMENTS = [
    "[",
    "]",
    "(",
    ")",
    "<",
    ">",
    "!",
    "*",
    "_",
    "`",
    "\n",
    "\n\n",
    "> ",
    "- ",
    "1. ",
    "# ",
    "```",
    '"',
    "'",
    "&#58;",
    "&#x6A;",
    "javascript:",
    "data:",
    "https://",
    "http:",
    "//",
    "mailto:a@b.c",
    "a.example",
    "<script>",
    " onerror=",
    "\\",
    "%3A",
]


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.other: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    def handle_comment(self, data: str) -> None:
        self.other.append("comment: " + data)

    def handle_decl(self, decl: str) -> None:
        self.other.append("declaration: " + decl)

    def handle_pi(self, data: str) -> None:
        self.other.append("processing instruction: " + data)

    def unknown_decl(self, data: str) -> None:
        self.other.append("unknown declaration: " + data)


def _absolute(url: str, schemes: set[str]) -> bool:
    if any(ord(ch) <= 0x20 or ch == "\\" for ch in url):
        return False
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        return False
    if scheme == "mailto":
        return "@" in parts.path
    return url.lower().startswith(scheme + "://") and bool(parts.hostname)


def assert_safe_html(output: str, *, images: bool = False) -> None:
    """Every element and attribute is allowed, every URL absolute and harmless, every link rel'd."""
    collector = _Collector()
    collector.feed(output)
    collector.close()
    assert collector.other == []
    allowed_tags = TAGS | {"img"} if images else TAGS
    for tag, attrs in collector.elements:
        assert tag in allowed_tags, (tag, output)
        names = [name for name, _ in attrs]
        assert len(names) == len(set(names)), output
        for name, value in attrs:
            assert not name.startswith("on"), output
            assert name not in {"style", "srcdoc", "formaction", "target", "action", "xlink:href"}, output
            assert name in ATTRIBUTES.get(tag, set()), (tag, name, output)
            if name == "href":
                assert _absolute(value or "", {"http", "https", "mailto"}), output
            if name == "src":
                assert _absolute(value or "", {"http", "https"}), output
            if name == "class":
                assert (value or "").startswith("language-"), output
                assert " " not in (value or ""), output
        if tag == "a":
            rel = dict(attrs).get("rel") or ""
            assert set(rel.split()) >= REL, output


def _hrefs(output: str) -> list[str]:
    collector = _Collector()
    collector.feed(output)
    return [
        value or ""
        for tag, attrs in collector.elements
        if tag == "a"
        for name, value in attrs
        if name == "href"
    ]


def test_corpus_is_large_enough() -> None:
    assert len(XSS_CORPUS) >= 60
    assert len(set(XSS_CORPUS)) == len(XSS_CORPUS)


@pytest.mark.parametrize("allow_images", [False, True])
@pytest.mark.parametrize("text", XSS_CORPUS)
def test_hostile_input_renders_to_allowed_markup_only(text: str, allow_images: bool) -> None:
    output = render(text, allow_images=allow_images)
    assert_safe_html(output, images=allow_images)
    lowered = output.lower()
    assert "<script" not in lowered
    assert "javascript:" not in "".join(_hrefs(output)).lower()


def test_script_tag_is_shown_as_escaped_text() -> None:
    output = render("<script>alert(1)</script>")
    assert output.strip() == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"


def test_raw_html_attributes_are_shown_as_text_not_markup() -> None:
    output = render('<a href="https://ok.example" onclick="alert(1)">x</a>')
    assert "&lt;a href=" in output
    assert_safe_html(output)


@pytest.mark.parametrize(
    "text",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt&#58;alert(1))",
        "[x](%6Aavascript:alert(1))",
        "[x](\x0ejavascript:alert(1))",
        "[x](data:text/html,<script>alert(1)</script>)",
        "[x](vbscript:msgbox(1))",
        "[x](//evil.example/path)",
        "[x](/relative)",
        "[x](evil.example)",
    ],
)
def test_unsafe_link_targets_leave_the_text_unlinked(text: str) -> None:
    output = render(text)
    assert "<a" not in output
    assert "x" in plain_text(output)


def test_autolink_with_quotes_cannot_break_out_of_the_attribute() -> None:
    output = render("<http://a.com/'onmouseover='x>")
    assert_safe_html(output)
    assert _hrefs(output) == ["http://a.com/'onmouseover='x"]
    assert "href=\"http://a.com/'onmouseover='x\"" in output


def test_emphasis_and_strikethrough() -> None:
    assert render("*a* **b** ~~c~~").strip() == "<p><em>a</em> <strong>b</strong> <s>c</s></p>"


def test_code_block_content_is_escaped_and_keeps_its_language() -> None:
    output = render("```python\nif a < b and c > d: print('<b>&')\n```")
    assert '<pre><code class="language-python">' in output
    assert "if a &lt; b and c &gt; d: print('&lt;b&gt;&amp;')" in output


def test_inline_code_is_escaped() -> None:
    assert render("`<b>`").strip() == "<p><code>&lt;b&gt;</code></p>"


def test_lists_keep_their_start_number() -> None:
    output = render("- a\n- b\n\n3. c\n4. d")
    assert "<ul>\n<li>a</li>\n<li>b</li>\n</ul>" in output
    assert '<ol start="3">' in output
    assert_safe_html(output)


def test_blockquote_and_rule() -> None:
    output = render("> quoted\n\n---")
    assert "<blockquote>\n<p>quoted</p>\n</blockquote>" in output
    assert "<hr>" in output


def test_headings_become_strong_paragraphs() -> None:
    assert render("# Big *news*").strip() == "<p><strong>Big <em>news</em></strong></p>"


@pytest.mark.parametrize(
    ("text", "href"),
    [
        ("[site](http://example.org/a?b=c#d)", "http://example.org/a?b=c#d"),
        ("[site](https://example.org/)", "https://example.org/"),
        ("[mail me](mailto:reader@example.org)", "mailto:reader@example.org"),
        ("<https://example.org/x>", "https://example.org/x"),
        ("<reader@example.org>", "mailto:reader@example.org"),
        ("[site][ref]\n\n[ref]: https://example.org/ref", "https://example.org/ref"),
    ],
)
def test_safe_links_keep_their_target_and_get_rel(text: str, href: str) -> None:
    output = render(text)
    assert _hrefs(output) == [href]
    assert 'rel="nofollow ugc noopener noreferrer"' in output
    assert "target" not in output
    assert_safe_html(output)


def test_link_title_is_kept() -> None:
    output = render('[x](https://example.org "a title")')
    assert 'title="a title"' in output


def test_images_are_links_when_images_are_not_allowed() -> None:
    output = render("![a cat](https://img.example/cat.png)")
    assert "<img" not in output
    assert _hrefs(output) == ["https://img.example/cat.png"]
    assert ">a cat</a>" in output


def test_image_inside_a_link_becomes_its_alt_text_when_images_are_not_allowed() -> None:
    output = render("[![a cat](https://img.example/cat.png)](https://example.org)")
    assert "<img" not in output
    assert _hrefs(output) == ["https://example.org"]
    assert ">a cat</a>" in output


def test_images_are_kept_when_allowed() -> None:
    output = render('![a cat](https://img.example/cat.png "Tom")', allow_images=True)
    assert '<img src="https://img.example/cat.png" alt="a cat" title="Tom">' in output
    assert_safe_html(output, images=True)


@pytest.mark.parametrize(
    "src", ["data:image/png;base64,iVBORw0KGgo=", "//img.example/c.png", "/c.png", "ftp://x.example/c.png"]
)
def test_images_with_unsafe_sources_are_dropped_even_when_allowed(src: str) -> None:
    output = render(f"![a cat]({src})", allow_images=True)
    assert "<img" not in output
    assert "<a" not in output
    assert_safe_html(output, images=True)


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("[https://bank.example](https://evil.example)", "https://evil.example"),
        ("[bank.example](https://evil.example/x)", "https://evil.example/x"),
        ("[www.bank.example/login](https://evil.example/x)", "https://evil.example/x"),
        ("[https://bank.example](https://bank.example.evil.example/)", "https://bank.example.evil.example/"),
        ("[**bank**.example](https://evil.example/)", "https://evil.example/"),
        ("[bank.ex\u200bample](https://evil.example/)", "https://evil.example/"),
        ("[\u202eelpmaxe.knab](https://evil.example/)", "https://evil.example/"),
        ("[b\u0430nk.example](https://bank.example/)", "https://bank.example/"),
        ("[support@bank.example](mailto:thief@evil.example)", "mailto:thief@evil.example"),
        ("[support@bank.example](https://evil.example/)", "https://evil.example/"),
        ("[https://bank.example](mailto:thief@evil.example)", "mailto:thief@evil.example"),
    ],
)
def test_link_text_that_looks_like_another_address_shows_the_real_target(text: str, target: str) -> None:
    output = render(text)
    assert _hrefs(output) == [target]
    assert plain_text(output) == target


@pytest.mark.parametrize(
    "text",
    [
        "[https://bank.example/login](https://bank.example/other)",
        "[bank.example](https://www.bank.example/)",
        "[Bank.Example](https://bank.example/)",
        "[read the story](https://news.example/)",
        "[support@bank.example](mailto:Support@Bank.Example)",
        "[e.g.](https://example.org/)",
    ],
)
def test_link_text_matching_its_host_is_kept(text: str) -> None:
    label = text[1 : text.index("](")]
    assert plain_text(render(text)) == label


@pytest.mark.parametrize(
    "text",
    [
        "[" * 6400,
        '[a](b "' + "\\!" * 30,
        '[a](b "' + "\\!" * 5000,
        "*a_b" * 10000,
        ">" * 100_000,
        "![" * 5000,
        "[" * 5000 + "]" * 5000,
        "*" * 5000 + "a" + "*" * 5000,
        "".join("  " * i + "- x\n" for i in range(300)),
    ],
)
def test_pathological_input_renders(text: str) -> None:
    assert_safe_html(render(text))


def test_control_characters_and_lone_surrogates_never_reach_the_html() -> None:
    output = render("a\x00b\x0ec\x7fd\ud800e")
    assert output.strip() == "<p>a\ufffdb\ufffdc\ufffdd\ufffde</p>"
    output.encode("utf-8")


def test_plain_text_strips_tags_and_unescapes() -> None:
    html = render("# Title\n\nFish &amp; *chips* <b>\n\n- one\n- two")
    assert plain_text(html) == "Title\nFish & chips <b>\n\none\ntwo"


def test_plain_text_drops_script_content() -> None:
    assert plain_text("<p>a</p><script>alert(1)</script>") == "a"


def test_renderer_version_is_a_positive_int() -> None:
    assert isinstance(RENDERER_VERSION, int)
    assert RENDERER_VERSION >= 1


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=12)), max_size=40).map("".join))
def test_any_text_renders_to_allowed_markup_only(text: str) -> None:
    assert_safe_html(render(text))
    assert_safe_html(render(text, allow_images=True), images=True)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(max_size=200))
def test_any_unicode_text_renders_to_allowed_markup_only(text: str) -> None:
    assert_safe_html(render(text))


# --- avatars -------------------------------------------------------------------------------------

DIGEST_A = "0123456789abcdef0123456789abcdef"
DIGEST_B = "fedcba9876543210fedcba9876543210"


def test_identicon_is_deterministic() -> None:
    assert identicon_svg(DIGEST_A) == identicon_svg(DIGEST_A)


def test_identicons_differ_across_digests() -> None:
    digests = [avatar_key(b"secret", "demo", f"reader{i}@example.org") for i in range(20)]
    assert len({identicon_svg(digest) for digest in digests}) == 20
    assert identicon_svg(DIGEST_A) != identicon_svg(DIGEST_B)


@pytest.mark.parametrize("digest", [DIGEST_A, DIGEST_B, "0" * 16, "f" * 64, "a" * 17])
def test_identicon_is_a_standalone_svg_without_scripts_or_references(digest: str) -> None:
    svg = identicon_svg(digest)
    root = ET.fromstring(svg)  # noqa: S314 - our own output, parsed to prove it is well-formed
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 40 40"
    tags = {element.tag.split("}")[1] for element in root.iter()}
    assert tags <= {"svg", "rect", "path"}
    for element in root.iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on")
            assert "href" not in name.lower()
            assert "url(" not in value
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


@pytest.mark.parametrize(
    "digest",
    [
        "",
        "0123456789abcde",
        "0123456789ABCDEF",
        "g123456789abcdef",
        "0" * 65,
        "0123456789abcdef\n",
        " " + DIGEST_A,
    ],
)
def test_identicon_rejects_bad_digests(digest: str) -> None:
    with pytest.raises(ValueError, match="digest"):
        identicon_svg(digest)


def test_avatar_key_is_32_hex_characters_and_stable() -> None:
    key = avatar_key(b"secret", "demo", "reader@example.org")
    assert len(key) == 32
    assert int(key, 16) >= 0
    assert key == key.lower()
    assert key == avatar_key(b"secret", "demo", "reader@example.org")


def test_avatar_key_differs_by_site_secret_and_identity() -> None:
    base = avatar_key(b"secret", "demo", "reader@example.org")
    assert avatar_key(b"secret", "other", "reader@example.org") != base
    assert avatar_key(b"another secret", "demo", "reader@example.org") != base
    assert avatar_key(b"secret", "demo", "someone@example.org") != base


def test_avatar_key_separates_site_from_identity() -> None:
    assert avatar_key(b"secret", "ab", "c") != avatar_key(b"secret", "a", "bc")


def test_avatar_key_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        avatar_key(b"", "demo", "reader@example.org")


# -- bare URLs (issue 12) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "href"),
    [
        ("see https://example.org/a?b=1 now", "https://example.org/a?b=1"),
        ("http://news.example/2026/story.", "http://news.example/2026/story"),
        ("(https://example.org/x)", "https://example.org/x"),
    ],
)
def test_a_bare_web_address_becomes_a_link_like_a_written_one(text: str, href: str) -> None:
    html = markup.render(text)
    assert f'<a href="{href}" rel="{markup.LINK_REL}">{href}</a>' in html


@pytest.mark.parametrize(
    "text",
    [
        "file.txt and foo.py",
        "example.com",
        "ann@example.org",
        "javascript:alert(1)",
        "ftp://files.example/x",
        "`https://in.code.example`",
        "data:text/html,<b>x</b>",
    ],
)
def test_only_plain_web_addresses_are_linked(text: str) -> None:
    assert "<a " not in markup.render(text)
