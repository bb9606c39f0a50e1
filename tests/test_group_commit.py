"""SQLite group commit (kibitz/store/db.py): concurrent writes of one process share one transaction,
each in its own savepoint, and one COMMIT; each block returns only after that COMMIT."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from kibitz import errors
from kibitz.config import Settings
from kibitz.migrate import upgrade
from kibitz.store import db as db_module
from kibitz.store import group_commit
from kibitz.store.db import Database
from tests.conftest import FakeClock, make_settings, open_api

pytestmark = pytest.mark.anyio

INSERT = text("INSERT INTO gc_rows (writer) VALUES (:w)")
TABLES = (
    "CREATE TABLE gc_rows (writer TEXT PRIMARY KEY)",
    "CREATE TABLE gc_parent (id INTEGER PRIMARY KEY)",
    "CREATE TABLE gc_child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES gc_parent (id))",
)


class Commits:
    """Counts the COMMITs SQLAlchemy sends on the writer engine."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        assert db._group is not None
        event.listen(db._group.engine, "commit", self._on_commit)

    def _on_commit(self, _conn: Any) -> None:
        self.count += 1


class Env:
    def __init__(self, db: Database, path: Path) -> None:
        self.db = db
        self.path = path
        self.commits = Commits(db)

    def rows(self) -> set[str]:
        """What another connection sees: committed rows only."""
        conn = sqlite3.connect(self.path)
        try:
            return {row[0] for row in conn.execute("SELECT writer FROM gc_rows")}
        finally:
            conn.close()

    def turn_files_exist(self) -> bool:
        return all(Path(f"{self.path}.{name}").exists() for name in ("write-turnstile", "write-turn"))

    async def insert(self, *names: str) -> None:
        async with self.db.write() as tx:
            for name in names:
                await tx.conn.execute(INSERT, {"w": name})


async def open_env(tmp_path: Path, **options: Any) -> AsyncIterator[Env]:
    settings = make_settings(tmp_path, "sqlite:///gc.db")
    db = Database(settings.sqlalchemy_url, **options)
    try:
        await upgrade(db, settings)
        async with db.raw() as conn:
            for ddl in TABLES:
                await conn.execute(text(ddl))
            await conn.commit()
        yield Env(db, settings.data_dir / "gc.db")
    finally:
        await db.dispose()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    """Caps out of reach, so the writes a test starts together always form one batch."""
    async for item in open_env(tmp_path, batch_writes=10_000, batch_seconds=3600.0):
        yield item


async def gather(*calls: Awaitable[Any]) -> list[Any]:
    return await asyncio.gather(*calls, return_exceptions=True)


# -- batching ----------------------------------------------------------------------------------------


async def test_concurrent_writes_share_one_commit_and_each_returns_after_it(env: Env) -> None:
    seen_on_return: dict[str, bool] = {}

    async def writer(name: str) -> None:
        await env.insert(name)
        seen_on_return[name] = name in env.rows()  # durable before the block returned

    names = [f"w{i}" for i in range(50)]
    stats = env.db.group_commit
    assert stats is not None
    # The migrations' own writes (the re-render check after them) are counted before.
    commits, writes = stats.commits, stats.writes
    assert await gather(*(writer(n) for n in names)) == [None] * 50
    assert env.rows() == set(names)
    assert seen_on_return == dict.fromkeys(names, True)
    assert env.commits.count == 1
    assert (stats.commits - commits, stats.writes - writes, stats.largest) == (1, 50, 50)


async def test_a_lone_write_commits_at_once_without_waiting_for_a_batch(env: Env) -> None:
    # The caps are out of reach: only "nobody else is queued" can end these batches.
    for i in range(3):
        await env.insert(f"alone{i}")
        assert f"alone{i}" in env.rows()
    assert env.commits.count == 3


async def test_writes_later_in_a_batch_see_what_earlier_ones_wrote(env: Env) -> None:
    """Members run one at a time on the one connection: a counter bumped by each stays exact."""
    await env.insert("counter-0")

    async def bump() -> int:
        async with env.db.write() as tx:
            value = (await tx.conn.execute(text("SELECT count(*) FROM gc_rows"))).scalar_one()
            await tx.conn.execute(INSERT, {"w": f"counter-{value}"})
            return int(value)

    values = await gather(*(bump() for _ in range(20)))
    assert sorted(values) == list(range(1, 21))
    assert env.rows() == {f"counter-{i}" for i in range(21)}


async def test_many_concurrent_posts_through_the_api_commit_in_fewer_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The time cap out of reach, so a slow machine still batches; the write cap stays at its default.
    monkeypatch.setattr(group_commit, "BATCH_MAX_SECONDS", 3600.0)
    settings: Settings = make_settings(tmp_path, "sqlite:///kibitz.db")
    async for api in open_api(settings, FakeClock()):
        db: Database = api.app.state.ctx.db
        stats = db.group_commit
        assert stats is not None
        before = stats.commits
        answers = await gather(*(api.post(text=f"Spike {i}") for i in range(50)))
        assert [r.status_code for r in answers] == [201] * 50
        assert stats.commits - before < 50
        thread = await api.thread(limit=100)
        assert thread["thread"]["count"] == 50
        assert len(thread["comments"]) == 50
        assert len({c["id"] for c in thread["comments"]}) == 50


async def test_two_handles_on_one_file_take_turns_and_lose_nothing(tmp_path: Path) -> None:
    """As two worker processes would: each batches its own writes, they take turns on the file."""
    async for env in open_env(tmp_path):
        other = Database(env.db.url)
        try:

            async def writer(db: Database, name: str) -> None:
                async with db.write() as tx:
                    await tx.conn.execute(INSERT, {"w": name})
                    await tx.conn.execute(text("UPDATE gc_parent SET id = id + 1"))

            async with env.db.write() as tx:
                await tx.conn.execute(text("INSERT INTO gc_parent (id) VALUES (0)"))
            names = [f"a{i}" for i in range(30)] + [f"b{i}" for i in range(30)]
            dbs = [env.db] * 30 + [other] * 30
            assert await gather(*(writer(db, n) for db, n in zip(dbs, names, strict=True))) == [None] * 60
            assert env.rows() == set(names)
            async with other.read() as tx:
                assert (await tx.conn.execute(text("SELECT id FROM gc_parent"))).scalar_one() == 60
            assert env.turn_files_exist()
        finally:
            await other.dispose()


async def test_writes_that_queue_while_another_process_has_the_turn_share_the_next_commit(
    env: Env,
) -> None:
    """A batch is made of the writes waiting once this process's turn has come, so writes that
    queued while another process held the lock need one COMMIT, not one turn each.

    Mutation tried: taking the batch's writes before waiting for the turn (as it was) commits the
    first write alone and the other five in a second batch."""
    stats = env.db.group_commit
    assert stats is not None
    other = group_commit.WriterTurns(str(env.path), timeout=30.0)  # as another process would
    assert other.take()
    try:
        commits, writes = stats.commits, stats.writes
        first = asyncio.ensure_future(env.insert("first"))
        await until(lambda: turnstile_taken(env.path), "the writer waits for its turn")
        rest = [asyncio.ensure_future(env.insert(f"w{i}")) for i in range(5)]
        await asyncio.sleep(0)  # they queue (their blocks cannot run: the batch has not begun)
    finally:
        other.give()
        other.close()
    assert await gather(first, *rest) == [None] * 6
    assert (stats.commits - commits, stats.writes - writes) == (1, 6)


def turnstile_taken(path: Path) -> bool:
    """Whether a writer holds the turnstile: it does while it waits for the turn."""
    import fcntl
    import os

    fd = os.open(f"{path}.write-turnstile", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1000):  # polling a condition, bounded (10 s)
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting until {what}")


# -- failures ----------------------------------------------------------------------------------------


async def test_a_write_that_raises_in_the_middle_of_a_batch_is_rolled_back_alone(env: Env) -> None:
    async def writer(i: int) -> None:
        async with env.db.write() as tx:
            await tx.conn.execute(INSERT, {"w": f"w{i}"})
            if i == 5:
                raise ValueError("boom")

    results = await gather(*(writer(i) for i in range(10)))
    assert isinstance(results[5], ValueError)
    assert results[:5] + results[6:] == [None] * 9
    assert env.rows() == {f"w{i}" for i in range(10) if i != 5}
    assert env.commits.count == 1


async def test_a_failing_first_write_does_not_take_the_others_down(env: Env) -> None:
    async def writer(i: int) -> None:
        async with env.db.write() as tx:
            await tx.conn.execute(INSERT, {"w": f"w{i}"})
            if i == 0:
                raise errors.ThreadClosed()

    results = await gather(*(writer(i) for i in range(5)))
    assert isinstance(results[0], errors.ThreadClosed)
    assert results[1:] == [None] * 4
    assert env.rows() == {"w1", "w2", "w3", "w4"}


async def test_a_constraint_violation_reaches_its_writer_only(env: Env) -> None:
    """As for an idempotency key's twin: the IntegrityError goes to the one writer that hit it."""
    await env.insert("taken")
    results = await gather(env.insert("a"), env.insert("b", "taken"), env.insert("c"))
    assert results[0] is None
    assert isinstance(results[1], IntegrityError)
    assert results[2] is None
    assert env.rows() == {"taken", "a", "c"}


async def test_a_failed_commit_fails_every_write_of_the_batch_and_keeps_none(env: Env) -> None:
    """A deferred foreign key makes the COMMIT itself fail, after every block succeeded."""

    async def writer(i: int) -> None:
        async with env.db.write() as tx:
            await tx.conn.execute(INSERT, {"w": f"w{i}"})
            if i == 3:
                await tx.conn.execute(text("PRAGMA defer_foreign_keys = ON"))
                await tx.conn.execute(text("INSERT INTO gc_child (id, parent_id) VALUES (1, 999)"))

    results = await gather(*(writer(i) for i in range(8)))
    assert all(isinstance(r, errors.Unavailable) for r in results), results
    assert env.rows() == set()
    # The writer connection was replaced: the next writes go through.
    await gather(env.insert("after-1"), env.insert("after-2"))
    assert env.rows() == {"after-1", "after-2"}


async def test_a_transaction_sqlite_rolled_back_on_its_own_is_never_acknowledged(env: Env) -> None:
    """SQLite ends a transaction by itself on some faults (I/O error, disk full) and the driver's
    COMMIT then does nothing, silently. ``INSERT OR ROLLBACK`` does the same on demand; the writer
    catches the error and carries on, as code that swallowed such a fault would."""
    await env.insert("taken")

    async def swallows() -> None:
        async with env.db.write() as tx:
            await tx.conn.execute(INSERT, {"w": "lost"})
            with pytest.raises(IntegrityError):
                await tx.conn.execute(text("INSERT OR ROLLBACK INTO gc_rows (writer) VALUES ('taken')"))

    results = await gather(swallows(), env.insert("next"))
    assert isinstance(results[0], errors.Unavailable)
    assert results[1] is None
    assert env.rows() == {"taken", "next"}


async def test_writes_queued_behind_a_foreign_lock_answer_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    async for env in open_env(tmp_path):
        blocker = sqlite3.connect(env.path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            results = await gather(*(env.insert(f"w{i}") for i in range(3)))
        finally:
            blocker.rollback()
            blocker.close()
        assert all(isinstance(r, errors.Unavailable) for r in results), results
        await env.insert("after")
        assert env.rows() == {"after"}


async def test_a_write_inside_a_write_raises_instead_of_waiting_for_itself(env: Env) -> None:
    async def nested() -> None:
        async with env.db.write() as tx:
            await tx.conn.execute(INSERT, {"w": "outer"})
            await env.insert("inner")

    with pytest.raises(RuntimeError, match=r"inside a db\.write"):
        await nested()
    await env.insert("after")
    assert env.rows() == {"after"}


# -- cancellation ------------------------------------------------------------------------------------


def spawn(call: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
    async def run() -> None:
        await call()

    return asyncio.create_task(run())


async def test_a_write_cancelled_while_queued_leaves_the_batch_alone(env: Env) -> None:
    inside, release = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with env.db.write() as tx:
            await tx.conn.execute(INSERT, {"w": "first"})
            inside.set()
            await release.wait()

    tasks = [spawn(first), spawn(lambda: env.insert("queued")), spawn(lambda: env.insert("last"))]
    await inside.wait()
    tasks[1].cancel()
    release.set()
    results = await gather(*tasks)
    assert results[0] is None
    assert isinstance(results[1], asyncio.CancelledError)
    assert results[2] is None
    assert env.rows() == {"first", "last"}
    assert env.commits.count == 1


async def test_a_write_cancelled_inside_its_block_is_rolled_back_alone(env: Env) -> None:
    """A client that goes away while its write runs: its savepoint is rolled back, the batch
    commits the others (a statement itself never awaits, so it cannot be cut short)."""
    inside = asyncio.Event()

    async def cancelled() -> None:
        async with env.db.write() as tx:
            await tx.conn.execute(INSERT, {"w": "cancelled-1"})
            await tx.conn.execute(INSERT, {"w": "cancelled-2"})
            inside.set()
            await asyncio.Event().wait()  # never set: waits for the cancellation

    tasks = [spawn(lambda: env.insert("before")), spawn(cancelled), spawn(lambda: env.insert("after"))]
    await inside.wait()
    tasks[1].cancel()
    results = await gather(*tasks)
    assert isinstance(results[1], asyncio.CancelledError)
    assert [results[0], results[2]] == [None, None]
    assert env.rows() == {"before", "after"}
    assert env.commits.count == 1


async def test_a_write_cancelled_while_waiting_for_the_commit_is_still_committed(env: Env) -> None:
    """Its block succeeded: its work commits with the batch, as when a client leaves after a COMMIT."""
    second_inside, release = asyncio.Event(), asyncio.Event()

    async def second() -> None:
        async with env.db.write() as tx:
            await tx.conn.execute(INSERT, {"w": "second"})
            second_inside.set()
            await release.wait()

    tasks = [spawn(lambda: env.insert("first")), spawn(second)]
    await second_inside.wait()  # the first block is over: its writer waits for the COMMIT
    tasks[0].cancel()
    release.set()
    results = await gather(*tasks)
    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1] is None
    assert env.rows() == {"first", "second"}
    assert env.commits.count == 1


async def test_postgresql_has_no_group_commit() -> None:
    db = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        assert db.group_commit is None
    finally:
        await db.dispose()
