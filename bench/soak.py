"""QUALITY R13, a soak: `kibitz serve --workers 2` on SQLite under mixed reads, posts and votes at a
steady (open-loop) rate for a while; every 10 s one line of figures, then a summary.

    .venv/bin/python -m bench.soak --minutes 10 --scale 2

The rates at ``--scale 1`` are a busy story on a small site, per second: 20 thread reads, 1 post,
3 votes; ``--scale 2`` is twice that. Printed: requests by kind and status, 5xx, latency p50/p99 per
kind, the workers' resident memory (first and last sample), the WAL file's size (largest seen), and
"database is locked" lines in the server's log. Nothing asserts: these are figures to read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx

from bench.server import Server, free_port

ORIGIN = "http://soak.example"
SITE = "soak"
PAGES = [f"/story/{i}" for i in range(10)]
RATES = {"read": 20.0, "post": 1.0, "vote": 3.0}  # per second at --scale 1
CONCURRENCY = 64  # requests in flight at most (beyond, the schedule waits: reported as lag)


def write_config(directory: Path, port: int) -> Path:
    q = json.dumps
    lines = [
        f"base_url = {q(f'http://127.0.0.1:{port}')}",
        f"data_dir = {q(str(directory))}",
        'database_url = "sqlite:///kibitz.db"',
        "",
        "[[sites]]",
        f"id = {q(SITE)}",
        'name = "Soak"',
        f"origins = [{q(ORIGIN)}]",
        "spam_hold = 1.0",
        "spam_reject = 1.0",
        "votes_per_address = 1000",
        "",
        "[sites.rate_limits]",
        *(f'{key} = "1000000/minute"' for key in ("comments", "votes", "subscriptions", "flags")),
    ]
    path = directory / "kibitz.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Soak:
    def __init__(self, base: str, rng: random.Random) -> None:
        self.client = httpx.AsyncClient(
            base_url=base, timeout=30, limits=httpx.Limits(max_connections=CONCURRENCY)
        )
        self.rng = rng
        self.statuses: Counter[tuple[str, int]] = Counter()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.comments: list[str] = []
        self.readers: list[str] = []
        self.posted = 0
        self.slots = asyncio.Semaphore(CONCURRENCY)

    async def one(self, kind: str) -> None:
        async with self.slots:
            started = time.perf_counter()
            try:
                status = await getattr(self, kind)()
            except httpx.HTTPError as exc:
                status = 599
                print(f"{kind}: {type(exc).__name__}")
            self.latency[kind].append(time.perf_counter() - started)
            self.statuses[(kind, status)] += 1

    async def read(self) -> int:
        r = await self.client.get(f"/api/v1/sites/{SITE}/comments", params={"page": self.rng.choice(PAGES)})
        return r.status_code

    async def post(self) -> int:
        self.posted += 1
        words = " ".join(
            self.rng.choice(("council", "budget", "tram", "school", "mayor", "road")) for _ in range(12)
        )
        body = {
            "page": self.rng.choice(PAGES),
            "text": f"{words} ({self.posted})",
            "author": {"name": "Soak"},
        }
        r = await self.client.post(f"/api/v1/sites/{SITE}/comments", json=body, headers={"Origin": ORIGIN})
        if r.status_code == 201:
            data = r.json()
            self.comments.append(data["comment"]["id"])
            if data.get("reader"):
                self.readers.append(data["reader"])
        return r.status_code

    async def vote(self) -> int:
        if not self.comments or not self.readers:
            return await self.read()
        headers = {"Origin": ORIGIN, "X-Kibitz-Reader": self.rng.choice(self.readers)}
        comment = self.rng.choice(self.comments[-200:])
        body = {"value": self.rng.choice((1, -1, 0))}
        r = await self.client.post(f"/api/v1/comments/{comment}/vote", json=body, headers=headers)
        return r.status_code


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000 if ordered else 0.0


async def run(minutes: float, scale: float, seed: int) -> None:
    with tempfile.TemporaryDirectory(prefix="kibitz-soak-") as tmp:
        directory = Path(tmp)
        port = free_port()
        server = Server(write_config(directory, port), workers=2, port=port)
        server.start()
        soak = Soak(server.base, random.Random(seed))
        wal = directory / "kibitz.db-wal"
        rates = {kind: rate * scale for kind, rate in RATES.items()}
        total = sum(rates.values())
        kinds, weights = list(rates), list(rates.values())
        rss: list[float] = []
        wal_max = 0
        tasks: set[asyncio.Task[None]] = set()
        started = time.monotonic()
        end = started + minutes * 60
        next_report = started + 10
        due = started
        print(f"soak: {minutes:g} min at {scale:g}x: {', '.join(f'{k} {v:g}/s' for k, v in rates.items())}")
        try:
            while (now := time.monotonic()) < end:
                while due <= now:  # open loop: requests go out on schedule, however slow the answers
                    task = asyncio.create_task(soak.one(soak.rng.choices(kinds, weights)[0]))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    due += soak.rng.expovariate(total)
                if now >= next_report:
                    next_report += 10
                    workers, _ = server.rss_mib()
                    rss.append(workers)
                    size = wal.stat().st_size if wal.exists() else 0
                    wal_max = max(wal_max, size)
                    done = sum(soak.statuses.values())
                    errors = sum(n for (_, s), n in soak.statuses.items() if s >= 500)
                    print(
                        f"{now - started:5.0f} s  {done:6d} done  5xx {errors}  workers {workers:6.1f} MiB  "
                        f"WAL {size / 1048576:6.2f} MiB  in flight {len(tasks)}"
                    )
                await asyncio.sleep(min(0.01, max(0.0, due - time.monotonic())))
            await asyncio.gather(*tasks)
        finally:
            await soak.client.aclose()
            server.stop()
        locked = server.log.read_text(errors="replace").count("database is locked")
        print("\nrequests by kind and status:", dict(sorted(soak.statuses.items())))
        print(
            "5xx:",
            sum(n for (_, s), n in soak.statuses.items() if s >= 500),
            "| 'database is locked' in log:",
            locked,
        )
        for kind, values in sorted(soak.latency.items()):
            print(
                f"{kind:5s} n {len(values):6d}  p50 {quantile(values, 0.5):7.1f} ms  "
                f"p99 {quantile(values, 0.99):7.1f} ms"
            )
        if rss:
            print(f"workers' memory: first {rss[0]:.1f} MiB, last {rss[-1]:.1f} MiB, max {max(rss):.1f} MiB")
        print(f"WAL: largest seen {wal_max / 1048576:.2f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--scale", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    asyncio.run(run(args.minutes, args.scale, args.seed))
