"""Outbox throughput: `kibitz worker` delivering N queued mails to a local SMTP server that accepts all.

For each engine (SQLite in a temp dir; PostgreSQL in a throwaway database) it queues N mails (each to
its own confirmed subscriber), starts `kibitz worker`, and prints messages/s and the worker's peak RSS.
Loopback only, bounded in count and time. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import insert

from kibitz.config import load_settings
from kibitz.migrate import upgrade
from kibitz.store.db import Database
from kibitz.store.schema import outbox, subscribers

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
KIBITZ = Path(sys.executable).parent / "kibitz"
CHUNK = 1000


class Counting:
    """An SMTP handler that accepts every mail and counts it (and its Message-ID)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: set[str] = set()
        self.count = 0
        self.first = 0.0
        self.last = 0.0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        head = content.split(b"\r\n\r\n", 1)[0]
        mid = next((line for line in head.split(b"\r\n") if line.lower().startswith(b"message-id:")), b"")
        with self.lock:
            now = time.monotonic()
            self.first = self.first or now
            self.last = now
            self.count += 1
            self.ids.add(mid.decode())
        return "250 OK"


class BoundController(Controller):
    def _trigger_server(self) -> None:
        assert self.server is not None  # an asyncio.Server, or uvloop's own kind (bench/newsletter.py)
        sockets: list[socket.socket] = list(getattr(self.server, "sockets", None) or [])
        self.port = sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@asynccontextmanager
async def database(engine: str, workdir: Path) -> AsyncIterator[str]:
    if engine == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    import asyncpg

    name = f"kibitz_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def fill(url: str, workdir: Path, count: int) -> float:
    """Migrate and queue ``count`` mails; the seconds it took."""
    settings = load_settings(
        None, env={}, cwd=workdir, overrides={"database_url": url, "data_dir": str(workdir)}
    )
    db = Database(settings.sqlalchemy_url)
    started = time.monotonic()
    try:
        await upgrade(db, settings)
        now = datetime.now(UTC)
        for start in range(0, count, CHUNK):
            numbers = range(start, min(count, start + CHUNK))
            async with db.write() as tx:
                await tx.conn.execute(
                    insert(subscribers),
                    [
                        {
                            "id": n + 1,
                            "site": "bench",
                            "email": f"r{n}@example.org",
                            "status": "confirmed",
                            "created": now,
                        }
                        for n in numbers
                    ],
                )
                await tx.conn.execute(
                    insert(outbox),
                    [
                        {
                            "site": "bench",
                            "kind": "reply",
                            "dedupe_key": f"comment:{n}",
                            "recipient": f"r{n}@example.org",
                            "subscriber_id": n + 1,
                            "subject": f"A reply to your comment ({n})",
                            "text_body": "Someone replied to your comment.\n\nView it: https://news.example/a#c1\n"
                            * 3,
                            "html_body": "<p>Someone replied to your comment.</p>"
                            '<p><a href="https://news.example/a#c1">View it</a></p>' * 3,
                            "list_unsubscribe": f"https://comments.example/unsubscribe/token{n}",
                            "next_attempt": now,
                            "created": now,
                        }
                        for n in numbers
                    ],
                )
    finally:
        await db.dispose()
    return time.monotonic() - started


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run(engine: str, count: int, limit: float) -> int:
    handler = Counting()
    controller = BoundController(handler, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        with tempfile.TemporaryDirectory(prefix="kibitz-bench-outbox-") as tmp:
            workdir = Path(tmp)
            async with database(engine, workdir) as url:
                filled = await fill(url, workdir, count)
                config = workdir / "kibitz.toml"
                config.write_text(
                    f'database_url = "{url}"\ndata_dir = "{workdir}"\nbase_url = "https://comments.example"\n'
                    f'[smtp]\nhost = "127.0.0.1"\nport = {controller.port}\nsecurity = "none"\n'
                    "timeout = 10\n",
                    encoding="utf-8",
                )
                env = {k: v for k, v in os.environ.items() if not k.startswith("KIBITZ_")}
                log = workdir / "worker.log"
                with log.open("wb") as out:
                    started = time.monotonic()
                    worker = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited on
                        [str(KIBITZ), "worker", "--config", str(config)],
                        cwd=workdir,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=out,
                    )
                    try:
                        deadline = started + limit
                        # The counter lives in the SMTP server's thread: polled, bounded by the deadline.
                        while handler.count < count and time.monotonic() < deadline and worker.poll() is None:  # noqa: ASYNC110
                            await asyncio.sleep(0.05)
                        done = time.monotonic()
                        rss = peak_rss_mib(worker.pid) if worker.poll() is None else float("nan")
                    finally:
                        worker.terminate()
                        worker.wait(timeout=30)
                if handler.count < count:
                    print(
                        f"{engine}: only {handler.count} of {count} mails within {limit:.0f} s",
                        file=sys.stderr,
                    )
                    print(log.read_text(errors="replace")[-2000:], file=sys.stderr)
                    return 1
                steady = handler.last - handler.first
                took = done - started
                print(
                    f"{engine:<10} {count:>7} {filled:>8.1f} {took:>9.1f} {count / took:>9.0f}"
                    f" {(count - 1) / steady if steady else float('nan'):>10.0f} {len(handler.ids):>7}"
                    f" {handler.count - len(handler.ids):>5} {rss:>8.1f}"
                )
    finally:
        controller.stop()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000, help="mails to queue (1-100000)")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--limit", type=float, default=300.0, help="seconds allowed per engine")
    args = parser.parse_args()
    if not 1 <= args.count <= 100_000:
        parser.error("--count must be 1-100000")
    print(f"cpus={os.cpu_count()} load1={os.getloadavg()[0]:.2f}")
    print(
        f"{'engine':<10} {'mails':>7} {'queue s':>8} {'deliver s':>9} {'msg/s':>9} {'steady/s':>10}"
        f" {'unique':>7} {'dups':>5} {'RSS MiB':>8}"
    )
    status = 0
    for engine in args.engines.split(","):
        status |= asyncio.run(run(engine.strip(), args.count, args.limit))
    return status


if __name__ == "__main__":
    sys.exit(main())
