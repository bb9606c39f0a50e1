"""The data of the side-by-side benchmark, for Kibitz and for Isso alike.

- `plan()`: the thread of bench/baseline.py, comment for comment: `/big` with 140 top-level comments
  and 60 replies up to three deep (most under the newest 20), and `/article/01` … `/article/20` with
  1 to 5 comments each. `seed_kibitz` and `seed_isso` post it through each one's HTTP API.
- `bulk_threads()`: big threads for PostgreSQL written straight in SQL (one INSERT … SELECT over
  generate_series per thread), every column as Kibitz's own posting would fill it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bench.baseline import comment_text

BIG_PAGE = "/big"
TOP_LEVEL, REPLIES = 140, 60
COUNT_PAGES = [f"/article/{n:02d}" for n in range(1, 21)]


class SeedError(Exception):
    """Seeding failed or the data read back wrong."""


@dataclass(frozen=True)
class Planned:
    page: str
    parent: int | None  # the index of the parent in the plan
    text: str
    author: str


def plan() -> list[Planned]:
    """The comments in posting order (the same texts and authors as bench/baseline.py posts)."""
    rng = random.Random(2026)
    items: list[Planned] = []

    def add(page: str, parent: int | None = None) -> int:
        text = comment_text(rng, len(items) + 1)
        items.append(Planned(page, parent, text, f"Reader {rng.randint(1, 80)}"))
        return len(items) - 1

    tops = [add(BIG_PAGE) for _ in range(TOP_LEVEL)]
    newest, older = tops[-20:], tops[:-20]
    level1 = [add(BIG_PAGE, p) for p in newest] + [add(BIG_PAGE, rng.choice(older)) for _ in range(20)]
    level2 = [add(BIG_PAGE, rng.choice(level1[:20])) for _ in range(14)]
    level3 = [add(BIG_PAGE, rng.choice(level2)) for _ in range(6)]
    assert len(level1) + len(level2) + len(level3) == REPLIES
    for n, page in enumerate(COUNT_PAGES):
        for _ in range(n % 5 + 1):
            add(page)
    return items


def expected_counts() -> dict[str, int]:
    return {page: n % 5 + 1 for n, page in enumerate(COUNT_PAGES)}


def seed_kibitz(base: str, api: str, origin: str) -> None:
    """Post the plan through Kibitz's API (``api`` is /api/v1/sites/SITE) and read it back."""
    with httpx.Client(base_url=base, headers={"Origin": origin}, timeout=30) as client:
        ids: list[str] = []
        for item in plan():
            body: dict[str, Any] = {"page": item.page, "text": item.text, "author": {"name": item.author}}
            if item.parent is not None:
                body["parent"] = ids[item.parent]
            r = client.post(f"{api}/comments", json=body)
            if r.status_code != 201:
                raise SeedError(f"seeding Kibitz failed: {r.status_code} {r.text[:300]}")
            ids.append(r.json()["comment"]["id"])
        thread = client.get(f"{api}/comments", params={"page": BIG_PAGE}).json()["thread"]
        counts = client.get(f"{api}/counts", params={"page": COUNT_PAGES}).json()["counts"]
    if thread["count"] != TOP_LEVEL + REPLIES or counts != expected_counts():
        raise SeedError(f"Kibitz's seeded data reads back wrong: count {thread['count']}, counts {counts}")


def seed_isso(base: str, origin: str) -> None:
    """Post the plan through Isso's API (its guard must be off) and read it back. Isso keeps one
    level of replies: a reply to a reply is stored under the top-level comment."""
    headers = {"Origin": origin, "Content-Type": "application/json"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        ids: list[int] = []
        for item in plan():
            body: dict[str, Any] = {"text": item.text, "author": item.author, "title": f"Story {item.page}"}
            if item.parent is not None:
                body["parent"] = ids[item.parent]
            r = client.post("/new", params={"uri": item.page}, json=body)
            client.cookies.clear()  # Isso sets an edit cookie per comment: they would pile up
            if r.status_code != 201:
                raise SeedError(f"seeding Isso failed: {r.status_code} {r.text[:300]}")
            ids.append(int(r.json()["id"]))
        total = client.get("/", params={"uri": BIG_PAGE}).json()["total_replies"]
        counts = client.post("/count", json=COUNT_PAGES).json()
    if total != TOP_LEVEL + REPLIES or counts != list(expected_counts().values()):
        raise SeedError(f"Isso's seeded data reads back wrong: total {total}, counts {counts}")


# -- big threads on PostgreSQL ----------------------------------------------------------------------

# Blocks of ten comments, oldest first: seven top-level comments (positions 0-6), a reply to the
# first (7), a reply to that reply (8) and a reply to the second (9). 70 % top-level, depth up to 2.
_PARENT = "CASE pos WHEN 7 THEN first WHEN 8 THEN first + 7 WHEN 9 THEN first + 1 END"
_ROOT = "CASE pos WHEN 7 THEN first WHEN 8 THEN first WHEN 9 THEN first + 1 END"
_PATH = (
    "CASE pos WHEN 7 THEN first::text WHEN 8 THEN first::text || '/' || (first + 7)::text "
    "WHEN 9 THEN (first + 1)::text ELSE '' END"
)
_DEPTH = "CASE pos WHEN 7 THEN 1 WHEN 8 THEN 2 WHEN 9 THEN 1 ELSE 0 END"
_DESCENDANTS = "CASE pos WHEN 0 THEN 2 WHEN 1 THEN 1 WHEN 7 THEN 1 ELSE 0 END"
_SENTENCES = [
    "The council vote on the budget moved faster than the report suggests.",
    "Rents in the city rose again this year; the chart makes the cost plain.",
    "*Worth reading:* [the data](https://example.org/data) behind the transit plan.",
    "The mayor said the school plan would not raise the tax, but the figures disagree.",
    "Good reporting. The source of the housing figure deserves a link, though.",
    "Climate policy and road spending pull the same budget in two directions.",
    "Readers asked for evidence; the reporter added it in an update this week.",
]
_HTML = [
    "The council vote on the budget moved faster than the report suggests.",
    "Rents in the city rose again this year; the chart makes the cost plain.",
    '<em>Worth reading:</em> <a href="https://example.org/data" rel="nofollow ugc noopener noreferrer">'
    "the data</a> behind the transit plan.",
    "The mayor said the school plan would not raise the tax, but the figures disagree.",
    "Good reporting. The source of the housing figure deserves a link, though.",
    "Climate policy and road spending pull the same budget in two directions.",
    "Readers asked for evidence; the reporter added it in an update this week.",
]


def _array(values: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _insert_comments(renderer_version: int) -> str:
    """$1 thread id, $2 the id before the first comment, $3 how many (a multiple of 10), $4 the time of
    the first; a comment every 150 ms (a million span two days), ids in time order."""
    text = f"'Comment ' || i || '. ' || ({_array(_SENTENCES)})[1 + i % {len(_SENTENCES)}]"
    html = f"'<p>Comment ' || i || '. ' || ({_array(_HTML)})[1 + i % {len(_HTML)}] || E'</p>\\n'"
    columns = (
        "id, thread_id, parent_id, root_id, path, depth, status, deleted, text, html, renderer_version, "
        "author_name, author_email, author_url, avatar_key, reader_id, client_net, created, score, up, "
        "down, pinned, visible_descendants"
    )
    # Built from this module's constants only; the values are bind parameters.
    return f"""
        INSERT INTO comments ({columns})
        SELECT $2::bigint + 1 + i, $1::bigint, {_PARENT}, {_ROOT}, {_PATH}, {_DEPTH}, 'approved', false,
               {text}, {html},
               {renderer_version}, 'Reader ' || (i % 997), '', '', md5('reader ' || (i % 997)),
               'bench-' || (i % 997), '', $4::timestamptz + i * interval '150 milliseconds', (i * 7) % 13,
               (i * 7) % 13, 0, false, {_DESCENDANTS}
        FROM (SELECT i, i % 10 AS pos, $2::bigint + 1 + i - i % 10 AS first
              FROM generate_series(0, $3::int - 1) AS i) AS g
    """  # noqa: S608


@dataclass(frozen=True)
class BulkThread:
    page: str
    comments: int
    thread_id: int


async def bulk_threads(dsn: str, site: str, sizes: dict[str, int]) -> tuple[list[BulkThread], float]:
    """Write one thread per page with that many comments into a migrated, otherwise idle database;
    returns the threads and the seconds it took (ANALYZE included).

    For speed, in one transaction: foreign-key triggers off for it (session_replication_role =
    replica; the ids are made consistent here), the comments' secondary indexes dropped and rebuilt
    after the inserts from their own definitions, and no synchronous commit."""
    import asyncpg

    from kibitz.markup import RENDERER_VERSION

    started = time.monotonic()
    conn = await asyncpg.connect(dsn)
    made: list[BulkThread] = []
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute("SET LOCAL synchronous_commit = off")
            await conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
            indexes = await conn.fetch(
                """SELECT i.indexname, i.indexdef FROM pg_indexes i
                   WHERE i.schemaname = current_schema() AND i.tablename = 'comments'
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"""
            )
            for row in indexes:
                await conn.execute(f'DROP INDEX "{row["indexname"]}"')
            created = await conn.fetchval("SELECT now() - interval '3 days'")
            insert = _insert_comments(RENDERER_VERSION)
            for page, n in sizes.items():
                if n % 10:
                    raise SeedError(f"a bulk thread needs a multiple of 10 comments, not {n}")
                thread_id = await conn.fetchval(
                    """INSERT INTO threads (site, page, title, url, closed, count, version, created)
                       VALUES ($1, $2, $3, '', false, $4, $5, $6) RETURNING id""",
                    site,
                    page,
                    f"Story with {n:,} comments",
                    n,
                    n,
                    created,
                )
                before = await conn.fetchval("SELECT coalesce(max(id), 0) FROM comments")
                await conn.execute(insert, thread_id, before, n, created)
                made.append(BulkThread(page, n, thread_id))
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('comments', 'id'), (SELECT max(id) FROM comments))"
            )
            for row in indexes:
                await conn.execute(row["indexdef"])
        await conn.execute("ANALYZE comments")
        await conn.execute("ANALYZE threads")
    finally:
        await conn.close()
    return made, time.monotonic() - started


# -- the page queries, explained --------------------------------------------------------------------


class _Capture:
    """Stands in for a connection: keeps the statements Kibitz's CommentRepo builds."""

    def __init__(self) -> None:
        self.statements: list[Any] = []

    async def execute(self, statement: Any) -> list[Any]:
        self.statements.append(statement)
        return []


class _Tx:
    def __init__(self) -> None:
        self.conn = _Capture()


def _sql(statement: Any) -> str:
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    compiled = statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return str(compiled)


@dataclass(frozen=True)
class Explained:
    query: str  # "top-level" | "replies"
    sql: str
    execution_ms: float
    plan: str


async def explain_first_page(dsn: str, thread_id: int, limit: int) -> list[Explained]:
    """EXPLAIN ANALYZE of the two queries behind the first page of a thread (newest first): the page
    of top-level comments and the replies under them, as kibitz/store/comments.py builds them."""
    import asyncpg

    from kibitz.models import Sort
    from kibitz.store.comments import CommentRepo

    tx = _Tx()
    repo = CommentRepo(tx)  # type: ignore[arg-type]  # only .conn.execute is used
    await repo.top_level(thread_id, Sort.NEWEST, None, limit + 1)
    top_sql = _sql(tx.conn.statements[-1])
    conn = await asyncpg.connect(dsn)
    try:
        ids = [row["id"] for row in await conn.fetch(top_sql)][:limit]
        await repo.descendants(ids or [0])
        replies_sql = _sql(tx.conn.statements[-1])
        out: list[Explained] = []
        for name, sql in (("top-level", top_sql), ("replies", replies_sql)):
            await conn.fetch(sql)  # warm the cache: the figure is a warm read, as under load
            lines = [r[0] for r in await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")]
            ms = next((float(x.split(":")[1].split()[0]) for x in lines if x.startswith("Execution Time")), 0)
            out.append(Explained(name, sql, ms, "\n".join(lines)))
        return out
    finally:
        await conn.close()
