"""Operator and asset routes: health, readiness, Prometheus metrics (on the public port, or on the
``metrics_listen`` listener), identicon avatars.

Under `kibitz serve --workers N` each worker answers its own metrics on a unix socket in a private
directory (``METRICS_SOCKETS_ENV``), and /metrics gathers them all: on the public port summed into
one series per name and labels (as one process would count them), on ``metrics_listen`` each
worker's series with a ``worker`` label."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from ipaddress import ip_address
from typing import TYPE_CHECKING

from fastapi import Request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from starlette.responses import Response

from kibitz import errors
from kibitz.avatar import identicon_svg
from kibitz.config import Network
from kibitz.web.api import client_of, ctx_of, json_response

if TYPE_CHECKING:
    from kibitz.context import Context

_DIGEST = re.compile(r"^[0-9a-f]{16,64}$")
# Set by `kibitz serve` for its workers (one private directory per serve, with several workers or
# metrics_listen): each worker answers its metrics on a unix socket there, named by its pid; the
# serve process's listener, or /metrics on any worker, gathers them.
METRICS_SOCKETS_ENV = "KIBITZ_METRICS_SOCKETS"
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def healthz(request: Request) -> Response:
    """GET /healthz — the process is up."""
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    """GET /readyz — the process can reach its database."""
    ok = await ctx_of(request).db.ping()
    if not ok:
        raise errors.Unavailable("The database is unreachable", retry_after=5)
    return json_response({"status": "ready"})


async def metrics(request: Request) -> Response:
    """GET /metrics — Prometheus text, for loopback and configured addresses only."""
    ctx = ctx_of(request)
    if ctx.settings.metrics_listen:
        raise errors.NotFound()  # served on its own listener only
    # The resolved client, not the socket peer: behind a same-host proxy listed in trusted_proxies
    # every peer is 127.0.0.1, and the address that counts is the one it forwards. A request from
    # a trusted proxy that forwards nothing is the proxy's own (local) request.
    addr, _ = client_of(ctx, request)
    try:
        allowed = any(ip_address(addr) in net for net in ctx.settings.metrics_allow)
    except ValueError:
        allowed = False
    if not allowed:
        raise errors.NotFound()
    sockets = os.environ.get(METRICS_SOCKETS_ENV)
    if sockets:  # every worker's, summed
        return Response(await gather_metrics(sockets, by_worker=False), media_type=METRICS_TYPE)
    return Response(_rendered(ctx), media_type=METRICS_TYPE)


def _rendered(ctx: Context) -> bytes:
    """This process's registry, with what is counted outside it (the read cache's fast path, the
    SQLite writer) added first."""
    ctx.reads.flush_metrics()
    stats = ctx.db.group_commit
    if stats is not None:
        ctx.metrics.take_group_commit(stats.commits, stats.writes)
    return ctx.metrics.render()


async def avatar(request: Request, digest: str) -> Response:
    """GET /api/v1/avatars/{digest}.svg — a deterministic identicon; no third party involved."""
    if not _DIGEST.match(digest):
        raise errors.NotFound()
    return Response(
        identicon_svg(digest),
        media_type="image/svg+xml",
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        },
    )


# -- the metrics listener (metrics_listen) --------------------------------------------------------


async def answer_metrics_socket(ctx: Context, directory: str) -> Callable[[], Awaitable[None]]:
    """This worker's metrics on the unix socket ``{directory}/{pid}.sock``; the coroutine function
    to call at shutdown."""
    path = os.path.join(directory, f"{os.getpid()}.sock")

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(_rendered(ctx))
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = await asyncio.start_unix_server(answer, path)
    os.chmod(path, 0o600)

    async def stop() -> None:
        server.close()
        await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    return stop


async def gather_metrics(directory: str, *, by_worker: bool = True) -> bytes:
    """Every live worker's metrics, each series labelled with its ``worker`` (pid), or summed
    (``by_worker`` False); a socket nobody answers on any more (a worker that died or was
    replaced) is removed."""
    timeout = 5.0
    texts: list[tuple[str, str]] = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".sock"):
            continue
        path = os.path.join(directory, name)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), timeout)
        except (ConnectionRefusedError, FileNotFoundError):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            continue
        except (OSError, TimeoutError):
            continue
        try:
            data = await asyncio.wait_for(reader.read(), timeout)
        except (OSError, TimeoutError):
            continue
        finally:
            writer.close()
        texts.append((name.removesuffix(".sock"), data.decode("utf-8", "replace")))
    return merge_metrics(texts) if by_worker else sum_metrics(texts)


class _Gathered(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def merge_metrics(texts: Sequence[tuple[str, str]]) -> bytes:
    """Prometheus texts of several workers as one, each sample with a ``worker`` label."""
    families: dict[str, Metric] = {}
    for worker, text in texts:
        for family in text_string_to_metric_families(text):
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(family.name, family.documentation, family.type)
            merged.samples += [s._replace(labels={**s.labels, "worker": worker}) for s in family.samples]
    return _render(families.values())


def sum_metrics(texts: Sequence[tuple[str, str]]) -> bytes:
    """Prometheus texts of several workers as one process's: each sample (name and labels) summed
    over the workers (counters, histograms' buckets, sums and counts, gauges such as open streams),
    but ``*_created`` (a series' start) the earliest."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for _worker, text in texts:
        for family in text_string_to_metric_families(text):
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type)
                values[family.name] = {}
            summed = values[family.name]
            for s in family.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                if key not in summed:
                    summed[key] = s.value
                elif s.name.endswith("_created"):
                    summed[key] = min(summed[key], s.value)
                else:
                    summed[key] += s.value
    for name, family in families.items():
        for (sample, labels), value in values[name].items():
            family.add_sample(sample, dict(labels), value)
    return _render(families.values())


def _render(families: Iterable[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Gathered(families))
    return generate_latest(registry)


class MetricsListener:
    """``GET /metrics`` on ``metrics_listen``, for `kibitz serve` (and on ``--metrics-port`` for
    `kibitz worker`): a small HTTP/1.1 server on its own thread and event loop, answering with the
    metrics of every process that answers in ``directory`` to peers in ``metrics_allow``, each
    series labelled with its ``worker`` unless ``by_worker`` is False (one process: its series as
    they are); anything else is 404."""

    def __init__(
        self, host: str, port: int, directory: str, allow: Sequence[Network], *, by_worker: bool = True
    ) -> None:
        self.host, self.port, self.directory, self.allow = host, port, directory, tuple(allow)
        self.by_worker = by_worker
        self.bound: tuple[str, int] | None = None

    def start(self) -> None:
        """Bind and serve in a daemon thread; OSError when the address cannot be bound."""
        ready = threading.Event()
        failure: list[OSError] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                server = loop.run_until_complete(asyncio.start_server(self._answer, self.host, self.port))
            except OSError as exc:
                failure.append(exc)
                ready.set()
                return
            self.bound = server.sockets[0].getsockname()[:2]
            ready.set()
            loop.run_forever()

        threading.Thread(target=run, name="kibitz-metrics", daemon=True).start()
        ready.wait()
        if failure:
            raise failure[0]

    def _allowed(self, peer: str) -> bool:
        try:
            return any(ip_address(peer) in net for net in self.allow)
        except ValueError:
            return False

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            parts = head.split(b"\r\n", 1)[0].split()
            peer = writer.get_extra_info("peername")
            wanted = (
                len(parts) == 3 and parts[0] in (b"GET", b"HEAD") and parts[1].split(b"?")[0] == b"/metrics"
            )
            if wanted and self._allowed(str(peer[0]) if peer else ""):
                status, media, body = (
                    b"200 OK",
                    METRICS_TYPE.encode(),
                    await gather_metrics(self.directory, by_worker=self.by_worker),
                )
            else:
                status, media, body = b"404 Not Found", b"text/plain; charset=utf-8", b"Not found\n"
            writer.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: "
                + media
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
                + (b"" if parts[:1] == [b"HEAD"] else body)
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            pass
        finally:
            writer.close()
