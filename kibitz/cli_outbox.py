"""`kibitz worker` (the outbox worker as a process of its own) and `kibitz outbox …` (list, retry);
registered by kibitz/cli.py. They find their data as every command does (kibitz/cli_data.py)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kibitz.cli_data import checked, data_options, load, run, with_database

if TYPE_CHECKING:
    from kibitz.config import Settings
    from kibitz.store.db import Database
    from kibitz.store.outbox import OutboxRow

STATUSES = ("pending", "sending", "sent", "failed", "dropped")


@click.command()
@data_options
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    metavar="PORT",
    help="serve this process's Prometheus metrics at http://HOST:PORT/metrics (to metrics_allow)",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    metavar="HOST",
    help="the address --metrics-port listens on",
)
def worker(
    config_path: Path | None, data_dir: Path | None, metrics_port: int | None, metrics_host: str
) -> None:
    """Deliver the outbox and the webhooks (and run the periodic jobs) as a process of its own, until
    SIGTERM."""
    if not load(config_path, data_dir).smtp.host:
        click.echo("invalid configuration: smtp.host: not set, so there is nowhere to send mail", err=True)
        sys.exit(2)
    settings = checked(config_path, data_dir)
    from kibitz.worker import serve_worker

    sockets = None if metrics_port is None else _metrics_listener(settings, metrics_host, metrics_port)
    try:
        run(lambda: serve_worker(settings, metrics_sockets=sockets), fast_loop=True)
    finally:
        if sockets is not None:
            shutil.rmtree(sockets, ignore_errors=True)


def _metrics_listener(settings: Settings, host: str, port: int) -> str:
    """The listener of ``--metrics-port``, as `kibitz serve`'s ``metrics_listen`` (web/ops.py): it
    answers with the metrics the worker gives on a unix socket in a private directory (returned)."""
    from kibitz.web.ops import MetricsListener

    sockets = tempfile.mkdtemp(prefix="kibitz-worker-metrics-")  # mode 0700: this user's processes only
    try:
        MetricsListener(host, port, sockets, settings.metrics_allow, by_worker=False).start()
    except OSError as exc:
        shutil.rmtree(sockets, ignore_errors=True)
        raise click.ClickException(
            f"--metrics-port: cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    click.echo(f"metrics at http://{host}:{port}/metrics", err=True)
    return sockets


@click.group()
def outbox() -> None:
    """See the mail waiting, sent or failed, and send failed mail again."""


def outbox_line(row: OutboxRow) -> str:
    """id, status, kind, recipient, attempts, when, last error: tab-separated, one line.

    ``attempts`` counts every delivery attempt, the one that succeeded included; ``when`` is
    ``sent=…`` for sent mail, ``next=…`` for mail waiting, ``created=…`` for the rest."""
    # Rows sent before the worker counted the successful attempt hold only the failed ones: a sent
    # mail was tried at least once.
    attempts = max(row.attempts, 1) if row.status == "sent" else row.attempts
    if row.status == "sent" and row.sent is not None:
        when = f"sent={row.sent.isoformat(timespec='seconds')}"
    elif row.status in ("pending", "sending"):
        when = f"next={row.next_attempt.isoformat(timespec='seconds')}"
    else:
        when = f"created={row.created.isoformat(timespec='seconds')}"
    error = " ".join(row.last_error.split())
    return f"{row.id}\t{row.status}\t{row.kind}\t{row.recipient}\tattempts={attempts}\t{when}\t{error}"


@outbox.command("list")
@data_options
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
def outbox_list(config_path: Path | None, data_dir: Path | None, status: str | None, limit: int) -> None:
    """Oldest first, one line each: id, status, kind, recipient, attempts (the successful one
    included), when it was sent (sent=) or is due (next=), and the last error."""

    async def act(db: Database) -> list[OutboxRow]:
        async with db.read() as tx:
            return await tx.outbox.list(status, limit)

    for row in with_database(config_path, data_dir, act):
        click.echo(outbox_line(row))


@outbox.command("retry")
@data_options
@click.argument("outbox_id", type=int, required=False)
@click.option("--failed", "all_failed", is_flag=True, help="every failed mail")
def outbox_retry(
    config_path: Path | None, data_dir: Path | None, outbox_id: int | None, all_failed: bool
) -> None:
    """Queue a failed (or dropped) mail again, or every failed one with --failed."""
    from datetime import UTC, datetime

    if (outbox_id is None) == (not all_failed):
        raise click.UsageError("give either an ID or --failed")

    async def act(db: Database) -> int:
        now = datetime.now(UTC)
        async with db.write() as tx:
            if outbox_id is None:
                return await tx.outbox.requeue_failed(now)
            return int(await tx.outbox.requeue(outbox_id, now))

    count = with_database(config_path, data_dir, act)
    if outbox_id is None:
        click.echo(f"{count} failed mails queued again")
    elif count:
        click.echo(f"mail {outbox_id} queued again")
    else:
        click.echo(f"error: mail {outbox_id} does not exist or is not failed or dropped", err=True)
        sys.exit(1)
