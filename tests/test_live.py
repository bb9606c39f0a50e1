"""Live updates (issue 5): the events stream over real HTTP against `kibitz serve`, across processes
through Redis and without it, through a Redis outage, and through a graceful stop (QUALITY T24, R06,
R10). In-process clients buffer whole bodies, so streams are read from real servers."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.conftest import ORIGIN_A, Api, missing
from tests.server import free_port, fresh_pg_database, serve

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

EVENTS = "/api/v1/sites/a/events"
WAIT = 10.0  # bounded wait for one event (the poll interval without Redis is 1 s, with Redis 5 s)


@dataclass
class Event:
    kind: str = "message"
    id: str | None = None
    data: str = ""
    retry: str | None = None
    comments: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.data)


class Reader:
    """Frames of one text/event-stream response, each read with a bounded wait."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def frame(self, within: float = WAIT) -> Event | None:
        """The next frame (up to a blank line), or None at the end of the stream."""
        event = Event()
        seen = False
        with anyio.fail_after(within):
            async for line in self.lines:
                if line == "":
                    if seen:
                        return event
                    continue
                seen = True
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    event.comments.append(value)
                elif name == "event":
                    event.kind = value
                elif name == "id":
                    event.id = value
                elif name == "data":
                    event.data = value if not event.data else event.data + "\n" + value
                elif name == "retry":
                    event.retry = value
        return None

    async def event(self, within: float = WAIT) -> Event:
        """The next real event (skipping retry hints and heartbeats)."""
        while True:
            frame = await self.frame(within)
            assert frame is not None, "the stream ended"
            if frame.data:
                return frame


@contextlib.asynccontextmanager
async def stream(base_url: str, page: str, headers: dict[str, str] | None = None) -> AsyncIterator[Reader]:
    """An open events stream of ``page`` on site "a", after its retry hint (so it is listening)."""
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(WAIT, read=None)) as http,
        http.stream("GET", EVENTS, params={"page": page}, headers=headers or {}) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        reader = Reader(response)
        first = await reader.frame()
        assert first is not None
        assert first.retry == "3000"
        yield reader


class Client:
    """A second reader's writes, over its own connection."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=WAIT, headers={"Origin": ORIGIN_A})

    async def post(self, page: str, text: str) -> dict[str, Any]:
        body = {"page": page, "text": text, "author": {"name": "Bo", "email": "bo@example.org"}}
        r = await self.http.post("/api/v1/sites/a/comments", json=body)
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        return data

    async def aclose(self) -> None:
        await self.http.aclose()


@contextlib.asynccontextmanager
async def client(base_url: str) -> AsyncIterator[Client]:
    c = Client(base_url)
    try:
        yield c
    finally:
        await c.aclose()


def assert_public(event: Event) -> None:
    """T24: no email, address or token in a live payload."""
    text = event.data.lower()
    for word in ("bo@example.org", "203.0.113", "127.0.0.1", '"email"', '"ip"', '"token"'):
        assert word not in text, (word, event.data)


# -- one server --------------------------------------------------------------------------------------


async def test_reader_sees_every_change_of_the_thread_with_ids_and_counts(
    tmp_path: Path, database_url: str
) -> None:
    # A public base URL that is not the readers' address, so an address in a payload would show.
    with serve(tmp_path, database_url, base_url="https://comments.example") as server:
        async with client(server.url) as writer, stream(server.url, "/live") as reader:
            posted = await writer.post("/live", "First!")
            comment_id = posted["comment"]["id"]
            created = await reader.event()
            assert created.kind == "comment.created"
            assert created.json()["comment"]["id"] == comment_id
            assert created.json()["comment"]["author"]["name"] == "Bo"
            assert "First!" in created.json()["comment"]["html"]
            assert created.json()["comment"]["replies"] == []
            count = await reader.event()
            assert (count.kind, count.json(), count.id) == ("thread.count", {"count": 1}, created.id)

            r = await writer.http.post(f"/api/v1/comments/{comment_id}/vote", json={"value": 1})
            assert r.status_code == 200, r.text
            voted = await reader.event()
            assert voted.kind == "comment.voted"
            assert voted.json() == {"id": comment_id, "score": 1, "up": 1, "down": 0}
            assert (await reader.event()).kind == "thread.count"

            auth = {"Authorization": f"Bearer {posted['token']}"}
            r = await writer.http.patch(
                f"/api/v1/comments/{comment_id}", json={"text": "Edited"}, headers=auth
            )
            assert r.status_code == 200, r.text
            updated = await reader.event()
            assert updated.kind == "comment.updated"
            assert "Edited" in updated.json()["comment"]["html"]
            assert updated.json()["comment"]["edited"] is not None
            assert (await reader.event()).kind == "thread.count"

            r = await writer.http.delete(f"/api/v1/comments/{comment_id}", headers=auth)
            assert r.status_code == 204, r.text
            deleted = await reader.event()
            assert deleted.kind == "comment.deleted"
            tombstone = deleted.json()["comment"]
            assert (tombstone["id"], tombstone["deleted"], tombstone["html"]) == (comment_id, True, "")
            assert tombstone["author"]["name"] == ""
            after = await reader.event()
            assert (after.kind, after.json()) == ("thread.count", {"count": 0})

            events = [created, count, voted, updated, deleted, after]
            assert all(e.id is not None and e.id.isdigit() for e in events)
            ids = [int(e.id) for e in (created, voted, updated, deleted) if e.id]
            assert ids == sorted(set(ids))
            for event in events:
                assert_public(event)


async def test_stream_of_an_existing_thread_starts_now(tmp_path: Path, database_url: str) -> None:
    with serve(tmp_path, database_url) as server:
        async with client(server.url) as writer:
            await writer.post("/old", "Before the reader came")
            async with stream(server.url, "/old") as reader:
                new = await writer.post("/old", "After")
                event = await reader.event()
                assert (event.kind, event.json()["comment"]["id"]) == (
                    "comment.created",
                    new["comment"]["id"],
                )
                assert (await reader.event()).json() == {"count": 2}


async def test_last_event_id_replays_exactly_the_missed_events_in_order(
    tmp_path: Path, database_url: str
) -> None:
    with serve(tmp_path, database_url) as server:
        async with client(server.url) as writer:
            async with stream(server.url, "/replay") as reader:
                await writer.post("/replay", "seen")
                seen = await reader.event()
                assert seen.kind == "comment.created"
                assert (await reader.event()).kind == "thread.count"
            missed = [(await writer.post("/replay", f"missed {n}"))["comment"]["id"] for n in range(3)]
            assert seen.id is not None
            async with stream(server.url, "/replay", headers={"Last-Event-ID": seen.id}) as reader:
                replayed = [await reader.event() for _ in range(3)]
                assert [e.kind for e in replayed] == ["comment.created"] * 3
                assert [e.json()["comment"]["id"] for e in replayed] == missed
                count = await reader.event()
                assert (count.kind, count.json(), count.id) == ("thread.count", {"count": 4}, replayed[-1].id)
                later = await writer.post("/replay", "live again")  # nothing else came in between
                event = await reader.event()
                assert event.json()["comment"]["id"] == later["comment"]["id"]
            assert await metric(server.url, "kibitz_sse_replayed_events_total") == 3
            deadline = time.monotonic() + WAIT  # the server notices the readers have gone
            while await metric(server.url, "kibitz_sse_streams") != 0:
                assert time.monotonic() < deadline, "streams still counted as open"
                await anyio.sleep(0.05)  # polling a condition, bounded by the deadline


async def test_events_of_an_unknown_site_or_bad_page_are_problems(api: Api) -> None:
    r = await api.client.get("/api/v1/sites/nope/events", params={"page": "/x"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await api.client.get("/api/v1/sites/a/events")
    assert r.status_code == 422
    r = await api.client.get("/api/v1/sites/a/events", params={"page": "/x", "last": "-1"})
    assert r.status_code == 422


async def test_workers_without_redis_deliver_by_polling(tmp_path: Path, database_url: str) -> None:
    with serve(tmp_path, database_url, workers=2) as server:
        for n in range(3):  # several connections, so they reach both workers
            async with client(server.url) as writer, stream(server.url, "/workers") as reader:
                posted = await writer.post("/workers", f"hello {n}")
                event = await reader.event()
                assert (event.kind, event.json()["comment"]["id"]) == (
                    "comment.created",
                    posted["comment"]["id"],
                )


async def test_sigterm_ends_open_streams_and_exits_cleanly(tmp_path: Path, database_url: str) -> None:
    with serve(tmp_path, database_url) as server:
        async with client(server.url) as writer:
            await writer.post("/bye", "hi")
        async with stream(server.url, "/bye") as one, stream(server.url, "/nothing-yet") as two:
            server.process.send_signal(signal.SIGTERM)
            for reader in (one, two):
                last = await reader.frame()
                assert last is not None
                assert last.retry == "1000"
                assert await reader.frame() is None  # EOF
        assert server.stop() == 0


# -- several processes, with Redis ------------------------------------------------------------------------


def redis_reachable(port: int = 6379) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextlib.asynccontextmanager
async def pg_url() -> AsyncIterator[str]:
    async with fresh_pg_database() as url:
        yield url


async def test_comment_posted_on_one_process_reaches_a_reader_on_another(tmp_path: Path) -> None:
    if not redis_reachable():
        missing("Redis on 127.0.0.1:6379")
    async with pg_url() as url:
        redis_url = "redis://127.0.0.1:6379/0"
        with serve(tmp_path, url, redis_url=redis_url) as a, serve(tmp_path, url, redis_url=redis_url) as b:
            async with client(a.url) as writer, stream(b.url, "/shared") as reader:
                for n in range(2):
                    posted = await writer.post("/shared", f"from A {n}")
                    event = await reader.event()
                    assert event.kind == "comment.created"
                    assert event.json()["comment"]["id"] == posted["comment"]["id"]
                    assert (await reader.event()).json() == {"count": n + 1}
            async with httpx.AsyncClient(base_url=a.url) as http:
                metrics = (await http.get("/metrics")).text
            assert "kibitz_broker_published_total 2.0" in metrics
            assert "kibitz_broker_publish_failures_total 0.0" in metrics


@contextlib.contextmanager
def redis_server(port: int, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A throwaway redis-server on 127.0.0.1:``port``, ready when returned; killed on exit."""
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--daemonize", "no", "--dir", str(tmp_path)]
    try:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        missing("redis-server")
        raise
    try:
        deadline = time.monotonic() + WAIT
        while not redis_reachable(port):
            assert process.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)  # polling a condition, bounded by the deadline
        yield process
    finally:
        process.kill()
        process.wait(timeout=WAIT)


async def metric(base_url: str, name: str) -> float:
    async with httpx.AsyncClient(base_url=base_url) as http:
        for line in (await http.get("/metrics")).text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"no metric {name}")


async def test_redis_outage_loses_nothing_and_delivery_resumes(tmp_path: Path) -> None:
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    async with pg_url() as url:
        with (
            redis_server(port, tmp_path) as redis,
            serve(tmp_path, url, redis_url=redis_url) as a,
            serve(tmp_path, url, redis_url=redis_url) as b,
        ):
            async with client(a.url) as writer, stream(b.url, "/outage") as reader:
                posted = await writer.post("/outage", "Redis is up")
                assert (await reader.event()).json()["comment"]["id"] == posted["comment"]["id"]
                await reader.event()

                redis.kill()
                redis.wait(timeout=WAIT)
                posted = await writer.post("/outage", "Redis is down")  # still 201
                event = await reader.event()  # by polling
                assert event.json()["comment"]["id"] == posted["comment"]["id"]
                assert (await reader.event()).json() == {"count": 2}
                assert await metric(a.url, "kibitz_broker_publish_failures_total") >= 1
                r = await writer.http.get("/api/v1/sites/a/comments", params={"page": "/outage"})
                assert r.status_code == 200
                assert len(r.json()["comments"]) == 2

                with redis_server(port, tmp_path):
                    published = await metric(a.url, "kibitz_broker_published_total")
                    posted = await writer.post("/outage", "Redis is back")
                    event = await reader.event()
                    assert event.json()["comment"]["id"] == posted["comment"]["id"]
                    assert await metric(a.url, "kibitz_broker_published_total") == published + 1
                    async with stream(b.url, "/outage") as fresh:  # a new reader on B, too
                        posted = await writer.post("/outage", "Once more")
                        event = await fresh.event()
                        assert event.json()["comment"]["id"] == posted["comment"]["id"]
