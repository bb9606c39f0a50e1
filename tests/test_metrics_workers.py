"""/metrics reports the whole server: under `kibitz serve --workers 2` every worker's counters and
histograms, summed into the same names and labels one process has; and every metric is documented."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kibitz.metrics import Metrics
from kibitz.web.ops import sum_metrics
from tests.conftest import ORIGIN_A
from tests.server import serve

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
