"""Cached reads answered in the HTTP protocol (kibitz/web/wire.py), on a real uvicorn server in this
process: the same bytes as the app's answer, still exact after a write, answers in request order on
a pipelined connection, the edge's refusals kept, keep-alive's timeout kept, every answer counted.

Which path answered is seen by counting the requests that reach the ASGI app (``Counting``)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest
import uvicorn

from kibitz.app import create_app
from kibitz.web.wire import KibitzHttp
from tests.conftest import ORIGIN_A, FakeClock
from tests.server import free_port

pytestmark = pytest.mark.anyio
# The wire answers where the version check needs no waiting: SQLite (PostgreSQL's case is the last test).
sqlite_only = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)

THREAD = "/api/v1/sites/a/comments?page=%2Fstory&sort=newest&limit=20"
KEEP_ALIVE_SECONDS = 1  # the server's keep-alive timeout in these tests


class Counting:
    """The ASGI app, counting the HTTP requests that reach it (``ctx`` is found through ``.app``)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.calls.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


@dataclass
class Live:
    url: str
    port: int
    app: Counting


@contextlib.asynccontextmanager
async def running(settings: Any, clock: FakeClock) -> AsyncIterator[Live]:
    app = Counting(create_app(settings, clock=clock))
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http=KibitzHttp,
        access_log=False,
        log_level="warning",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # polling a condition, bounded
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield Live(f"http://127.0.0.1:{port}", port, app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def live(settings: Any, clock: FakeClock) -> AsyncIterator[Live]:
    async with running(settings, clock) as item:
        yield item


async def post(live: Live, text: str) -> None:
    async with httpx.AsyncClient(base_url=live.url) as client:
        r = await client.post(
            "/api/v1/sites/a/comments",
            json={"page": "/story", "text": text, "author": {"name": "Ann"}},
            headers={"Origin": ORIGIN_A},
        )
        assert r.status_code == 201, r.text


async def exchange(port: int, raw: bytes, answers: int) -> list[tuple[h11.Response, bytes]]:
    """Send ``raw`` (one or more requests) on one connection; read ``answers`` responses in order."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(read_responses(reader, answers), 10)
    finally:
        writer.close()


async def one_by_one(port: int, *requests: bytes) -> list[tuple[h11.Response, bytes]]:
    """Each request on one keep-alive connection, sent after the answer to the one before."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out: list[tuple[h11.Response, bytes]] = []
    try:
        for raw in requests:
            writer.write(raw)
            await writer.drain()
            out += await asyncio.wait_for(read_responses(reader, 1), 10)
        return out
    finally:
        writer.close()


async def read_responses(reader: asyncio.StreamReader, answers: int) -> list[tuple[h11.Response, bytes]]:
    conn = h11.Connection(h11.CLIENT)
    out: list[tuple[h11.Response, bytes]] = []
    while len(out) < answers:
        # h11 reads one response per (fake) request cycle: tell it a GET was sent each time.
        conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
        conn.send(h11.EndOfMessage())
        head: h11.Response | None = None
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
        assert head is not None
        out.append((head, body))
        if len(out) < answers:
            conn.start_next_cycle()
    return out


def get(target: str = THREAD, *extra: str, version: str = "1.1") -> bytes:
    lines = [f"GET {target} HTTP/{version}", "Host: 127.0.0.1", f"Origin: {ORIGIN_A}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def headers_of(response: h11.Response) -> list[tuple[bytes, bytes]]:
    return sorted((k, v) for k, v in response.headers if k != b"date")


@sqlite_only
async def test_a_repeated_read_is_answered_before_the_app_with_the_apps_bytes(live: Live) -> None:
    await post(live, "First")
    (routed, body), (wired, again) = await one_by_one(live.port, get(), get())
    assert live.app.calls.count("GET /api/v1/sites/a/comments") == 1  # the second never reached it
    assert (wired.status_code, again) == (routed.status_code, body) == (200, body)
    assert headers_of(wired) == headers_of(routed)
    assert b"First" in again
    assert dict(wired.headers)[b"access-control-allow-origin"] == ORIGIN_A.encode()


@sqlite_only
async def test_a_read_after_a_write_shows_the_write(live: Live) -> None:
    """Mutation tried: ``Versions.one_now`` trusting what it read without comparing the change
    marker serves the old body here."""
    await post(live, "First")
    await one_by_one(live.port, get(), get())
    await post(live, "Second")
    [(response, body)] = await exchange(live.port, get(), 1)
    assert response.status_code == 200
    assert b"Second" in body
    [(_, cached)] = await exchange(live.port, get(), 1)
    assert cached == body
    assert live.app.calls.count("GET /api/v1/sites/a/comments") == 2  # rendered once per version


@sqlite_only
async def test_a_revalidation_gets_304_on_the_wire(live: Live) -> None:
    await post(live, "First")
    [(first, _)] = await exchange(live.port, get(), 1)
    etag = dict(first.headers)[b"etag"].decode()
    [(response, body)] = await exchange(live.port, get(THREAD, f"If-None-Match: {etag}"), 1)
    assert (response.status_code, body) == (304, b"")
    assert dict(response.headers)[b"etag"].decode() == etag
    assert live.app.calls.count("GET /api/v1/sites/a/comments") == 1


@sqlite_only
async def test_pipelined_requests_are_answered_in_order(live: Live) -> None:
    """A cached read queued behind a request the app is still answering waits its turn.

    Mutation tried: dropping the in-flight check (``self.cycle ... response_complete``) in
    ``_answer_cached`` writes the thread before /healthz's answer."""
    await post(live, "First")
    await exchange(live.port, get(), 1)  # now cached
    raw = get("/healthz") + get() + get("/api/v1/sites/a/counts?page=%2Fstory") + get()
    answers = await exchange(live.port, raw, 4)
    kinds = [(r.status_code, b"First" in body, b"counts" in body) for r, body in answers]
    assert kinds == [(200, False, False), (200, True, False), (200, False, True), (200, True, False)]


@pytest.mark.parametrize(
    ("extra", "version"),
    [
        (("Connection: close",), "1.1"),
        ((), "1.0"),
    ],
)
@sqlite_only
async def test_closing_and_old_clients_take_the_apps_path(
    live: Live, extra: tuple[str, ...], version: str
) -> None:
    await post(live, "First")
    await exchange(live.port, get(), 1)
    [(response, body)] = await exchange(live.port, get(THREAD, *extra, version=version), 1)
    assert response.status_code == 200
    assert b"First" in body
    assert live.app.calls.count("GET /api/v1/sites/a/comments") == 2


@sqlite_only
async def test_head_and_oversized_heads_are_still_the_edges(live: Live) -> None:
    """Mutation tried: removing the ``over_limits`` check in ``_cached`` answers the 9 KiB
    header with the cached 200 instead of the edge's 431."""
    await post(live, "First")
    await exchange(live.port, get(), 1)
    [(big, body)] = await exchange(live.port, get(THREAD, "X-Big: " + "a" * 9000), 1)
    assert big.status_code == 431
    assert b"header" in body.lower()
    head = get().replace(b"GET ", b"HEAD ", 1)
    reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
    try:
        writer.write(head)
        data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    assert data.startswith(b"HTTP/1.1 200")
    assert re.search(rb"content-length: [1-9]", data)
    assert live.app.calls.count("HEAD /api/v1/sites/a/comments") == 1


@sqlite_only
async def test_an_idle_connection_still_times_out_after_a_wired_answer(live: Live) -> None:
    """Mutation tried: not arming the keep-alive timer after a wired answer leaves the connection
    open for good (the read below times out)."""
    await post(live, "First")
    await exchange(live.port, get(), 1)
    reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
    try:
        writer.write(get())
        [(response, _)] = await asyncio.wait_for(read_responses(reader, 1), 10)
        assert response.status_code == 200
        closed = await asyncio.wait_for(reader.read(), KEEP_ALIVE_SECONDS + 9)
        assert closed == b""  # the server closed it
    finally:
        writer.close()
    assert live.app.calls.count("GET /api/v1/sites/a/comments") == 1


@sqlite_only
async def test_every_wired_answer_is_counted(live: Live) -> None:
    """Mutation tried: dropping ``reads.observe`` in ``_answer_cached`` leaves the counter at 1."""
    await post(live, "First")
    await one_by_one(live.port, *[get()] * 5)
    async with httpx.AsyncClient(base_url=live.url) as client:
        text = (await client.get("/metrics")).text
    line = next(
        x
        for x in text.splitlines()
        if x.startswith("kibitz_http_requests_total")
        and 'route="/api/v1/sites/{site}/comments"' in x
        and 'method="GET"' in x
        and 'status="200"' in x
    )
    assert float(line.rsplit(" ", 1)[1]) == 5
    assert live.app.calls.count("GET /api/v1/sites/a/comments") == 1


async def test_postgresql_reads_take_the_batched_check_through_the_app(
    engine: str, settings: Any, clock: FakeClock, tmp_path: Path
) -> None:
    """On PostgreSQL the version check must wait for a query: every read reaches the app (and its
    fast path), answered right; on SQLite only the first does."""
    async with running(settings, clock) as live:
        await post(live, "First")
        answers = await one_by_one(live.port, get(), get(), get())
        assert all(r.status_code == 200 and b"First" in body for r, body in answers)
        expected = 3 if engine == "postgresql" else 1
        assert live.app.calls.count("GET /api/v1/sites/a/comments") == expected
