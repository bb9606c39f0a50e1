"""Helpers of the import and export tests: the shared fixture files (read in place), running an import
on the app's own database, and a thread as the public API shows it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
from click.testing import CliRunner, Result

from kibitz.cli import main
from kibitz.context import Context
from kibitz.imports.formats import READERS
from kibitz.imports.normalise import PageMap
from kibitz.imports.report import Report
from kibitz.imports.writer import Importer
from tests.conftest import Api

# The exports other projects wrote (their SOURCES.md says what each holds); never copied here.


def _fixtures() -> Path:
    """The shared fixtures, read in place: ``KIBITZ_IMPORT_FIXTURES`` when set, else
    ``shared/fixtures/imports`` beside the checkout (or beside a folder above it)."""
    named = os.environ.get("KIBITZ_IMPORT_FIXTURES")
    if named:
        return Path(named)
    root = Path(__file__).resolve().parents[1]
    for folder in root.parents:
        found = folder / "shared" / "fixtures" / "imports"
        if found.is_dir():
            return found
    return root.parent / "shared" / "fixtures" / "imports"  # missing: the tests say which file


FIXTURES = _fixtures()


async def cli(*args: str) -> Result:
    """Run `kibitz ARGS` as a shell would (in a thread: the command runs its own event loop)."""
    return await anyio.to_thread.run_sync(lambda: CliRunner().invoke(main, list(args)))


def ctx_of(api: Api) -> Context:
    ctx: Context = api.app.state.ctx
    return ctx


async def run_import(
    api: Api, fmt: str, path: Path, site: str = "a", *, dry_run: bool = False, maps: list[str] | None = None
) -> Report:
    ctx = ctx_of(api)
    config = ctx.settings.site(site)
    assert config is not None
    importer = Importer(ctx.db, config, ctx.clock, ctx.comments.avatar_secret)
    page_maps = [PageMap.parse(m) for m in maps or []]
    return await importer.run(READERS[fmt](path), str(path), dry_run=dry_run, maps=page_maps)


def shape(comments: list[dict[str, Any]]) -> list[Any]:
    """What a reader sees of each comment, oldest first, replies nested: (name, html) or "deleted"."""
    out: list[Any] = []
    for c in comments:
        seen: Any = "deleted" if c["deleted"] else (c["author"]["name"], c["html"])
        out.append((seen, shape(c["replies"])) if c["replies"] else seen)
    return out


async def visible(api: Api, page: str, site: str = "a") -> tuple[int, list[Any]]:
    """A page's count and its comments as the public API shows them (oldest first, all pages)."""
    data = await api.thread(page, site=site, sort="oldest", limit=100)
    assert data["next"] is None
    return data["thread"]["count"], shape(data["comments"])


def names(shown: list[Any]) -> list[Any]:
    """The shape of a thread with names only (tombstones stay "deleted")."""
    out: list[Any] = []
    for item in shown:
        node, replies = item if isinstance(item, tuple) and isinstance(item[1], list) else (item, [])
        label = node if node == "deleted" else node[0]
        out.append((label, names(replies)) if replies else label)
    return out


def count(shape: list[Any]) -> int:
    total = 0
    for item in shape:
        label, replies = item if isinstance(item, tuple) else (item, [])
        total += (label != "deleted") + count(replies)
    return total


def cut(shape: list[Any], depth: int = 5, level: int = 0) -> list[Any]:
    """A shape as the API draws it inline: replies below ``depth`` levels are held back."""
    out: list[Any] = []
    for item in shape:
        label, replies = item if isinstance(item, tuple) else (item, [])
        below = cut(replies, depth, level + 1) if level < depth else []
        out.append((label, below) if below else label)
    return out
