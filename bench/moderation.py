"""Moderation figures (`scripts/bench moderation`; bench/README.md).

For SQLite and PostgreSQL (a throwaway database): 100,000 pending comments of one site written in
bulk SQL, then `kibitz serve --workers 2` and wrk on the moderation queue's first page and on its
second page (the cursor of the first answer), with a `moderate` API key; then approving comments one
at a time and 10 at once, each approval timed. Last, the public thread read of bench/baseline.py
(`thread-200`) on SQLite against the code before moderation (a git worktree at 70792a4) and the
working tree, in alternating rounds, and the ratio of their req/s. Prints the figures; asserts
nothing on time. Loopback only; every load is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode

import httpx

from bench import wrk
from bench.baseline import (
    API,
    BIG_PAGE,
    ORIGIN,
    PG_ADMIN_DSN,
    SITE,
    BenchError,
    database,
    git_revision,
    load_average,
    say,
    write_config,
)
from bench.baseline import seed as seed_thread
from bench.seed import _HTML, _SENTENCES
from bench.server import Server, ServerError, clean_environment, free_port
from bench.spike import (
    Contestant,
    Measure,
    Summary,
    fmt,
    grid,
    measure,
    migrate,
    probe,
    ratio,
    summarise,
)

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("sqlite", "postgresql")
PARTS = ("queue", "approve", "thread")
WORKERS = 2
BEFORE = "70792a4"  # the last commit before moderation (migration 0005 came after it)
ADMIN = "/api/v1/admin"
QUEUE_LIMIT = 50  # the admin's page size (the API's default)
AUTHORS = 997  # distinct authors of the seeded comments
SPACING_MS = 250  # between two seeded comments: 100,000 span about 7 hours
TARGET_RATIO = 0.95  # the public thread read after moderation keeps at least 95 % of its req/s
TIMED_LIMIT_S = 180  # a run of timed requests stops after this long, whatever is left
ONE_CLIENT_READS = 200  # queue pages read one after the other, as one moderator would
# The widget's thread read (bench/spike.py sends the same): fetch(..., {cache: "no-cache"}).
READ_HEADERS = {
    "Accept": "*/*",
    "Accept-Encoding": "gzip, deflate, br",
    "Origin": ORIGIN,
    "Cache-Control": "max-age=0",
}
THREAD_PATH = f"{API}/comments?{urlencode({'page': BIG_PAGE})}"


def queue_path(cursor: str | None = None, limit: int = QUEUE_LIMIT) -> str:
    query = {"status": "pending", "limit": str(limit)}
    if cursor:
        query["cursor"] = cursor
    return f"{ADMIN}/sites/{SITE}/queue?{urlencode(query)}"


# -- bulk seeding ----------------------------------------------------------------------------------


def _case(values: Sequence[str], expr: str) -> str:
    """CASE over ``values`` picked by ``expr`` modulo their number (SQL both engines read)."""
    quoted = ["'" + v.replace("'", "''") + "'" for v in values]
    whens = " ".join(f"WHEN {n} THEN {q}" for n, q in enumerate(quoted))
    return f"(CASE ({expr}) % {len(values)} {whens} END)"


# Every column without a default, and site and reasons; the rest (parent_id and root_id NULL, path '',
# depth 0, not deleted, no votes, no pins) take the schema's defaults, as a new top-level post has them.
_COLUMNS = (
    "thread_id, status, text, html, renderer_version, author_name, author_email, avatar_key, reader_id, "
    "created, site, reasons"
)


def insert_comments(engine: str, renderer_version: int) -> str:
    """The comments' INSERT … SELECT: comment i of n (oldest first) on thread ``first + i % pages``,
    top-level, pending, held by `moderation = "all"` as a post would be, a comment every 250 ms.
    SQLite takes :first, :pages, :site, :n, :base (naive UTC text); PostgreSQL $1 site, $2 first,
    $3 pages, $4 base, $5 n."""
    text = f"'Comment ' || i || '. ' || {_case(_SENTENCES, 'i')}"
    author = f"(i % {AUTHORS})"
    if engine == "sqlite":
        html = f"'<p>Comment ' || i || '. ' || {_case(_HTML, 'i')} || '</p>' || char(10)"
        # SQLAlchemy's SQLite text form of a datetime: 'YYYY-MM-DD HH:MM:SS.ffffff'.
        created = (
            f"strftime('%Y-%m-%d %H:%M:%S', :base, '+' || ((i * {SPACING_MS}) / 1000) || ' seconds') "
            f"|| printf('.%06d', ((i * {SPACING_MS}) % 1000) * 1000)"
        )
        thread, site = ":first + i % :pages", ":site"
        head = "WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < :n - 1) "
        source = "g"
    else:
        html = f"'<p>Comment ' || i || '. ' || {_case(_HTML, 'i')} || E'</p>\\n'"
        created = f"$4::timestamptz + i * interval '{SPACING_MS} milliseconds'"
        thread, site = "$2::bigint + i % $3::int", "$1::text"
        head, source = "", "generate_series(0, $5::int - 1) AS g(i)"
    values = (
        f"{thread}, 'pending', {text}, {html}, {renderer_version}, 'Reader ' || {author}, "
        f"'reader' || {author} || '@example.org', 'bench-' || {author}, 'bench-' || {author}, {created}, "
        f"{site}, 'moderation_all'"
    )
    # Built from this module's constants only; the values are bind parameters.
    return f"INSERT INTO comments ({_COLUMNS}) {head}SELECT {values} FROM {source}"  # noqa: S608


@dataclass(frozen=True)
class Seeded:
    pending: int
    pages: int
    seconds: float


def seed_sqlite(path: Path, pending: int, pages: int) -> Seeded:
    """``pages`` threads and ``pending`` pending comments spread over them, in one transaction."""
    from kibitz.markup import RENDERER_VERSION

    started = time.monotonic()
    base = datetime.now(UTC) - timedelta(hours=1, milliseconds=pending * SPACING_MS)
    conn = sqlite3.connect(path, timeout=30)
    try:
        with conn:
            conn.execute(
                """INSERT INTO threads (site, page, title, url, closed, count, version, created)
                   WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :pages)
                   SELECT :site, '/queue/' || printf('%04d', n), 'Story ' || n, '', 0, 0, 0, :created
                   FROM g""",
                {
                    "site": SITE,
                    "pages": pages,
                    "created": (base - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S.%f"),
                },
            )
            first, last = conn.execute(
                "SELECT min(id), max(id) FROM threads WHERE site = ? AND page LIKE '/queue/%'", (SITE,)
            ).fetchone()
            if last - first + 1 != pages:
                raise BenchError(f"the {pages} seeded threads did not get consecutive ids ({first}..{last})")
            conn.execute(
                insert_comments("sqlite", RENDERER_VERSION),
                {
                    "first": first,
                    "pages": pages,
                    "site": SITE,
                    "n": pending,
                    "base": base.strftime("%Y-%m-%d %H:%M:%S"),
                },
            )
        (found,) = conn.execute(
            "SELECT count(*) FROM comments WHERE site = ? AND status = 'pending'", (SITE,)
        ).fetchone()
    finally:
        conn.close()
    if found != pending:
        raise BenchError(f"seeded {found} pending comments, not {pending}")
    return Seeded(pending, pages, time.monotonic() - started)


async def seed_postgresql(dsn: str, pending: int, pages: int) -> Seeded:
    """As seed_sqlite, then ANALYZE (autovacuum would, some time after a load like this)."""
    import asyncpg

    from kibitz.markup import RENDERER_VERSION

    started = time.monotonic()
    base = datetime.now(UTC) - timedelta(hours=1, milliseconds=pending * SPACING_MS)
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(
                """INSERT INTO threads (site, page, title, url, closed, count, version, created)
                   SELECT $1::text, '/queue/' || lpad(n::text, 4, '0'), 'Story ' || n, '', false, 0, 0, $3
                   FROM generate_series(1, $2::int) AS n""",
                SITE,
                pages,
                base - timedelta(days=1),
            )
            row = await conn.fetchrow(
                "SELECT min(id) AS first, max(id) AS last FROM threads "
                "WHERE site = $1 AND page LIKE '/queue/%'",
                SITE,
            )
            first, last = int(row["first"]), int(row["last"])
            if last - first + 1 != pages:
                raise BenchError(f"the {pages} seeded threads did not get consecutive ids ({first}..{last})")
            await conn.execute(
                insert_comments("postgresql", RENDERER_VERSION),
                SITE,
                first,
                pages,
                base,
                pending,
            )
        await conn.execute("ANALYZE comments")
        await conn.execute("ANALYZE threads")
        found = await conn.fetchval(
            "SELECT count(*) FROM comments WHERE site = $1 AND status = 'pending'", SITE
        )
    finally:
        await conn.close()
    if found != pending:
        raise BenchError(f"seeded {found} pending comments, not {pending}")
    return Seeded(pending, pages, time.monotonic() - started)


def count_pending(engine: str, url: str, sqlite_file: Path) -> int:
    if engine == "sqlite":
        conn = sqlite3.connect(sqlite_file, timeout=30)
        try:
            (n,) = conn.execute(
                "SELECT count(*) FROM comments WHERE site = ? AND status = 'pending'", (SITE,)
            ).fetchone()
            return int(n)
        finally:
            conn.close()

    async def pg() -> int:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM comments WHERE site = $1 AND status = 'pending'", SITE
                )
            )
        finally:
            await conn.close()

    return asyncio.run(pg())


# -- the API key -----------------------------------------------------------------------------------


def create_key(config: Path) -> tuple[str, str]:
    """A `moderate` key for the site: (its secret, how it was made). `kibitz apikey create` when the
    command exists, else kibitz.apikeys in this process (what the command does)."""
    exe = Path(sys.executable).parent / "kibitz"
    command = [str(exe), "apikey", "create", "--site", SITE, "--scope", "moderate", "--config", str(config)]
    done = subprocess.run(
        [*command, "--name", "bench"],
        capture_output=True,
        text=True,
        env=clean_environment(),
        cwd=config.parent,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:  # perhaps without --name
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=clean_environment(),
            cwd=config.parent,
            timeout=120,
            check=False,
        )
    found = re.search(r"\bkbz_[A-Za-z0-9_-]{20,}", done.stdout + "\n" + done.stderr)
    if done.returncode == 0 and found:
        return found[0], "kibitz apikey create"
    why = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no key in its output"]
    secret = asyncio.run(_key_in_process(config))
    return secret, f"kibitz.apikeys in the bench process (kibitz apikey create: {why[0][:120]})"


async def _key_in_process(config: Path) -> str:
    from kibitz.apikeys import ApiKeys
    from kibitz.config import load_settings
    from kibitz.store.db import Database

    settings = load_settings(config, env=clean_environment(), cwd=config.parent)
    db = Database(settings.sqlalchemy_url)
    try:
        _, secret = await ApiKeys(db, lambda: datetime.now(UTC)).create(SITE, "moderate", "bench", "bench")
    finally:
        await db.dispose()
    return secret


# -- timed requests (approvals, one moderator's queue reads) --------------------------------------

Check = Callable[[int, bytes], str]  # "" when an answer is right, else what is wrong with it


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: bytes | None = None


@dataclass
class Timings:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)  # every answer's status
    socket_errors: int = 0
    wrong: int = 0  # 2xx answers that did not say what they should
    first_error: str = ""
    seconds: float = 0.0
    stopped_early: bool = False
    cpu_seconds: float = 0.0


def is_approved(status: int, raw: bytes) -> str:
    if status != 200:
        return f"{status}: {raw[:300].decode(errors='replace')}"
    try:
        ok = json.loads(raw)["comment"]["status"] == "approved"
    except (ValueError, KeyError, TypeError):
        ok = False
    return "" if ok else f"200 but not approved: {raw[:300]!r}"


def is_queue_page(status: int, raw: bytes) -> str:
    if status != 200:
        return f"{status}: {raw[:300].decode(errors='replace')}"
    return (
        "" if raw.count(b'"status":"pending"') >= QUEUE_LIMIT else f"200 but not a full page: {raw[:300]!r}"
    )


def timed(
    port: int, calls: Sequence[Call], headers: dict[str, str], concurrency: int, limit_s: float, check: Check
) -> Timings:
    """Every call once, over ``concurrency`` keep-alive connections (http.client, a thread each)
    taking the next call in turn; each timed from sending it to its answer's last byte. Stops
    taking new calls after ``limit_s``."""
    out = Timings()
    lock = threading.Lock()
    todo = iter(calls)
    deadline = time.monotonic() + limit_s

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while True:
                with lock:
                    if time.monotonic() > deadline:
                        out.stopped_early = True
                        return
                    call = next(todo, None)
                if call is None:
                    return
                try:
                    started = time.perf_counter()
                    conn.request(call.method, call.path, body=call.body, headers=headers)
                    response = conn.getresponse()
                    raw = response.read()
                    ms = (time.perf_counter() - started) * 1000
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    with lock:
                        out.socket_errors += 1
                        out.first_error = out.first_error or f"{type(exc).__name__}: {exc}"
                    continue
                problem = check(response.status, raw)
                with lock:
                    out.latencies_ms.append(ms)
                    out.statuses[str(response.status)] += 1
                    if problem and 200 <= response.status < 300:
                        out.wrong += 1
                    out.first_error = out.first_error or problem
        finally:
            conn.close()

    started = time.monotonic()
    workers = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(limit_s + 60)
    out.seconds = time.monotonic() - started
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


# -- one engine: queue and approvals ----------------------------------------------------------------


@dataclass
class Figure:
    what: str
    count: int  # requests answered (wrk) or approvals sent
    per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    cpu_ms_per_request: float
    statuses: dict[str, int] = field(default_factory=dict)
    first_error: str = ""
    note: str = ""
    latency_distribution: dict[str, str] = field(default_factory=dict)


@dataclass
class EngineRun:
    engine: str
    seeded: Seeded | None = None
    key_from: str = ""
    checks: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    pending_after: int | None = None
    pending_expected: int | None = None


def _get(client: httpx.Client, path: str) -> dict[str, Any]:
    r = client.get(path)
    if r.status_code != 200:
        raise BenchError(f"GET {path} answered {r.status_code}: {r.text[:300]}")
    data: dict[str, Any] = r.json()
    return data


def smoke(base: str, secret: str, run: EngineRun) -> tuple[str, list[str]]:
    """Through the API: `moderation = "all"` set with the key, one post held (202) and rejected, the
    first two queue pages read back. Returns the second page's path and the ids of the queue, newest
    first, enough for the approvals."""
    auth = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=base, headers=auth, timeout=60) as client:
        r = client.put(f"{ADMIN}/sites/{SITE}/settings", json={"moderation": "all"})
        if r.status_code != 200:
            raise BenchError(f"PUT settings answered {r.status_code}: {r.text[:300]}")
        r = httpx.post(
            f"{base}{API}/comments",
            json={"page": "/held", "text": "Held for a moderator.", "author": {"name": "Bench"}},
            headers={"Origin": ORIGIN},
            timeout=60,
        )
        if r.status_code != 202:
            raise BenchError(
                f"a post under moderation = all answered {r.status_code}, not 202: {r.text[:300]}"
            )
        held = r.json()["comment"]["id"]
        r = client.post(f"{ADMIN}/comments/{held}/moderate", json={"action": "reject"})
        if r.status_code != 200:
            raise BenchError(f"rejecting the held post answered {r.status_code}: {r.text[:300]}")
        run.checks.append("moderation = all set through the API; a post answered 202 (held), then rejected")
        first = client.get(queue_path())
        page1 = first.json() if first.status_code == 200 else {}
        if first.status_code != 200 or len(page1.get("items", ())) != QUEUE_LIMIT or not page1.get("next"):
            raise BenchError(f"the queue's first page answered {first.status_code}: {first.text[:300]}")
        second_path = queue_path(page1["next"])
        second = client.get(second_path)
        page2 = second.json() if second.status_code == 200 else {}
        if second.status_code != 200 or len(page2.get("items", ())) != QUEUE_LIMIT:
            raise BenchError(f"the queue's second page answered {second.status_code}: {second.text[:300]}")
        ids1 = [item["id"] for item in page1["items"]]
        ids2 = [item["id"] for item in page2["items"]]
        if set(ids1) & set(ids2) or any(item.get("status") != "pending" for item in page1["items"]):
            raise BenchError("the queue's pages overlap or hold comments that are not pending")
        if max(int(i) for i in ids2) >= min(int(i) for i in ids1):
            raise BenchError("the queue's second page is not older than its first")
        run.checks.append(
            f"queue: first page {len(first.content):,} bytes, second {len(second.content):,} bytes "
            f"({QUEUE_LIMIT} items each, no overlap, newest first)"
        )
    return second_path, ids1 + ids2


def queue_ids(base: str, secret: str, count: int) -> list[str]:
    """The ids of the ``count`` newest pending comments, walking the queue 100 at a time."""
    ids: list[str] = []
    cursor: str | None = None
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=60) as client:
        while len(ids) < count:
            data = _get(client, queue_path(cursor, 100))
            ids += [item["id"] for item in data["items"]]
            cursor = data.get("next")
            if not cursor:
                break
    return ids[:count]


def wrk_figure(
    what: str,
    server: Server,
    path: str,
    script_text: str,
    directory: Path,
    args: argparse.Namespace,
    tool: str,
) -> Figure:
    script = directory / (re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-") + ".lua")
    script.write_text(script_text, encoding="utf-8")
    load = {"threads": args.threads, "connections": args.connections}
    url = server.base + path
    if args.warmup:
        say(f"  {what}: warm-up {args.warmup} s")
        wrk.run(tool, url, script, seconds=args.warmup, **load)
    say(f"  {what}: measuring {args.duration} s")
    cpu = server.cpu_seconds()
    run = wrk.run(tool, url, script, seconds=args.duration, **load)
    cpu_ms = (server.cpu_seconds() - cpu) * 1000
    say(f"    {run.requests_per_s:.1f} req/s, p50 {run.p50_ms:.2f} ms, p99 {run.p99_ms:.2f} ms")
    return Figure(
        what=what,
        count=run.requests,
        per_s=run.requests_per_s,
        p50_ms=run.p50_ms,
        p99_ms=run.p99_ms,
        non_2xx=run.non_2xx,
        socket_errors=run.socket_errors,
        cpu_ms_per_request=round(cpu_ms / max(run.requests, 1), 2),
        statuses=run.statuses,
        first_error=run.first_error,
        latency_distribution=run.latency_distribution,
    )


def timed_figure(what: str, done: Timings, asked: int) -> Figure:
    answered = len(done.latencies_ms)
    non_2xx = sum(n for code, n in done.statuses.items() if not code.startswith("2"))
    notes = []
    if done.stopped_early:
        notes.append(f"stopped after {TIMED_LIMIT_S} s: {answered} of {asked}")
    if done.wrong:
        notes.append(f"{done.wrong} 2xx answers did not say what they should (counted as non-2xx)")
    return Figure(
        what=what,
        count=answered,
        per_s=answered / done.seconds if done.seconds else 0.0,
        p50_ms=round(percentile(done.latencies_ms, 50), 2),
        p99_ms=round(percentile(done.latencies_ms, 99), 2),
        non_2xx=non_2xx + done.wrong,
        socket_errors=done.socket_errors,
        cpu_ms_per_request=round(done.cpu_seconds * 1000 / max(answered, 1), 2),
        statuses={k: v for k, v in done.statuses.items() if not k.startswith("2")},
        first_error=done.first_error,
        note="; ".join(notes),
    )


def timed_run(
    what: str, server: Server, calls: Sequence[Call], headers: dict[str, str], concurrency: int, check: Check
) -> Figure:
    say(f"  {what}: {len(calls)} requests")
    cpu = server.cpu_seconds()
    done = timed(server.port, calls, headers, concurrency, TIMED_LIMIT_S, check)
    done.cpu_seconds = server.cpu_seconds() - cpu
    figure = timed_figure(what, done, len(calls))
    say(f"    {figure.per_s:.1f}/s, p50 {figure.p50_ms:.2f} ms, p99 {figure.p99_ms:.2f} ms")
    return figure


def bench_engine(engine: str, args: argparse.Namespace, tool: str) -> EngineRun:
    run = EngineRun(engine)
    with (
        tempfile.TemporaryDirectory(prefix=f"kibitz-moderation-{engine}-") as tmp,
        database(engine, args.pg_admin) as pg_url,
    ):
        directory, port = Path(tmp), free_port()
        sqlite_file = directory / "kibitz.db"
        url = f"sqlite:///{sqlite_file}" if engine == "sqlite" else pg_url
        config = write_config(directory, url, port)
        say(
            f"{engine}: kibitz migrate, then {args.pending:,} pending comments "
            f"over {args.pages:,} threads in SQL"
        )
        migrate(config)
        if engine == "sqlite":
            run.seeded = seed_sqlite(sqlite_file, args.pending, args.pages)
        else:
            run.seeded = asyncio.run(seed_postgresql(url, args.pending, args.pages))
        say(f"{engine}: seeded in {run.seeded.seconds:.1f} s")
        secret, run.key_from = create_key(config)
        say(f"{engine}: API key from {run.key_from}")
        server = Server(config, workers=WORKERS, port=port)
        try:
            server.start()
            say(f"{engine}: kibitz serve --workers {WORKERS} on {server.base}")
            second_path, _ = smoke(server.base, secret, run)
            auth = {"Authorization": f"Bearer {secret}"}
            if "queue" in args.only:
                script = wrk.reading_script(auth)
                for what, path in (
                    (f"first page (limit {QUEUE_LIMIT})", queue_path()),
                    ("second page (cursor)", second_path),
                ):
                    run.figures.append(
                        wrk_figure(f"queue, {what}", server, path, script, directory, args, tool)
                    )
                    calls = [Call("GET", path)] * ONE_CLIENT_READS
                    what = f"queue, {what.split(' (')[0]}, one client"
                    run.figures.append(timed_run(what, server, calls, auth, 1, is_queue_page))
            if "approve" in args.only:
                ids = queue_ids(server.base, secret, 2 * args.approvals)
                if len(ids) < 2 * args.approvals:
                    raise BenchError(f"the queue holds {len(ids)} comments, fewer than {2 * args.approvals}")
                writing = {**auth, "Content-Type": "application/json"}
                body = b'{"action":"approve"}'
                for what, chosen, concurrency in (
                    ("approve, one at a time", ids[: args.approvals], 1),
                    (f"approve, {args.concurrency} at once", ids[args.approvals :], args.concurrency),
                ):
                    calls = [Call("POST", f"{ADMIN}/comments/{i}/moderate", body) for i in chosen]
                    run.figures.append(timed_run(what, server, calls, writing, concurrency, is_approved))
                done = sum(f.count - f.non_2xx for f in run.figures if f.what.startswith("approve"))
                run.pending_expected = args.pending - done
        finally:
            server.stop()
        if run.pending_expected is not None:
            run.pending_after = count_pending(engine, url, sqlite_file)
    return run


# -- the public thread read, before and after ------------------------------------------------------


class TreeServer(Server):
    """`kibitz serve` from the venv's console script, importing kibitz from ``source``
    (PYTHONPATH comes before the editable install's finder)."""

    def __init__(self, config: Path, *, workers: int, port: int, source: Path) -> None:
        super().__init__(config, workers=workers, port=port)
        self.source = source

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["PYTHONPATH"] = str(self.source)
        return env


def _git(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(ROOT), *argv], capture_output=True, text=True, timeout=timeout, check=False
    )


@contextmanager
def worktree(revision: str, notes: list[str]) -> Iterator[Path]:
    """A detached worktree at ``revision`` in a temp dir, removed afterwards whatever happened."""
    holder = Path(tempfile.mkdtemp(prefix="kibitz-before-"))
    path = holder / "src"
    added = _git("worktree", "add", "--detach", str(path), revision)
    if added.returncode != 0:
        shutil.rmtree(holder, ignore_errors=True)
        raise BenchError(f"git worktree add {revision} failed: {added.stderr.strip()}")
    try:
        yield path
    finally:
        removed = _git("worktree", "remove", "--force", str(path))
        shutil.rmtree(holder, ignore_errors=True)
        if removed.returncode != 0:
            _git("worktree", "prune")
            notes.append(f"git worktree remove failed ({removed.stderr.strip()}); pruned instead")
        else:
            notes.append(f"worktree {path} removed")


def check_imports(source: Path, cwd: Path) -> str:
    """Where kibitz comes from with PYTHONPATH=source and this venv's python; BenchError if it fails."""
    env = {**clean_environment(), "PYTHONPATH": str(source)}
    code = "import kibitz, kibitz.app, kibitz.cli; print(kibitz.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(
            f"kibitz from {source} does not import with this venv:\n{done.stderr.strip()[-2000:]}"
        )
    where = done.stdout.strip()
    if not where.startswith(str(source)):
        raise BenchError(f"PYTHONPATH={source} imported kibitz from {where}")
    return where


def has_site_column(sqlite_file: Path) -> bool:
    conn = sqlite3.connect(sqlite_file, timeout=30)
    try:
        return any(row[1] == "site" for row in conn.execute("PRAGMA table_info(comments)"))
    finally:
        conn.close()


@dataclass
class Compare:
    revision: str
    summaries: list[Summary]
    measures: list[Measure]
    ratio: float | None
    notes: list[str]


def compare(args: argparse.Namespace, tool: str) -> Compare:
    """thread-200 on SQLite against the code at BEFORE and the working tree, alternating rounds."""
    notes: list[str] = []
    measures: list[Measure] = []
    revision = _git("rev-parse", "--short", args.before).stdout.strip() or args.before
    with (
        tempfile.TemporaryDirectory(prefix="kibitz-moderation-thread-") as tmp,
        worktree(args.before, notes) as old_source,
    ):
        directory = Path(tmp)
        servers: list[tuple[str, str, TreeServer, Path]] = []
        try:
            for key, label, source in (
                ("before", f"before: {revision}", old_source),
                ("after", "after: working tree", ROOT),
            ):
                where = check_imports(source, directory)
                home = directory / key
                home.mkdir()
                port = free_port()
                server = TreeServer(
                    # The code before knows no spam settings (and refuses keys it does not know).
                    write_config(home, f"sqlite:///{home / 'kibitz.db'}", port, spam_settings=key == "after"),
                    workers=WORKERS,
                    port=port,
                    source=source,
                )
                servers.append((key, label, server, home))
                server.start()
                say(f"thread read: {label}: kibitz from {where}, on {server.base}; seeding /big")
                seed_thread(server.base)
            # Each server migrated its own database: the old code's has no comments.site (migration 0005).
            before_site, after_site = (has_site_column(home / "kibitz.db") for _, _, _, home in servers)
            if before_site or not after_site:
                raise BenchError(
                    f"the servers do not run the code they should (comments.site before: {before_site}, "
                    f"after: {after_site})"
                )
            notes.append(
                f"before ran {revision} (its database has no comments.site), after the working tree (it has)"
            )
            for _, label, server, _ in servers:
                answer, _ = probe(label, server.base, "GET", THREAD_PATH, READ_HEADERS)
                notes.append(
                    f"{label}: one answer is {answer.wire_bytes:,} bytes on the wire ({answer.body_bytes:,} "
                    f"{answer.content_encoding} + {answer.header_bytes:,} of headers; "
                    f"{answer.decoded_bytes:,} decoded)"
                )
            everyone = [
                Contestant(key, label, server, THREAD_PATH, wrk.reading_script(READ_HEADERS))
                for key, label, server, _ in servers
            ]
            for r in range(args.rounds):
                order = everyone if r % 2 == 0 else everyone[::-1]
                for c in order:
                    say(f"thread read: round {r + 1}/{args.rounds}: {c.label}")
                    m = measure(c, "thread-200", r + 1, args, tool, directory)
                    void = f"  VOID ({m.void_reason})" if m.void else ""
                    say(f"  {m.ok_per_s:.1f} req/s, p50 {m.p50_ms:.2f} ms, p99 {m.p99_ms:.2f} ms{void}")
                    measures.append(m)
        finally:
            for _, _, server, _ in servers:
                server.stop()
    summaries = summarise(measures)
    by = {s.system: s for s in summaries}
    after, before = by.get("after"), by.get("before")
    found = ratio(after.req_per_s if after else None, before.req_per_s if before else None)
    return Compare(revision, summaries, measures, found, notes)


# -- the report ------------------------------------------------------------------------------------


def engine_lines(run: EngineRun, args: argparse.Namespace) -> list[str]:
    lines = [""]
    seeded = run.seeded
    head = f"{run.engine}: "
    if seeded is not None:
        head += (
            f"{seeded.pending:,} pending comments over {seeded.pages:,} threads of site {SITE!r}, "
            f"bulk SQL in {seeded.seconds:.1f} s; "
        )
    head += f"kibitz serve --workers {WORKERS}; API key from {run.key_from or '-'}"
    lines.append(head)
    if run.figures:
        rows: list[tuple[str, ...]] = [
            ("what", "n", "per s", "p50 ms", "p99 ms", "non-2xx", "sock err", "CPU ms/req")
        ]
        for f in run.figures:
            rows.append(
                (
                    f.what,
                    f"{f.count:,}",
                    fmt(f.per_s),
                    fmt(f.p50_ms, 2),
                    fmt(f.p99_ms, 2),
                    str(f.non_2xx),
                    str(f.socket_errors),
                    fmt(f.cpu_ms_per_request, 2),
                )
            )
        lines += grid(rows, left=1)
    lines += [f"  {c}" for c in run.checks]
    for f in run.figures:
        if f.note:
            lines.append(f"  {f.what}: {f.note}")
        if f.non_2xx or f.socket_errors:
            codes = ", ".join(f"{code}: {n}" for code, n in sorted(f.statuses.items())) or "none"
            lines.append(f"! {f.what}: non-2xx by status: {codes}; socket errors: {f.socket_errors}")
            if f.first_error:
                lines.append(f"!   first error: {f.first_error}")
    if run.pending_after is not None:
        same = (
            "as expected"
            if run.pending_after == run.pending_expected
            else f"expected {run.pending_expected:,}"
        )
        lines.append(f"  pending after the approvals: {run.pending_after:,} ({same})")
    return lines


def compare_lines(result: Compare, args: argparse.Namespace) -> list[str]:
    lines = [
        "",
        "Public thread read, before and after moderation: thread-200 of bench/baseline.py "
        f"(GET {THREAD_PATH} with the widget's headers), SQLite, kibitz serve --workers {WORKERS}, "
        f"wrk -t{args.threads} -c{args.connections}, {args.rounds} alternating round(s) of "
        f"{args.duration} s after {args.warmup} s warm-up; medians of the valid rounds",
    ]
    rows: list[tuple[str, ...]] = [
        ("code", "req/s", "p50 ms", "p99 ms", "CPU ms/req", "valid", "req/s per round")
    ]
    for s in result.summaries:
        per_round = ", ".join(
            f"{m.ok_per_s:,.0f}" + (" (void)" if m.void else "")
            for m in result.measures
            if m.system == s.system
        )
        rows.append(
            (
                s.label,
                fmt(s.req_per_s),
                fmt(s.p50_ms, 2),
                fmt(s.p99_ms, 2),
                fmt(s.cpu_ms_per_request, 2),
                f"{s.valid}/{s.rounds}",
                per_round,
            )
        )
    lines += grid(rows, left=1)
    for s in result.summaries:
        for reason in s.void_reasons:
            lines.append(f"! {s.label}: {reason}")
    if result.ratio is None:
        lines.append("n/a  after / before: no valid figure")
    else:
        verdict = "PASS" if result.ratio >= TARGET_RATIO else "MISS"
        lines.append(
            f"{verdict} after / before = {result.ratio:.1%} of the req/s (target ≥ {TARGET_RATIO:.0%}, "
            "printed, not enforced)"
        )
    lines += [f"  {n}" for n in result.notes]
    return lines


def reproduce_lines(argv: Sequence[str], args: argparse.Namespace) -> list[str]:
    shown = shlex.join(["./scripts/bench", "moderation", *argv])
    return [
        "",
        "To reproduce:",
        f"  {shown}",
        f"  .venv/bin/python -m bench.moderation {shlex.join(list(argv))}".rstrip(),
        "  the old code by hand: git worktree add --detach /tmp/before "
        f"{args.before} && PYTHONPATH=/tmp/before .venv/bin/kibitz serve --config kibitz.toml --workers 2 "
        "(from a directory other than the repository's; git worktree remove --force /tmp/before after)",
    ]


# -- the run ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench moderation", description=__doc__)
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated: sqlite,postgresql")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated: {','.join(PARTS)}")
    parser.add_argument(
        "--pending", type=int, default=100_000, help="pending comments seeded (1,000-2,000,000)"
    )
    parser.add_argument("--pages", type=int, default=1_000, help="threads they are spread over (1-10,000)")
    parser.add_argument("--approvals", type=int, default=500, help="approvals per run (1-5,000)")
    parser.add_argument("--concurrency", type=int, default=10, help="connections approving at once (1-100)")
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per wrk run (1-300)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per wrk run (0-60)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the thread read (1-9)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (1-1000)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (1-16)")
    parser.add_argument("--before", default=BEFORE, help="the commit the thread read is compared against")
    parser.add_argument("--pg-admin", default=PG_ADMIN_DSN, help="where the throwaway database is made")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if any(e not in ENGINES for e in engines):
        parser.error(f"--engines: choose from {', '.join(ENGINES)}")
    args.engines = engines
    only = {p.strip() for p in args.only.split(",") if p.strip()}
    if not only or only - set(PARTS):
        parser.error(f"--only: choose from {', '.join(PARTS)}")
    args.only = only
    bounds = {
        "pending": (1_000, 2_000_000),
        "pages": (1, 10_000),
        "approvals": (1, 5_000),
        "concurrency": (1, 100),
        "duration": (1, 300),
        "warmup": (0, 60),
        "rounds": (1, 9),
        "connections": (1, 1000),
        "threads": (1, 16),
    }
    for name, (low, high) in bounds.items():
        if not low <= getattr(args, name) <= high:
            parser.error(f"--{name} must be between {low:,} and {high:,}")
    if args.threads > args.connections:
        parser.error("--threads must not exceed --connections")
    if 2 * args.approvals > args.pending:
        parser.error("--approvals: the two approval runs need 2 × approvals pending comments")
    if not re.fullmatch(r"[0-9A-Za-z._/-]{1,100}", args.before):
        parser.error("--before: a commit or a ref")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends the run through the finally blocks: servers stopped, worktree removed."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when it ran and every answer was a 2xx, 1 when not or a step failed, 2 without wrk."""
    given = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(given)
    try:
        tool = wrk.find_wrk()
    except wrk.WrkError as exc:
        say(str(exc))
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    load_before = load_average()
    started = time.monotonic()
    runs: list[EngineRun] = []
    compared: Compare | None = None
    failure = ""
    phases: dict[str, float] = {}
    try:
        if args.only & {"queue", "approve"}:
            for engine in args.engines:
                t0 = time.monotonic()
                runs.append(bench_engine(engine, args, tool))
                phases[engine] = time.monotonic() - t0
        if "thread" in args.only:
            t0 = time.monotonic()
            compared = compare(args, tool)
            phases["thread read before/after"] = time.monotonic() - t0
    except (BenchError, ServerError, wrk.WrkError, OSError, subprocess.SubprocessError) as exc:
        failure = f"moderation bench failed: {type(exc).__name__}: {exc}"
    except Exception as exc:  # a bug or an unexpected answer: still print what was measured
        traceback.print_exc()
        failure = f"moderation bench failed: {type(exc).__name__}: {exc}"
    load_after = load_average()
    print(
        f"Kibitz moderation bench, git {git_revision()} + working tree: {os.cpu_count()} CPUs shared by wrk, "
        f"the servers and PostgreSQL; load average (1 min) {load_before} before the run, {load_after} at its "
        "end (the bench's own load included)"
    )
    if runs:
        print(
            f"Queue and approvals: wrk -t{args.threads} -c{args.connections}, {args.duration} s measured "
            f"after {args.warmup} s warm-up; 'one client': {ONE_CLIENT_READS} reads one after the other; "
            f"approvals: {args.approvals} one at a time, then {args.approvals} over {args.concurrency} "
            "connections (http.client, keep-alive, each timed from send to last byte); CPU ms/req: the "
            "server's process tree (PostgreSQL's own not counted)"
        )
    for run in runs:
        print("\n".join(engine_lines(run, args)))
    if compared is not None:
        print("\n".join(compare_lines(compared, args)))
    print("\n".join(reproduce_lines(given, args)))
    total = time.monotonic() - started
    print(
        "\nPhases: " + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()) + f"; whole run {total:.0f} s"
    )
    if args.json is not None:
        payload = {
            "meta": {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "git": git_revision(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "workers": WORKERS,
                "argv": given,
                "load_average_1m_before": load_before,
                "load_average_1m_after": load_after,
            },
            "engines": [asdict(r) for r in runs],
            "thread_read": asdict(compared) if compared else None,
            "phases_s": phases,
            "failure": failure,
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    if failure:
        say(failure)
        return 1
    bad = any(f.non_2xx or f.socket_errors for r in runs for f in r.figures)
    bad |= any(r.pending_after != r.pending_expected for r in runs)
    if compared is not None:
        bad |= any(s.valid < s.rounds for s in compared.summaries)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
