"""Live updates: N concurrent SSE readers on one `kibitz serve` process (issue 5).

Opens N streams on one page, measures the server's memory per idle stream, then posts K comments
and times each one's `comment.created` event at every reader: p50/p99 delivery and missed
deliveries, next to the targets (p99 <= 1 s, <= 50 KB per idle stream). Loopback only, bounded in
count and time. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bench.baseline import (
    API,
    ORIGIN,
    PG_ADMIN_DSN,
    BenchError,
    database,
    git_revision,
    load_average,
    say,
    write_config,
)
from bench.server import Server, ServerError, free_port, process_tree, rss_kib

PAGE = "/live"
TARGET_P99_MS = 1000.0
TARGET_KB_PER_STREAM = 50.0
BATCH = 100  # streams opened at once
OPEN_TIMEOUT = 20.0  # seconds for one stream to answer with its `retry:` line
GRACE = 10.0  # seconds to wait for the last deliveries after the last post
SETTLE = 3.0  # seconds the streams sit idle before the memory is read


# -- one SSE reader over a raw socket ---------------------------------------------------------------


class Reader:
    """One `GET .../events` over its own connection: HTTP/1.1 by hand, chunked or not, SSE lines parsed."""

    def __init__(self, host: str, port: int, target: str, want: int) -> None:
        self.host, self.port, self.target = host, port, target
        self.ready = asyncio.Event()  # set on the `retry:` line
        self.want = want  # comment.created events expected
        self.complete = asyncio.Event()  # set once ``want`` arrived, or the stream ended
        self.created: dict[str, float] = {}  # comment id -> perf_counter() when comment.created arrived
        self.duplicates = 0
        self.ended = ""  # why the stream ended before we closed it ("" while open)
        self.closing = False
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []

    async def open(self) -> None:
        """Connect, send the request, read the head; the body is read by a task from then on."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        self._writer = writer
        request = (
            f"GET {self.target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Accept: text/event-stream\r\nCache-Control: no-cache\r\nOrigin: {ORIGIN}\r\n\r\n"
        )
        writer.write(request.encode())
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            rest = await asyncio.wait_for(reader.read(300), 2)
            raise BenchError(f"events answered {status.decode(errors='replace').strip()!r}: {rest[:300]!r}")
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        if not headers.get("content-type", "").startswith("text/event-stream"):
            raise BenchError(f"events answered Content-Type {headers.get('content-type')!r}")
        chunked = "chunked" in headers.get("transfer-encoding", "")
        self._task = asyncio.create_task(self._read(reader, chunked))

    async def _read(self, reader: asyncio.StreamReader, chunked: bool) -> None:
        try:
            while True:
                if chunked:
                    size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.ended = "end of stream"
                        break
                    data = await reader.readexactly(size)
                    await reader.readexactly(2)  # CRLF after the chunk
                else:
                    data = await reader.read(65536)
                    if not data:
                        self.ended = "end of stream"
                        break
                self._feed(data)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            if not self.closing:
                self.ended = f"{type(exc).__name__}: {exc}"
        self.complete.set()

    def _feed(self, data: bytes) -> None:
        now = time.perf_counter()
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
            if not line:  # a blank line dispatches the event
                if self._event == "comment.created" and self._data:
                    self._created("\n".join(self._data), now)
                self._event, self._data = "", []
            elif line.startswith(":"):
                continue  # a comment: the heartbeat
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "retry":
                    self.ready.set()
                elif name == "event":
                    self._event = value
                elif name == "data":
                    self._data.append(value)

    def _created(self, data: str, now: float) -> None:
        try:
            comment_id = str(json.loads(data)["comment"]["id"])
        except (ValueError, KeyError, TypeError):
            self.ended = self.ended or f"comment.created with unexpected data: {data[:200]}"
            return
        if comment_id in self.created:
            self.duplicates += 1
        else:
            self.created[comment_id] = now
            if len(self.created) >= self.want:
                self.complete.set()

    async def close(self) -> None:
        self.closing = True
        if self._task is not None:
            self._task.cancel()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self._writer.wait_closed(), 2)


async def open_reader(host: str, port: int, target: str, want: int) -> Reader:
    reader = Reader(host, port, target, want)
    try:
        await asyncio.wait_for(reader.open(), OPEN_TIMEOUT)
        await asyncio.wait_for(reader.ready.wait(), OPEN_TIMEOUT)
    except BaseException:
        await reader.close()
        raise
    return reader


# -- figures --------------------------------------------------------------------------------------


@dataclass
class Result:
    engine: str
    readers: int
    readers_open: int
    open_failures: int
    open_seconds: float
    first_open_error: str
    comments: int
    interval_s: float
    deliveries_expected: int
    deliveries: int
    missed: int
    duplicates: int
    streams_ended_early: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    rss_before_mib: float
    rss_idle_mib: float
    rss_after_mib: float
    kb_per_idle_stream: float
    server_cpu_idle_percent: float
    server_open_files_limit: str
    sse_streams_gauge: str
    per_comment_p99_ms: list[float] = field(default_factory=list)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def server_rss_kib(server: Server) -> int:
    assert server.proc is not None
    return sum(rss_kib(pid) for pid in process_tree(server.proc.pid))


def open_files_limit(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return "/".join(line.split()[3:5])
    except OSError:
        pass
    return "?"


def raise_nofile(wanted: int) -> int:
    """Raise this process's soft open-file limit toward ``wanted`` (the server, its child, inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    goal = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if goal > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (goal, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def sse_streams_gauge(base: str) -> str:
    """kibitz_sse_streams from /metrics, "?" when it is not there."""
    try:
        text = httpx.get(f"{base}/metrics", timeout=5).text
    except httpx.HTTPError:
        return "?"
    for line in text.splitlines():
        if line.startswith("kibitz_sse_streams"):
            return line.split()[-1]
    return "?"


async def post_comment(client: httpx.AsyncClient, n: int) -> str:
    text = f"Live bench comment {n} ({uuid.uuid4().hex[:8]})."
    body = {"page": PAGE, "text": text, "author": {"name": "Bench"}}
    r = await client.post(f"{API}/comments", json=body)
    if r.status_code != 201:
        raise BenchError(f"posting failed: {r.status_code} {r.text[:300]}")
    comment_id: str = r.json()["comment"]["id"]
    return comment_id


# -- the run --------------------------------------------------------------------------------------


async def run(server: Server, engine: str, args: argparse.Namespace) -> Result:
    host, port = "127.0.0.1", server.port
    target = f"{API}/events?{urlencode({'page': PAGE})}"
    assert server.proc is not None
    pid = server.proc.pid
    readers: list[Reader] = []
    async with httpx.AsyncClient(base_url=server.base, headers={"Origin": ORIGIN}, timeout=30) as client:
        await post_comment(client, 0)  # the thread exists from here on
        # One stream first, so what the first stream loads once is not counted per stream.
        warm = await open_reader(host, port, target, args.comments)
        await warm.close()
        await asyncio.sleep(1)
        before = server_rss_kib(server)

        say(f"{engine}: opening {args.readers} streams, {BATCH} at a time")
        started = time.perf_counter()
        failures, first_error = 0, ""
        for offset in range(0, args.readers, BATCH):
            count = min(BATCH, args.readers - offset)
            batch = await asyncio.gather(
                *(open_reader(host, port, target, args.comments) for _ in range(count)),
                return_exceptions=True,
            )
            for item in batch:
                if isinstance(item, Reader):
                    readers.append(item)
                else:
                    failures += 1
                    first_error = first_error or f"{type(item).__name__}: {item}"
        open_seconds = time.perf_counter() - started
        say(f"{engine}: {len(readers)} streams open in {open_seconds:.1f} s ({failures} failed)")
        try:
            cpu_before = server.cpu_seconds()
            await asyncio.sleep(SETTLE)
            cpu_idle = (server.cpu_seconds() - cpu_before) / SETTLE * 100
            idle = server_rss_kib(server)
            gauge = await asyncio.to_thread(sse_streams_gauge, server.base)

            say(f"{engine}: posting {args.comments} comments, one every {args.interval} s")
            sent: dict[str, float] = {}
            order: list[str] = []
            start = time.perf_counter()
            for n in range(1, args.comments + 1):
                await asyncio.sleep(max(0.0, start + (n - 1) * args.interval - time.perf_counter()))
                t0 = time.perf_counter()
                comment_id = await post_comment(client, n)
                sent[comment_id] = t0
                order.append(comment_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(r.complete.wait() for r in readers)), GRACE)
            after = server_rss_kib(server)
        finally:
            await asyncio.gather(*(r.close() for r in readers))

    latencies: list[float] = []
    per_comment: dict[str, list[float]] = {cid: [] for cid in order}
    for r in readers:
        for cid, t0 in sent.items():
            if cid in r.created:
                ms = (r.created[cid] - t0) * 1000
                latencies.append(ms)
                per_comment[cid].append(ms)
    expected = args.readers * len(sent)  # a stream that never opened misses every comment
    n_open = len(readers)
    return Result(
        engine=engine,
        readers=args.readers,
        readers_open=n_open,
        open_failures=failures,
        open_seconds=round(open_seconds, 2),
        first_open_error=first_error[:300],
        comments=len(sent),
        interval_s=args.interval,
        deliveries_expected=expected,
        deliveries=len(latencies),
        missed=expected - len(latencies),
        duplicates=sum(r.duplicates for r in readers),
        streams_ended_early=sum(1 for r in readers if r.ended),
        p50_ms=round(percentile(latencies, 50), 1),
        p90_ms=round(percentile(latencies, 90), 1),
        p99_ms=round(percentile(latencies, 99), 1),
        max_ms=round(max(latencies, default=0.0), 1),
        rss_before_mib=round(before / 1024, 1),
        rss_idle_mib=round(idle / 1024, 1),
        rss_after_mib=round(after / 1024, 1),
        kb_per_idle_stream=round((idle - before) * 1.024 / max(n_open, 1), 1),
        server_cpu_idle_percent=round(cpu_idle, 1),
        server_open_files_limit=open_files_limit(pid),
        sse_streams_gauge=gauge,
        per_comment_p99_ms=[round(percentile(per_comment[c], 99), 1) for c in order],
    )


def bench(args: argparse.Namespace) -> Result:
    with (
        tempfile.TemporaryDirectory(prefix=f"kibitz-bench-live-{args.engine}-") as tmp,
        database(args.engine, args.pg_admin) as url,
    ):
        directory, port = Path(tmp), free_port()
        server = Server(write_config(directory, url, port), workers=1, port=port)
        say(f"{args.engine}: kibitz serve --workers 1 on 127.0.0.1:{port}")
        try:
            server.start()
            return asyncio.run(asyncio.wait_for(run(server, args.engine, args), args.timeout))
        except TimeoutError as exc:
            raise BenchError(f"the run took longer than --timeout {args.timeout:.0f} s") from exc
        finally:
            server.stop()


def report(r: Result) -> str:
    def verdict(ok: bool) -> str:
        return "meets" if ok else "MISSES"

    lines = [
        f"readers        {r.readers_open} of {r.readers} open in {r.open_seconds} s "
        f"(open failures {r.open_failures}, kibitz_sse_streams {r.sse_streams_gauge}, "
        f"server open-file limit {r.server_open_files_limit})",
        f"deliveries     {r.deliveries} of {r.deliveries_expected} "
        f"({r.comments} comments x {r.readers} readers, one every {r.interval_s} s); "
        f"missed {r.missed}, duplicates {r.duplicates}, "
        f"streams ended early {r.streams_ended_early}",
        f"delivery       p50 {r.p50_ms:.1f} ms  p90 {r.p90_ms:.1f} ms  p99 {r.p99_ms:.1f} ms  "
        f"max {r.max_ms:.1f} ms",
        f"server RSS     {r.rss_before_mib:.1f} MiB before, {r.rss_idle_mib:.1f} MiB with the streams idle, "
        f"{r.rss_after_mib:.1f} MiB after the comments; CPU while idle {r.server_cpu_idle_percent:.1f} %",
        "",
    ]
    rows = [
        ("figure", "measured", "target", "verdict"),
        (
            "delivery p99",
            f"{r.p99_ms:.1f} ms",
            f"<= {TARGET_P99_MS:.0f} ms",
            verdict(r.p99_ms <= TARGET_P99_MS and r.deliveries > 0),
        ),
        (
            "memory per idle stream",
            f"{r.kb_per_idle_stream:.1f} KB",
            f"<= {TARGET_KB_PER_STREAM:.0f} KB",
            verdict(r.kb_per_idle_stream <= TARGET_KB_PER_STREAM),
        ),
        ("missed deliveries", str(r.missed), "0", verdict(r.missed == 0)),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(
                c.rjust(w) if i == 1 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    if r.first_open_error:
        lines.append(f"! first open error: {r.first_open_error}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench live", description=__doc__)
    parser.add_argument("--readers", type=int, default=2000, help="concurrent SSE streams (1-10000)")
    parser.add_argument("--comments", type=int, default=20, help="comments posted (1-1000)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between posts (0-10)")
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--pg-admin", default=PG_ADMIN_DSN, help="where the throwaway PostgreSQL database is made"
    )
    parser.add_argument("--timeout", type=float, default=180, help="overall limit in seconds (10-3600)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result to this file")
    args = parser.parse_args(argv)
    bounds = {"readers": (1, 10000), "comments": (1, 1000), "interval": (0, 10), "timeout": (10, 3600)}
    for name, (low, high) in bounds.items():
        if not low <= getattr(args, name) <= high:
            parser.error(f"--{name} must be between {low} and {high}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when every stream opened and got every comment once, 1 otherwise or when a step failed."""
    args = parse_args(argv)
    wanted = 2 * args.readers + 1024  # this process holds the client ends; the server inherits the limit
    limit = raise_nofile(wanted)
    if limit < args.readers + 256:
        say(f"the open-file limit is {limit}; {args.readers} readers need about {args.readers + 256}")
        return 1
    load_before = load_average()
    try:
        result = bench(args)
    except (BenchError, ServerError, OSError) as exc:
        say(f"bench failed: {exc}")
        return 1
    print(
        f"{args.readers} SSE readers on one `kibitz serve` process ({args.engine}), {os.cpu_count()} CPUs "
        f"shared by the readers and the server; load average before the run {load_before}"
    )
    print(report(result))
    if args.json is not None:
        meta = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "git": git_revision(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_1m_before": load_before,
            "targets": {"p99_ms": TARGET_P99_MS, "kb_per_idle_stream": TARGET_KB_PER_STREAM},
        }
        payload: dict[str, Any] = {"meta": meta, "result": asdict(result)}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    ok = result.open_failures == 0 and result.missed == 0 and result.duplicates == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
