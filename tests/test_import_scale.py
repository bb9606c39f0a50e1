"""The import writer at scale, in small: many chunks (replies whose parents were written chunks
before, some no longer at hand), bodies rendered in worker processes, a second run that only reads.
It must write exactly what one in-process pass writes."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from kibitz.imports import render_pool, writer
from tests.conftest import Api
from tests.imports_helpers import ctx_of, run_import, visible

pytestmark = pytest.mark.anyio
bench_import = importlib.import_module("bench.import")  # the benchmark's own export generator


async def pages(api: Api, site: str) -> list[str]:
    async with ctx_of(api).db.read() as tx:
        return sorted(thread.page for thread in await tx.threads.of_site(site, 0, 1000))


async def test_chunks_and_worker_processes_write_what_one_in_process_pass_writes(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "generated.xml"
    bench_import.generate(source, 300)  # 15 threads, 45 % replies, a few deleted, spam and held
    alone = await run_import(api, "disqus", source, site="a")

    monkeypatch.setattr(writer, "CHUNK", 7)  # replies cross chunk boundaries
    monkeypatch.setattr(writer, "RECENT", 3)  # so most parents are read back from the database
    monkeypatch.setattr(render_pool, "POOL_FROM", 1)  # rendered by worker processes
    pooled = await run_import(api, "disqus", source, site="b")

    assert alone.created == pooled.created
    assert pooled.created["comment"] == 300
    assert pooled.created["thread"] == 15
    assert alone.skipped == pooled.skipped
    assert alone.notes == pooled.notes
    assert await pages(api, "a") == await pages(api, "b")
    for page in await pages(api, "b"):
        assert await visible(api, page, "a") == await visible(api, page, "b"), page

    again = await run_import(api, "disqus", source, site="b")
    assert again.unchanged["comment"] == 300
    assert not again.created["comment"]
    for page in await pages(api, "b"):
        assert await visible(api, page, "a") == await visible(api, page, "b"), page


def test_a_small_import_renders_in_process_and_a_big_one_in_a_worker() -> None:
    assert not render_pool.in_worker(render_pool.POOL_FROM - 1)
    assert render_pool.in_worker(render_pool.POOL_FROM)
