"""QUALITY R07: PostgreSQL stopped with ``-m immediate`` while a real `kibitz serve` takes a stream of
posts, then started again. Meanwhile posts answer 503 ``unavailable`` with Retry-After (never a 500,
never a hang past the client's timeout), /readyz says 503; afterwards the pool recovers without
restarting Kibitz, and every acknowledged post is stored. A throwaway cluster on its own port in a
temp dir: the shared server on 5432 is never touched."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import ORIGIN_A, missing
from tests.server import free_port, serve

pytestmark = pytest.mark.anyio
PG_BIN = Path("/usr/lib/postgresql/15/bin")
CLIENT_TIMEOUT = 15.0  # a request answered later than this counts as a hang


@dataclass
class Cluster:
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        command = [str(PG_BIN / "pg_ctl"), "-D", str(self.directory / "data"), *args]
        subprocess.run(_as_postgres(command), check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self.ctl("-o", options, "-l", str(self.directory / "log"), "-w", "start")

    def stop_immediately(self) -> None:
        self.ctl("-m", "immediate", "-w", "stop")


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its tools as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists() or (os.geteuid() == 0 and shutil.which("runuser") is None):
        missing("PostgreSQL 15's initdb (and runuser when run as root)")
    directory = Path(tempfile.mkdtemp(prefix="kibitz-r07-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres")
        initdb = [str(PG_BIN / "initdb"), "-D", str(directory / "data"), "-A", "trust", "-U", "postgres"]
        subprocess.run(_as_postgres([*initdb, "--no-sync"]), check=True, capture_output=True, timeout=120)
        found = Cluster(directory, free_port())
        found.start()
        try:
            yield found
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                found.ctl("-m", "immediate", "stop")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Stream:
    """Posts one after another until stopped; keeps what each answer was."""

    url: str
    acknowledged: list[int] = field(default_factory=list)
    refused: list[httpx.Response] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=CLIENT_TIMEOUT) as client:
            i = 0
            while not self.stop.is_set():
                i += 1
                body = {"page": "/r07", "text": f"Post {i} through a restart", "author": {"name": "Ann"}}
                r = await client.post("/api/v1/sites/a/comments", json=body, headers={"Origin": ORIGIN_A})
                if r.status_code == 201:
                    self.acknowledged.append(int(r.json()["comment"]["id"]))
                else:
                    self.refused.append(r)
                    await asyncio.sleep(0.05)


async def until(condition: Stream, count: int, *, refused: bool = False) -> None:
    for _ in range(1200):  # a condition, bounded (about a minute)
        if len(condition.refused if refused else condition.acknowledged) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"not reached: {len(condition.acknowledged)} acknowledged, {len(condition.refused)} refused"
    )


@pytest.mark.timeout(240)
async def test_postgresql_stopped_immediately_and_restarted_under_posts(tmp_path: Path) -> None:
    with cluster() as pg, serve(tmp_path, pg.url) as server:
        stream = Stream(server.url)
        task = asyncio.create_task(stream.run())
        try:
            await until(stream, 20)
            pg.stop_immediately()
            await until(stream, 5, refused=True)
            async with httpx.AsyncClient(base_url=server.url, timeout=CLIENT_TIMEOUT) as client:
                ready = await client.get("/readyz")
                assert ready.status_code == 503
                assert ready.headers["Retry-After"]
            before = len(stream.acknowledged)
            pg.start()
            await until(stream, before + 20)  # the same Kibitz process takes posts again
        finally:
            stream.stop.set()
            await task
        for r in stream.refused:
            assert r.status_code == 503, r.text
            assert r.json()["code"] == "unavailable"
            assert int(r.headers["Retry-After"]) > 0
        async with httpx.AsyncClient(base_url=server.url, timeout=CLIENT_TIMEOUT) as client:
            assert (await client.get("/readyz")).status_code == 200
        assert server.process.poll() is None  # the same process throughout
        connection = await asyncpg.connect(pg.url)
        try:
            stored = {int(row[0]) for row in await connection.fetch("SELECT id FROM comments")}
        finally:
            await connection.close()
    assert stream.refused
    assert set(stream.acknowledged) <= stored
