"""CPU per post, in process: the posting path driven straight through the ASGI app (no socket, no
HTTP parser), so the figure is Kibitz's own work per comment, with the bench's settings (guard on,
limits counted but raised, spam scored). `--profile` prints where the time goes (cProfile).

    .venv/bin/python -m bench.post_profile --posts 3000 --concurrency 50 [--profile] [--engine postgresql]

Process CPU time counts every thread (the SQLite driver works in one of its own), so it is steady on a
loaded machine where wall time is not. Loopback only; bounded by --posts.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp as App

from bench.baseline import ORIGIN, SITE, database, write_config

Message = MutableMapping[str, Any]
PAGES = 20


def body(n: int) -> bytes:
    """What wrk's posting script sends: a new reader's comment on one of 20 pages."""
    text = f"Benchmark comment 1-{n}: *numbers* for the baseline."
    doc = {"page": f"/post/{n % PAGES}", "text": text, "author": {"name": f"Bench reader {n % 50}"}}
    return json.dumps(doc).encode()


async def post(app: App, n: int) -> int:
    """One POST through the ASGI interface; returns the status."""
    payload = body(n)
    scope: Message = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/api/v1/sites/{SITE}/comments",
        "raw_path": f"/api/v1/sites/{SITE}/comments".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"origin", ORIGIN.encode()),
        ],
        "client": ("127.0.0.1", 40000 + n % 1000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status = 0

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def run(url: str, directory: Path, posts: int, concurrency: int, profile: bool) -> None:
    from kibitz.app import create_app
    from kibitz.config import load_settings

    config = write_config(directory, url, 8000)
    settings = load_settings(config, env={}, cwd=directory)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        for n in range(200):  # warm: threads exist, statements prepared, caches filled
            await post(app, -1 - n)
        queue = iter(range(posts))
        statuses: dict[int, int] = {}

        async def worker() -> None:
            for n in queue:
                s = await post(app, n)
                statuses[s] = statuses.get(s, 0) + 1

        profiler = cProfile.Profile() if profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"statuses: {statuses}")
    print(
        f"{posts} posts, concurrency {concurrency}: {cpu / posts * 1e6:.0f} µs CPU per post, "
        f"{posts / wall:.0f} posts/s in one process{' (profiled)' if profile else ''}"
    )
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(60)
        print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--engine", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--pg-admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="kibitz-post-") as tmp,
        database(args.engine, args.pg_admin) as url,
    ):
        asyncio.run(run(url, Path(tmp), args.posts, args.concurrency, args.profile))


if __name__ == "__main__":
    main()
