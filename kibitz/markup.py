"""Markdown -> sanitised HTML: the only place where user text becomes HTML.

CommonMark (markdown-it-py, raw HTML off; bare http(s):// URLs linked by linkify-it-py) ->
link/image rewriting on the token stream -> nh3 allow-list. A bare URL becomes a link exactly like a
written one: checked by ``safe_url``, ``rel`` set by nh3.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.token import Token

__all__ = [
    "ALLOWED_ATTRIBUTES",
    "ALLOWED_TAGS",
    "IMAGE_SCHEMES",
    "LINK_REL",
    "LINK_SCHEMES",
    "RENDERER_VERSION",
    "plain_text",
    "render",
    "safe_url",
]

# Bump whenever the same text would render differently, so stored HTML can be re-rendered.
RENDERER_VERSION: int = 2  # 2: bare URLs are linked

LINK_REL = "nofollow ugc noopener noreferrer"
LINK_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
IMAGE_SCHEMES: frozenset[str] = frozenset({"http", "https"})

# Headings are rendered down to <p><strong> (a comment must not add to the page's outline),
# so no h1-h6 here; tables are not enabled.
ALLOWED_TAGS: frozenset[str] = frozenset(
    {"p", "br", "em", "strong", "s", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr"}
)
_IMAGE_TAGS: frozenset[str] = ALLOWED_TAGS | {"img"}

ALLOWED_ATTRIBUTES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        # `rel` is not listed: nh3 sets it on every <a> (link_rel), discarding whatever was there.
        "a": frozenset({"href", "title"}),
        "img": frozenset({"src", "alt", "title"}),
        "ol": frozenset({"start"}),
        "code": frozenset({"class"}),
    }
)

_CODE_CLASS = re.compile(r"language-[A-Za-z0-9_+#.\-]{1,32}")
# C0 controls (but tab, LF, CR), DEL, lone surrogates and U+FFFE/U+FFFF: never meaningful in a
# comment, and they would make the HTML unusable in XML (Atom feeds).
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\\]")
# After markdown-it's normalisation hosts are ASCII (IDNs punycoded); anything else (say "%5C")
# would be refused by the browser's URL parser anyway.
_HOSTNAME = re.compile(r"[a-z0-9_\-]+(?:\.[a-z0-9_\-]+)*\.?")
_IPV6_HOST = re.compile(r"[0-9a-f:.]+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# "Looks like a URL or a domain", applied to the whole visible text of a link.
_URLISH = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-]*://|www\.)\S+", re.IGNORECASE)
_DOMAINISH = re.compile(
    r"(?:[\w\-]+\.)+(?:[^\W\d_]{2,}|xn--[a-z0-9\-]+)\.?(?::\d*)?(?:[/?#]\S*)?",
    re.IGNORECASE,
)
_EMAILISH = re.compile(r"(?:mailto:)?[^\s@/:]+@(?:[\w\-]+\.)*[\w\-]+\.?", re.IGNORECASE)


def _new_parser(*, linkify: bool = True) -> MarkdownIt:
    # The commonmark preset caps nesting at 20 (block quotes, lists, brackets): deep input stays
    # linear and the sanitiser never sees a deep tree.
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "typographer": False})
    md.enable(["strikethrough", "linkify"])
    # Only what is plainly a web address, "http(s)://…": not "example.com" or "www.…" (fuzzy matching
    # links "foo.py" and "e.g." too) and not bare emails (no mailto: links for harvesters).
    assert md.linkify is not None
    md.linkify.set({"fuzzy_link": False, "fuzzy_email": False})
    if not linkify:
        md.disable("linkify")
    return md


_MD = _new_parser()
# With fuzzy matching off, linkify links only after a scheme: "http:", "https:" and "ftp:" need a
# "//" after them, a protocol-relative link is "//" itself, and "mailto:" is the one other. A text
# holding neither "//" nor "mailto:" has nothing to link, so it is parsed without linkify's pass
# over every text token: the same HTML (tests/test_markup.py checks), about a third less time.
_MD_UNLINKED = _new_parser(linkify=False)


def _parser_for(text: str) -> MarkdownIt:
    return _MD if "//" in text or "mailto:" in text.lower() else _MD_UNLINKED


def safe_url(url: str, schemes: frozenset[str] = LINK_SCHEMES) -> bool:
    """True when `url` is absolute, in `schemes`, and (for http/https) names a host.

    Relative and protocol-relative URLs, anything with whitespace, controls or backslashes
    (which browsers read as "/") are refused.
    """
    if not url or _URL_UNSAFE.search(url):
        return False
    match = _SCHEME.match(url)
    if match is None:
        return False
    scheme = match.group(0)[:-1].lower()
    if scheme not in schemes:
        return False
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        return False
    if scheme == "mailto":
        return "@" in parts.path.strip("@") and not url[7:].startswith("/")
    if not url[len(scheme) + 1 :].startswith("//") or not hostname or "@" in parts.netloc:
        # user@host in a web link only serves to make a host look like another one.
        return False
    if "[" in parts.netloc:
        return _IPV6_HOST.fullmatch(hostname) is not None
    return _HOSTNAME.fullmatch(hostname) is not None


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    """Second line of defence in nh3: URLs and classes that the token pass should already have fixed."""
    if tag == "a" and attr == "href":
        return value if safe_url(value, LINK_SCHEMES) else None
    if tag == "img" and attr == "src":
        return value if safe_url(value, IMAGE_SCHEMES) else None
    if tag == "code" and attr == "class":
        return value if _CODE_CLASS.fullmatch(value) else None
    if tag == "ol" and attr == "start":
        return value if value.isascii() and value.isdigit() and len(value) <= 9 else None
    return value


def _cleaner(allow_images: bool) -> nh3.Cleaner:
    return nh3.Cleaner(
        # nh3 wants plain sets and dicts.
        tags=set(_IMAGE_TAGS if allow_images else ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={
            tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items() if allow_images or tag != "img"
        },
        attribute_filter=_attribute_filter,
        strip_comments=True,
        link_rel=LINK_REL,
        url_schemes=set(IMAGE_SCHEMES | LINK_SCHEMES),
        url_relative="deny",
    )


_CLEANERS = {False: _cleaner(False), True: _cleaner(True)}


def render(text: str, *, allow_images: bool = False) -> str:
    """Render a comment's Markdown to HTML that is safe to insert into any page.

    Raw HTML is shown as text; links survive only as absolute http/https/mailto URLs (else the
    link text stays, unlinked); without `allow_images` an image becomes a link to it (or its alt
    text). A link whose text looks like a URL or domain on another host shows its real target.
    """
    simple = _simple(_BAD_CHARS.sub("\ufffd", text))
    if simple is not None:
        return _CLEANERS[allow_images].clean(simple)
    return _render(_parser_for(text), text, allow_images)


# Plain prose: nothing in it that CommonMark, linkify or HTML would read as markup. Anywhere: a
# backslash, backtick, * _ [ ] < & ~ (escapes, code, emphasis, links, autolinks, entities,
# strikethrough), "//" or "mailto:" (links), or blank characters other than space and line break;
# at a line's start: a space, - + # = > or a digit (indented code, lists, headings, setext lines,
# quotes, ordered lists); at a line's end: a space (a hard break). What is left can only be
# paragraphs of text lines, which markdown-it renders as <p>, the lines escaped and joined by line
# breaks: made here directly, then cleaned like the rest. tests/test_markup_shortcuts.py checks both
# ways agree on thousands of generated texts. Most comments are plain prose: this is most of them.
_MARKUP_CHARS = re.compile(r"[\\`*_\[\]<&~]")
_BLANKS = re.compile(r"[^\S \n]")
_LINE_OPENERS = re.compile(r"\n[ \-+#=>0-9]")
_LINE_OPENER_CHARS = frozenset(" -+#=>0123456789")
_PARAGRAPH_BREAK = re.compile(r"\n{2,}")


def _prose_lines(text: str) -> bool:
    """True when no line of ``text`` (non-empty, no line break at either end) starts or ends a block
    of its own (see plain prose above) and it has no blank but spaces and line breaks. Separate
    tests, as one regex with line anchors tried at every character took most of the time."""
    return not (
        text[0] in _LINE_OPENER_CHARS
        or text[-1] == " "
        or " \n" in text
        or _LINE_OPENERS.search(text)
        or _BLANKS.search(text)
    )


def _links_nothing(shown: str) -> bool:
    """True when linkify finds nothing in ``shown`` (fuzzy matching off: only after a scheme)."""
    return "//" not in shown and "mailto:" not in shown.lower()


def _plain(text: str) -> str | None:
    """The HTML markdown-it gives ``text`` when it is plain prose, else None."""
    text = text.strip("\n")
    if not text or _MARKUP_CHARS.search(text) or not _links_nothing(text) or not _prose_lines(text):
        return None
    return "".join(
        "<p>" + paragraph.replace(">", "&gt;").replace('"', "&quot;") + "</p>\n"
        for paragraph in _PARAGRAPH_BREAK.split(text)
    )


# Simple prose: plain prose's lines, which may also hold backslash escapes, hard breaks ("\" at a
# line's end), emphasis and strong emphasis (``*a b*``, ``**a**``: starting and ending with a letter
# or digit, no other ``*`` next to them) and links written ``[label](<url>)`` with a plain label:
# what imported comments' HTML becomes (kibitz/imports/html_text.py) and what many comments are.
# Anything else in a line, or "//" or "mailto:" in what shows (linkify would read it), leaves the
# text to markdown-it. The pieces are made as markdown-it's rules make them, links checked and
# rewritten as _rewrite_links does; tests/test_markup_shortcuts.py checks the HTML is the same on
# thousands of generated texts.
_INLINE = re.compile(
    r"(?P<text>[^\\*\[\]<&`_~\n]+)"
    r"|\\(?P<escaped>[!-/:-@\[-`{-~])"
    r"|(?P<hard>\\\n)"
    r"|(?P<soft>\n)"
    r"|(?<!\*)(?P<mark>\*\*?)(?P<emphasised>[^\W_](?:[^\\*\[\]<&`_~\n]*[^\W_])?)(?P=mark)(?!\*)"
    r"|(?<!!)\[(?P<label>[^\\*\[\]<&`_~\n]+)\]\(<(?P<url>[^<>\n\\]*)>\)"
)


def _simple(text: str) -> str | None:
    """The HTML markdown-it gives ``text`` when it is simple prose (plain prose included), else None."""
    text = text.strip("\n")
    if not text or not _prose_lines(text):
        return None
    if not _MARKUP_CHARS.search(text) and _links_nothing(text):  # plain prose
        return "".join(
            "<p>" + paragraph.replace(">", "&gt;").replace('"', "&quot;") + "</p>\n"
            for paragraph in _PARAGRAPH_BREAK.split(text)
        )
    out: list[str] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        inline = _simple_inline(paragraph)
        if inline is None:
            return None
        out.append("<p>" + inline + "</p>\n")
    return "".join(out)


def _simple_inline(text: str) -> str | None:
    html: list[str] = []
    shown: list[str] = []  # the text a reader sees, which linkify would read
    at, end = 0, len(text)
    while at < end:
        match = _INLINE.match(text, at)
        if match is None:
            return None
        at = match.end()
        kind = match.lastgroup
        if kind == "text" or kind == "escaped":
            piece = match.group(kind)
            html.append(escapeHtml(piece))
            shown.append(piece)
        elif kind == "soft" or kind == "hard":
            html.append("\n" if kind == "soft" else "<br />\n")
            shown.append("\n")
        elif kind == "emphasised":
            tag = "strong" if len(match.group("mark")) == 2 else "em"
            piece = match.group(kind)
            html.append(f"<{tag}>{escapeHtml(piece)}</{tag}>")
            shown.append(piece)
        else:
            label, href = match.group("label"), _MD.normalizeLink(unescapeAll(match.group("url")))
            if not _MD.validateLink(href):
                return None  # not a link to markdown-it: its brackets stay as text
            shown.append(label)
            if not safe_url(href, LINK_SCHEMES):
                html.append(escapeHtml(label))  # the text stays, unlinked
                continue
            inner = href if _is_deceptive(label, href) else label
            html.append(f'<a href="{escapeHtml(href)}">{escapeHtml(inner)}</a>')
    return "".join(html) if _links_nothing("".join(shown)) else None


def _render(md: MarkdownIt, text: str, allow_images: bool) -> str:
    text = _BAD_CHARS.sub("\ufffd", text)
    env: dict[str, object] = {}
    tokens = md.parse(text, env)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            _heading_to_paragraph(token)
        elif token.type == "inline" and token.children:
            token.children = _rewrite_inline(token.children, allow_images)
    _strengthen_headings(tokens)
    raw = md.renderer.render(tokens, md.options, env)
    return _CLEANERS[allow_images].clean(raw)


def plain_text(html_fragment: str) -> str:
    """The text of an HTML fragment (for email and feed excerpts); escape it again before use in HTML."""
    return html.unescape(nh3.clean(html_fragment, tags=set(), clean_content_tags={"script", "style"})).strip()


def _heading_to_paragraph(token: Token) -> None:
    token.info = token.tag  # remembered for _strengthen_headings
    token.tag = "p"
    token.type = "paragraph_open" if token.nesting == 1 else "paragraph_close"
    token.markup = ""


def _strengthen_headings(tokens: list[Token]) -> None:
    for index, token in enumerate(tokens):
        if token.type != "paragraph_open" or not token.info.startswith("h"):
            continue
        inline = tokens[index + 1] if index + 1 < len(tokens) else None
        if inline is None or inline.type != "inline":
            continue
        children = inline.children or []
        if children:
            inline.children = [
                Token("strong_open", "strong", 1),
                *children,
                Token("strong_close", "strong", -1),
            ]


def _rewrite_inline(children: list[Token], allow_images: bool) -> list[Token]:
    out: list[Token] = []
    link_depth = 0
    for token in children:
        if token.type == "link_open":
            link_depth += 1
        elif token.type == "link_close":
            link_depth = max(0, link_depth - 1)
        if token.type == "image":
            out.extend(_rewrite_image(token, allow_images, inside_link=link_depth > 0))
        else:
            out.append(token)
    return _rewrite_links(out)


def _rewrite_image(token: Token, allow_images: bool, *, inside_link: bool) -> list[Token]:
    src = str(token.attrGet("src") or "")
    alt = _flat_text(token.children or [])
    if allow_images and safe_url(src, IMAGE_SCHEMES):
        attrs: dict[str, str | int | float] = {"src": src, "alt": alt}
        title = token.attrGet("title")
        if title:
            attrs["title"] = title
        token.attrs = attrs
        return [token]
    if not inside_link and safe_url(src, IMAGE_SCHEMES):
        # Loading it would make the reader's browser call a third party; a link leaves that to them.
        link_open = Token("link_open", "a", 1, attrs={"href": src})
        return [link_open, _text(alt or src), Token("link_close", "a", -1)]
    return [_text(alt)] if alt else []


def _rewrite_links(children: list[Token]) -> list[Token]:
    out: list[Token] = []
    index = 0
    while index < len(children):
        token = children[index]
        if token.type != "link_open":
            if token.type != "link_close":  # a stray close (never produced by the parser) is dropped
                out.append(token)
            index += 1
            continue
        end = index + 1
        while end < len(children) and children[end].type != "link_close":
            end += 1
        inner = children[index + 1 : end]
        href = str(token.attrGet("href") or "")
        if not safe_url(href, LINK_SCHEMES):
            out.extend(inner)  # the text stays, unlinked
        else:
            attrs: dict[str, str | int | float] = {"href": href}
            title = token.attrGet("title")
            if title:
                attrs["title"] = title
            token.attrs = attrs
            if _is_deceptive(_flat_text(inner), href):
                inner = [_text(href)]
            out.extend([token, *inner, Token("link_close", "a", -1)])
        index = end + 1
    return out


def _is_deceptive(label: str, href: str) -> bool:
    """True when the label reads as a URL, domain or address that is not where the link goes.

    Invisible format characters (zero-width, bidi controls) are ignored, so they cannot hide a
    domain in the label. Hosts compare case-insensitively, punycoded, without a leading "www."
    or trailing dot; paths and schemes may differ. For a mailto link the whole address must match.
    """
    visible = "".join(ch for ch in label if unicodedata.category(ch) != "Cf").strip()
    if not visible or any(ch.isspace() for ch in visible):
        return False
    href_is_mail = href[:7].lower() == "mailto:"
    if _EMAILISH.fullmatch(visible) and not _URLISH.fullmatch(visible):
        if not href_is_mail:
            return True
        address = visible[7:] if visible[:7].lower() == "mailto:" else visible
        return _MD.normalizeLink("mailto:" + address).lower() != href.lower()
    if _URLISH.fullmatch(visible):
        candidate = visible if "://" in visible else "http://" + visible
    elif _DOMAINISH.fullmatch(visible):
        candidate = "http://" + visible
    else:
        return False
    if href_is_mail:
        return True
    label_host = _host(candidate)
    return label_host is None or label_host != _host(href)


def _host(url: str) -> str | None:
    try:
        hostname = urlsplit(_MD.normalizeLink(url)).hostname
    except ValueError:
        return None
    if not hostname:
        return None
    hostname = hostname.rstrip(".")
    return hostname[4:] if hostname.startswith("www.") else hostname


def _flat_text(tokens: list[Token]) -> str:
    parts: list[str] = []
    for token in tokens:
        if token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif token.type == "image":
            parts.append(_flat_text(token.children or []))
    return "".join(parts)


def _text(content: str) -> Token:
    return Token("text", "", 0, content=content)
