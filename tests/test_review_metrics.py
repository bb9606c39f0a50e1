"""Security review finding 7: /metrics is checked against the resolved client address (after
trusted_proxies), not the socket peer, so a same-host proxy does not open it to the world."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from kibitz.config import ConfigError, load_settings
from kibitz.web.ops import merge_metrics
from tests.conftest import Api, FakeClock, custom_api
from tests.server import free_port, serve

pytestmark = pytest.mark.anyio


def client_at(api: Api, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=api.app, client=(address, 4444))
    return httpx.AsyncClient(transport=transport, base_url="http://kibitz.test")


async def test_metrics_behind_a_same_host_proxy_refuse_public_clients(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with (
        custom_api(tmp_path, database_url, clock, trusted_proxies=["127.0.0.1/32"]) as api,
        client_at(api, "127.0.0.1") as proxy,
    ):
        r = await proxy.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 404
        assert r.json()["code"] == "not_found"
        assert "kibitz_" not in r.text
        # A forged local hop in front of the public client changes nothing: the first
        # untrusted hop from the right is the client.
        r = await proxy.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.9"})
        assert r.status_code == 404
        # The proxy's own request (nothing forwarded), or a local client forwarded, is local.
        direct = await proxy.get("/metrics")
        assert direct.status_code == 200
        assert "kibitz_" in direct.text
        assert (await proxy.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})).status_code == 200


async def test_metrics_answer_a_direct_loopback_client(api: Api) -> None:
    async with client_at(api, "127.0.0.1") as local:
        r = await local.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")


def sample(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def test_metrics_count_sqlite_commits_and_the_writes_they_carried(api: Api, engine: str) -> None:
    """Posts are group-committed (kibitz/store/group_commit.py) and /metrics counts the COMMITs and
    the writes they carried. Mutation tried: not taking the writer's totals at a scrape leaves both
    at zero."""
    async with client_at(api, "127.0.0.1") as local:
        before = (await local.get("/metrics")).text
        posts = await asyncio.gather(*(api.post(text=f"Batch {n}") for n in range(3)))
        assert [r.status_code for r in posts] == [201] * 3
        after = (await local.get("/metrics")).text
    commits, writes = "kibitz_sqlite_commits_total", "kibitz_sqlite_commit_writes_total"
    if engine == "postgresql":  # the server groups its own WAL flushes: nothing to count here
        assert sample(after, commits) == sample(after, writes) == 0
        return
    commits_before, writes_before = sample(before, commits), sample(before, writes)
    assert commits_before is not None
    assert writes_before is not None
    assert sample(after, writes) == writes_before + 3
    assert 1 <= (sample(after, commits) or 0) - commits_before <= 3


async def test_metrics_allow_names_the_resolved_client_behind_a_proxy(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with (
        custom_api(
            tmp_path, database_url, clock, trusted_proxies=["127.0.0.1/32"], metrics_allow=["10.20.0.0/16"]
        ) as api,
        client_at(api, "127.0.0.1") as proxy,
    ):
        assert (await proxy.get("/metrics", headers={"X-Forwarded-For": "10.20.3.4"})).status_code == 200
        assert (await proxy.get("/metrics", headers={"X-Forwarded-For": "10.21.3.4"})).status_code == 404
        assert (await proxy.get("/metrics")).status_code == 404  # the proxy itself is not listed


async def test_forwarded_headers_from_an_untrusted_peer_do_not_open_metrics(api: Api) -> None:
    r = await api.client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"})
    assert r.status_code == 404


# -- metrics_listen: /metrics off the public port, gathered from every worker ------------------------


async def test_with_metrics_listen_the_public_port_never_serves_metrics(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with (
        custom_api(tmp_path, database_url, clock, metrics_listen="127.0.0.1:9108") as api,
        client_at(api, "127.0.0.1") as local,
    ):
        r = await local.get("/metrics")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_metrics_listen_is_an_address_and_port(tmp_path: Path) -> None:
    def load(value: str) -> tuple[str, int] | None:
        return load_settings(None, env={}, cwd=tmp_path, overrides={"metrics_listen": value}).metrics_address

    assert load("") is None
    assert load("127.0.0.1:9108") == ("127.0.0.1", 9108)
    assert load("[::1]:9108") == ("::1", 9108)
    # The directory `kibitz serve` hands its workers is not a setting, and not an unknown one.
    env = {"KIBITZ_METRICS_SOCKETS": "/tmp/kibitz-metrics-x"}
    assert load_settings(None, env=env, cwd=tmp_path).metrics_listen == ""
    for bad in ("9108", "localhost:9108", "::1:9108", "127.0.0.1:0", "127.0.0.1:70000", "[127.0.0.1]:9108"):
        with pytest.raises(ConfigError, match="metrics_listen"):
            load(bad)


def test_merged_metrics_label_each_workers_series() -> None:
    one = "# HELP kibitz_events_total Domain events\n# TYPE kibitz_events_total counter\n"
    text = merge_metrics(
        [
            ("101", one + 'kibitz_events_total{kind="a"} 2.0\n'),
            ("102", one + 'kibitz_events_total{kind="a"} 3.0\n'),
        ]
    )
    lines = text.decode().splitlines()
    assert lines.count("# TYPE kibitz_events_total counter") == 1
    assert 'kibitz_events_total{kind="a",worker="101"} 2.0' in lines
    assert 'kibitz_events_total{kind="a",worker="102"} 3.0' in lines


@pytest.mark.parametrize("workers", [1, 2])
async def test_serve_answers_every_workers_metrics_on_metrics_listen(
    tmp_path: Path, database_url: str, workers: int
) -> None:
    port = free_port()
    with serve(tmp_path, database_url, workers=workers, metrics_listen=f"127.0.0.1:{port}") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=5) as public:
            assert (await public.get("/metrics")).status_code == 404  # loopback, yet not here
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as scraper:
            seen: set[str] = set()
            for _ in range(600):  # until both workers answer (a condition, bounded)
                r = await scraper.get("/metrics")
                assert r.status_code == 200
                assert r.headers["content-type"].startswith("text/plain")
                seen = {
                    line.split('worker="', 1)[1].split('"', 1)[0]
                    for line in r.text.splitlines()
                    if line.startswith("kibitz_sse_streams{")
                }
                if len(seen) == workers:
                    break
                await asyncio.sleep(0.05)
            assert len(seen) == workers, r.text
            assert (await scraper.get("/other")).status_code == 404
    assert server.exit_code == 0  # SIGTERM still ends it cleanly, listener and all
