"""/metrics reports the whole server: under `kibitz serve --workers 2` every worker's counters and
histograms, summed into the same names and labels one process has; a `kibitz worker` process serves
its own on ``--metrics-port``; and every metric is documented."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kibitz.metrics import Metrics
from kibitz.migrate import upgrade
from kibitz.store.db import Database
from kibitz.store.outbox import NewMail
from kibitz.web.ops import sum_metrics
from tests.conftest import ORIGIN_A, make_settings
from tests.mailserver import MailServer
from tests.server import KIBITZ, child_env, free_port, serve, write_config

pytestmark = pytest.mark.anyio
OPERATIONS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
THREAD_ROUTE = "/api/v1/sites/{site}/comments"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_summed_metrics_add_every_sample_and_keep_the_earliest_start() -> None:
    head = (
        "# HELP kibitz_http_requests_total HTTP requests answered\n"
        "# TYPE kibitz_http_requests_total counter\n"
        "# HELP kibitz_sse_streams Open live-update streams\n# TYPE kibitz_sse_streams gauge\n"
    )
    one = head + (
        'kibitz_http_requests_total{method="GET",route="/x",status="200"} 2.0\n'
        'kibitz_http_requests_created{method="GET",route="/x",status="200"} 1700000100.0\n'
        "kibitz_sse_streams 1.0\n"
    )
    two = head + (
        'kibitz_http_requests_total{method="GET",route="/x",status="200"} 3.0\n'
        'kibitz_http_requests_created{method="GET",route="/x",status="200"} 1700000000.0\n'
        'kibitz_http_requests_total{method="POST",route="/x",status="201"} 1.0\n'
        "kibitz_sse_streams 4.0\n"
    )
    summed = samples(sum_metrics([("101", one), ("102", two)]).decode())
    get = (("method", "GET"), ("route", "/x"), ("status", "200"))
    assert summed[("kibitz_http_requests_total", get)] == 5.0
    assert summed[("kibitz_http_requests_created", get)] == 1700000000.0
    assert (
        summed[("kibitz_http_requests_total", (("method", "POST"), ("route", "/x"), ("status", "201")))]
        == 1.0
    )
    assert summed[("kibitz_sse_streams", ())] == 5.0
    assert not any("worker" in dict(labels) for _, labels in summed)


def test_every_metric_is_described_in_operations_md() -> None:
    text = OPERATIONS.read_text(encoding="utf-8")
    suffix = {"counter": "_total"}
    names = {family.name + suffix.get(family.type, "") for family in Metrics().registry.collect()}
    assert names
    assert {name for name in names if f"`{name}" not in text} == set()


@pytest.mark.timeout(120)
async def test_metrics_of_a_two_worker_server_count_every_workers_requests(
    tmp_path: Path, database_url: str
) -> None:
    reads, posts = 40, 6
    with serve(tmp_path, database_url, workers=2) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as scraper:
            for _ in range(600):  # until both workers answer (a condition, bounded)
                r = await scraper.get("/metrics")
                assert r.status_code == 200, r.text
                if samples(r.text).get(("kibitz_worker_processes", ())) == 2.0:
                    break
                await asyncio.sleep(0.05)

            async def one(i: int) -> int:
                # A connection of its own each, so that both workers take some.
                async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                    if i < posts:
                        body = {"page": "/story", "text": f"Post {i}", "author": {"name": "Ann"}}
                        r = await client.post(
                            "/api/v1/sites/a/comments", json=body, headers={"Origin": ORIGIN_A}
                        )
                    else:
                        r = await client.get("/api/v1/sites/a/comments", params={"page": "/story"})
                    return r.status_code

            codes = await asyncio.gather(*(one(i) for i in range(posts + reads)))
            assert sorted(codes) == [200] * reads + [201] * posts
            for _ in range(5):  # whichever worker answers, the same sums
                found = samples((await scraper.get("/metrics")).text)
                assert found[("kibitz_worker_processes", ())] == 2.0
                get = (("method", "GET"), ("route", THREAD_ROUTE), ("status", "200"))
                post = (("method", "POST"), ("route", THREAD_ROUTE), ("status", "201"))
                assert found[("kibitz_http_requests_total", get)] == reads
                assert found[("kibitz_http_requests_total", post)] == posts
                latency = found[("kibitz_http_request_seconds_count", (("route", THREAD_ROUTE),))]
                assert latency == reads + posts
    assert server.exit_code == 0


def start_worker(config: Path, cwd: Path, log: IO[bytes], *args: str) -> subprocess.Popen[bytes]:
    command = [str(KIBITZ), "worker", "--config", str(config), *args]
    return subprocess.Popen(
        command, cwd=cwd, env=child_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log
    )


@pytest.mark.timeout(120)
async def test_a_worker_process_serves_its_mail_and_webhook_counters_on_its_metrics_port(
    tmp_path: Path, database_url: str, mail_server: MailServer
) -> None:
    """`kibitz worker --metrics-port` answers /metrics with what that process counts (mail sent,
    webhook deliveries), without a ``worker`` label. Mutations tried: not answering the worker's
    metrics socket (the listener finds nothing), the webhook loop not given the metrics (no
    deliveries counted): each fails this test."""
    from tests.test_webhooks import receiving

    now = datetime.now(UTC)  # the worker process runs on the real clock
    settings = make_settings(tmp_path, database_url)
    db = Database(settings.sqlalchemy_url)
    await upgrade(db, settings)
    port = free_port()
    async with receiving() as rx:
        try:
            async with db.write() as tx:
                await tx.outbox.enqueue(
                    NewMail("a", "reply", "cause:1", "reader@example.org", "Hi", "Hello.\n", "<p>Hello.</p>"),
                    now,
                )
                hook = await tx.webhooks.add("a", rx.url, ("comment.created",), "whsec_dGVzdA==", now, "t")
                await tx.webhooks.enqueue(hook.id, "msg_1", "comment.created", "cause:1", "{}", now)
        finally:
            await db.dispose()
        config = write_config(
            tmp_path / "worker.toml",
            tmp_path,
            database_url,
            smtp=mail_server.smtp,
            webhook_allow=["127.0.0.1"],
        )
        with (tmp_path / "worker.log").open("wb") as log:
            worker = start_worker(config, tmp_path, log, "--metrics-port", str(port))
            try:
                found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
                sent = ("kibitz_mail_total", (("outcome", "sent"),))
                delivered = ("kibitz_webhook_deliveries_total", (("outcome", "delivered"),))
                async with httpx.AsyncClient(timeout=10) as scraper, asyncio.timeout(60):
                    while found.get(sent) != 1.0 or found.get(delivered) != 1.0:
                        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                        with contextlib.suppress(httpx.TransportError):  # not listening yet
                            r = await scraper.get(f"http://127.0.0.1:{port}/metrics")
                            assert r.status_code == 200, r.text
                            found = samples(r.text)
                        await asyncio.sleep(0.1)
                assert found[("kibitz_worker_processes", ())] == 1.0
                assert not any("worker" in dict(labels) for _, labels in found)
                assert len(rx.calls) == 1
                assert len(mail_server.messages) == 1
            finally:
                worker.send_signal(signal.SIGTERM)
                code = worker.wait(timeout=30)
    assert code == 0, (tmp_path / "worker.log").read_text()
