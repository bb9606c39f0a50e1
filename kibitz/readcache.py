"""The read cache: exact thread versions read in batches, and rendered bodies kept per version.

Every visible change bumps ``threads.version`` in its own write transaction. A cached body is used
only when its version equals the thread's version as read from the database *after* the request
arrived, so a read never misses a write that was acknowledged before it: across workers and
instances, with or without Redis. What makes that cheap under a spike is batching: requests that
arrive while a version query is running wait for the next one, which reads the versions of all
their pages in one indexed query. Thousands of readers of one story cost one small query per batch
and no rendering at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kibitz.store.db import Database
from kibitz.store.generation import Generation
from kibitz.store.schema import threads

if TYPE_CHECKING:
    from kibitz.metrics import Metrics

log = logging.getLogger(__name__)
# Seconds the event loop may wait on a locked SQLite file before the pooled path takes over.
SQLITE_TIMEOUT = 0.05
# Writes that bypass kibitz (an operator's sqlite3 shell) skip the change marker: read again at
# least this often anyway.
RECHECK_SECONDS = 1.0
KNOWN_LIMIT = 50_000
# Pages per version query (well below SQLite's limit on bound parameters).
BATCH_PAGES = 500


@dataclass(frozen=True)
class ThreadState:
    """What a cached read is checked against: a thread's id, version, visible count and age."""

    id: int
    version: int
    count: int
    closed: bool
    created: datetime


class Versions:
    """Exact reads of thread versions: ``await get(site, pages)``.

    On a SQLite file the query runs on a connection of its own, synchronously on the event loop: a
    point lookup by primary index costs microseconds, far less than a hop to a driver thread, and a
    WAL reader never waits for writers. Elsewhere (PostgreSQL) requests are batched: a request joins
    the next query that has not started yet, never one already running, so its answer is read after
    it arrived; one query runs at a time per process.
    """

    def __init__(
        self,
        db: Database,
        metrics: Metrics | None = None,
        *,
        sqlite_file: str | None = None,
        generation: Generation | None = None,
    ) -> None:
        self.db = db
        self.metrics = metrics
        self._sqlite_file = sqlite_file
        self._sqlite: sqlite3.Connection | None = None
        # With the shared change marker: what was read since the marker last changed.
        self._generation = generation
        self._seen: int | None = None
        self._checked = 0.0
        self._known: dict[tuple[str, str], ThreadState | None] = {}
        self._pending: dict[str, set[str]] = {}
        self._next: asyncio.Future[dict[tuple[str, str], ThreadState]] | None = None
        self._runner: asyncio.Task[None] | None = None

    async def one(self, site: str, page: str) -> ThreadState | None:
        """``get`` for one page, answered without waiting when ``one_now`` can."""
        now = self.one_now(site, page)
        if now is not None:
            return now[0]
        return (await self._batched(site, [page])).get(page)

    def one_now(self, site: str, page: str) -> tuple[ThreadState | None] | None:
        """``one`` when it needs no waiting, as a 1-tuple (the state, or None for a page without
        comments); None when the answer must be awaited (PostgreSQL, or the own connection failing).
        The common case of a spike is a shortcut: SQLite, no commit since the state was read."""
        generation = self._generation
        if (
            generation is not None
            and generation.read() == self._seen
            and time.monotonic() - self._checked <= RECHECK_SECONDS
        ):
            key = (site, page)
            if key in self._known:
                return (self._known[key],)
        found = self.now(site, [page])
        return None if found is None else (found.get(page),)

    def now(self, site: str, pages: list[str]) -> dict[str, ThreadState] | None:
        """``get`` when it needs no waiting: on a SQLite file, its own connection answers on the spot.
        None when the answer must be awaited: PostgreSQL, or the own connection failing (logged and
        closed; the pooled path then maps the fault to a 503)."""
        if self._sqlite_file is None:
            return None
        try:
            if self._generation is not None:
                return self._remembered(site, pages, self._generation)
            return self._query_sqlite(site, pages)
        except sqlite3.Error as exc:  # busy or gone
            log.warning("version check on its own connection failed: %s", exc)
            self._close_sqlite()
            return None

    async def get(self, site: str, pages: Iterable[str]) -> dict[str, ThreadState]:
        """The state of each page's thread; pages nobody commented on are left out."""
        wanted = list(pages)
        found = self.now(site, wanted)
        if found is not None:
            return found
        return await self._batched(site, wanted)

    async def _batched(self, site: str, wanted: list[str]) -> dict[str, ThreadState]:
        """The pooled path: the request joins the next query that has not started yet."""
        self._pending.setdefault(site, set()).update(wanted)
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        future = self._next
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="kibitz-versions")
        found = await asyncio.shield(future)
        return {page: found[(site, page)] for page in wanted if (site, page) in found}

    async def _run(self) -> None:
        try:
            while self._next is not None:
                future, pending = self._next, self._pending
                self._next, self._pending = None, {}
                try:
                    found = await self._query(pending)
                except BaseException as exc:
                    if not future.done():
                        future.set_exception(exc)
                        future.add_done_callback(_consume)
                    if not isinstance(exc, Exception):
                        raise
                else:
                    if not future.done():
                        future.set_result(found)
        finally:
            self._runner = None
            if self._next is not None and not self._next.done():
                # Cancelled with waiters left (shutdown): they must not wait forever.
                self._next.set_exception(asyncio.CancelledError())
                self._next.add_done_callback(_consume)
                self._next = None

    async def _query(self, pending: dict[str, set[str]]) -> dict[tuple[str, str], ThreadState]:
        t = threads.c
        found: dict[tuple[str, str], ThreadState] = {}
        async with self.db.read() as tx:
            for site, pages in pending.items():
                ordered = sorted(pages)
                for start in range(0, len(ordered), BATCH_PAGES):
                    chunk = ordered[start : start + BATCH_PAGES]
                    rows = await tx.conn.execute(
                        select(t.page, t.id, t.version, t.count, t.closed, t.created).where(
                            t.site == site, t.page.in_(chunk)
                        )
                    )
                    for row in rows:
                        found[(site, str(row.page))] = ThreadState(
                            int(row.id), int(row.version), int(row[3]), bool(row.closed), row.created
                        )
        if self.metrics is not None:
            self.metrics.version_queries.inc()
        return found

    def _remembered(self, site: str, pages: list[str], generation: Generation) -> dict[str, ThreadState]:
        """States read since the last acknowledged commit of any process are still exact: reuse them.
        The marker is read before the database, so a commit after it shows as a change next time."""
        marker = generation.read()
        now = time.monotonic()
        known = self._known
        if marker != self._seen or now - self._checked > RECHECK_SECONDS or len(known) > KNOWN_LIMIT:
            known.clear()
            self._seen, self._checked = marker, now
        missing = [page for page in pages if (site, page) not in known]
        if missing:
            found = self._query_sqlite(site, missing)
            for page in missing:
                known[(site, page)] = found.get(page)
        out: dict[str, ThreadState] = {}
        for page in pages:
            state = known.get((site, page))
            if state is not None:
                out[page] = state
        return out

    def _query_sqlite(self, site: str, pages: list[str]) -> dict[str, ThreadState]:
        conn = self._sqlite
        if conn is None:
            conn = sqlite3.connect(
                f"file:{self._sqlite_file}?mode=ro", uri=True, timeout=SQLITE_TIMEOUT, check_same_thread=False
            )
            conn.isolation_level = None  # autocommit: each query sees the latest commit
            self._sqlite = conn
        found: dict[str, ThreadState] = {}
        for start in range(0, len(pages), BATCH_PAGES):
            chunk = pages[start : start + BATCH_PAGES]
            marks = ",".join("?" * len(chunk))  # placeholders only: no text of the request
            sql = f"SELECT page, id, version, count, closed, created FROM threads WHERE site = ? AND page IN ({marks})"  # noqa: S608, E501
            rows = conn.execute(sql, (site, *chunk))
            for page, id_, version, count, closed, created in rows:
                when = datetime.fromisoformat(created).replace(tzinfo=UTC)
                found[page] = ThreadState(id_, version, count, bool(closed), when)
        return found

    def _close_sqlite(self) -> None:
        if self._sqlite is not None:
            with contextlib.suppress(sqlite3.Error):
                self._sqlite.close()
            self._sqlite = None

    async def close(self) -> None:
        self._close_sqlite()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner


def _consume(future: asyncio.Future[Any]) -> None:
    """Mark a failed batch's exception as seen when every waiter has gone."""
    if not future.cancelled():
        future.exception()


@dataclass
class Entry:
    """One rendered body at one version of its thread, with its compressed forms made on demand."""

    tag: str  # the version label: an ETag's opaque part
    media_type: str
    body: bytes
    expires: float  # time.monotonic() after which it must be rendered again (e.g. a thread closing by age)
    encoded: dict[str, bytes] = field(default_factory=dict)
    answers: dict[tuple[str | None, bool], object] = field(default_factory=dict)  # ready HTTP answers

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(b) for b in self.encoded.values()) + 200


class Bodies:
    """A byte-bounded LRU of rendered bodies, one per key (a new version replaces the old one)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()

    def get(self, key: Hashable, tag: str) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.tag != tag or entry.expires <= time.monotonic():
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: Hashable, entry: Entry) -> None:
        self.discard(key)
        if entry.size > self.max_bytes:
            return
        self._entries[key] = entry
        self.size += entry.size
        self._trim()

    def grew(self, key: Hashable, by: int) -> None:
        """An entry gained a compressed form."""
        if key in self._entries:
            self.size += by
            self._trim()

    def discard(self, key: Hashable) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= old.size

    def _trim(self) -> None:
        while self.size > self.max_bytes and self._entries:
            _, old = self._entries.popitem(last=False)
            self.size -= old.size

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class Alias:
    """What a validated request URL (path + raw query) stands for, so a repeat skips the routing."""

    route: str  # the route's path template, for metrics
    site: str
    page: str = ""  # a thread read: the normalised page key ...
    key: Hashable = None  # ... and its Bodies key
    counts: tuple[tuple[str, str], ...] = ()  # a counts read: (page as asked, page key) pairs


class Aliases:
    """A byte-bounded LRU of request URL -> Alias. Only URLs up to ``MAX_KEY`` bytes are kept (longer
    ones take the routed path every time), and each entry counts its key and its pages."""

    MAX_KEY = 4096
    ENTRY_OVERHEAD = 300  # the dict slot, the tuple, the Alias and its strings' headers

    def __init__(self, max_bytes: int = 2 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._map: OrderedDict[tuple[str, bytes], tuple[Alias, int]] = OrderedDict()

    def get(self, path: str, query: bytes) -> Alias | None:
        found = self._map.get((path, query))
        if found is None:
            return None
        self._map.move_to_end((path, query))
        return found[0]

    def put(self, path: str, query: bytes, alias: Alias) -> None:
        key_bytes = len(path) + len(query)
        if key_bytes > self.MAX_KEY:
            return
        cost = (
            key_bytes
            + len(alias.page)
            + sum(len(asked) + len(page) for asked, page in alias.counts)
            + self.ENTRY_OVERHEAD
        )
        old = self._map.pop((path, query), None)
        if old is not None:
            self.size -= old[1]
        if cost > self.max_bytes:
            return
        self._map[(path, query)] = (alias, cost)
        self.size += cost
        while self.size > self.max_bytes and self._map:
            _, (_, dropped) = self._map.popitem(last=False)
            self.size -= dropped

    def __len__(self) -> int:
        return len(self._map)


def counts_of(states: dict[str, ThreadState], pages: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Visible counts by page as asked, from (page as asked, page key) pairs."""
    return {asked: states[key].count if key in states else 0 for asked, key in pages}
