"""The formats `kibitz import` reads and `kibitz export` writes, by name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol

from kibitz.config import SiteConfig
from kibitz.imports.export import ExportComment, ExportThread
from kibitz.imports.records import Source


class Writer(Protocol):
    def start(self, site: str) -> None: ...
    def thread(self, item: ExportThread) -> None: ...
    def comment(self, item: ExportComment) -> None: ...
    def end(self) -> None: ...


def _json(path: Path) -> Source:
    from kibitz.imports.jsonl import JsonSource

    return JsonSource(path)


def _json_writer(out: IO[str], site: SiteConfig) -> Writer:
    from kibitz.imports.jsonl import JsonWriter

    return JsonWriter(out)


def _disqus(path: Path) -> Source:
    from kibitz.imports.disqus import DisqusSource

    return DisqusSource(path)


def _disqus_writer(out: IO[str], site: SiteConfig) -> Writer:
    from kibitz.imports.disqus import DisqusWriter

    return DisqusWriter(out, site.origins[0] if site.origins else "")


def _wxr_writer(out: IO[str], site: SiteConfig) -> Writer:
    from kibitz.imports.wxr import WxrWriter

    return WxrWriter(out, site.origins[0] if site.origins else "", site.name)


def _isso(path: Path) -> Source:
    from kibitz.imports.isso import IssoSource

    return IssoSource(path)


def _commento(path: Path) -> Source:
    from kibitz.imports.commento import CommentoSource

    return CommentoSource(path)


def _remark42(path: Path) -> Source:
    from kibitz.imports.remark42 import Remark42Source

    return Remark42Source(path)


def _wordpress(path: Path) -> Source:
    from kibitz.imports.wordpress import WordPressSource

    return WordPressSource(path)


READERS: dict[str, Callable[[Path], Source]] = {
    "json": _json, "disqus": _disqus, "isso": _isso, "commento": _commento, "remark42": _remark42,
    "wordpress": _wordpress,
}  # fmt: skip
WRITERS: dict[str, Callable[[IO[str], SiteConfig], Writer]] = {
    "json": _json_writer, "disqus": _disqus_writer, "wxr": _wxr_writer,
}  # fmt: skip
