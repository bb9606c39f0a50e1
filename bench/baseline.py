"""Baseline load figures: wrk against `kibitz serve --workers 2` on SQLite and on PostgreSQL.

Scenarios: the first read of a 200-comment thread, counts for 20 pages, and posting. Prints req/s,
p50, p99, non-2xx answers and the server's RSS; loopback only, bounded in time. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bench import wrk
from bench.server import Server, ServerError, free_port

SITE = "bench"
ORIGIN = "http://bench.example"
API = f"/api/v1/sites/{SITE}"
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
ENGINES = ("sqlite", "postgresql")
WORKERS = 2
BIG_PAGE = "/big"
TOP_LEVEL, REPLIES = 140, 60
COUNT_PAGES = [f"/article/{n:02d}" for n in range(1, 21)]
POST_PAGES = 20  # the post scenario spreads its comments over /post/0 .. /post/19
UNLIMITED = "1000000/minute"  # rate limits out of the way: every request comes from 127.0.0.1
# The seeded comments are drawn from a few dozen words by many names: to the spam score they are a
# near-duplicate burst (up to 0.9). The score still runs on every post, its cost measured; only a
# score of 1.0 (the highest) would hold or file a post. Each post is a new reader's, its text unique,
# so neither "repeat" nor "near_repeat" (which hold whatever the score) applies. seed() and the
# post scenario check that every post answers 201, published.
SPAM_SETTINGS = ("spam_hold = 1.0", "spam_reject = 1.0")
WORDS = (
    "the", "council", "vote", "budget", "school", "road", "story", "reporter", "source", "figure",
    "claim", "evidence", "readers", "policy", "housing", "rent", "transit", "climate", "report",
    "data", "chart", "week", "mayor", "plan", "cost", "tax", "year", "city",
)  # fmt: skip


class BenchError(Exception):
    """A run that cannot go on; the message is printed as is."""


@dataclass(frozen=True)
class Scenario:
    name: str
    url_path: str
    script: str  # the wrk Lua script


@dataclass
class Result:
    engine: str
    scenario: str
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    server_cpu_ms_per_request: float
    rss_workers_mib: float
    rss_total_mib: float
    statuses: dict[str, int] = field(default_factory=dict)
    first_error: str = ""
    latency_distribution: dict[str, str] = field(default_factory=dict)


def scenarios() -> list[Scenario]:
    return [
        # What the widget asks first: the newest 20 top-level comments with their replies.
        Scenario("thread-200", f"{API}/comments?{urlencode({'page': BIG_PAGE})}", wrk.reading_script()),
        # What count.js asks on a front page listing 20 stories.
        Scenario(
            "counts-20", f"{API}/counts?{urlencode({'page': COUNT_PAGES}, doseq=True)}", wrk.reading_script()
        ),
        Scenario("post", f"{API}/comments", wrk.posting_script(f"{API}/comments", ORIGIN, POST_PAGES)),
    ]


# -- set-up ---------------------------------------------------------------------------------------


def write_config(
    directory: Path, database_url: str, port: int, *, origin: str = ORIGIN, spam_settings: bool = True
) -> Path:
    """kibitz.toml for a bench run: one site whose rate limits count every request but refuse none,
    and whose spam score is computed for every post but holds none (``spam_settings``; False for
    code older than the spam settings, which refuses keys it does not know)."""
    q = json.dumps  # a JSON string is a valid TOML basic string
    lines = [
        f"base_url = {q(f'http://127.0.0.1:{port}')}",
        f"data_dir = {q(str(directory))}",
        f"database_url = {q(database_url)}",
        "",
        "[[sites]]",
        f"id = {q(SITE)}",
        'name = "Bench"',
        f"origins = [{q(origin)}]",
        *(SPAM_SETTINGS if spam_settings else ()),
        "",
        "[sites.rate_limits]",
        *(f"{key} = {q(UNLIMITED)}" for key in ("comments", "votes", "subscriptions", "flags")),
    ]
    path = directory / "kibitz.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def _pg_admin(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def database(engine: str, pg_admin: str) -> Iterator[str]:
    """The database_url of a fresh database, dropped afterwards (SQLite lives in the temp dir)."""
    if engine == "sqlite":
        yield "sqlite:///kibitz.db"
        return
    name = f"kibitz_bench_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_admin(pg_admin, f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # asyncpg has its own error classes besides OSError
        raise BenchError(f"cannot create a database through {pg_admin}: {exc}") from exc
    try:
        yield pg_admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_pg_admin(pg_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def comment_text(rng: random.Random, n: int) -> str:
    sentences = []
    for _ in range(rng.randint(1, 4)):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
        sentences.append(" ".join(words).capitalize() + ".")
    if n % 5 == 0:
        sentences.append("*Worth reading:* [the report](https://example.org/report).")
    return " ".join(sentences)


def seed(base: str) -> None:
    """Through the API: /big gets 140 top-level comments and 60 replies up to three deep (many
    under the newest 20, which the widget shows first); /article/01..20 get 1 to 5 comments each."""
    rng = random.Random(2026)
    with httpx.Client(base_url=base, headers={"Origin": ORIGIN}, timeout=30) as client:
        posted = 0

        def post(page: str, parent: str | None = None) -> str:
            nonlocal posted
            posted += 1
            body: dict[str, Any] = {
                "page": page,
                "text": comment_text(rng, posted),
                "author": {"name": f"Reader {rng.randint(1, 80)}"},
            }
            if parent is not None:
                body["parent"] = parent
            r = client.post(f"{API}/comments", json=body)
            if r.status_code != 201:
                raise BenchError(f"seeding failed: {r.status_code} {r.text[:300]}")
            comment_id: str = r.json()["comment"]["id"]
            return comment_id

        tops = [post(BIG_PAGE) for _ in range(TOP_LEVEL)]
        newest, older = tops[-20:], tops[:-20]
        level1 = [post(BIG_PAGE, p) for p in newest] + [post(BIG_PAGE, rng.choice(older)) for _ in range(20)]
        level2 = [post(BIG_PAGE, rng.choice(level1[:20])) for _ in range(14)]
        level3 = [post(BIG_PAGE, rng.choice(level2)) for _ in range(6)]
        assert len(level1) + len(level2) + len(level3) == REPLIES
        for n, page in enumerate(COUNT_PAGES):
            for _ in range(n % 5 + 1):
                post(page)

        thread = client.get(f"{API}/comments", params={"page": BIG_PAGE}).json()["thread"]
        counts = client.get(f"{API}/counts", params={"page": COUNT_PAGES}).json()["counts"]
        expected = {page: n % 5 + 1 for n, page in enumerate(COUNT_PAGES)}
        if thread["count"] != TOP_LEVEL + REPLIES or counts != expected:
            raise BenchError(f"seeded data reads back wrong: count {thread['count']}, counts {counts}")


# -- the run --------------------------------------------------------------------------------------


def bench_engine(engine: str, args: argparse.Namespace, wrk_path: str) -> list[Result]:
    results: list[Result] = []
    with (
        tempfile.TemporaryDirectory(prefix=f"kibitz-bench-{engine}-") as tmp,
        database(engine, args.pg_admin) as url,
    ):
        directory, port = Path(tmp), free_port()
        server = Server(write_config(directory, url, port), workers=WORKERS, port=port)
        say(f"{engine}: kibitz serve --workers {WORKERS} on 127.0.0.1:{port}")
        try:
            server.start()
            say(f"{engine}: seeding {TOP_LEVEL + REPLIES} comments on {BIG_PAGE}, {len(COUNT_PAGES)} pages")
            seed(server.base)
            for scenario in scenarios():
                script = directory / f"{scenario.name}.lua"
                script.write_text(scenario.script, encoding="utf-8")
                target = server.base + scenario.url_path
                load = {"threads": args.threads, "connections": args.connections}
                if args.warmup:
                    say(f"{engine}: {scenario.name}: warm-up {args.warmup} s")
                    wrk.run(wrk_path, target, script, seconds=args.warmup, **load)
                say(f"{engine}: {scenario.name}: measuring {args.duration} s")
                cpu_before = server.cpu_seconds()
                run = wrk.run(wrk_path, target, script, seconds=args.duration, **load)
                cpu_ms = (server.cpu_seconds() - cpu_before) * 1000
                workers_mib, total_mib = server.rss_mib()
                results.append(
                    Result(
                        engine=engine,
                        scenario=scenario.name,
                        server_cpu_ms_per_request=round(cpu_ms / max(run.requests, 1), 2),
                        rss_workers_mib=round(workers_mib, 1),
                        rss_total_mib=round(total_mib, 1),
                        **asdict(run),
                    )
                )
        finally:
            server.stop()
    return results


def load_average() -> str:
    """The 1-minute load average before a run: other work on the machine skews every figure."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def table(results: Sequence[Result]) -> str:
    head: tuple[str, ...] = ("engine", "scenario", "req/s", "p50 ms", "p99 ms", "non-2xx", "sock err")
    head += ("CPU ms/req", "RSS MiB", "tree MiB")
    rows = [head] + [
        (
            r.engine,
            r.scenario,
            f"{r.requests_per_s:.1f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            str(r.non_2xx),
            str(r.socket_errors),
            f"{r.server_cpu_ms_per_request:.2f}",
            f"{r.rss_workers_mib:.1f}",
            f"{r.rss_total_mib:.1f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [
        "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in results:
        if r.non_2xx or r.socket_errors:
            codes = ", ".join(f"{code}: {n}" for code, n in sorted(r.statuses.items())) or "none"
            lines.append(
                f"! {r.engine} {r.scenario}: non-2xx by status: {codes}; socket errors: {r.socket_errors}"
            )
            if r.first_error:
                lines.append(f"!   first error body: {r.first_error}")
    return "\n".join(lines)


def git_revision() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        )
    except OSError:
        return ""
    return done.stdout.strip()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated: sqlite,postgresql")
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per scenario (1-300)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per scenario (0-60)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (1-1000)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (1-16)")
    parser.add_argument(
        "--pg-admin", default=PG_ADMIN_DSN, help="where the throwaway PostgreSQL database is made"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not engines or any(e not in ENGINES for e in engines):
        parser.error(f"--engines: choose from {', '.join(ENGINES)}")
    args.engines = engines
    bounds = {"duration": (1, 300), "warmup": (0, 60), "connections": (1, 1000), "threads": (1, 16)}
    for name, (low, high) in bounds.items():
        if not low <= getattr(args, name) <= high:
            parser.error(f"--{name} must be between {low} and {high}")
    if args.threads > args.connections:
        parser.error("--threads must not exceed --connections")
    return args


def write_json(path: Path, args: argparse.Namespace, results: Sequence[Result], load_before: str) -> None:
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "workers": WORKERS,
        "wrk": {"threads": args.threads, "connections": args.connections, "timeout": wrk.TIMEOUT},
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "load_average_1m_before": load_before,
    }
    payload = {"meta": meta, "results": [asdict(r) for r in results]}
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when every measured request got a 2xx, 1 when some did not or a run failed, 2 without wrk."""
    args = parse_args(argv)
    try:
        wrk_path = wrk.find_wrk()
    except wrk.WrkError as exc:
        say(str(exc))
        return 2
    results: list[Result] = []
    failure = ""
    load_before = load_average()
    try:
        for engine in args.engines:
            results += bench_engine(engine, args, wrk_path)
    except (BenchError, ServerError, wrk.WrkError) as exc:
        failure = f"bench failed: {exc}"
    if results:
        print(
            f"wrk -t{args.threads} -c{args.connections}, {args.duration} s measured after {args.warmup} s "
            f"warm-up; kibitz serve --workers {WORKERS}; {os.cpu_count()} CPUs for wrk, server, database; "
            f"load average before the run {load_before}"
        )
        print(table(results))
        if args.json is not None:
            write_json(args.json, args, results, load_before)
    if failure:
        say(failure)
        return 1
    return 1 if any(r.non_2xx or r.socket_errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
