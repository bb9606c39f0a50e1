"""Reading an XML export safely, as a stream: no DTD, no entities, no network, no text node beyond
libxml2's 10 MB cap; each finished element handed over, then freed, so memory stays bounded."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from kibitz.imports.files import open_input
from kibitz.imports.records import Refused

PROLOG_LIMIT = 64 * 1024  # bytes read before the root element: a real export has a line or two
_DECLARATION = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)
_ROOT = re.compile(rb"<[A-Za-z_]")


def local(tag: object) -> str:
    """An element's or attribute's name without its namespace (exports vary in theirs)."""
    return _local(tag) if isinstance(tag, str) else ""  # comments and PIs have no name


@functools.lru_cache(maxsize=1024)
def _local(tag: str) -> str:
    # Called for every element of files of millions: a file has a few dozen distinct names.
    return tag.rpartition("}")[2]


class _Prefixed:
    """The stream with its prolog given back first (read once to be checked)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head = head
        self.rest = rest

    def read(self, size: int = -1) -> bytes:
        if self.head:
            size = len(self.head) if size < 0 else size
            chunk, self.head = self.head[:size], self.head[size:]
            return chunk
        return self.rest.read(size)


def _prolog(stream: BinaryIO, name: str) -> bytes:
    """The bytes before the root element, checked: a DTD or an entity declaration is refused (no
    export has one; they are how XXE and billion-laughs files work). Leading blank lines (a plugin's
    stray output) are dropped, as a strict parser would refuse them."""
    head = b""
    while not _ROOT.search(head):
        chunk = stream.read(4096)
        if not chunk:
            break
        head += chunk
        if len(head) > PROLOG_LIMIT:
            raise Refused(f"{name}: no XML element in the first {PROLOG_LIMIT} bytes; nothing was imported")
    found = _ROOT.search(head)
    prolog = head[: found.start()] if found else head
    if _DECLARATION.search(prolog):
        raise Refused(
            f"{name} declares a DTD or entities (<!DOCTYPE>), which no export does; nothing was imported"
        )
    return head.lstrip(b" \t\r\n")


def _depth(element: etree._Element) -> int:
    depth = 0
    parent = element.getparent()
    while parent is not None:
        depth += 1
        parent = parent.getparent()
    return depth


def elements(path: Path, wanted: set[str], depth: int = 1) -> Iterator[etree._Element]:
    """Each finished element whose local name is in ``wanted`` at ``depth`` (1: a child of the root),
    in file order; raises Refused when the file is not well-formed."""
    with open_input(path) as stream:
        head = _prolog(stream, path.name)
        parser = etree.iterparse(
            _Prefixed(head, stream),
            events=("end",),
            tag=[f"{{*}}{name}" for name in sorted(wanted)],  # lxml hands over only these, any namespace
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        try:
            for _event, element in parser:
                if _depth(element) != depth:
                    continue  # a namesake deeper down (a Disqus post's <thread>): part of its element
                yield element
                element.clear()
                # Drop what came before too: an element's earlier siblings are done with.
                while element.getprevious() is not None:
                    parent = element.getparent()
                    assert parent is not None
                    del parent[0]
        except etree.XMLSyntaxError as exc:
            where = str(exc).split(" (<string>")[0]
            raise Refused(f"{path.name} is not well-formed XML ({where}); nothing was imported") from None


def text(element: etree._Element, name: str) -> str:
    """The text of the first child named ``name`` (any namespace), "" when absent."""
    found = element.find(f"{{*}}{name}")
    if found is None:
        return ""
    if len(found) == 0:
        return found.text or ""
    return "".join(found.itertext())


def children(element: etree._Element) -> dict[str, etree._Element]:
    """An element's children by local name (the first of each name): one walk for many look-ups."""
    found: dict[str, etree._Element] = {}
    for item in element:
        tag = item.tag
        if isinstance(tag, str):
            found.setdefault(_local(tag), item)
    return found


def content(element: etree._Element | None) -> str:
    """An element's text, nested elements' included ("" for None)."""
    if element is None:
        return ""
    if len(element) == 0:
        return element.text or ""
    return "".join(element.itertext())


def child(element: etree._Element, name: str) -> etree._Element | None:
    return element.find(f"{{*}}{name}")


def attribute(element: etree._Element, name: str) -> str:
    """An attribute by local name (``dsq:id``, whatever prefix the file binds)."""
    for key, value in element.attrib.items():
        if local(key) == name:
            return str(value)
    return ""
