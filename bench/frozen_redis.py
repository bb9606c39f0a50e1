"""What a frozen Redis costs a write (QUALITY R06): posts through one in-process app on SQLite with
``redis_url`` set, to a throwaway redis-server (its own port, a temp dir) that runs, then is
SIGSTOPped, then SIGCONTed. Prints the post latency's p50/p99/max per phase.

    .venv/bin/python -m bench.frozen_redis [--posts 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from kibitz.app import create_app
from kibitz.config import load_settings

ORIGIN = "http://bench.example"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def redis_server(port: int, directory: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([*command, "--dir", str(directory)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.02)
        yield process
    finally:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait(timeout=10)


def quantiles(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p50, p99 = ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  max {ms[-1]:6.2f} ms"


async def posts(client: httpx.AsyncClient, count: int, phase: str) -> list[float]:
    times = []
    for i in range(count):
        body = {"page": f"/{phase}/{i % 10}", "text": f"{phase} post {i}", "author": {"name": f"R{i}"}}
        started = time.perf_counter()
        r = await client.post("/api/v1/sites/bench/comments", json=body, headers={"Origin": ORIGIN})
        times.append(time.perf_counter() - started)
        if r.status_code != 201:
            raise SystemExit(f"{phase}: {r.status_code} {r.text}")
    return times


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        directory = Path(tmp)
        with redis_server(port, directory) as redis:
            limits = {"comments": "1000000/minute"}
            site: dict[str, object] = {
                "id": "bench",
                "name": "Bench",
                "origins": [ORIGIN],
                "rate_limits": limits,
            }
            site |= {"spam_hold": 1.0, "spam_reject": 1.0}
            overrides = {
                "data_dir": str(directory),
                "database_url": "sqlite:///kibitz.db",
                "redis_url": f"redis://127.0.0.1:{port}/0",
                "sites": [site],
            }
            settings = load_settings(None, env={}, cwd=directory, overrides=overrides)
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5555))
                async with httpx.AsyncClient(transport=transport, base_url="http://kibitz.test") as client:
                    await posts(client, 20, "warm")
                    print(f"Redis running   {quantiles(await posts(client, count, 'up'))}")
                    redis.send_signal(signal.SIGSTOP)
                    print(f"Redis frozen    {quantiles(await posts(client, count, 'frozen'))}")
                    redis.send_signal(signal.SIGCONT)
                    await asyncio.sleep(2)
                    print(f"after SIGCONT   {quantiles(await posts(client, count, 'back'))}")
    print(f"({count} posts per phase, one at a time; SQLite; pid {os.getpid()})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=200)
    asyncio.run(main(parser.parse_args().posts))
