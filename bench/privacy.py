"""Privacy figures (`python -m bench.privacy`; bench/README.md): how long "Download my data" and "Erase
me" take for a heavy commenter, in process, on SQLite and PostgreSQL (a throwaway database).

Seeds one site with 200 threads; the person has ``--comments`` comments spread over them (every third
one answered by someone else), and ``--votes`` votes on others' comments; 2,000 comments of other
people besides. Then times the export, and the erasure in each mode (a fresh seed each), and prints
the figures. Asserts nothing on time; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.baseline import PG_ADMIN_DSN, database, load_average
from kibitz.config import ErasePolicy, load_settings
from kibitz.context import close_context, open_context
from kibitz.store.schema import comments, subscribers, subscriptions, threads, votes

EMAIL = "heavy@bench.example"
THREADS = 200
OTHERS = 2000


async def seed(ctx: Any, mine: int, voted: int) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    base = {
        "status": "approved",
        "html": "<p>words</p>",
        "text": "words",
        "renderer_version": 2,
        "avatar_key": "0" * 32,
        "site": "bench",
    }
    async with ctx.db.write() as tx:
        conn = tx.conn
        await conn.execute(
            insert(threads),
            [{"site": "bench", "page": f"/p/{i}", "created": now, "count": 0} for i in range(THREADS)],
        )
        thread_ids = [row[0] for row in await conn.execute(threads.select().with_only_columns(threads.c.id))]
        others = [
            {
                **base,
                "thread_id": thread_ids[i % THREADS],
                "author_name": f"Other {i}",
                "reader_id": f"o{i}",
                "created": now + timedelta(seconds=i),
            }
            for i in range(OTHERS)
        ]
        await conn.execute(insert(comments), others)
        heavy = [
            {
                **base,
                "thread_id": thread_ids[i % THREADS],
                "author_name": "Heavy Reader",
                "author_email": EMAIL,
                "reader_id": "rheavy",
                "created": now + timedelta(seconds=OTHERS + i),
            }
            for i in range(mine)
        ]
        await conn.execute(insert(comments), heavy)
        ids = [row[0] for row in await conn.execute(comments.select().with_only_columns(comments.c.id))]
        own, theirs = ids[OTHERS:], ids[:OTHERS]
        replies = [
            {
                **base,
                "thread_id": thread_ids[i % THREADS],
                "author_name": "Replier",
                "reader_id": "rrep",
                "parent_id": own[i],
                "root_id": own[i],
                "depth": 1,
                "created": now + timedelta(days=1),
            }
            for i in range(0, len(own), 3)
        ]
        if replies:
            await conn.execute(insert(comments), replies)
        await conn.execute(
            insert(votes),
            [
                {"comment_id": theirs[i], "reader_id": "rheavy", "value": 1, "created": now}
                for i in range(voted)
            ],
        )
        sub = await conn.execute(
            insert(subscribers).values(site="bench", email=EMAIL, created=now, status="confirmed")
        )
        subscriber_id = sub.inserted_primary_key[0]
        await conn.execute(
            insert(subscriptions),
            [
                {"subscriber_id": subscriber_id, "topic": "thread", "thread_id": t, "created": now}
                for t in thread_ids[:50]
            ],
        )


async def one(engine: str, url: str, mine: int, voted: int, mode: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as where:
        settings = load_settings(
            None,
            env={},
            cwd=Path(where),
            overrides={
                "data_dir": where,
                "database_url": url,
                "sites": [{"id": "bench", "name": "Bench", "origins": ["http://bench.example"]}],
            },
        )
        ctx = await open_context(settings)
        try:
            await seed(ctx, mine, voted)
            site = settings.site("bench")
            assert site is not None
            who = ctx.privacy.identity(site, EMAIL)
            started = time.perf_counter()
            data = await ctx.privacy.export(who)
            exported = time.perf_counter() - started
            assert len(data["comments"]) == mine
            started = time.perf_counter()
            done = await ctx.privacy.erase(who, ErasePolicy(mode))
            erased = time.perf_counter() - started
            assert done.comments == mine
            assert done.votes == voted
        finally:
            await close_context(ctx)
    return {"export_ms": exported * 1000, "erase_ms": erased * 1000}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.privacy", description=__doc__)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--comments", type=int, default=1000)
    parser.add_argument("--votes", type=int, default=500)
    args = parser.parse_args(argv)
    print(f"load average before: {load_average()}; {args.comments} comments, {args.votes} votes")
    print(f"{'engine':<11} {'mode':<10} {'export ms':>10} {'erase ms':>10}")
    for engine in args.engines.split(","):
        for mode in ("anonymise", "remove"):
            with database(engine, PG_ADMIN_DSN) as url:
                if engine == "sqlite":
                    with tempfile.TemporaryDirectory() as where:
                        url = f"sqlite:///{where}/kibitz.db"
                        figures = asyncio.run(one(engine, url, args.comments, args.votes, mode))
                else:
                    figures = asyncio.run(one(engine, url, args.comments, args.votes, mode))
            print(f"{engine:<11} {mode:<10} {figures['export_ms']:>10.1f} {figures['erase_ms']:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
