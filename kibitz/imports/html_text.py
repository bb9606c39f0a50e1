"""The HTML a source keeps (Disqus, WordPress) as Markdown text, so an imported comment is stored and
rendered like any other: the HTML readers see comes only from kibitz/markup.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from urllib.parse import quote

MAX_DEPTH = 32  # deeper elements are read as plain text: a hostile file cannot make a deep tree
BLOCKS = frozenset(
    {"p", "div", "blockquote", "ul", "ol", "li", "pre", "hr", "table", "tr", "td", "th", "section", "article"}
    | {"header", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "dl", "dt", "dd", "figure", "aside", "thead"}
    | {"tbody", "center"}
)
VOID = frozenset(
    {"br", "img", "hr", "wbr", "input", "meta", "link", "area", "base", "col", "embed", "source"}
)
DROP = frozenset({"script", "style", "head", "title", "template", "noscript", "iframe", "object"})
_INLINE_SPECIAL = str.maketrans({char: "\\" + char for char in "\\`*_[]<>&~"})  # each escaped
# What starts a block at a line's start: an opener ("#", ">", "-", ...) or an ordered list's number.
# The escape goes before the opener, or between the number and its "." or ")": a backslash escapes
# only punctuation, so before a digit it would be shown (`\12. foo`), where `12\. foo` reads `12. foo`.
_LINE_START = re.compile(r"^(\s*)(?:([#>+=|-])|(\d+)([.)]))", re.MULTILINE)
_LINE_OPENERS = frozenset("#>+=|-")
_SPACE = re.compile(r"[ \t\r\n\f]+")
_SPACES = ("\t", "\r", "\n", "\f", "  ")  # what _SPACE would change
_SCHEMES = ("http://", "https://", "mailto:")


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    children: list[_Node | str] = field(default_factory=list)


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, {k: v or "" for k, v in attrs})
        if tag in VOID:
            self.stack[-1].children.append(node)
        elif len(self.stack) < MAX_DEPTH:
            self.stack[-1].children.append(node)
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


# Well-formed tags, attributes in double quotes: what most exports' HTML is made of. Such HTML is read
# by _fed_simply, which tells the tree builder what HTMLParser would (the same calls in the same order:
# tag and attribute names in lower case, entities in text and values decoded, text between tags whole)
# in a fifth of the time. Anything else (a "<" that starts no such tag, a comment, a declaration, an
# element whose content HTMLParser reads raw) leaves the whole fragment to HTMLParser.
_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:[ \t\n\r\f]+[a-zA-Z][-a-zA-Z0-9_:.]*[ \t\n\r\f]*=[ \t\n\r\f]*"
    r'"[^"<>]*")*)[ \t\n\r\f]*(/?)>'
)
_ATTRIBUTE = re.compile(r'([a-zA-Z][-a-zA-Z0-9_:.]*)[ \t\n\r\f]*=[ \t\n\r\f]*"([^"<>]*)"')
_RAW_CONTENT = frozenset(
    {"script", "style", "textarea", "title", "plaintext", "xmp", "iframe", "noembed", "noframes"}
    | {"noscript"}
)


def to_markdown(html: str) -> str:
    """Markdown that renders to what ``html`` says: paragraphs, line breaks, links, emphasis, code,
    quotes and lists survive; any other markup leaves its text."""
    builder = _TreeBuilder()
    if not _fed_simply(builder, html):
        builder = _TreeBuilder()
        builder.feed(html)
        builder.close()
    return "\n\n".join(_blocks(builder.root.children)).strip()


def _fed_simply(builder: _TreeBuilder, html: str) -> bool:
    """Give ``builder`` what HTMLParser would for ``html`` when it is made of well-formed tags and
    text only; False (``builder`` untouched) otherwise."""
    tags = list(_TAG.finditer(html))
    at = 0
    for tag in tags:
        name = tag.group(2).lower()
        closing = tag.group(1)
        if (
            "<" in html[at : tag.start()]
            or name in _RAW_CONTENT
            or (closing and (tag.group(3) or tag.group(4)))
        ):
            return False
        at = tag.end()
    if "<" in html[at:]:
        return False
    at = 0
    for tag in tags:
        if tag.start() > at:
            builder.handle_data(unescape(html[at : tag.start()]))
        at = tag.end()
        name = tag.group(2).lower()
        if tag.group(1):
            builder.handle_endtag(name)
            continue
        found = tag.group(3)
        attrs: list[tuple[str, str | None]] = (
            [(key.lower(), unescape(value)) for key, value in _ATTRIBUTE.findall(found)] if found else []
        )
        builder.handle_starttag(name, attrs)
        if tag.group(4):
            builder.handle_endtag(name)  # <br/>: HTMLParser's handle_startendtag does both
    if len(html) > at:
        builder.handle_data(unescape(html[at:]))
    return True


def _escape(text: str) -> str:
    if any(space in text for space in _SPACES):
        text = _SPACE.sub(" ", text)
    return text.translate(_INLINE_SPECIAL)


def _escape_line_starts(text: str) -> str:
    """``text`` with what would start a block at a line's start escaped (the regex only when a line
    can need it: with its line anchors it is tried at every character)."""
    for line in text.split("\n"):
        first = line.lstrip()[:1]
        if first and (first in _LINE_OPENERS or first.isdecimal()):
            return _LINE_START.sub(_escaped_opener, text)
    return text


def _escaped_opener(found: re.Match[str]) -> str:
    indent, opener, number, delimiter = found.groups()
    return f"{indent}\\{opener}" if opener else f"{indent}{number}\\{delimiter}"


def _text_of(node: _Node | str) -> str:
    if isinstance(node, str):
        return node
    if node.tag in DROP:
        return ""
    return "\n" if node.tag == "br" else "".join(_text_of(child) for child in node.children)


def _blocks(children: list[_Node | str]) -> list[str]:
    out: list[str] = []
    inline: list[str] = []

    def flush() -> None:
        text = "".join(inline).strip(" ")
        inline.clear()
        if text.strip():
            out.append(_escape_line_starts(text))

    for child in children:
        if isinstance(child, str):
            inline.append(_escape(child))
        elif child.tag in BLOCKS:
            flush()
            out.extend(_block(child))
        else:
            inline.append(_inline(child))
    flush()
    return out


def _block(node: _Node) -> list[str]:
    if node.tag == "hr":
        return ["* * *"]
    if node.tag == "pre":
        code = _text_of(node).strip("\n")
        fence = "`" * max(3, _longest_run(code, "`") + 1)
        return [f"{fence}\n{code}\n{fence}"] if code.strip() else []
    if node.tag == "blockquote":
        inner = "\n\n".join(_blocks(node.children))
        return ["\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))] if inner else []
    if node.tag in ("ul", "ol"):
        items = []
        for index, child in enumerate(
            (c for c in node.children if isinstance(c, _Node) and c.tag == "li"), 1
        ):
            marker = f"{index}. " if node.tag == "ol" else "- "
            body = "\n\n".join(_blocks(child.children)) or ""
            pad = " " * len(marker)
            items.append(marker + body.replace("\n", "\n" + pad).replace("\n" + pad + "\n", "\n\n"))
        return ["\n".join(items)] if items else []
    return _blocks(node.children)


def _longest_run(text: str, char: str) -> int:
    return max((len(run) for run in re.findall(f"{re.escape(char)}+", text)), default=0)


def _wrap(mark: str, inner: str) -> str:
    """``inner`` between emphasis marks, its outer spaces kept outside (CommonMark needs that)."""
    core = inner.strip(" ")
    if not core:
        return inner
    lead, trail = inner[: len(inner) - len(inner.lstrip(" "))], inner[len(inner.rstrip(" ")) :]
    return f"{lead}{mark}{core}{mark}{trail}"


def _url(value: str) -> str | None:
    value = value.strip()
    if not value.lower().startswith(_SCHEMES):
        return None
    return quote(value, safe="/:?#[]@!$&'()*+,;=%~-._")


def _inline(node: _Node) -> str:
    tag = node.tag
    if tag in DROP:
        return ""
    if tag == "br":
        return "\\\n"
    if tag == "img":
        alt = _escape(node.attrs.get("alt", ""))
        src = _url(node.attrs.get("src", ""))
        return f"![{alt}](<{src}>)" if src else alt
    inner = "".join(_escape(c) if isinstance(c, str) else _inline(c) for c in node.children)
    if tag == "a":
        href = _url(node.attrs.get("href", ""))
        if href is None:
            return inner
        return f"[{inner.strip() or _escape(href)}](<{href}>)"
    if tag in ("em", "i", "cite"):
        return _wrap("*", inner)
    if tag in ("strong", "b"):
        return _wrap("**", inner)
    if tag in ("s", "del", "strike"):
        return _wrap("~~", inner)
    if tag in ("code", "kbd", "tt", "samp"):
        raw = _SPACE.sub(" ", _text_of(node))
        if not raw.strip():
            return raw
        fence = "`" * (_longest_run(raw, "`") + 1)
        pad = " " if raw.startswith("`") or raw.endswith("`") else ""
        return f"{fence}{pad}{raw}{pad}{fence}"
    return inner
