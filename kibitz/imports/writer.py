"""The one writer every import goes through: check the whole file (plan.py), then write it in chunks,
parents before their replies (however the file orders them), idempotent by source id; counts, thread
versions and the read cache stay right. An import sends no mail, webhook or notification.

The second read (prepare.py: each comment read again, fingerprinted, rendered when new or changed)
runs in a worker process (render_pool.py) while the chunk before is written: each chunk is one
transaction whose new comments go in as one executemany of plain tuples under ids reserved for them,
so replies in the same chunk can name their parents."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import getpass
from array import array
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from kibitz import markup
from kibitz.config import SiteConfig
from kibitz.events import EventKind
from kibitz.imports import plan as planning
from kibitz.imports import render_pool
from kibitz.imports.normalise import PageMap
from kibitz.imports.plan import NONE
from kibitz.imports.prepare import SKIP, Item, Job, KnownMap, KnownRows, reason, render_left
from kibitz.imports.records import Source
from kibitz.imports.report import Report
from kibitz.store.comments import Place
from kibitz.store.db import Database
from kibitz.store.imports import KNOWN_PAGE, CommentChange, ImportRun, Remembered
from kibitz.store.tx import Tx

CHUNK = 1000  # comments per transaction: few commits (each a sync of the WAL), none long
# In a big import, one body in this many is rendered by the writer's process rather than the worker:
# the writer's own share of the work is about half the worker's (two cores: the two then take about
# as long).
LEAVE_EVERY = 3
RECENT = 4096  # places of the comments written last, kept at hand as parents of the replies that follow
# Chunks after which the planner's statistics are brought up to date (PostgreSQL): the tables an
# import fills from empty would otherwise be planned as if empty, and each chunk's look-up of source ids
# would read every row imported so far (autovacuum comes too late).
ANALYSE_AFTER = frozenset({2, 10, 100, 1000})
Clock = Callable[[], datetime]
_REASONS = ("import",)


@dataclass
class Progress:
    """What a progress bar shows: called with the phase and how far it is (total 0: not known)."""

    update: Callable[[str, int, int], None] = lambda _phase, _done, _total: None


@dataclass
class _State:
    plan: planning.Plan
    report: Report
    ids: array[int]  # ordinal -> comment id (0: not written yet; in a dry run, never)
    thread_ids: dict[str, int] = field(default_factory=dict)  # source thread id -> thread id
    recent: OrderedDict[int, Place] = field(default_factory=OrderedDict)  # ordinal -> place
    written: int = 0  # chunks


class Importer:
    """Applies one source's records to one site."""

    def __init__(self, db: Database, site: SiteConfig, clock: Clock, avatar_secret: bytes) -> None:
        self.db = db
        self.site = site
        self.clock = clock
        self.avatar_secret = avatar_secret

    async def run(
        self,
        source: Source,
        file_name: str,
        *,
        dry_run: bool = False,
        maps: list[PageMap] | None = None,
        progress: Progress | None = None,
    ) -> Report:
        """Import ``source``; raises Refused (having written nothing) when the file cannot be used."""
        progress = progress or Progress()
        started = self.clock()
        report = Report(source=source.format, file_name=Path(file_name).name, dry_run=dry_run)
        plan = planning.scan(
            source, self.site, maps or [], report, lambda n: progress.update("checking", n, 0)
        )
        _give_back()
        state = _State(plan, report, array("q", bytes(8 * plan.comments)))
        total, done = plan.kept(), 0
        async with render_pool.started(total) as worker:
            job = Job(
                source, bytes(plan.fate), plan.parent_of, KnownMap.EMPTY, self.site.allow_images,
                self.avatar_secret, self.site.id, CHUNK, LEAVE_EVERY if worker else 0,
            )  # fmt: skip
            prepared = render_pool.prepared(job, self._known(source.format), worker)
            avatars: dict[str, str] = {}
            pending: asyncio.Future[None] | None = None
            async for chunk in prepared:
                if pending is not None:
                    await pending
                _remarks(report, chunk.remarks)
                done += len(chunk.items)
                items = render_left(chunk.items, job, avatars)  # while the worker prepares the next
                pending = asyncio.ensure_future(self._write(state, items, dry_run))
                progress.update("importing", done, total)
            if pending is not None:
                await pending
        if not dry_run:
            async with self.db.write() as tx:
                await tx.imports.log_run(
                    ImportRun(
                        0, self.site.id, source.format, report.file_name, _actor(), False, started,
                        self.clock(), report.to_json(),
                    )
                )  # fmt: skip
        return report

    async def _known(self, source: str) -> AsyncIterator[KnownRows]:
        """What earlier runs of ``source`` made of its comments, a page at a time: the second read
        tells new, changed and unchanged comments apart by it, without a look-up per chunk."""
        async with self.db.read() as tx:
            page = KnownRows()
            async for row in tx.imports.all_known(self.site.id, source, "comment"):
                page.add(*row)
                if len(page) >= KNOWN_PAGE:
                    yield page
                    page = KnownRows()
            yield page

    async def _write(self, state: _State, items: list[Item], dry_run: bool) -> None:
        if dry_run:
            async with self.db.read() as tx:
                await self._apply(tx, state, items, dry_run=True)
            return
        async with self.db.write() as tx:
            await self._apply(tx, state, items, dry_run=False)
        state.written += 1
        if state.written in ANALYSE_AFTER:
            async with self.db.write() as tx:
                await tx.imports.analyse()

    async def _apply(self, tx: Tx, state: _State, items: list[Item], *, dry_run: bool) -> None:
        report, plan = state.report, state.plan
        counts: Counter[int] = Counter()
        touched: set[int] = set()
        new: list[tuple[Item, int]] = []  # (item, thread id)
        await self._threads(tx, state, items, dry_run=dry_run)
        changed = [item.source_id for item in items if item.target and item.row is not None]
        # A KnownMap finds source ids by a 64-bit hash: a changed one is checked by its whole id.
        verified = await tx.imports.known(self.site.id, report.source, "comment", changed) if changed else {}
        for item in items:
            thread_id = state.thread_ids[plan.thread_ids[plan.thread_of[item.ordinal]]]
            row = item.row
            if row is None:
                state.ids[item.ordinal] = item.target
                report.unchanged_one("comment")
                continue  # not rendered again: a second run of a big file only reads it
            if row.truncated:
                report.note("comment", item.source_id, "longer than Kibitz keeps: cut to 10,000 chars")
            before = verified.get(item.source_id) if item.target else None
            if before is not None and before.fingerprint == item.digest:
                state.ids[item.ordinal] = before.target_id  # two ids under one key: this one is the same
                report.unchanged_one("comment")
                continue
            if before is not None:
                state.ids[item.ordinal] = before.target_id
                report.updated_one("comment")
                if not dry_run:
                    thread_id, delta = await self._update(tx, report.source, before.target_id, item)
                    counts[thread_id] += delta
                    touched.add(thread_id)
                continue
            report.created_one("comment")
            if not dry_run:
                new.append((item, thread_id))
        if new:
            await self._insert(tx, state, new, counts, touched)
        # One version per thread per chunk: readers' caches look again, live readers reload.
        await tx.threads.bump_many({t: counts[t] for t in touched}, kind=EventKind.THREAD_CHANGED)

    async def _insert(
        self,
        tx: Tx,
        state: _State,
        new: list[tuple[Item, int]],
        counts: Counter[int],
        touched: set[int],
    ) -> None:
        """Store a chunk's new comments in one statement, parents before their replies."""
        site, source, now, parent_of = self.site.id, state.report.source, self.clock(), state.plan.parent_of
        ids = await tx.imports.reserve_comment_ids(len(new))
        for (item, _), comment_id in zip(new, ids, strict=True):
            state.ids[item.ordinal] = comment_id
        in_chunk = {item.ordinal for item, _ in new}
        parents = {parent_of[item.ordinal] for item, _ in new} - {NONE}
        lookup = [state.ids[p] for p in parents if p not in in_chunk and p not in state.recent]
        fetched = await tx.imports.places(lookup) if lookup else {}
        chunk_places: dict[int, Place] = {}
        rows: list[tuple[object, ...]] = []
        remembered: list[Remembered] = []
        shown_below: Counter[int] = Counter()  # comment id -> visible replies added under it
        version = markup.RENDERER_VERSION
        for (item, thread_id), comment_id in zip(new, ids, strict=True):
            row, p = item.row, parent_of[item.ordinal]
            assert row is not None
            if p == NONE:
                place = chunk_places[item.ordinal] = Place(comment_id, None, "", 0)
                up_id: int | None = None
            else:
                parent = chunk_places.get(p) or state.recent.get(p) or fetched[state.ids[p]]
                place = chunk_places[item.ordinal] = parent.child(comment_id)
                up_id = parent.id
            rows.append((
                comment_id, thread_id, up_id, place.root_id, place.path, place.depth, row.status,
                row.deleted, row.text, row.html, version, row.name, row.email, row.url, row.avatar_key,
                "", item.created, row.edited, site, "import", row.up, row.down, row.up - row.down,
            ))  # fmt: skip
            remembered.append(
                Remembered(site, source, "comment", item.source_id, comment_id, item.digest, now)
            )
            touched.add(thread_id)
            if row.visible:
                if place.path:
                    shown_below.update(place.ancestor_ids)
                counts[thread_id] += 1
        await tx.imports.insert_comment_rows(rows)
        await tx.imports.remember_many(remembered)
        await tx.comments.add_visible_descendants_many(shown_below)
        state.recent.update(chunk_places)
        while len(state.recent) > RECENT:
            state.recent.popitem(last=False)

    async def _update(self, tx: Tx, source: str, comment_id: int, item: Item) -> tuple[int, int]:
        """Set what changed on a comment an earlier run made; (its thread, change of visible count)."""
        row = item.row
        assert row is not None
        current = await tx.comments.get(comment_id, for_update=True)
        assert current is not None
        change = CommentChange(
            row.status, row.deleted, row.text, row.html, markup.RENDERER_VERSION, row.name, row.email,
            row.url, row.up, row.down, row.edited,
        )  # fmt: skip
        await tx.imports.change_comment(comment_id, change)
        now = self.clock()
        await tx.imports.refingerprint(self.site.id, source, "comment", item.source_id, item.digest, now)
        delta = int(row.visible) - int(current.visible)
        await tx.comments.add_visible_descendants(current.ancestor_ids, delta)
        return current.thread_id, delta

    async def _threads(self, tx: Tx, state: _State, items: list[Item], *, dry_run: bool) -> None:
        """The threads the chunk's comments go in, found (made by an earlier run, or already there
        for their page) or made, a statement for all of them rather than several for each."""
        first: dict[str, datetime] = {}
        for item in items:
            sid = state.plan.thread_ids[state.plan.thread_of[item.ordinal]]
            if sid not in state.thread_ids and sid not in first:
                first[sid] = item.created  # created when its first comment was
        if not first:
            return
        site, source, report, now = self.site.id, state.report.source, state.report, self.clock()
        for sid, known in (await tx.imports.known(site, source, "thread", first)).items():
            report.unchanged_one("thread")
            state.thread_ids[sid] = known.target_id
            del first[sid]
        targets = {sid: state.plan.threads[sid] for sid in first}
        existing = await tx.threads.get_many(site, [target.page for target in targets.values()])
        new: dict[str, tuple[str, str, str, datetime]] = {}  # page -> what its new thread is made with
        for sid, target in targets.items():
            if target.page in existing or target.page in new:
                report.note("thread", sid, "its page already has a thread: the comments join it")
            else:
                report.created_one("thread")
                # A site's close_after counts from the thread's first comment.
                new[target.page] = (target.page, target.title, target.url, min(first[sid], now))
        if dry_run:
            state.thread_ids.update(dict.fromkeys(targets, 0))
            return
        await tx.threads.create_many(site, list(new.values()), now)
        made = await tx.threads.get_many(site, list(new))
        remembered: list[Remembered] = []
        for sid, target in targets.items():
            thread = existing.get(target.page) or made[target.page]
            if target.page in existing:
                await tx.threads.fill_missing(thread.id, title=target.title, url=target.url)
            if target.closed and not thread.closed:
                await tx.threads.set_closed(thread.id, True, kind=EventKind.THREAD_CHANGED)
                thread = replace(thread, closed=True)
                existing[target.page] = thread
            remembered.append(Remembered(site, source, "thread", sid, thread.id, "", now))
            state.thread_ids[sid] = thread.id
        await tx.imports.remember_many(remembered)


def _give_back() -> None:
    """Hand the memory the plan's scratch arrays and numbers used back to the system (glibc keeps
    freed heap memory otherwise: some 6 MB for a million comments); elsewhere, nothing."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):
        return


def _remarks(report: Report, remarks: list[tuple[int, str, int]]) -> None:
    for what, source_id, fate in remarks:
        (report.skip if what == SKIP else report.note)("comment", source_id, reason(fate))


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
