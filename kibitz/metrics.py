"""Prometheus metrics of one process, served at /metrics to allowed addresses only (summed over
every worker of a `kibitz serve --workers N`: web/ops.py). Every metric is described in
docs/operations.md ("What to watch")."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from kibitz import outbound
from kibitz.events import ThreadEvent


class _OutboundBreakers(Collector):
    """The process's circuit breakers of outgoing HTTP calls (outbound.BREAKERS), read when scraped."""

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "kibitz_outbound_breakers_open",
            "Destinations of outgoing HTTP calls skipped now after failing repeatedly (open breakers)",
            value=outbound.BREAKERS.open_count(),
        )
        yield CounterMetricFamily(
            "kibitz_outbound_skipped",
            "Outgoing HTTP calls not made because their destination's breaker was open",
            value=outbound.BREAKERS.skipped,
        )


class Metrics:
    """A registry per app, so several apps in one process (tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.worker_processes = Gauge(
            "kibitz_worker_processes",
            "Worker processes whose metrics this answer holds (1 each; summed over a serve's workers)",
            registry=self.registry,
        )
        self.worker_processes.set(1)
        self.requests = Counter(
            "kibitz_http_requests",
            "HTTP requests answered",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kibitz_http_request_seconds",
            "Time to answer",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.events = Counter("kibitz_events", "Domain events committed", ["kind"], registry=self.registry)
        self.mail = Counter(
            "kibitz_mail",
            "Outbox rows handled by this process's worker, by outcome (sent, retry, failed, dropped)",
            ["outcome"],
            registry=self.registry,
        )

        self.webhook_deliveries = Counter(
            "kibitz_webhook_deliveries",
            "Attempts of outgoing webhook calls (and Akismet reports) by this process's delivery loop,"
            " by outcome (delivered, retry, failed)",
            ["outcome"],
            registry=self.registry,
        )
        self.registry.register(_OutboundBreakers())

        self.read_cache = Counter(
            "kibitz_read_cache",
            "Cached reads by result: hit (fast path), miss (rendered), not_modified (304)",
            ["result"],
            registry=self.registry,
        )
        self.version_queries = Counter(
            "kibitz_version_queries",
            "Batched queries of thread versions (each serves every read that was waiting)",
            registry=self.registry,
        )
        self.sse_streams = Gauge("kibitz_sse_streams", "Open live-update streams", registry=self.registry)
        self.broker_published = Counter(
            "kibitz_broker_published", "Thread changes published to the broker", registry=self.registry
        )
        self.broker_publish_failures = Counter(
            "kibitz_broker_publish_failures",
            "Publishes the broker could not deliver (readers catch up by polling)",
            registry=self.registry,
        )
        self.sse_replayed = Counter(
            "kibitz_sse_replayed_events",
            "Events replayed to streams that resumed with Last-Event-ID",
            registry=self.registry,
        )

        self.sqlite_commits = Counter(
            "kibitz_sqlite_commits",
            "COMMITs of group-committed SQLite write batches (one fsync each)",
            registry=self.registry,
        )
        self.sqlite_commit_writes = Counter(
            "kibitz_sqlite_commit_writes",
            "Writes those COMMITs made durable (over the commits: the average batch)",
            registry=self.registry,
        )
        self._group_commit_seen = (0, 0)

    def take_group_commit(self, commits: int, writes: int) -> None:
        """Bring the SQLite group-commit counters up to the writer's own totals (read at a scrape,
        so that the writer counts in plain integers)."""
        seen_commits, seen_writes = self._group_commit_seen
        self.sqlite_commits.inc(max(0, commits - seen_commits))
        self.sqlite_commit_writes.inc(max(0, writes - seen_writes))
        self._group_commit_seen = (max(commits, seen_commits), max(writes, seen_writes))

    async def on_event(self, event: ThreadEvent) -> None:
        self.events.labels(event.kind.value).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
