"""Kibitz next to Isso 0.14 in one run (`scripts/bench spike`; issue 6, bench/README.md).

On this machine, both with 2 worker processes on SQLite and the same seeded thread: the thread read
as each widget first asks for it, counts for 20 pages and posting, with wrk -t2 -c50, a warm-up
then a measured run, in alternating rounds; medians of the rounds in which every answer was a 2xx.
A bare ASGI app serving Kibitz's exact response shows the framework's ceiling. Then the thread read
on PostgreSQL at 10 k and 1 M comments, and each Kibitz worker's RSS over a read soak. It prints one
table and the issue's targets as PASS/MISS lines; it asserts nothing. Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import http.client
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from bench import isso, seed, wrk
from bench.bare import BareServer, save_response
from bench.baseline import BenchError, database, git_revision, load_average, write_config
from bench.server import Server, ServerError, Service, clean_environment, free_port

SITE = "bench"
# The site embedding both widgets. Loopback with nothing listening: Isso sends a HEAD to its site when
# it starts, and nothing of this run may leave the machine.
ORIGIN = "http://127.0.0.1:9"
API = f"/api/v1/sites/{SITE}"
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
WORKERS = 2
POST_PAGES = 20  # posting spreads new comments over /post/0 .. /post/19, for both
SCENARIOS = ("thread", "counts", "post", "postgres", "soak")
SAMPLE_EVERY = 10.0  # seconds between RSS samples in the soak
MB = 1_000_000
ROOT = Path(__file__).resolve().parent.parent

# Issue 6's targets, the bare app's share raised by issue 18 (from 70 % to 90 %).
THREAD_VS_ISSO, THREAD_VS_BARE, COUNTS_VS_ISSO, POST_VS_ISSO = 300.0, 0.90, 2.0, 2.0
MILLION_P99_RATIO, RSS_LIMIT_MB, FLAT_MIB_PER_MIN = 1.5, 120.0, 1.0
FLAT_MIN_SOAK = 120  # seconds: growth is taken after the first minute (caches filling)
# Isso's default guard (2 posts a minute from one address) refuses nearly every benchmark post.
GUARD_COMPARABLE_SHARE = 0.10

BROWSER = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate, br", "Origin": ORIGIN}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- what each widget asks ------------------------------------------------------------------------


def kibitz_first_limit() -> int:
    """The widget's first page size (FIRST in widget/src/embed.ts)."""
    try:
        found = re.search(r"const FIRST = (\d+)", (ROOT / "widget/src/embed.ts").read_text(encoding="utf-8"))
    except OSError:
        found = None
    return int(found[1]) if found else 10


def kibitz_read_path(page: str, sort: str = "newest", limit: int | None = None) -> str:
    # widget/src/embed.ts load(): URLSearchParams({page, sort, limit}) on a first load.
    query = urlencode({"page": page, "sort": sort, "limit": str(limit or kibitz_first_limit())})
    return f"{API}/comments?{query}"


# fetch(..., {cache: "no-cache"}) makes a browser send Cache-Control: max-age=0 (Fetch standard).
KIBITZ_READ_HEADERS = {**BROWSER, "Cache-Control": "max-age=0"}
# Isso's XHR sets Content-Type: application/json on every call, GET too (a CORS preflight in a browser).
ISSO_HEADERS = {**BROWSER, "Content-Type": "application/json"}


def isso_read_path(venv: Path, page: str) -> str:
    """GET /?uri=... as Isso's embed.js fetchComments() sends it with its default client config
    (js/app/default_config.js): qs() keeps the order uri, sort, parent (null: left out), offset, then
    limit and nested_limit unless "inf"."""
    defaults = {"max-comments-top": "inf", "max-comments-nested": "5", "sorting": "oldest"}
    found = sorted(venv.glob("lib/python*/site-packages/isso/js/app/default_config.js"))
    if found:
        text = found[0].read_text(encoding="utf-8")
        for key in defaults:
            match = re.search(rf'"{re.escape(key)}":\s*"?([^",\s]+)"?', text)
            if match:
                defaults[key] = match[1]
    parts = [("uri", page), ("sort", defaults["sorting"]), ("offset", "0")]
    if defaults["max-comments-top"] != "inf":
        parts.append(("limit", defaults["max-comments-top"]))
    if defaults["max-comments-nested"] != "inf":
        parts.append(("nested_limit", defaults["max-comments-nested"]))
    return "/?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in parts)


def kibitz_counts_path() -> str:
    # widget/src/count.ts: "page=" + encodeURIComponent(p), joined with "&".
    return f"{API}/counts?" + "&".join("page=" + quote(p, safe="") for p in seed.COUNT_PAGES)


# -- measuring ------------------------------------------------------------------------------------


@dataclass
class Contestant:
    key: str
    label: str
    service: Service
    path: str
    script: str  # wrk Lua
    only_2xx: bool = False  # Isso's default guard: count the 2xx answers, refusals are expected


@dataclass
class Measure:
    scenario: str
    system: str
    label: str
    round: int
    requests: int
    requests_per_s: float
    ok_per_s: float  # 2xx answers per second
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    statuses: dict[str, int]
    first_error: str
    cpu_ms_per_request: float
    worker_rss_mib: dict[str, float]
    void: bool
    void_reason: str
    latency_distribution: dict[str, str] = field(default_factory=dict)


def settle(service: Service, limit: float = 120) -> None:
    """Wait until the server is idle: gunicorn's sync workers go on answering the requests a finished
    wrk left queued (a slow server has a backlog), which must not spill into the next run."""
    deadline = time.monotonic() + limit
    before = service.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = service.cpu_seconds()
        if now - before < 0.05:  # under 10 % of one core
            return
        before = now


def measure(
    contestant: Contestant, scenario: str, round_no: int, args: argparse.Namespace, tool: str, directory: Path
) -> Measure:
    service = contestant.service
    script = directory / re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{scenario}-{contestant.key}.lua")
    script.write_text(contestant.script, encoding="utf-8")
    url = service.base + contestant.path
    load = {"threads": args.threads, "connections": args.connections}
    if args.warmup:
        wrk.run(tool, url, script, seconds=args.warmup, **load)
        settle(service)
    cpu_before = service.cpu_seconds()
    run = wrk.run(tool, url, script, seconds=args.duration, **load)
    cpu_ms = (service.cpu_seconds() - cpu_before) * 1000
    rss = {str(pid): round(mib, 1) for pid, mib in service.worker_rss_mib().items()}
    settle(service)
    ok = run.requests - run.non_2xx
    ok_per_s = run.requests_per_s * ok / run.requests if run.requests else 0.0
    void, reason = False, ""
    codes = ", ".join(f"{code}: {n}" for code, n in sorted(run.statuses.items())) or "none"
    if run.socket_errors:
        void, reason = True, f"socket errors: {run.socket_errors}; non-2xx by status: {codes}"
    elif contestant.only_2xx:
        if ok < GUARD_COMPARABLE_SHARE * run.requests or ok == 0:
            void = True
            reason = f"not comparable: {ok} of {run.requests} answers were 2xx (refused: {codes})"
    elif run.non_2xx:
        void, reason = True, f"non-2xx by status: {codes}"
    return Measure(
        scenario=scenario,
        system=contestant.key,
        label=contestant.label,
        round=round_no,
        requests=run.requests,
        requests_per_s=run.requests_per_s,
        ok_per_s=round(ok_per_s, 2),
        p50_ms=run.p50_ms,
        p99_ms=run.p99_ms,
        non_2xx=run.non_2xx,
        socket_errors=run.socket_errors,
        statuses=run.statuses,
        first_error=run.first_error,
        cpu_ms_per_request=round(cpu_ms / max(run.requests, 1), 2),
        worker_rss_mib=rss,
        void=void,
        void_reason=reason,
        latency_distribution=run.latency_distribution,
    )


@dataclass
class Summary:
    """The medians of one system in one scenario over its valid rounds."""

    scenario: str
    system: str
    label: str
    rounds: int
    valid: int
    req_per_s: float | None
    p50_ms: float | None
    p99_ms: float | None
    cpu_ms_per_request: float | None
    worker_rss_mib: float | None  # the largest worker after the last valid round
    void_reasons: list[str]


def summarise(measures: Sequence[Measure]) -> list[Summary]:
    keys: list[tuple[str, str]] = []
    for m in measures:
        if (m.scenario, m.system) not in keys:
            keys.append((m.scenario, m.system))
    out = []
    for scenario, system in keys:
        mine = [m for m in measures if m.scenario == scenario and m.system == system]
        valid = [m for m in mine if not m.void]

        def med(values: list[float]) -> float | None:
            return round(statistics.median(values), 2) if values else None

        rss = max(valid[-1].worker_rss_mib.values(), default=0.0) if valid else None
        out.append(
            Summary(
                scenario=scenario,
                system=system,
                label=mine[0].label,
                rounds=len(mine),
                valid=len(valid),
                req_per_s=med([m.ok_per_s for m in valid]),
                p50_ms=med([m.p50_ms for m in valid]),
                p99_ms=med([m.p99_ms for m in valid]),
                cpu_ms_per_request=med([m.cpu_ms_per_request for m in valid]),
                worker_rss_mib=rss,
                void_reasons=[f"round {m.round}: {m.void_reason}" for m in mine if m.void],
            )
        )
    return out


# -- what goes over the wire ----------------------------------------------------------------------


@dataclass
class Probe:
    """One request answered: what it weighs on the wire (headers + body as sent) and decoded."""

    what: str
    status: int
    content_type: str
    content_encoding: str
    header_bytes: int
    body_bytes: int
    decoded_bytes: int
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def wire_bytes(self) -> int:
        return self.header_bytes + self.body_bytes


def decode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "br":
        import brotli

        data: bytes = brotli.decompress(body)
        return data
    return body


def probe(
    what: str, base: str, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[Probe, bytes]:
    """One request with http.client (which leaves the body compressed, as it came)."""
    port = int(base.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        pairs = [(k, v) for k, v in response.getheaders()]
    finally:
        conn.close()
    status_line = len(f"HTTP/1.1 {response.status} {response.reason}\r\n")
    header_bytes = status_line + sum(len(k) + len(v) + 4 for k, v in pairs) + 2
    encoding = response.getheader("Content-Encoding", "") or ""
    found = Probe(
        what=what,
        status=response.status,
        content_type=response.getheader("Content-Type", "") or "",
        content_encoding=encoding or "identity",
        header_bytes=header_bytes,
        body_bytes=len(raw),
        decoded_bytes=len(decode(raw, encoding)),
        headers=pairs,
    )
    if not 200 <= response.status < 300:
        raise BenchError(f"{what}: {method} {path} answered {response.status}: {raw[:300]!r}")
    return found, raw


# -- the systems ----------------------------------------------------------------------------------


def kibitz_config(directory: Path, database_url: str, port: int) -> Path:
    return write_config(directory, database_url, port, origin=ORIGIN)


@dataclass
class Systems:
    kibitz: Server | None = None
    isso_off: isso.IssoServer | None = None
    isso_guard: isso.IssoServer | None = None
    isso_raised: isso.IssoServer | None = None
    bare: BareServer | None = None
    bare_wire: BareServer | None = None
    venv: Path | None = None
    probes: list[Probe] = field(default_factory=list)


class Phases:
    """How long each step took, printed at the end."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        say(f"-- {name}")
        try:
            yield
        finally:
            self.seconds[name] = round(time.monotonic() - started, 1)


def start_systems(
    only: set[str], directory: Path, stack: ExitStack, phases: Phases, installed: Path | None
) -> Systems:
    systems = Systems(venv=installed)
    need_isso = bool(only & {"thread", "counts", "post"})
    with phases("start and seed Kibitz (SQLite)"):
        port = free_port()
        kibitz = Server(kibitz_config(directory, "sqlite:///kibitz.db", port), workers=WORKERS, port=port)
        stack.callback(kibitz.stop)
        kibitz.start()
        say(f"kibitz serve --workers {WORKERS} on {kibitz.base}; seeding {len(seed.plan())} comments")
        seed.seed_kibitz(kibitz.base, API, ORIGIN)
        systems.kibitz = kibitz
    if need_isso:
        assert installed is not None
        with phases("start and seed Isso (SQLite)"):
            isso_dir = directory / "isso"
            isso_dir.mkdir()
            off_db = isso_dir / "off.db"
            port = free_port()
            config = isso.write_config(
                isso_dir, name="guard-off", db=off_db, origin=ORIGIN, port=port, guard=isso.GUARD_OFF
            )
            off = isso.IssoServer(config, workers=WORKERS, port=port, venv=installed)
            stack.callback(off.stop)
            off.start()
            say(f"isso (gunicorn -w {WORKERS} --preload, guard off) on {off.base}; seeding")
            seed.seed_isso(off.base, ORIGIN)
            systems.isso_off = off
            if "post" in only:
                for name, guard in (("guard-on", isso.GUARD_DEFAULT), ("guard-raised", isso.GUARD_RAISED)):
                    db = isso_dir / f"{name}.db"
                    isso.copy_database(off_db, db)  # the same seeded data for every Isso
                    port = free_port()
                    config = isso.write_config(
                        isso_dir, name=name, db=db, origin=ORIGIN, port=port, guard=guard
                    )
                    server = isso.IssoServer(config, workers=WORKERS, port=port, venv=installed)
                    stack.callback(server.stop)
                    server.start()
                    if guard is isso.GUARD_DEFAULT:
                        systems.isso_guard = server
                    else:
                        systems.isso_raised = server
    with phases("sizes, and the bare ASGI app"):
        read, raw = probe(
            "kibitz thread read", kibitz.base, "GET", kibitz_read_path(seed.BIG_PAGE), KIBITZ_READ_HEADERS
        )
        systems.probes.append(read)
        if "thread" in only:
            response = directory / "bare.json"
            save_response(response, read.headers, raw)
            port = free_port()
            bare = BareServer(response, workers=WORKERS, port=port, log=directory / "bare.log")
            stack.callback(bare.stop)
            bare.start()
            say(f"bare ASGI app (uvicorn, {WORKERS} workers) on {bare.base}")
            systems.bare = bare
            systems.probes.append(
                probe(
                    "bare thread read", bare.base, "GET", kibitz_read_path(seed.BIG_PAGE), KIBITZ_READ_HEADERS
                )[0]
            )
            port = free_port()
            wire = BareServer(response, workers=WORKERS, port=port, log=directory / "wire.log", wire=True)
            stack.callback(wire.stop)
            wire.start()
            say(f"bare protocol (uvicorn's, no ASGI cycle, {WORKERS} workers) on {wire.base}")
            systems.bare_wire = wire
        systems.probes.append(probe("kibitz counts", kibitz.base, "GET", kibitz_counts_path(), BROWSER)[0])
        if systems.isso_off is not None and installed is not None:
            base = systems.isso_off.base
            systems.probes.append(
                probe(
                    "isso thread read", base, "GET", isso_read_path(installed, seed.BIG_PAGE), ISSO_HEADERS
                )[0]
            )
            body = json.dumps(seed.COUNT_PAGES).encode()
            systems.probes.append(probe("isso counts", base, "POST", "/count", ISSO_HEADERS, body)[0])
    return systems


def contestants(scenario: str, systems: Systems) -> list[Contestant]:
    """Who runs in a scenario, in the order of round 1 (Isso first, as the issue lists them)."""
    out: list[Contestant] = []
    k = systems.kibitz
    assert k is not None
    venv = systems.venv
    if scenario == "thread":
        read = kibitz_read_path(seed.BIG_PAGE)
        if systems.isso_off is not None and venv is not None:
            script = wrk.reading_script(ISSO_HEADERS)
            out.append(
                Contestant("isso", "Isso", systems.isso_off, isso_read_path(venv, seed.BIG_PAGE), script)
            )
        out.append(Contestant("kibitz", "Kibitz", k, read, wrk.reading_script(KIBITZ_READ_HEADERS)))
        if systems.bare is not None:
            out.append(
                Contestant("bare", "bare ASGI", systems.bare, read, wrk.reading_script(KIBITZ_READ_HEADERS))
            )
        if systems.bare_wire is not None:
            script = wrk.reading_script(KIBITZ_READ_HEADERS)
            out.append(Contestant("bare-wire", "bare protocol", systems.bare_wire, read, script))
    elif scenario == "counts":
        if systems.isso_off is not None:
            body = json.dumps(seed.COUNT_PAGES)
            script = wrk.json_post_script("/count", body, BROWSER)
            out.append(Contestant("isso", "Isso", systems.isso_off, "/count", script))
        out.append(Contestant("kibitz", "Kibitz", k, kibitz_counts_path(), wrk.reading_script(BROWSER)))
    elif scenario == "post":
        for key, label, server, only_2xx in (
            ("isso", "Isso, guard off", systems.isso_off, False),
            ("isso-guard", "Isso, guard on", systems.isso_guard, True),
            ("isso-raised", "Isso, guard on, limits raised", systems.isso_raised, False),
        ):
            if server is not None:
                script = wrk.isso_posting_script("/new", ORIGIN, POST_PAGES)
                out.append(Contestant(key, label, server, "/new", script, only_2xx))
        script = wrk.posting_script(f"{API}/comments", ORIGIN, POST_PAGES)
        out.append(Contestant("kibitz", "Kibitz, guard on", k, f"{API}/comments", script))
    return out


def rounds_of(
    scenario: str, systems: Systems, args: argparse.Namespace, tool: str, directory: Path
) -> list[Measure]:
    """Alternating rounds: every system once per round, the order turned by one each round."""
    everyone = contestants(scenario, systems)
    measures = []
    for r in range(args.rounds):
        shift = r % len(everyone)
        for contestant in everyone[shift:] + everyone[:shift]:
            say(f"{scenario}: round {r + 1}/{args.rounds}: {contestant.label}")
            m = measure(contestant, scenario, r + 1, args, tool, directory)
            note = f"  VOID ({m.void_reason})" if m.void else ""
            say(f"  {m.ok_per_s:.1f} req/s (2xx), p50 {m.p50_ms:.1f} ms, p99 {m.p99_ms:.1f} ms{note}")
            measures.append(m)
    return measures


# -- the read soak --------------------------------------------------------------------------------


@dataclass
class WorkerMemory:
    pid: int
    first_mib: float
    last_mib: float
    max_mib: float
    growth_mib_per_min: float  # least squares over the samples after the first minute (all if short)
    samples: list[tuple[float, float]]  # (seconds into the soak, MiB)


@dataclass
class Soak:
    seconds: int
    requests_per_s: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    workers: list[WorkerMemory]


def slope_per_minute(points: Sequence[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 0.0 if den == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den * 60


def soak(server: Server, args: argparse.Namespace, tool: str, directory: Path) -> Soak:
    """wrk thread reads over a mix of pages and sorts for ``args.soak`` seconds; each worker's RSS
    every 10 s."""
    first = kibitz_first_limit()
    paths = [
        kibitz_read_path(seed.BIG_PAGE),
        kibitz_read_path(seed.BIG_PAGE, "oldest"),
        kibitz_read_path(seed.BIG_PAGE, "votes"),
        kibitz_read_path(seed.BIG_PAGE, "newest", 100),
        *(kibitz_read_path(page, "newest", first) for page in seed.COUNT_PAGES[:6]),
    ]
    script = directory / "soak.lua"
    script.write_text(wrk.reading_script(KIBITZ_READ_HEADERS, paths), encoding="utf-8")
    samples: dict[int, list[tuple[float, float]]] = {}
    started = time.monotonic()
    load = {"threads": args.threads, "connections": args.connections}
    background = wrk.Background(tool, server.base + paths[0], script, seconds=args.soak, **load)
    try:
        tick = 0
        while True:
            at = time.monotonic() - started
            for pid, mib in server.worker_rss_mib().items():
                samples.setdefault(pid, []).append((round(at, 1), round(mib, 2)))
            if not background.running():
                break
            tick += 1
            next_at = started + tick * SAMPLE_EVERY
            while background.running() and time.monotonic() < next_at:
                time.sleep(0.2)
            if tick % 6 == 0:
                say(f"soak: {time.monotonic() - started:.0f} s of {args.soak}")
        run = background.wait()
    finally:
        background.stop()
    workers = []
    for pid, points in sorted(samples.items()):
        later = [p for p in points if p[0] >= 60] if args.soak >= FLAT_MIN_SOAK else points
        workers.append(
            WorkerMemory(
                pid=pid,
                first_mib=points[0][1],
                last_mib=points[-1][1],
                max_mib=max(p[1] for p in points),
                growth_mib_per_min=round(slope_per_minute(later), 3),
                samples=points,
            )
        )
    return Soak(args.soak, run.requests_per_s, run.p99_ms, run.non_2xx, run.socket_errors, workers)


# -- PostgreSQL at 10 k and 1 M comments ----------------------------------------------------------


@dataclass
class BigThread:
    page: str
    comments: int
    p50_ms: float | None
    p99_ms: float | None
    req_per_s: float | None
    valid_rounds: int
    rounds: list[Measure]
    query_ms: dict[str, float]  # EXPLAIN ANALYZE execution time of each page query
    plans: dict[str, str]


@dataclass
class Postgres:
    seed_seconds: float
    threads: list[BigThread]
    note: str = ""


def migrate(config: Path) -> None:
    exe = Path(sys.executable).parent / "kibitz"
    done = subprocess.run(
        [str(exe), "migrate", "--config", str(config)],
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"kibitz migrate failed: {done.stderr.strip() or done.stdout.strip()}")


def postgres(args: argparse.Namespace, tool: str, phases: Phases) -> Postgres:
    sizes = {"/thread-10k": 10_000}
    if not args.skip_million:
        sizes["/thread-1m"] = 1_000_000
    with (
        tempfile.TemporaryDirectory(prefix="kibitz-spike-pg-") as tmp,
        database("postgresql", args.pg_admin) as url,
    ):
        directory, port = Path(tmp), free_port()
        config = kibitz_config(directory, url, port)
        with phases("PostgreSQL: migrate and bulk-seed"):
            migrate(config)
            say(f"postgresql: writing {' and '.join(f'{n:,}' for n in sizes.values())} comments in SQL")
            made, seconds = asyncio.run(seed.bulk_threads(url, SITE, sizes))
            say(f"postgresql: seeded in {seconds:.1f} s (indexes rebuilt, ANALYZE done)")
        explained: dict[str, tuple[dict[str, float], dict[str, str]]] = {}
        note = ""
        for thread in made:
            try:
                found = asyncio.run(seed.explain_first_page(url, thread.thread_id, kibitz_first_limit()))
            except Exception as exc:  # Kibitz's store changed shape: say so, measure anyway
                note = f"EXPLAIN skipped: {type(exc).__name__}: {exc}"
                continue
            explained[thread.page] = (
                {e.query: e.execution_ms for e in found},
                {e.query: e.plan for e in found},
            )
        server = Server(config, workers=WORKERS, port=port)
        results: list[BigThread] = []
        measures: list[Measure] = []
        with phases("PostgreSQL: thread reads"):
            try:
                server.start()
                for thread in made:
                    data = httpx.get(server.base + kibitz_read_path(thread.page), timeout=60).json()
                    if data["thread"]["count"] != thread.comments:
                        raise BenchError(f"{thread.page} reads back {data['thread']['count']} comments")
                headers = KIBITZ_READ_HEADERS
                everyone = [
                    Contestant(
                        t.page,
                        f"{t.comments:,} comments",
                        server,
                        kibitz_read_path(t.page),
                        wrk.reading_script(headers),
                    )
                    for t in made
                ]
                for r in range(args.rounds):
                    shift = r % len(everyone)
                    for c in everyone[shift:] + everyone[:shift]:
                        say(f"postgres: round {r + 1}/{args.rounds}: {c.label}")
                        m = measure(c, "postgres", r + 1, args, tool, directory)
                        note_ = f"  VOID ({m.void_reason})" if m.void else ""
                        say(f"  {m.ok_per_s:.1f} req/s, p50 {m.p50_ms:.2f} ms, p99 {m.p99_ms:.2f} ms{note_}")
                        measures.append(m)
            finally:
                server.stop()
        for t in made:
            mine = [m for m in measures if m.system == t.page]
            valid = [m for m in mine if not m.void]
            ms, plans = explained.get(t.page, ({}, {}))
            results.append(
                BigThread(
                    page=t.page,
                    comments=t.comments,
                    p50_ms=statistics.median([m.p50_ms for m in valid]) if valid else None,
                    p99_ms=statistics.median([m.p99_ms for m in valid]) if valid else None,
                    req_per_s=statistics.median([m.ok_per_s for m in valid]) if valid else None,
                    valid_rounds=len(valid),
                    rounds=mine,
                    query_ms=ms,
                    plans=plans,
                )
            )
    return Postgres(round(seconds, 1), results, note)


# -- the report -----------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def grid(rows: Sequence[Sequence[str]], left: int = 2) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


SCENARIO_NAMES = {"thread": "thread read", "counts": "counts, 20 pages", "post": "posting"}


def report(
    summaries: Sequence[Summary],
    probes: Sequence[Probe],
    pg: Postgres | None,
    soaked: Soak | None,
) -> tuple[list[str], list[str]]:
    """The table and the target lines."""
    lines: list[str] = []
    by = {(s.scenario, s.system): s for s in summaries}
    sizes = {p.what: p for p in probes}
    size_of = {
        ("thread", "kibitz"): "kibitz thread read",
        ("thread", "isso"): "isso thread read",
        ("thread", "bare"): "bare thread read",
        ("thread", "bare-wire"): "bare thread read",
        ("counts", "kibitz"): "kibitz counts",
        ("counts", "isso"): "isso counts",
    }
    if summaries:
        head = ("scenario", "system", "req/s", "p50 ms", "p99 ms", "CPU ms/req", "max worker MiB", "valid")
        rows: list[tuple[str, ...]] = [(*head, "bytes on the wire (body, encoding)", "vs Isso")]
        for s in summaries:
            p = sizes.get(size_of.get((s.scenario, s.system), ""))
            wire = f"{p.wire_bytes:,} ({p.body_bytes:,} {p.content_encoding})" if p else ""
            isso_key = "isso"
            versus = ""
            if s.system in ("kibitz", "bare", "bare-wire") and (s.scenario, isso_key) in by:
                r = ratio(s.req_per_s, by[(s.scenario, isso_key)].req_per_s)
                versus = "-" if r is None else f"{r:,.1f}×"
            rows.append(
                (
                    SCENARIO_NAMES.get(s.scenario, s.scenario),
                    s.label,
                    fmt(s.req_per_s),
                    fmt(s.p50_ms, 2),
                    fmt(s.p99_ms, 2),
                    fmt(s.cpu_ms_per_request, 2),
                    fmt(s.worker_rss_mib),
                    f"{s.valid}/{s.rounds}",
                    wire,
                    versus,
                )
            )
        lines += grid(rows)
        for s in summaries:
            for reason in s.void_reasons:
                lines.append(f"! {SCENARIO_NAMES.get(s.scenario, s.scenario)}, {s.label}: {reason}")
        guard = by.get(("post", "isso-guard"))
        if guard is not None:
            lines.append(
                "  Isso with its guard on counts only its 2xx answers: from one address its default guard "
                "takes 2 posts a minute and 3 top-level comments per thread, so nearly every post is refused "
                "and that figure is not comparable (void); 'limits raised' runs the same guard queries with "
                "limits out of the way, as Kibitz's guard runs here."
            )
        for p in probes:
            lines.append(
                f"  {p.what}: HTTP {p.status}, {p.content_type}, {p.content_encoding}: "
                f"{p.body_bytes:,} body bytes ({p.decoded_bytes:,} decoded) + {p.header_bytes:,} header bytes"
            )
    if pg is not None:
        lines.append("")
        lines.append(f"PostgreSQL thread read (the widget's first GET), seeded in {pg.seed_seconds:.1f} s:")
        rows = [("thread", "req/s", "p50 ms", "p99 ms", "valid", "top-level query ms", "replies query ms")]
        for t in pg.threads:
            rows.append(
                (
                    f"{t.comments:,} comments",
                    fmt(t.req_per_s),
                    fmt(t.p50_ms, 2),
                    fmt(t.p99_ms, 2),
                    f"{t.valid_rounds}/{len(t.rounds)}",
                    fmt(t.query_ms.get("top-level"), 3),
                    fmt(t.query_ms.get("replies"), 3),
                )
            )
        lines += grid(rows, left=1)
        lines.append(
            "  query ms: EXPLAIN ANALYZE of each page query, warm, outside the server (plans in the JSON)"
        )
        if pg.note:
            lines.append(f"  {pg.note}")
        for t in pg.threads:
            for m in t.rounds:
                if m.void:
                    lines.append(f"! {t.comments:,} comments, round {m.round}: {m.void_reason}")
    if soaked is not None:
        lines.append("")
        lines.append(
            f"RSS soak: {soaked.seconds} s of thread reads (pages and sorts mixed) at "
            f"{soaked.requests_per_s:,.0f} req/s, p99 {soaked.p99_ms:.2f} ms, "
            f"non-2xx {soaked.non_2xx}, socket errors {soaked.socket_errors}"
        )
        rows = [("worker", "first MiB", "last MiB", "max MiB", "growth MiB/min")]
        for w in soaked.workers:
            rows.append(
                (str(w.pid), fmt(w.first_mib), fmt(w.last_mib), fmt(w.max_mib), fmt(w.growth_mib_per_min, 2))
            )
        lines += grid(rows, left=1)
    return lines, targets(by, pg, soaked)


def check(ok: bool | None, text: str) -> str:
    return f"{'n/a ' if ok is None else 'PASS' if ok else 'MISS'} {text}"


def compare(
    text: str, a: float | None, b: float | None, goal: float, unit: str, *, most: bool = False
) -> str:
    """A target on a / b: at least ``goal`` (at most, with ``most``); goals under 1 print as %."""
    r = ratio(a, b)
    if r is None:
        return check(None, f"{text}: no valid figure")
    shown = f"{r:.0%}" if goal < 1 else f"{r:,.2f}×"
    digits = 2 if unit == "ms" else 1
    return check(
        r <= goal if most else r >= goal, f"{text}: {shown} ({fmt(a, digits)} vs {fmt(b, digits)} {unit})"
    )


def targets(by: dict[tuple[str, str], Summary], pg: Postgres | None, soaked: Soak | None) -> list[str]:
    def rps(scenario: str, system: str) -> float | None:
        s = by.get((scenario, system))
        return None if s is None else s.req_per_s

    out = []
    if ("thread", "kibitz") in by:
        k = rps("thread", "kibitz")
        out.append(
            compare(
                f"thread read ≥ {THREAD_VS_ISSO:.0f}× Isso", k, rps("thread", "isso"), THREAD_VS_ISSO, "req/s"
            )
        )
        out.append(
            compare(
                f"thread read ≥ {THREAD_VS_BARE:.0%} of bare ASGI",
                k,
                rps("thread", "bare"),
                THREAD_VS_BARE,
                "req/s",
            )
        )
        ceiling = ratio(k, rps("thread", "bare-wire"))
        if ceiling is not None:  # no target: where the stack's own limit lies
            out.append(f"info thread read as a share of the bare protocol (no ASGI cycle): {ceiling:.0%}")
    if ("counts", "kibitz") in by:
        k = rps("counts", "kibitz")
        out.append(
            compare(f"counts ≥ {COUNTS_VS_ISSO:.0f}× Isso", k, rps("counts", "isso"), COUNTS_VS_ISSO, "req/s")
        )
    posting = (("isso", "guard off"), ("isso-raised", "guard on, limits raised"), ("isso-guard", "guard on"))
    for system, what in posting:
        if ("post", system) in by:
            text = f"posting (Kibitz guard on) ≥ {POST_VS_ISSO:.0f}× Isso {what}"
            line = compare(text, rps("post", "kibitz"), rps("post", system), POST_VS_ISSO, "posts/s")
            if system == "isso-guard" and rps("post", system) is None:
                line = check(None, f"{text}: not comparable (its default guard refuses nearly every post)")
            out.append(line)
    if pg is not None:
        small = next((t.p99_ms for t in pg.threads if t.comments == 10_000), None)
        big = next((t for t in pg.threads if t.comments == 1_000_000), None)
        text = f"thread read p99 at 1 M comments ≤ {MILLION_P99_RATIO}× the 10 k p99"
        if big is None:
            out.append(check(None, f"{text}: not measured (--skip-million)"))
        else:
            out.append(compare(text, big.p99_ms, small, MILLION_P99_RATIO, "ms", most=True))
    if soaked is not None and soaked.workers:
        worst = max(w.max_mib for w in soaked.workers)
        limit_mib = RSS_LIMIT_MB * MB / 2**20
        text = f"RSS ≤ {RSS_LIMIT_MB:.0f} MB ({limit_mib:.1f} MiB) per worker over the soak"
        out.append(check(worst <= limit_mib, f"{text}: largest {worst:.1f} MiB"))
        growth = max(w.growth_mib_per_min for w in soaked.workers)
        text = f"RSS flat over the soak (≤ {FLAT_MIB_PER_MIN:g} MiB/min per worker after its first minute)"
        if soaked.seconds < FLAT_MIN_SOAK:
            out.append(check(None, f"{text}: soak shorter than {FLAT_MIN_SOAK} s ({growth:.2f} MiB/min)"))
        else:
            out.append(check(growth <= FLAT_MIB_PER_MIN, f"{text}: largest growth {growth:.2f} MiB/min"))
    return out


# -- the run --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench spike", description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per run (1-300)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before each run (0-60)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (1-9)")
    parser.add_argument("--soak", type=int, default=600, help="seconds of the RSS read soak; 0 skips it")
    parser.add_argument("--skip-million", action="store_true", help="PostgreSQL at 10 k comments only")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated: {','.join(SCENARIOS)}")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (1-1000)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (1-16)")
    parser.add_argument("--pg-admin", default=PG_ADMIN_DSN, help="where the throwaway database is made")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    args = parser.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if not only or only - set(SCENARIOS):
        parser.error(f"--only: choose from {', '.join(SCENARIOS)}")
    args.only = only
    bounds = {
        "duration": (1, 300),
        "warmup": (0, 60),
        "rounds": (1, 9),
        "soak": (0, 7200),
        "connections": (1, 1000),
        "threads": (1, 16),
    }
    for name, (low, high) in bounds.items():
        if not low <= getattr(args, name) <= high:
            parser.error(f"--{name} must be between {low} and {high}")
    if args.threads > args.connections:
        parser.error("--threads must not exceed --connections")
    if args.soak == 0:
        args.only.discard("soak")
    return args


def write_json(path: Path, args: argparse.Namespace, payload: dict[str, Any]) -> None:
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "workers": WORKERS,
        "isso": list(isso.REQUIREMENTS),
        "wrk": {"threads": args.threads, "connections": args.connections, "timeout": wrk.TIMEOUT},
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "rounds": args.rounds,
        "soak_s": args.soak,
        "only": sorted(args.only),
    }
    path.write_text(json.dumps({"meta": meta, **payload}, indent=2, default=str) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when it ran (MISS lines included), 1 when it could not run, 2 without wrk."""
    args = parse_args(argv)
    try:
        tool = wrk.find_wrk()
    except wrk.WrkError as exc:
        say(str(exc))
        return 2
    load_before = load_average()
    phases = Phases()
    measures: list[Measure] = []
    probes: list[Probe] = []
    pg: Postgres | None = None
    soaked: Soak | None = None
    failure = ""
    run_started = time.monotonic()
    try:
        installed = None
        if args.only & {"thread", "counts", "post"}:
            with phases("Isso virtualenv"):
                installed = isso.ensure_venv()
        if args.only & {"thread", "counts", "post", "soak"}:
            with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="kibitz-spike-") as tmp:
                directory = Path(tmp)
                systems = start_systems(args.only, directory, stack, phases, installed)
                probes = systems.probes
                for scenario in ("thread", "counts", "post"):
                    if scenario in args.only:
                        with phases(f"scenario: {SCENARIO_NAMES[scenario]}"):
                            measures += rounds_of(scenario, systems, args, tool, directory)
                if "soak" in args.only:
                    assert systems.kibitz is not None
                    with phases(f"RSS soak ({args.soak} s)"):
                        soaked = soak(systems.kibitz, args, tool, directory)
        if "postgres" in args.only:
            pg = postgres(args, tool, phases)
    except (BenchError, ServerError, wrk.WrkError, seed.SeedError, isso.IssoError, OSError) as exc:
        failure = f"spike bench failed: {type(exc).__name__}: {exc}"
    except Exception as exc:  # a bug or an unexpected answer: still print what was measured
        traceback.print_exc()
        failure = f"spike bench failed: {type(exc).__name__}: {exc}"
    summaries = summarise(measures)
    lines, goals = report(summaries, probes, pg, soaked)
    print(
        f"Kibitz vs Isso 0.14: wrk -t{args.threads} -c{args.connections}, {args.duration} s measured after "
        f"{args.warmup} s warm-up, {args.rounds} alternating round(s), medians of the valid rounds; "
        f"{WORKERS} workers each (kibitz serve / gunicorn sync --preload / uvicorn); {os.cpu_count()} CPUs "
        f"shared with wrk; load average before the run {load_before}"
    )
    print("\n".join(lines))
    if goals:
        print("\nTargets (issue 6; printed, not enforced):")
        print("\n".join(goals))
    print("\nPhases: " + ", ".join(f"{name} {s:.0f} s" for name, s in phases.seconds.items()))
    print(f"Whole run: {time.monotonic() - run_started:.0f} s")
    if args.json is not None:
        payload = {
            "load_average_1m_before": load_before,
            "phases_s": phases.seconds,
            "summaries": [asdict(s) for s in summaries],
            "measures": [asdict(m) for m in measures],
            "probes": [asdict(p) for p in probes],
            "postgres": asdict(pg) if pg else None,
            "soak": asdict(soaked) if soaked else None,
            "targets": goals,
            "failure": failure,
        }
        write_json(args.json, args, payload)
    if failure:
        say(failure)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
