"""The one writer every import goes through: check the whole file (plan.py), then write it in chunks,
parents before their replies (however the file orders them), idempotent by source id; counts, thread
versions and the read cache stay right. An import sends no mail, webhook or notification.

A chunk's bodies are rendered in worker processes (render_pool.py) while the chunk before it is
written: each chunk is one transaction whose new comments go in as one executemany under ids
reserved for them, so replies in the same chunk can name their parents."""

from __future__ import annotations

import asyncio
import getpass
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from kibitz import markup
from kibitz.avatar import avatar_key
from kibitz.config import SiteConfig
from kibitz.events import EventKind
from kibitz.imports import plan as planning
from kibitz.imports.normalise import Body, PageMap, fingerprint
from kibitz.imports.plan import NONE, REASONS, Fate
from kibitz.imports.records import CommentRecord, Source
from kibitz.imports.render_pool import Renderer
from kibitz.imports.report import Report
from kibitz.models import Author
from kibitz.store.comments import NewComment, Place
from kibitz.store.db import Database
from kibitz.store.imports import CommentChange, ImportRun, Known, Remembered
from kibitz.store.tx import Tx

CHUNK = 500  # comments per transaction: short transactions, few commits
AVATARS = 20_000  # authors whose avatar key is kept at hand
RECENT = 4096  # places of the comments written last, kept at hand as parents of the replies that follow
# Chunks after which the planner's statistics are brought up to date (PostgreSQL): the tables an
# import fills from empty would otherwise be planned as if empty, and each chunk's look-up of source ids
# would read every row imported so far (autovacuum comes too late).
ANALYSE_AFTER = frozenset({2, 20, 200, 2000})
Clock = Callable[[], datetime]


@dataclass
class Progress:
    """What a progress bar shows: called with the phase and how far it is (total 0: not known)."""

    update: Callable[[str, int, int], None] = lambda _phase, _done, _total: None


@dataclass
class _Item:
    ordinal: int
    record: CommentRecord
    digest: str
    before: Known | None


@dataclass
class _Batch:
    items: list[_Item]
    bodies: asyncio.Future[list[Body]]  # for the items that need one, in order


@dataclass
class _State:
    plan: planning.Plan
    report: Report
    ids: array[int]  # ordinal -> comment id (0: not written yet; in a dry run, never)
    placed: bytearray  # ordinal -> 1 once it is in a chunk (its replies may follow)
    thread_ids: dict[str, int] = field(default_factory=dict)  # source thread id -> thread id
    recent: OrderedDict[int, Place] = field(default_factory=OrderedDict)  # ordinal -> place
    written: int = 0  # chunks
    avatars: dict[str, str] = field(default_factory=dict)  # source author -> avatar key (AVATARS at most)


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
        count = plan.comments
        state = _State(plan, report, array("q", bytes(8 * count)), bytearray(count))
        total = plan.kept()
        done = 0
        first_read = True
        with Renderer(self.site.allow_images, total) as renderer:
            while done < total:
                at_start = done
                pending: _Batch | None = None
                chunk: list[tuple[int, CommentRecord]] = []
                ordinal = -1
                for record in source.records():
                    if not isinstance(record, CommentRecord):
                        continue
                    ordinal += 1
                    fate = plan.fate[ordinal]
                    if fate > Fate.STRANGER:
                        if first_read:
                            report.skip("comment", record.source_id, REASONS[Fate(fate)])
                        continue
                    if state.placed[ordinal]:
                        continue
                    parent = plan.parent_of[ordinal]
                    if parent != NONE and not state.placed[parent]:
                        continue  # its parent comes later in the file: the next read writes it
                    if fate != Fate.KEEP:
                        report.note("comment", record.source_id, REASONS[Fate(fate)])
                    state.placed[ordinal] = 1
                    chunk.append((ordinal, record))
                    done += 1
                    if len(chunk) >= CHUNK:
                        pending = await self._next(state, chunk, pending, renderer, dry_run)
                        chunk = []
                        progress.update("importing", done, total)
                first_read = False
                pending = await self._next(state, chunk, pending, renderer, dry_run)
                if pending is not None:
                    await self._write(state, pending, dry_run)
                progress.update("importing", done, total)
                if done == at_start:
                    break  # nothing more can be placed (the plan refuses loops: never reached)
        if not dry_run:
            async with self.db.write() as tx:
                await tx.imports.log_run(
                    ImportRun(
                        0, self.site.id, source.format, report.file_name, _actor(), False, started,
                        self.clock(), report.to_json(),
                    )
                )  # fmt: skip
        return report

    async def _next(
        self,
        state: _State,
        chunk: list[tuple[int, CommentRecord]],
        pending: _Batch | None,
        renderer: Renderer,
        dry_run: bool,
    ) -> _Batch | None:
        """Start rendering ``chunk``, then write the chunk before it; the chunk is pending now."""
        batch = await self._prepare(state, chunk, renderer) if chunk else None
        if pending is not None:
            await self._write(state, pending, dry_run)
        return batch

    async def _prepare(
        self, state: _State, chunk: list[tuple[int, CommentRecord]], renderer: Renderer
    ) -> _Batch:
        """What an earlier run made of the chunk's comments; bodies started for those that changed."""
        async with self.db.read() as tx:
            known = await tx.imports.known(
                self.site.id, state.report.source, "comment", [r.source_id for _, r in chunk]
            )
        items: list[_Item] = []
        to_render: list[CommentRecord] = []
        for ordinal, record in chunk:
            parent_sid = record.parent_id if state.plan.parent_of[ordinal] != NONE else None
            item = _Item(ordinal, record, fingerprint(record, parent_sid), known.get(record.source_id))
            items.append(item)
            if item.before is None or item.before.fingerprint != item.digest:
                to_render.append(record)
        return _Batch(items, renderer.render(to_render))

    async def _write(self, state: _State, batch: _Batch, dry_run: bool) -> None:
        bodies = await batch.bodies
        if dry_run:
            async with self.db.read() as tx:
                await self._apply(tx, state, batch.items, iter(bodies), dry_run=True)
        else:
            async with self.db.write() as tx:
                await self._apply(tx, state, batch.items, iter(bodies), dry_run=False)
            state.written += 1
            if state.written in ANALYSE_AFTER:
                async with self.db.write() as tx:
                    await tx.imports.analyse()

    async def _apply(
        self, tx: Tx, state: _State, items: list[_Item], bodies: Iterator[Body], *, dry_run: bool
    ) -> None:
        source, now = state.report.source, self.clock()
        counts: Counter[int] = Counter()
        touched: set[int] = set()
        new: list[tuple[_Item, int, Body]] = []  # (item, thread id, body)
        await self._threads(tx, state, items, dry_run=dry_run)
        for item in items:
            record = item.record
            thread_id = state.thread_ids[state.plan.thread_ids[state.plan.thread_of[item.ordinal]]]
            before = item.before
            if before is not None and before.fingerprint == item.digest:
                state.ids[item.ordinal] = before.target_id
                state.report.unchanged_one("comment")
                continue  # not rendered again: a second run of a big file only reads it
            stored = next(bodies)
            if stored.truncated:
                cut = "longer than Kibitz keeps: cut to 10,000 chars"
                state.report.note("comment", record.source_id, cut)
            if before is not None:
                state.ids[item.ordinal] = before.target_id
                state.report.updated_one("comment")
                if not dry_run:
                    thread_id, delta = await self._update(
                        tx, source, before.target_id, record, stored, item.digest
                    )
                    counts[thread_id] += delta
                    touched.add(thread_id)
                continue
            state.report.created_one("comment")
            if not dry_run:
                new.append((item, thread_id, stored))
        if new:
            await self._insert(tx, state, new, counts, touched, now)
        # One version per thread per chunk: readers' caches look again, live readers reload.
        await tx.threads.bump_many({t: counts[t] for t in touched}, kind=EventKind.THREAD_CHANGED)

    async def _insert(
        self,
        tx: Tx,
        state: _State,
        new: list[tuple[_Item, int, Body]],
        counts: Counter[int],
        touched: set[int],
        now: datetime,
    ) -> None:
        """Store a chunk's new comments in one statement, parents before their replies."""
        site, source = self.site.id, state.report.source
        ids = await tx.imports.reserve_comment_ids(len(new))
        for (item, _, _), comment_id in zip(new, ids, strict=True):
            state.ids[item.ordinal] = comment_id
        in_chunk = {item.ordinal for item, _, _ in new}
        parents = {state.plan.parent_of[item.ordinal] for item, _, _ in new} - {NONE}
        lookup = [state.ids[p] for p in parents if p not in in_chunk and p not in state.recent]
        fetched = await tx.imports.places(lookup) if lookup else {}
        chunk_places: dict[int, Place] = {}
        rows: list[tuple[int, NewComment, Place | None]] = []
        remembered: list[Remembered] = []
        shown_below: Counter[int] = Counter()  # comment id -> visible replies added under it
        for (item, thread_id, stored), comment_id in zip(new, ids, strict=True):
            record, p = item.record, state.plan.parent_of[item.ordinal]
            parent: Place | None = None
            if p != NONE:
                parent = chunk_places.get(p) or state.recent.get(p) or fetched[state.ids[p]]
            place = parent.child(comment_id) if parent else Place(comment_id, None, "", 0)
            chunk_places[item.ordinal] = place
            author = Author(stored.name, stored.email, stored.url, self._avatar(state, stored))
            rows.append((
                comment_id,
                NewComment(
                    thread_id=thread_id, parent=None, status=stored.status, text=stored.text,
                    html=stored.html, renderer_version=markup.RENDERER_VERSION, author=author,
                    reader_id="", created=record.created, anchor=None, site=site,
                    reasons=("import",), deleted=stored.deleted, up=record.up, down=record.down,
                    edited=record.edited,
                ),
                parent,
            ))  # fmt: skip
            remembered.append(
                Remembered(site, source, "comment", record.source_id, comment_id, item.digest, now)
            )
            touched.add(thread_id)
            if stored.visible:
                shown_below.update(place.ancestor_ids)
                counts[thread_id] += 1
        await tx.imports.insert_comments(rows)
        await tx.imports.remember_many(remembered)
        await tx.comments.add_visible_descendants_many(shown_below)
        for ordinal, place in chunk_places.items():
            state.recent[ordinal] = place
        while len(state.recent) > RECENT:
            state.recent.popitem(last=False)

    def _avatar(self, state: _State, stored: Body) -> str:
        """One avatar per source author (by address, else name): their comments look alike. Kept for
        the authors met last, as most write more than once."""
        who = f"import:{state.report.source}:{stored.email or stored.name}"
        key = state.avatars.get(who)
        if key is None:
            key = state.avatars[who] = avatar_key(self.avatar_secret, self.site.id, who)
            if len(state.avatars) > AVATARS:
                del state.avatars[next(iter(state.avatars))]
        return key

    async def _update(
        self, tx: Tx, source: str, comment_id: int, record: CommentRecord, stored: Body, digest: str
    ) -> tuple[int, int]:
        """Set what changed on a comment an earlier run made; (its thread, change of visible count)."""
        now = self.clock()
        current = await tx.comments.get(comment_id, for_update=True)
        assert current is not None
        change = CommentChange(
            stored.status.value, stored.deleted, stored.text, stored.html, markup.RENDERER_VERSION,
            stored.name, stored.email, stored.url, record.up, record.down, record.edited,
        )  # fmt: skip
        await tx.imports.change_comment(comment_id, change)
        await tx.imports.refingerprint(self.site.id, source, "comment", record.source_id, digest, now)
        delta = int(stored.visible) - int(current.visible)
        await tx.comments.add_visible_descendants(current.ancestor_ids, delta)
        return current.thread_id, delta

    async def _threads(self, tx: Tx, state: _State, items: list[_Item], *, dry_run: bool) -> None:
        """The threads the chunk's comments go in, found (made by an earlier run, or already there
        for their page) or made, a statement for all of them rather than several for each."""
        first: dict[str, datetime] = {}
        for item in items:
            sid = state.plan.thread_ids[state.plan.thread_of[item.ordinal]]
            if sid not in state.thread_ids and sid not in first:
                first[sid] = item.record.created  # created when its first comment was
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


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
