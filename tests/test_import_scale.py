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


async def test_a_changed_comment_is_updated_through_the_worker(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The known map crosses to the worker process: a second run finds every comment, updates the
    one whose text changed and leaves the rest. Mutation tried: the worker reading the map's arrays
    in the wrong order (targets before keys) makes every comment look new: fails."""
    monkeypatch.setattr(writer, "CHUNK", 50)
    monkeypatch.setattr(render_pool, "POOL_FROM", 1)
    source = tmp_path / "generated.xml"
    bench_import.generate(source, 120)
    first = await run_import(api, "disqus", source, site="b")
    assert first.created["comment"] == 120
    text = source.read_text(encoding="utf-8")
    head, sep, tail = text.partition('<post dsq:id="p7"><id/><message><![CDATA[')
    source.write_text(head + sep + "<p>Edited at the source.</p>" + tail, encoding="utf-8")
    again = await run_import(api, "disqus", source, site="b")
    assert (again.created["comment"], again.updated["comment"], again.unchanged["comment"]) == (0, 1, 119)
    shown = str([await visible(api, page, "b") for page in await pages(api, "b")])
    assert "Edited at the source." in shown


async def test_a_source_id_whose_hash_is_known_is_checked_by_its_whole_id(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The known map finds source ids by a 64-bit hash: two ids sharing one must not make a new
    comment overwrite another. Every hash made equal here, a second file's comments (other ids) are
    created and the first file's stay as they were. Mutation tried: the writer trusting the map's
    match without checking the whole id updates the first file's comment instead: fails."""
    from kibitz.imports import prepare

    one, two = tmp_path / "one.xml", tmp_path / "two.xml"
    bench_import.generate(one, 20)
    bench_import.generate(two, 20, seed=5)
    two.write_text(two.read_text(encoding="utf-8").replace('dsq:id="p', 'dsq:id="q'), encoding="utf-8")
    await run_import(api, "disqus", one, site="b")
    before = {page: await visible(api, page, "b") for page in await pages(api, "b")}
    monkeypatch.setattr(prepare, "key", lambda _source_id: 7)
    second = await run_import(api, "disqus", two, site="b")
    assert (second.created["comment"], second.updated["comment"]) == (20, 0)
    for page, (_, shown) in before.items():
        _, now = await visible(api, page, "b")
        assert all(comment in now for comment in shown), page
