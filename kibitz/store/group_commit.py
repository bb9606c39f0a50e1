"""SQLite group commit: the writes of one process share a transaction, one COMMIT per batch.

The writes that queue up while one runs share its ``BEGIN IMMEDIATE`` transaction, each inside its
own SAVEPOINT, and one COMMIT (one fsync) makes the whole batch durable; each ``write()`` block
returns only after that COMMIT. The writer connection uses the synchronous driver: its statements
run on the event loop (microseconds each, no thread round trip), BEGIN and COMMIT in a thread of its
own. Processes writing one file take turns on its write lock (``WriterTurns``). After each COMMIT the
shared change marker is rewritten (kibitz/store/generation.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection

from kibitz.store.faults import is_unavailable, unavailable
from kibitz.store.generation import Generation
from kibitz.store.tx import Tx

try:
    import fcntl
except ImportError:  # not on POSIX: processes contend through SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
T = TypeVar("T")


BATCH_MAX_WRITES = 64  # writes one SQLite COMMIT may carry at most
BATCH_MAX_SECONDS = 0.010  # a batch takes no new writes once its transaction has been open this long
WRITE_WAIT_SECONDS = 30.0  # a write waits this long for its turn, then answers 503


@dataclass
class GroupCommitStats:
    """What SQLite group commit did in this process (for tests and metrics)."""

    commits: int = 0  # COMMITs of batches
    writes: int = 0  # write() blocks those COMMITs made durable
    largest: int = 0  # the most writes one COMMIT carried


def _settle(fut: asyncio.Future[Any], result: Any = None, *, exc: BaseException | None = None) -> None:
    """Resolve ``fut`` unless its waiter already left (cancelled)."""
    if fut.done():
        return
    if exc is None:
        fut.set_result(result)
    else:
        fut.set_exception(exc)


class _MemberConn:
    """The batch's connection as one write sees it, during its turn only: the AsyncConnection
    methods the repositories use, run at once on the synchronous connection (no await inside a
    statement, so a caller's cancellation never cuts one short and never reaches the batch)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._driver = conn.connection.driver_connection
        self.open = True

    @property
    def driver(self) -> Any:
        """The driver's own connection (sqlite3), for store/fast.py's statements."""
        if not self.open:
            self._live()  # raises: the block is over
        return self._driver

    def _live(self) -> Connection:
        if not self.open:
            raise RuntimeError("This write transaction is over: use its Tx only inside its block")
        return self._conn

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self._live().execute(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return self._live().scalar(*args, **kwargs)

    async def scalars(self, *args: Any, **kwargs: Any) -> Any:
        return self._live().scalars(*args, **kwargs)

    async def exec_driver_sql(self, *args: Any, **kwargs: Any) -> Any:
        return self._live().exec_driver_sql(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._live(), name)


class _Savepoint:
    """One write's SAVEPOINT, said to the driver itself: SQLAlchemy's nested transaction costs some
    80 µs of CPU a write for the same statements. The writes of a batch run one at a time and never
    nest, so one name serves them all; the batch's own transaction stays SQLAlchemy's."""

    def __init__(self, driver: Any) -> None:
        self._driver = driver
        driver.execute("SAVEPOINT kibitz_write")

    def commit(self) -> None:
        self._driver.execute("RELEASE kibitz_write")

    def rollback(self) -> None:
        self._driver.execute("ROLLBACK TO kibitz_write")
        self._driver.execute("RELEASE kibitz_write")


# The write whose block the current task runs: a write() inside it would wait for itself.
_RUNNING: contextvars.ContextVar[_MemberConn | None] = contextvars.ContextVar("kibitz_write", default=None)


class _Batch:
    """One open write transaction and the writes admitted to it."""

    def __init__(self, conn: Connection, loop: asyncio.AbstractEventLoop, pending: int) -> None:
        self.conn = conn
        self.driver = conn.connection.driver_connection
        self.started = loop.time()
        self.pending = pending  # writes admitted whose block has not ended yet
        self.ok = 0  # writes whose block succeeded (their savepoint released)
        self.open = True  # takes more writes
        self.broken: BaseException | None = None  # what spoiled the transaction, if anything did
        self.busy = False  # a write's block holds the connection
        self.waiters: deque[asyncio.Future[None]] = deque()  # writes waiting for the connection
        # Set once the last write admitted is done with the batch: no more join it then.
        self.closed: asyncio.Future[None] = loop.create_future()
        self.on_close: Callable[[], None] = lambda: None
        # None once the COMMIT is durable, else why nothing of the batch was kept.
        self.committed: asyncio.Future[BaseException | None] = loop.create_future()

    def leave(self) -> None:
        """A write is done with the batch (its block ended, or it left before running)."""
        self.pending -= 1
        if self.pending == 0:
            self.close()

    def close(self) -> None:
        if self.open:
            self.open = False
            self.on_close()
            self.closed.set_result(None)

    def hand_on(self) -> None:
        """Give the connection to the next write waiting for it, or free it."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.busy = False


TURN_POLL_FIRST = 0.00005  # seconds between tries for a turn: doubling from this...
TURN_POLL_MOST = 0.0005  # ...up to this


class WriterTurns:
    """Writer processes on one SQLite file take turns, fairly and without long sleeps.

    SQLite's busy handler polls: a process waiting for the write lock sleeps 1, 2, 5, ... and then
    100 ms between tries, and meanwhile a busy holder commits and takes the lock again, so under load
    one process starves the others for seconds and leaves its CPU idle. Before BEGIN IMMEDIATE the
    writer thread takes two OS file locks next to the database: the turnstile, then the turn, and
    lets go of the turnstile; after COMMIT it lets go of the turn. A process that wants the turn
    again queues at the turnstile behind the one already waiting for the turn, so processes with
    work alternate, batch after batch, and a waiter tries every half millisecond at most.

    SQLite's lock still guards the data: a process without these locks (the sqlite3 shell, a
    backup) contends as before, and a process that waited a whole busy timeout for its turn goes on
    to BEGIN without it.
    """

    def __init__(self, db_file: str, timeout: float) -> None:
        self._paths = (f"{db_file}.write-turnstile", f"{db_file}.write-turn")  # cf. .migrate-lock
        self._timeout = timeout
        self._fds: tuple[int, int] | None = None
        self._broken = False

    def take(self) -> bool:
        """Wait for this process's turn (in the writer thread); False: go on without one."""
        if fcntl is None or self._broken:
            return False
        if self._fds is None:
            try:
                flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
                turnstile = os.open(self._paths[0], flags, 0o600)
                self._fds = (turnstile, os.open(self._paths[1], flags, 0o600))
            except OSError as exc:
                log.warning("no writer turns (%s): processes contend through SQLite alone", exc)
                self._broken = True
                return False
        turnstile, turn = self._fds
        deadline = time.monotonic() + self._timeout
        if not self._lock(turnstile, deadline):
            return False
        try:
            return self._lock(turn, deadline)
        finally:
            fcntl.flock(turnstile, fcntl.LOCK_UN)

    @staticmethod
    def _lock(fd: int, deadline: float) -> bool:
        pause = TURN_POLL_FIRST
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
            time.sleep(pause)
            pause = min(pause * 2, TURN_POLL_MOST)

    def give(self) -> None:
        if self._fds is not None:
            fcntl.flock(self._fds[1], fcntl.LOCK_UN)

    def close(self) -> None:
        fds, self._fds = self._fds, None
        for fd in fds or ():
            os.close(fd)


class GroupCommit:
    """The SQLite writes of this process, in batches on one writer connection.

    A committer task opens ``BEGIN IMMEDIATE`` (in the writer's thread) for the writes waiting, then
    wakes them all. Each write runs its block in its own task, inside a SAVEPOINT, holding the
    connection alone; the blocks of one batch run back to back, since their statements never await.
    A block that succeeds releases its savepoint, one that raises rolls it back (nothing of it is
    committed) and gets its exception at once. Writes that arrive while the batch is open join it
    at once. The last write of the batch to finish starts the COMMIT (one fsync, in the writer's
    thread); the committer answers them all once it is durable, or with 503 when it failed, and
    opens the next batch for the writes that arrived meanwhile. A lone write thus commits at once.
    A batch takes no more writes after ``max_writes`` or ``max_seconds``, so a steady stream cannot
    keep one transaction open. Writes run one at a time, so each sees what earlier ones wrote
    (rate-limit counters, idempotency keys): limits stay exact. A caller cancelled while it waits
    leaves the batch alone; cancelled inside its block, its savepoint is rolled back; cancelled
    while it waits for the COMMIT, its write is committed with the others.
    """

    def __init__(
        self, engine: Engine, *, max_writes: int, max_seconds: float, turns: WriterTurns | None = None
    ) -> None:
        self.engine = engine
        self._turns = turns
        self._max_writes = max(1, max_writes)
        self._max_seconds = max_seconds
        self._waiting: deque[tuple[int, asyncio.Future[_Batch]]] = deque()  # for the next batch
        self._seq = 0
        self._open: _Batch | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: ThreadPoolExecutor | None = None
        self.stats = GroupCommitStats()
        self.generation: Generation | None = None  # bumped after each durable COMMIT

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        running = _RUNNING.get()
        if running is not None and running.open:
            raise RuntimeError("db.write() inside a db.write() block would wait for itself")
        loop = asyncio.get_running_loop()
        while True:
            batch = self._open
            if batch is not None and self._joinable(batch, loop):
                batch.pending += 1
            else:
                batch = await self._wait_for_batch(loop)
            await self._take_connection(batch, loop)
            if batch.broken is None:
                try:
                    savepoint = _Savepoint(batch.driver)
                    break
                except Exception as exc:
                    batch.broken = exc
            # An earlier write spoiled this batch before this one ran: it goes in the next one.
            batch.hand_on()
            batch.leave()
        view = _MemberConn(batch.conn)
        try:
            _RUNNING.set(view)
            try:
                yield Tx(cast(AsyncConnection, view), dialect="sqlite")
            except BaseException:
                view.open = False
                self._end(batch, savepoint.rollback)  # nothing of this write is committed
                raise
            view.open = False
            self._end(batch, savepoint.commit)
            batch.ok += 1
        finally:
            view.open = False
            _RUNNING.set(None)
            batch.hand_on()
            batch.leave()
        # Return only once the batch's COMMIT is durable (a cancelled caller's work still commits).
        cause = await asyncio.shield(batch.committed)
        if cause is not None:
            raise unavailable(cause)

    def _joinable(self, batch: _Batch, loop: asyncio.AbstractEventLoop) -> bool:
        return (
            batch.open
            and batch.broken is None
            and batch.ok + batch.pending < self._max_writes
            and loop.time() - batch.started < self._max_seconds
        )

    async def _wait_for_batch(self, loop: asyncio.AbstractEventLoop) -> _Batch:
        self._seq += 1
        admitted: asyncio.Future[_Batch] = loop.create_future()
        self._waiting.append((self._seq, admitted))
        if self._task is None:
            self._task = loop.create_task(self._drain(), name="kibitz-sqlite-writer")
        try:
            # As long as a pooled connection would be waited for (then 503, via TimeoutError).
            async with asyncio.timeout(WRITE_WAIT_SECONDS):
                return await admitted
        except BaseException:
            # Refused, cancelled or out of time; when admitted meanwhile, leave the batch.
            if admitted.done() and not admitted.cancelled() and admitted.exception() is None:
                admitted.result().leave()
            raise

    async def _take_connection(self, batch: _Batch, loop: asyncio.AbstractEventLoop) -> None:
        if not batch.busy:
            batch.busy = True
            return
        turn: asyncio.Future[None] = loop.create_future()
        batch.waiters.append(turn)
        try:
            async with asyncio.timeout(WRITE_WAIT_SECONDS):
                await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                batch.hand_on()  # it was handed the connection as it left: pass it on
            batch.leave()
            raise

    @staticmethod
    def _end(batch: _Batch, end_savepoint: Callable[[], None]) -> None:
        """Release or roll back a write's savepoint; a failure spoils the whole batch."""
        try:
            end_savepoint()
            # SQLite rolls a whole transaction back on some faults (disk full, I/O error); the
            # driver's COMMIT would then do nothing, silently: never acknowledge such a batch.
            if not getattr(batch.driver, "in_transaction", True):
                raise RuntimeError("SQLite rolled back the batch's transaction")
        except Exception as exc:
            if batch.broken is None:
                batch.broken = exc

    def _start(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Start ``fn`` (which may wait for a lock or the disk) in the writer's thread."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kibitz-sqlite-writer")
        return asyncio.get_running_loop().run_in_executor(self._thread, fn)

    async def _blocking(self, fn: Callable[[], T], future: asyncio.Future[T] | None = None) -> T:
        """Run ``fn`` in the writer's thread (or wait for ``future``, started there already)."""
        if future is None:
            future = self._start(fn)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait([future])  # the connection is the thread's until it is done
            raise

    async def _drain(self) -> None:
        try:
            while self._waiting:
                conn = await self._blocking(self.engine.connect)
                try:
                    while self._waiting and await self._run_batch(conn):
                        pass
                finally:
                    await self._blocking(conn.close)
        except BaseException as exc:
            if isinstance(exc, Exception):
                log.warning("database unavailable: %s", exc.__class__.__name__)
            self._refuse(list(self._waiting), exc)
            self._waiting.clear()
            batch, self._open = self._open, None
            if batch is not None:
                batch.open = False
                batch.broken = batch.broken or exc
                _settle(batch.committed, exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._task = None

    async def _run_batch(self, conn: Connection) -> bool:
        """One transaction for the writes waiting once it has begun and those that join while it is
        open. False when the connection should be given back and a fresh one taken."""
        self._waiting = deque(item for item in self._waiting if not item[1].done())  # cancelled
        if not self._waiting:
            return True
        turns = self._turns
        has_turn = turns is not None and await self._blocking(turns.take)
        try:
            return await self._run_batch_in_turn(conn)
        finally:
            if has_turn:
                assert turns is not None
                turns.give()

    async def _run_batch_in_turn(self, conn: Connection) -> bool:
        queued_before = self._seq
        try:
            trans = await self._blocking(conn.begin)
        except Exception as exc:
            # Another process held the lock past the busy timeout, say. The writes queued before
            # BEGIN waited as long for it; the ones that came since try again in a batch of their own.
            log.warning("database unavailable: %s", exc.__class__.__name__)
            stale = [admitted for seq, admitted in self._waiting if seq <= queued_before]
            self._waiting = deque(item for item in self._waiting if item[0] > queued_before)
            self._refuse(stale, exc)
            return False
        # The batch is whoever waits now, not only who waited before this process's turn came: under
        # several writer processes, writes that queued while the others held the lock go in this
        # COMMIT instead of waiting a whole turn more for the next one.
        taken: list[asyncio.Future[_Batch]] = []
        while self._waiting and len(taken) < self._max_writes:
            _, admitted = self._waiting.popleft()
            if not admitted.done():  # else cancelled while it waited
                taken.append(admitted)
        loop = asyncio.get_running_loop()
        batch = self._open = _Batch(conn, loop, pending=0)
        commit: asyncio.Future[None] | None = None

        def on_close() -> None:
            # Called by the last write of the batch as it leaves: COMMIT at once, in the writer's
            # thread, rather than a round of the event loop later (the writes wait for it; other
            # processes wait for the lock).
            nonlocal commit
            if self._open is batch:
                self._open = None
            if batch.broken is None and batch.ok and getattr(batch.driver, "in_transaction", False):
                commit = self._start(trans.commit)

        batch.on_close = on_close
        for admitted in taken:
            if not admitted.done():
                admitted.set_result(batch)  # they all run in the loop's next round, one by one
                batch.pending += 1
        if not batch.pending:
            batch.close()
        try:
            await asyncio.shield(batch.closed)
            if commit is not None:
                await self._blocking(trans.commit, commit)
            elif batch.broken is not None:
                raise batch.broken
            elif batch.ok:  # the transaction is gone, so would be the COMMIT: never acknowledge that
                raise RuntimeError("SQLite rolled back the batch's transaction")
            else:
                trans.rollback()
        except Exception as exc:
            batch.broken = batch.broken or exc
            batch.close()  # (closed already, unless something unforeseen: then no COMMIT either)
            if self._open is batch:
                self._open = None
            # Nothing of the batch may stay: closing the SQLite connection rolls back whatever is
            # open (SQLAlchemy may have given up on its transaction object already).
            with contextlib.suppress(Exception):
                await self._blocking(conn.invalidate)
            if is_unavailable(exc):
                log.warning("database unavailable: %s; %d writes rolled back", type(exc).__name__, batch.ok)
            else:
                log.error("a batch of %d writes failed and was rolled back", batch.ok, exc_info=exc)
            _settle(batch.committed, exc)
            return False
        if batch.ok and self.generation is not None:
            self.generation.bump()  # durable now: other processes' read caches must look again
        _settle(batch.committed, None)
        if batch.ok:
            self.stats.commits += 1
            self.stats.writes += batch.ok
            self.stats.largest = max(self.stats.largest, batch.ok)
        return True

    @staticmethod
    def _refuse(waiting: list[Any], cause: BaseException) -> None:
        """Answer 503 ``unavailable`` to writes that wait for a batch."""
        for item in waiting:
            admitted = item[1] if isinstance(item, tuple) else item
            _settle(admitted, exc=unavailable(cause))

    async def close(self) -> None:
        """Let the queued writes finish (for a while), stop the writer task, close the connection."""
        task = self._task
        if task is not None:
            await asyncio.wait([task], timeout=10)
            if not task.done():
                task.cancel()
                await asyncio.wait([task])
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self.engine.dispose)
            self._thread.shutdown(wait=False)
            self._thread = None
        else:
            self.engine.dispose()
        if self._turns is not None:
            self._turns.close()
