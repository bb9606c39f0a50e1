"""Oldest-first pages of top-level comments read straight off an index, on both engines: the first
page and a page after a key are planned without sorting the thread (issue 18), so a thread with a
million comments costs what a small one does. The query is the one the store runs, caught as sent."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from kibitz.models import Sort
from kibitz.store.comments import SortKey
from kibitz.store.db import Database
from tests.conftest import Api
from tests.test_threads import moderation, post_series

pytestmark = pytest.mark.anyio


async def _plan(db: Database, thread_id: int, after: SortKey | None) -> str:
    """The database's plan for the store's own oldest-first page query."""
    caught: list[tuple[str, Any]] = []

    def catch(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "ORDER BY" in statement and not statement.startswith("EXPLAIN"):
            caught.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", catch)  # every engine: reads may have their own
    try:
        async with db.read() as tx:
            await tx.comments.top_level(thread_id, Sort.OLDEST, after, 10)
            statement, parameters = caught[-1]
            if db.engine.dialect.name == "sqlite":
                rows = await tx.conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                return "\n".join(str(row[-1]) for row in rows)
            # Make a sort or a whole-table scan as dear as the planner allows: only an index that
            # gives the order avoids both.
            await tx.conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            await tx.conn.exec_driver_sql("SET LOCAL enable_sort = off")
            rows = await tx.conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            return "\n".join(str(row[0]) for row in rows)
    finally:
        event.remove(Engine, "before_cursor_execute", catch)


@pytest.mark.parametrize("pinned", [False, True], ids=["after-unpinned", "after-pinned"])
async def test_oldest_first_pages_read_off_their_index_without_a_sort(api: Api, pinned: bool) -> None:
    """Mutation tried: without ix_comments_top_oldest (migration 0025) both engines sort."""
    ids = await post_series(api, 12)
    site = api.app.state.ctx.settings.site("a")
    assert site is not None
    await moderation(api).act(site, int(ids[3]), "pin", "test")
    db: Database = api.app.state.ctx.db
    async with db.read() as tx:
        thread = await tx.threads.get("a", "/story")
        assert thread is not None
        key_of = await tx.comments.get(int(ids[3] if pinned else ids[6]))
    assert key_of is not None
    key = SortKey(pinned, key_of.score, key_of.created, key_of.id)
    for after in (None, key):
        plan = await _plan(db, thread.id, after)
        assert "ix_comments_top_oldest" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
        assert "Sort" not in plan, plan
