"""The one writer every import goes through: check the whole file (plan.py), then write it in chunks,
parents before their replies (however the file orders them), idempotent by source id; counts, thread
versions and the read cache stay right. An import sends no mail, webhook or notification."""

from __future__ import annotations

import getpass
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kibitz import markup
from kibitz.avatar import avatar_key
from kibitz.config import SiteConfig
from kibitz.events import EventKind
from kibitz.imports import plan as planning
from kibitz.imports.normalise import Body, PageMap, body, fingerprint
from kibitz.imports.records import CommentRecord, Source
from kibitz.imports.report import Report
from kibitz.models import Author, Comment
from kibitz.store.comments import NewComment
from kibitz.store.db import Database
from kibitz.store.imports import CommentChange, ImportRun, Remembered
from kibitz.store.tx import Tx

CHUNK = 500  # comments per transaction: short transactions, few commits
RECENT = 2000  # comments kept at hand as parents of the replies that follow
Clock = Callable[[], datetime]


@dataclass
class Progress:
    """What a progress bar shows: called with the phase and how far it is (total 0: not known)."""

    update: Callable[[str, int, int], None] = lambda _phase, _done, _total: None


@dataclass
class _State:
    plan: planning.Plan
    report: Report
    thread_ids: dict[str, int] = field(default_factory=dict)  # source thread id -> thread id
    # Source comment id -> comment id, for every comment written (or in a dry run, placed) so far.
    comment_ids: dict[str, int] = field(default_factory=dict)
    chunk: set[str] = field(default_factory=set)  # the source ids of the chunk being gathered
    # The comments written last, by source id: most replies come soon after their parent.
    recent: OrderedDict[str, Comment] = field(default_factory=OrderedDict)


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
        state = _State(plan, report)
        total = len(plan.comments)
        done = 0
        while done < total:
            chunk: list[CommentRecord] = []
            at_start = done
            for record in source.records():
                if not isinstance(record, CommentRecord):
                    continue
                sid = record.source_id
                # Not in the plan (skipped), or written already (this run's earlier read, or the
                # first of two records under one id).
                if sid not in plan.comments or sid in state.comment_ids or sid in state.chunk:
                    continue
                parent = plan.comments[sid][1]
                if parent is not None and parent not in state.comment_ids and parent not in state.chunk:
                    continue  # its parent comes later in the file: the next read writes it
                state.chunk.add(sid)
                chunk.append(record)
                done += 1
                if len(chunk) >= CHUNK:
                    await self._chunk(state, chunk, dry_run)
                    chunk = []
                    progress.update("importing", done, total)
            await self._chunk(state, chunk, dry_run)
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

    async def _chunk(self, state: _State, chunk: list[CommentRecord], dry_run: bool) -> None:
        if not chunk:
            return
        if dry_run:
            async with self.db.read() as tx:
                await self._apply(tx, state, chunk, dry_run=True)
        else:
            async with self.db.write() as tx:
                await self._apply(tx, state, chunk, dry_run=False)
        state.chunk.clear()  # each of them is in comment_ids now

    async def _apply(self, tx: Tx, state: _State, chunk: list[CommentRecord], *, dry_run: bool) -> None:
        site, source, now = self.site.id, state.report.source, self.clock()
        known = await tx.imports.known(site, source, "comment", [r.source_id for r in chunk])
        counts: Counter[int] = Counter()
        touched: set[int] = set()
        # Written once at the end of the chunk, not a statement per comment.
        remembered: list[Remembered] = []
        shown_below: Counter[int] = Counter()  # comment id -> visible replies added under it
        for record in chunk:
            thread_sid, parent_sid = state.plan.comments[record.source_id]
            digest = fingerprint(record, parent_sid)
            thread_id = await self._thread(tx, state, thread_sid, record.created, dry_run=dry_run)
            before = known.get(record.source_id)
            if before is not None and before.fingerprint == digest:
                state.comment_ids[record.source_id] = before.target_id
                state.report.unchanged_one("comment")
                continue  # not rendered again: a second run of a big file only reads it
            stored = body(record, self.site)
            if stored.truncated:
                state.report.note(
                    "comment", record.source_id, "longer than Kibitz keeps: cut to 10,000 chars"
                )
            if before is not None:
                state.comment_ids[record.source_id] = before.target_id
                state.report.updated_one("comment")
                if not dry_run:
                    thread_id, delta = await self._update(
                        tx, source, before.target_id, record, stored, digest
                    )
                    counts[thread_id] += delta
                    touched.add(thread_id)
                continue
            state.report.created_one("comment")
            if dry_run:
                state.comment_ids[record.source_id] = 0  # placed: its replies may follow
                continue
            parent = await self._parent(tx, state, parent_sid) if parent_sid else None
            # One avatar per source author (by address, else name): their comments look alike.
            who = f"import:{source}:{stored.email or stored.name}"
            author = Author(stored.name, stored.email, stored.url, avatar_key(self.avatar_secret, site, who))
            comment = await tx.comments.insert(
                NewComment(
                    thread_id=thread_id, parent=parent, status=stored.status, text=stored.text,
                    html=stored.html, renderer_version=markup.RENDERER_VERSION, author=author,
                    reader_id="", created=record.created, anchor=None, site=site,
                    reasons=("import",), deleted=stored.deleted, up=record.up, down=record.down,
                    edited=record.edited,
                )
            )  # fmt: skip
            remembered.append(Remembered(site, source, "comment", record.source_id, comment.id, digest, now))
            state.comment_ids[record.source_id] = comment.id
            state.recent[record.source_id] = comment
            if len(state.recent) > RECENT:
                state.recent.popitem(last=False)
            touched.add(thread_id)
            if stored.visible:
                shown_below.update(comment.ancestor_ids)
                counts[thread_id] += 1
        await tx.imports.remember_many(remembered)
        await tx.comments.add_visible_descendants_many(shown_below)
        for thread_id in sorted(touched):
            # One version per thread per chunk: readers' caches look again, live readers reload.
            await tx.threads.bump(thread_id, counts[thread_id], kind=EventKind.THREAD_CHANGED)

    async def _parent(self, tx: Tx, state: _State, sid: str) -> Comment:
        """A reply's parent, made by this run a moment ago (kept) or earlier (read)."""
        found = state.recent.get(sid)
        if found is not None:
            state.recent.move_to_end(sid)
            return found
        comment = await tx.comments.get(state.comment_ids[sid])
        assert comment is not None
        return comment

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

    async def _thread(self, tx: Tx, state: _State, sid: str, first: datetime, *, dry_run: bool) -> int:
        """The thread a source thread became (made now, or by an earlier run, or already there)."""
        if sid in state.thread_ids:
            return state.thread_ids[sid]
        site, source, now = self.site.id, state.report.source, self.clock()
        target = state.plan.threads[sid]
        known = (await tx.imports.known(site, source, "thread", [sid])).get(sid)
        if known is not None:
            state.report.unchanged_one("thread")
            state.thread_ids[sid] = known.target_id
            return known.target_id
        existing = await tx.threads.get(site, target.page)
        if existing is not None:
            state.report.note("thread", sid, "its page already has a thread: the comments join it")
        else:
            state.report.created_one("thread")
        if dry_run:
            state.thread_ids[sid] = 0
            return 0
        # Created when its first comment was: a site's close_after counts from then.
        thread = existing or await tx.threads.get_or_create(
            site, target.page, target.title, target.url, min(first, now)
        )
        await tx.threads.fill_missing(thread.id, title=target.title, url=target.url)
        if target.closed and not thread.closed:
            await tx.threads.set_closed(thread.id, True, kind=EventKind.THREAD_CHANGED)
        await tx.imports.remember(site, source, "thread", sid, thread.id, "", now)
        state.thread_ids[sid] = thread.id
        return thread.id


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
