"""Scale-out (issue 6) over real HTTP: the read cache stays exact across `kibitz serve` processes.

Two processes on one PostgreSQL with Redis, and `--workers 2` without Redis on SQLite and on
PostgreSQL: a write on one process changes every other process's ETag, body and counts at once (no
sleeping, no polling: every read that starts after a write was acknowledged must show it), an
unchanged thread answers 304 on every worker, the reader's own write is visible to them at once,
and compressed answers from the fast path are the handler's, byte for byte and header for header.

Which worker answered a request is read from /proc (the worker process holding the server side of
the connection), so a test can insist that both workers really answered instead of hoping so.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import brotli
import httpx
import pytest

from tests.conftest import ORIGIN_A, ORIGIN_B, missing
from tests.server import Server, fresh_pg_database, run_kibitz, serve, site
from tests.test_live import redis_reachable

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]

THREAD = "/api/v1/sites/a/comments"
FRAGMENT = "/api/v1/sites/a/comments.html"
COUNTS = "/api/v1/sites/a/counts"
REDIS_URL = "redis://127.0.0.1:6379/0"
PUBLIC = "public, max-age=5, stale-while-revalidate=30"
WORKERS = 2
READS = 20  # reads after a change, each on a new connection
MIN_PER_WORKER = 3  # ... and until every worker has answered at least this many of them
MAX_READS = 200  # a bound on that: the kernel, not the test, picks the worker of a connection
_TLS = ssl.create_default_context()
ESTABLISHED = "01"  # a TCP state in /proc/net/tcp
Ask = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


# -- HTTP helpers ------------------------------------------------------------------------------------


def client(url: str) -> httpx.AsyncClient:
    # One TLS context for all (the servers speak plain HTTP): building one per client costs more
    # than the request, and these tests open hundreds of connections.
    return httpx.AsyncClient(base_url=url, timeout=30.0, verify=_TLS)


async def post(http: httpx.AsyncClient, page: str, text: str, name: str = "Ann") -> dict[str, Any]:
    body = {"page": page, "text": text, "author": {"name": name}}
    r = await http.post(THREAD, json=body, headers={"Origin": ORIGIN_A})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def read(
    http: httpx.AsyncClient, page: str, headers: dict[str, str] | None = None, **params: str
) -> httpx.Response:
    return await http.get(THREAD, params={"page": page, **params}, headers=headers or {})


async def counts(http: httpx.AsyncClient, page: str) -> int:
    r = await http.get(COUNTS, params={"page": page})
    assert r.status_code == 200, r.text
    found: int = r.json()["counts"][page]
    return found


def ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["comments"]]


def count_of(r: httpx.Response) -> int:
    assert r.status_code == 200, r.text
    found: int = r.json()["thread"]["count"]
    return found


def comment(r: httpx.Response, comment_id: str) -> dict[str, Any]:
    for item in r.json()["comments"]:
        if item["id"] == comment_id:
            found: dict[str, Any] = item
            return found
    raise AssertionError(f"comment {comment_id} is not in {r.text}")


async def metric(url: str, name: str, labels: str = "") -> float:
    """One sample of the process behind ``url`` (a single-worker server), 0 when absent."""
    async with client(url) as http:
        r = await http.get("/metrics")
    assert r.status_code == 200, r.text
    for line in r.text.splitlines():
        if line.startswith(f"{name}{labels} "):
            return float(line.split()[-1])
    return 0.0


async def fast_hits(url: str) -> float:
    return await metric(url, "kibitz_read_cache_total", '{result="hit"}')


def without_date(r: httpx.Response) -> list[tuple[str, str]]:
    """An answer's headers, names lower-cased and sorted, without Date."""
    return sorted((k.decode().lower(), v.decode()) for k, v in r.headers.raw if k.lower() != b"date")


def vary_of(r: httpx.Response) -> set[str]:
    return {part.strip().lower() for part in r.headers.get("vary", "").split(",") if part.strip()}


# -- which worker answered -----------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f:
                found += [int(child) for child in f.read().split()]
        except OSError:
            continue
    return found + [grandchild for child in found for grandchild in _descendants(child)]


def _server_socket_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server side of the loopback connection from ``client_port``."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if state != ESTABLISHED or inode == "0":  # an earlier connection's TIME_WAIT, say
                continue
            if (
                int(local.rsplit(":", 1)[1], 16) == server_port
                and int(remote.rsplit(":", 1)[1], 16) == client_port
            ):
                return inode
    return None


def worker_of(server: Server, r: httpx.Response) -> int:
    """The process id of the worker that answered ``r``, while its connection is still open."""
    if not os.path.isdir(f"/proc/{server.process.pid}/task"):
        missing("/proc (to tell the workers apart)")
    host_port: tuple[str, int] = r.extensions["network_stream"].get_extra_info("client_addr")
    inode = _server_socket_inode(int(server.url.rsplit(":", 1)[1]), host_port[1])
    assert inode is not None, "the connection is not in /proc/net/tcp"
    for pid in _descendants(server.process.pid):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no worker of {server.url} holds the connection")


async def on_every_worker(server: Server, ask: Ask, at_least: int = READS) -> list[httpx.Response]:
    """``ask`` on a new connection each time: at least ``at_least`` times, and on until every worker
    has answered ``MIN_PER_WORKER`` times (``MAX_READS`` at most); the answers, in order."""
    answers: list[httpx.Response] = []
    by_worker: Counter[int] = Counter()

    def done() -> bool:
        return len(by_worker) == WORKERS and min(by_worker.values()) >= MIN_PER_WORKER

    while len(answers) < at_least or not done():
        assert len(answers) < MAX_READS, f"not every worker answered: {dict(by_worker)}"
        async with client(server.url) as http:
            r = await ask(http)
            by_worker[worker_of(server, r)] += 1
        answers.append(r)
    return answers


async def at_once(server: Server, ask: Ask, n: int = 10) -> list[httpx.Response]:
    """``ask`` on ``n`` new connections at the same time (they share version queries)."""

    async def one() -> httpx.Response:
        async with client(server.url) as http:
            return await ask(http)

    return list(await asyncio.gather(*(one() for _ in range(n))))


def one_etag(answers: list[httpx.Response]) -> str:
    """The ETag every answer carries (they must agree: every worker has the same version label)."""
    tags: set[str | None] = {r.headers.get("etag") for r in answers}
    assert len(tags) == 1, tags
    tag = tags.pop()
    assert tag is not None
    assert tag.startswith('W/"'), tag
    return tag


# -- 1. two processes on PostgreSQL + Redis ------------------------------------------------------------


async def test_a_write_on_one_process_changes_etag_body_and_counts_on_another_at_once(tmp_path: Path) -> None:
    if not redis_reachable():
        missing("Redis on 127.0.0.1:6379")
    page = "/2026/breaking"
    async with fresh_pg_database() as url:
        with serve(tmp_path, url, redis_url=REDIS_URL) as a, serve(tmp_path, url, redis_url=REDIS_URL) as b:
            async with client(a.url) as on_a, client(b.url) as on_b:
                # B knows the page before anyone commented: its thread read and its counts URL are
                # both remembered by B's fast path (the second of each is answered there).
                hits = await fast_hits(b.url)
                empty = [await read(on_b, page) for _ in range(2)]
                assert [ids(r) for r in empty] == [[], []]
                e0 = one_etag(empty)
                assert [await counts(on_b, page) for _ in range(2)] == [0, 0]
                assert await fast_hits(b.url) == hits + 2

                first = await post(on_a, page, "First on A")
                first_id = first["comment"]["id"]
                r = await read(on_b, page)
                assert ids(r) == [first_id]
                assert count_of(r) == 1
                e1 = r.headers["etag"]
                assert e1.startswith('W/"')
                assert e1 != e0
                assert await counts(on_b, page) == 1

                # The repeat is answered by the fast path: same ETag, same body, 200.
                hits = await fast_hits(b.url)
                again = await read(on_b, page)
                assert again.status_code == 200
                assert again.headers["etag"] == e1
                assert again.json() == r.json()
                assert await fast_hits(b.url) == hits + 1

                not_modified = await read(on_b, page, headers={"If-None-Match": e1})
                assert not_modified.status_code == 304
                assert not_modified.content == b""
                assert not_modified.headers["etag"] == e1
                assert not_modified.headers["cache-control"] == PUBLIC

                # The processes agree on the label of a version, so a 304 does not depend on which
                # instance a load balancer picks.
                on_a_now = await read(on_a, page)
                assert on_a_now.headers["etag"] == e1
                assert (await read(on_a, page, headers={"If-None-Match": e1})).status_code == 304

                # The no-JS fragment on B, remembered too.
                for _ in range(2):
                    fragment = await on_b.get(FRAGMENT, params={"page": page})
                    assert fragment.status_code == 200
                    assert f'data-comment-id="{first_id}"' in fragment.text

                second = await post(on_a, page, "Second on A", name="Bo")
                second_id = second["comment"]["id"]
                r = await read(on_b, page)  # at once: no sleep, no retry
                assert r.status_code == 200
                e2 = r.headers["etag"]
                assert e2 not in (e0, e1)
                assert ids(r) == [second_id, first_id]
                assert count_of(r) == 2
                assert await counts(on_b, page) == 2
                stale = await read(on_b, page, headers={"If-None-Match": e1})
                assert stale.status_code == 200
                assert stale.headers["etag"] == e2
                assert ids(stale) == [second_id, first_id]
                assert (await read(on_b, page, headers={"If-None-Match": e2})).status_code == 304
                fragment = await on_b.get(FRAGMENT, params={"page": page})
                assert f'data-comment-id="{second_id}"' in fragment.text

                # A vote on A (a new reader, not the author): B's ETag and score change at once.
                assert comment(r, second_id)["score"] == 0
                voted = await on_a.post(
                    f"/api/v1/comments/{second_id}/vote", json={"value": 1}, headers={"Origin": ORIGIN_A}
                )
                assert voted.status_code == 200, voted.text
                assert voted.json()["score"] == 1
                r = await read(on_b, page)
                e3 = r.headers["etag"]
                assert e3 not in (e0, e1, e2)
                assert comment(r, second_id)["score"] == 1
                assert count_of(r) == 2
                assert await counts(on_b, page) == 2  # a vote is no comment
                assert (await read(on_b, page, headers={"If-None-Match": e2})).status_code == 200
                assert (await read(on_a, page)).headers["etag"] == e3


# -- 2. --workers 2 without Redis, on SQLite and PostgreSQL ------------------------------------------------


async def test_every_worker_sees_a_write_at_once_without_redis(tmp_path: Path, database_url: str) -> None:
    page = "/2026/workers"

    async def ask_thread(http: httpx.AsyncClient) -> httpx.Response:
        return await read(http, page)

    async def ask_counts(http: httpx.AsyncClient) -> httpx.Response:
        return await http.get(COUNTS, params={"page": page})

    def counted(answers: list[httpx.Response]) -> list[int]:
        return [r.json()["counts"][page] for r in answers]

    with serve(tmp_path, database_url, workers=WORKERS) as server:
        async with client(server.url) as http:
            first = await post(http, page, "First")
        first_id = first["comment"]["id"]

        # Warm both workers: each renders once, then answers repeats from its fast path.
        warm = await on_every_worker(server, ask_thread)
        assert all(ids(r) == [first_id] for r in warm)
        e1 = one_etag(warm)
        assert set(counted(await on_every_worker(server, ask_counts, at_least=10))) == {1}

        async with client(server.url) as http:
            second = await post(http, page, "Second", name="Bo")
        second_id = second["comment"]["id"]

        after = await on_every_worker(server, ask_thread)
        assert [ids(r) for r in after] == [[second_id, first_id]] * len(after)
        assert {count_of(r) for r in after} == {2}
        e2 = one_etag(after)
        assert e2 != e1
        assert set(counted(await on_every_worker(server, ask_counts, at_least=10))) == {2}
        together = await at_once(server, ask_thread)
        assert one_etag(together) == e2
        assert all(ids(r) == [second_id, first_id] for r in together)

        # A second write: the author edits, then deletes, with the comment's token.
        auth = {"Origin": ORIGIN_A, "Authorization": f"Bearer {second['token']}"}
        async with client(server.url) as http:
            r = await http.patch(f"/api/v1/comments/{second_id}", json={"text": "Edited"}, headers=auth)
            assert r.status_code == 200, r.text
        edited = await on_every_worker(server, ask_thread)
        e3 = one_etag(edited)
        assert e3 not in (e1, e2)
        assert {comment(r, second_id)["html"] for r in edited} == {"<p>Edited</p>\n"}
        assert {count_of(r) for r in edited} == {2}

        async with client(server.url) as http:
            r = await http.delete(f"/api/v1/comments/{second_id}", headers=auth)
            assert r.status_code == 204, r.text
        deleted = await on_every_worker(server, ask_thread)
        e4 = one_etag(deleted)
        assert e4 not in (e1, e2, e3)
        assert [ids(r) for r in deleted] == [[first_id]] * len(deleted)
        assert {count_of(r) for r in deleted} == {1}
        assert set(counted(await on_every_worker(server, ask_counts, at_least=10))) == {1}
        assert server.stop() == 0


@asynccontextmanager
async def readers_running(url: str, page: str, n: int = 8) -> AsyncIterator[list[list[int]]]:
    """``n`` readers reading ``page`` over and over, each on a new connection per read (so on either
    worker), until the block ends; what each saw as the thread's count, in order."""
    stop = asyncio.Event()
    histories: list[list[int]] = [[] for _ in range(n)]

    async def reader(history: list[int]) -> None:
        while not stop.is_set():
            async with client(url) as http:
                history.append(count_of(await read(http, page)))

    tasks = [asyncio.create_task(reader(history)) for history in histories]
    try:
        yield histories
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_reads_under_load_never_miss_an_acknowledged_write(tmp_path: Path, database_url: str) -> None:
    """While readers keep every worker's version check busy, a read that starts after a post was
    acknowledged shows it (it must not join a version query that was already running), and no
    reader ever sees the thread go back to fewer comments."""
    page = "/2026/under-load"
    with serve(tmp_path, database_url, workers=WORKERS) as server:
        async with client(server.url) as http:
            await post(http, page, "Before the rush")
        async with readers_running(server.url, page) as histories:
            for n in range(12):
                async with client(server.url) as http:
                    posted = await post(http, page, f"Update {n}", name="Desk")
                async with client(server.url) as http:
                    r = await read(http, page)
                assert ids(r)[0] == posted["comment"]["id"], n
                assert count_of(r) == n + 2
    assert all(len(history) > 0 for history in histories)
    for history in histories:
        assert history == sorted(history), history  # never back in time


async def test_a_moderators_command_line_change_shows_on_every_worker_at_once(
    tmp_path: Path, database_url: str
) -> None:
    """A writer that is no server (`kibitz comments hide`, `kibitz threads close`) is seen at once
    too. Readers keep reading meanwhile, so no worker's knowledge of the thread is ever old."""
    page = "/2026/moderated"

    async def ask_thread(http: httpx.AsyncClient) -> httpx.Response:
        return await read(http, page)

    async def kibitz(reader: httpx.AsyncClient, *args: str) -> httpx.Response:
        """Run a command while readers read; then the first read on ``reader`` (a connection
        opened before the command ran)."""
        async with readers_running(server.url, page, n=4):
            done = await asyncio.to_thread(run_kibitz, *args, "--config", str(server.config), cwd=tmp_path)
            assert done.returncode == 0, done.stdout + done.stderr
            first = await read(reader, page)
        assert first.status_code == 200
        return first

    with serve(tmp_path, database_url, workers=WORKERS) as server:
        async with client(server.url) as http:
            kept = (await post(http, page, "Fine"))["comment"]["id"]
            spam = (await post(http, page, "Buy now", name="Spam"))["comment"]["id"]
        e1 = one_etag(await on_every_worker(server, ask_thread, at_least=10))

        async with client(server.url) as reader:
            assert ids(await read(reader, page)) == [spam, kept]
            first = await kibitz(reader, "comments", "hide", spam)
            assert ids(first) == [kept]
            hidden = await on_every_worker(server, ask_thread, at_least=10)
            e2 = one_etag([first, *hidden])
            assert e2 != e1
            assert [ids(r) for r in hidden] == [[kept]] * len(hidden)
            assert {count_of(r) for r in hidden} == {1}

            first = await kibitz(reader, "threads", "close", "a", page)
            assert first.json()["thread"]["closed"] is True
            closed = await on_every_worker(server, ask_thread, at_least=10)
            assert one_etag([first, *closed]) not in (e1, e2)
            assert {r.json()["thread"]["closed"] for r in closed} == {True}

            first = await kibitz(reader, "comments", "restore", spam)
            assert ids(first) == [spam, kept]
            restored = await on_every_worker(server, ask_thread, at_least=10)
            assert [ids(r) for r in restored] == [[spam, kept]] * len(restored)


async def test_approving_a_held_comment_shows_it_on_every_worker_at_once(
    tmp_path: Path, database_url: str
) -> None:
    """A held comment is absent from every worker's reads; a moderator's approval (through the API,
    answered by one worker) reaches every worker's cached reads and counts at once."""
    page = "/2026/held"
    sites = [site("a", ORIGIN_A, moderation="all"), site("b", ORIGIN_B)]

    async def ask_thread(http: httpx.AsyncClient) -> httpx.Response:
        return await read(http, page)

    async def ask_counts(http: httpx.AsyncClient) -> httpx.Response:
        return await http.get("/api/v1/sites/a/counts", params={"page": page})

    with serve(tmp_path, database_url, workers=WORKERS, sites=sites) as server:
        made = await asyncio.to_thread(
            run_kibitz, "apikey", "create", "--site", "a", "--scope", "moderate",
            "--config", str(server.config), cwd=tmp_path,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        key = {"Authorization": f"Bearer {made.stdout.strip()}"}
        async with client(server.url) as http:
            r = await http.post(THREAD, json={"page": page, "text": "Held", "author": {"name": "Ann"}},
                                headers={"Origin": ORIGIN_A})  # fmt: skip
            assert r.status_code == 202, r.text
            held = r.json()["comment"]["id"]
        before = await on_every_worker(server, ask_thread, at_least=10)
        assert {count_of(r) for r in before} == {0}
        assert all(ids(r) == [] for r in before)
        async with client(server.url) as http:
            r = await http.post(
                f"/api/v1/admin/comments/{held}/moderate", json={"action": "approve"}, headers=key
            )
            assert r.status_code == 200, r.text
        after = await on_every_worker(server, ask_thread, at_least=10)
        assert [ids(r) for r in after] == [[held]] * len(after)
        counted_now = await on_every_worker(server, ask_counts, at_least=10)
        assert {r.json()["counts"][page] for r in counted_now} == {1}

        # Revoking the key stops it at once on every worker.
        async def ask_queue(http: httpx.AsyncClient) -> httpx.Response:
            return await http.get("/api/v1/admin/sites/a/queue", headers=key)

        assert {r.status_code for r in await on_every_worker(server, ask_queue)} == {200}
        listed = await asyncio.to_thread(
            run_kibitz, "apikey", "list", "--config", str(server.config), cwd=tmp_path
        )
        key_id = listed.stdout.split("\t", 1)[0]
        revoked = await asyncio.to_thread(
            run_kibitz, "apikey", "revoke", key_id, "--config", str(server.config), cwd=tmp_path
        )
        assert revoked.returncode == 0, revoked.stderr
        assert {r.status_code for r in await on_every_worker(server, ask_queue)} == {401}


# -- 3. 304 for an unchanged thread on every worker --------------------------------------------------------


async def test_an_unchanged_thread_answers_304_on_every_worker(tmp_path: Path, database_url: str) -> None:
    page = "/2026/unchanged"
    with serve(tmp_path, database_url, workers=WORKERS) as server:
        async with client(server.url) as http:
            await post(http, page, "Nothing new after this")
            seen = await read(http, page)  # one worker renders it; the other may never have
        assert seen.status_code == 200
        tag = seen.headers["etag"]

        async def ask(http: httpx.AsyncClient) -> httpx.Response:
            return await read(http, page, headers={"If-None-Match": tag})

        answers = await on_every_worker(server, ask, at_least=10)
        assert [r.status_code for r in answers] == [304] * len(answers)
        assert {r.content for r in answers} == {b""}
        assert one_etag(answers) == tag
        assert {r.headers["cache-control"] for r in answers} == {PUBLIC}
        assert all({"origin", "accept-encoding"} <= vary_of(r) for r in answers)

        async def ask_among_others(http: httpx.AsyncClient) -> httpx.Response:
            return await read(http, page, headers={"If-None-Match": f'W/"other", {tag}'})

        answers = await on_every_worker(server, ask_among_others, at_least=4)
        assert {r.status_code for r in answers} == {304}

        async def ask_with_a_stale_tag(http: httpx.AsyncClient) -> httpx.Response:
            return await read(http, page, headers={"If-None-Match": 'W/"00000000.1.0"'})

        answers = await on_every_worker(server, ask_with_a_stale_tag, at_least=4)
        assert {r.status_code for r in answers} == {200}
        assert one_etag(answers) == tag

        async with client(server.url) as http:
            counted = await http.get(COUNTS, params={"page": page})
        assert counted.status_code == 200

        async def ask_counts_again(http: httpx.AsyncClient) -> httpx.Response:
            return await http.get(
                COUNTS, params={"page": page}, headers={"If-None-Match": counted.headers["etag"]}
            )

        answers = await on_every_worker(server, ask_counts_again, at_least=6)
        assert {r.status_code for r in answers} == {304}


# -- 4. the reader's own write ---------------------------------------------------------------------------


async def test_the_readers_own_write_is_visible_to_them_at_once(tmp_path: Path, database_url: str) -> None:
    page = "/2026/own-write"

    async def ask_plain(http: httpx.AsyncClient) -> httpx.Response:
        return await read(http, page)

    with serve(tmp_path, database_url, workers=WORKERS) as server:
        async with client(server.url) as http:
            await post(http, page, "Someone else's")
        before = one_etag(await on_every_worker(server, ask_plain, at_least=10))

        async with client(server.url) as http:
            mine = await post(http, page, "Mine", name="Me")
            # What the widget does for a while after the reader's own write.
            r = await read(http, page, fresh="1767225600000")
            assert r.status_code == 200
            assert ids(r)[0] == mine["comment"]["id"]
            assert r.headers["cache-control"] == "no-store"
            mine_tag = r.headers["etag"]
            assert mine_tag != before
            plain = await read(http, page)
            assert plain.status_code == 200
            assert plain.headers["cache-control"] == PUBLIC
            assert ids(plain)[0] == mine["comment"]["id"]
            assert plain.headers["etag"] == mine_tag

        async def ask_fresh(http: httpx.AsyncClient) -> httpx.Response:
            return await read(http, page, fresh="2")

        fresh = await on_every_worker(server, ask_fresh, at_least=10)
        assert {r.headers["cache-control"] for r in fresh} == {"no-store"}
        assert {ids(r)[0] for r in fresh} == {mine["comment"]["id"]}
        assert one_etag(fresh) == mine_tag
        # A fresh read is not remembered as the plain URL's: plain reads stay cacheable.
        plain_reads = await on_every_worker(server, ask_plain, at_least=10)
        assert {r.headers["cache-control"] for r in plain_reads} == {PUBLIC}
        assert {ids(r)[0] for r in plain_reads} == {mine["comment"]["id"]}
        assert one_etag(plain_reads) == mine_tag


# -- 5. compression and the fast path's headers ------------------------------------------------------------


async def raw_get(
    http: httpx.AsyncClient, url: str, params: dict[str, str], headers: dict[str, str]
) -> tuple[httpx.Response, bytes]:
    """A GET and its body exactly as sent (no decoding)."""
    async with http.stream("GET", url, params=params, headers=headers) as r:
        raw = b"".join([chunk async for chunk in r.aiter_raw()])
    return r, raw


def decoded(r: httpx.Response, raw: bytes) -> bytes:
    assert int(r.headers["content-length"]) == len(raw)
    match r.headers.get("content-encoding"):
        case "br":
            return bytes(brotli.decompress(raw))
        case "gzip":
            return gzip.decompress(raw)
        case None:
            return raw
        case other:
            raise AssertionError(f"unexpected Content-Encoding {other}")


async def test_compressed_reads_and_fast_path_headers_over_real_http(
    tmp_path: Path, database_url: str
) -> None:
    page = "/2026/compressed"
    words = " ".join(f"word{n}" for n in range(300))  # a body well above the compression threshold
    cases: list[tuple[str | None, str | None, str | None]] = [  # Accept-Encoding, expected, Origin
        ("br", "br", ORIGIN_A),
        ("gzip", "gzip", ORIGIN_A),
        (None, None, ORIGIN_A),
        ("identity", None, ORIGIN_A),
        ("gzip, deflate, br", "br", ORIGIN_A),
        ("br;q=0, gzip", "gzip", ORIGIN_A),
        ("br", "br", None),
        ("br", "br", "https://evil.example"),
    ]
    with serve(tmp_path, database_url) as server:
        async with client(server.url) as http:
            await post(http, page, words)
            await post(http, page, "A second comment", name="Bo")
        bodies: list[Any] = []
        async with client(server.url) as http:
            del http.headers["accept-encoding"]  # the client's default; each case sets its own
            for n, (accept, expected, origin) in enumerate(cases):
                headers = {"Origin": origin} if origin else {}
                if accept is not None:
                    headers["Accept-Encoding"] = accept
                # A URL of its own per case, so the first request is routed through the framework
                # and the second is answered by the fast path.
                params = {"page": page, "limit": str(20 + n)}
                hits = await fast_hits(server.url)
                routed, routed_raw = await raw_get(http, THREAD, params, headers)
                assert await fast_hits(server.url) == hits
                fast, fast_raw = await raw_get(http, THREAD, params, headers)
                assert await fast_hits(server.url) == hits + 1
                for r, raw in ((routed, routed_raw), (fast, fast_raw)):
                    assert r.status_code == 200, (n, raw)
                    assert r.headers.get("content-encoding") == expected, (n, r.headers)
                    assert {"origin", "accept-encoding"} <= vary_of(r), (n, r.headers)
                    assert r.headers["content-type"] == "application/json"
                    if origin == ORIGIN_A:
                        assert r.headers["access-control-allow-origin"] == ORIGIN_A, (n, r.headers)
                    else:
                        assert "access-control-allow-origin" not in r.headers, (n, r.headers)
                    bodies.append(json.loads(decoded(r, raw)))
                assert routed_raw == fast_raw, n
                assert without_date(routed) == without_date(fast), n

            # A 304 from the handler and one from the fast path carry the same headers too.
            tag = fast.headers["etag"]
            params = {"page": page, "limit": str(20 + len(cases))}
            headers = {"Origin": ORIGIN_A, "Accept-Encoding": "br", "If-None-Match": tag}
            hits = await fast_hits(server.url)
            routed, routed_raw = await raw_get(http, THREAD, params, headers)
            fast, fast_raw = await raw_get(http, THREAD, params, headers)
            assert await fast_hits(server.url) == hits + 1
            assert (routed.status_code, fast.status_code) == (304, 304)
            assert routed_raw == fast_raw == b""
            assert routed.headers["access-control-allow-origin"] == ORIGIN_A
            assert without_date(routed) == without_date(fast)
        assert all(body == bodies[0] for body in bodies)
        assert len(bodies[0]["comments"]) == 2
        assert words in bodies[0]["comments"][1]["html"]

        # The no-JS fragment comes compressed too, and decodes to the same HTML.
        async with client(server.url) as http:
            del http.headers["accept-encoding"]
            plain, plain_raw = await raw_get(http, FRAGMENT, {"page": page}, {})
            brotlied, br_raw = await raw_get(http, FRAGMENT, {"page": page}, {"Accept-Encoding": "br"})
        assert plain.headers.get("content-encoding") is None
        assert brotlied.headers["content-encoding"] == "br"
        assert decoded(brotlied, br_raw) == decoded(plain, plain_raw)
        assert words in plain_raw.decode()
