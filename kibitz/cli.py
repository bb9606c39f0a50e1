"""The `kibitz` command line: serve, demo, migrate, and operator acts on comments and threads."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from kibitz import __version__, errors
from kibitz.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from kibitz.context import Context

T = TypeVar("T")
config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML file (default: ./kibitz.toml when it exists)",
)


def _settings(config_path: Path | None, overrides: dict[str, object] | None = None) -> Settings:
    try:
        return load_settings(config_path, overrides=overrides)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


def _run(make: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except errors.KibitzError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)


@click.group()
@click.version_option(__version__, prog_name="kibitz")
def main() -> None:
    """Kibitz: comments and reader subscriptions for news sites."""


@main.command()
@config_option
def migrate(config_path: Path | None) -> None:
    """Bring the database schema up to date."""
    from kibitz.migrate import head_revision, upgrade
    from kibitz.store.db import Database

    settings = _settings(config_path)

    async def go() -> None:
        db = Database(settings.sqlalchemy_url)
        try:
            await upgrade(db, settings)
        finally:
            await db.dispose()

    _run(go)
    click.echo(f"database is at revision {head_revision()}")


def _serve(settings: Settings, host: str, port: int, workers: int, config_path: Path | None) -> None:
    import uvicorn

    from kibitz.migrate import upgrade
    from kibitz.store.db import Database

    async def prepare() -> None:
        db = Database(settings.sqlalchemy_url)
        try:
            await upgrade(db, settings)
        finally:
            await db.dispose()

    _run(prepare)  # once, before any worker starts
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again; a stop on request is
    # a success, so let that second SIGTERM end the process with status 0.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(0))
    options: dict[str, object] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "timeout_graceful_shutdown": 10,
        "proxy_headers": False,
        "server_header": False,
        "access_log": False,
        # httptools with a bound on request heads (answered 431 before the app; web/edge.py).
        "http": "kibitz.web.edge:BoundedHttpTools",
    }
    sockets = _start_metrics_listener(settings)
    try:
        if workers > 1:
            # Worker processes rebuild the settings from the same file.
            if config_path is not None:
                os.environ["KIBITZ_CONFIG"] = str(config_path.resolve())
            uvicorn.run("kibitz.app:factory", factory=True, workers=workers, **options)  # type: ignore[arg-type]
        else:
            from kibitz.app import create_app

            uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
    finally:
        if sockets is not None:
            shutil.rmtree(sockets, ignore_errors=True)


def _start_metrics_listener(settings: Settings) -> str | None:
    """With ``metrics_listen``: /metrics of every worker on that address, served by this process
    (which outlives the workers uvicorn restarts); the private directory of the workers' sockets."""
    address = settings.metrics_address
    if address is None:
        return None
    from kibitz.web.ops import METRICS_SOCKETS_ENV, MetricsListener

    sockets = tempfile.mkdtemp(prefix="kibitz-metrics-")  # mode 0700: only this user's processes
    try:
        MetricsListener(*address, sockets, settings.metrics_allow).start()
    except OSError as exc:
        shutil.rmtree(sockets, ignore_errors=True)
        problem = exc.strerror or str(exc)
        raise click.ClickException(
            f"metrics_listen: cannot listen on {settings.metrics_listen}: {problem}"
        ) from None
    os.environ[METRICS_SOCKETS_ENV] = sockets  # the workers inherit it
    return sockets


@main.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def serve(config_path: Path | None, host: str, port: int, workers: int) -> None:
    """Serve the API, the admin, and the outbox worker (when [smtp] host is set)."""
    _serve(_settings(config_path), host, port, workers, config_path)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path),
    default=Path("kibitz-demo"),
    show_default=True,
    help="where the demo keeps its SQLite database",
)
def demo(host: str, port: int, data_dir: Path) -> None:
    """A sample news site with comments, on SQLite, with no configuration."""
    from kibitz.demo import run_demo

    run_demo(host, port, data_dir)


@main.group()
def comments() -> None:
    """Act on one comment from the shell (the admin at /admin/ does more)."""


def with_context(config_path: Path | None, act: Callable[[Context], Awaitable[T]]) -> T:
    """Run ``act`` on a context opened from the configuration, then close it."""
    from kibitz.context import close_context, open_context

    settings = _settings(config_path)

    async def go() -> T:
        ctx = await open_context(settings)
        try:
            return await act(ctx)
        finally:
            await close_context(ctx)

    return _run(go)


@comments.command("hide")
@config_option
@click.argument("comment_id", type=int)
def hide_comment(config_path: Path | None, comment_id: int) -> None:
    """Hide a comment from readers (its replies stay)."""
    changed = with_context(config_path, lambda ctx: ctx.moderation.set_hidden(comment_id, True))
    click.echo(f"comment {comment_id} hidden" if changed else f"comment {comment_id} was already hidden")


@comments.command("restore")
@config_option
@click.argument("comment_id", type=int)
def restore_comment(config_path: Path | None, comment_id: int) -> None:
    """Show a hidden comment again."""
    changed = with_context(config_path, lambda ctx: ctx.moderation.set_hidden(comment_id, False))
    click.echo(f"comment {comment_id} restored" if changed else f"comment {comment_id} was not hidden")


@main.group()
def threads() -> None:
    """Close or reopen a thread from the shell (also in the admin, on the story's page)."""


@threads.command("close")
@config_option
@click.argument("site")
@click.argument("page")
def close_thread(config_path: Path | None, site: str, page: str) -> None:
    """Refuse new comments on a page (they get `thread_closed`)."""
    changed = with_context(config_path, lambda ctx: ctx.moderation.set_closed(site, page, True))
    click.echo(f"thread {site} {page} closed" if changed else f"thread {site} {page} was already closed")


@threads.command("reopen")
@config_option
@click.argument("site")
@click.argument("page")
def reopen_thread(config_path: Path | None, site: str, page: str) -> None:
    """Accept new comments on a page again."""
    changed = with_context(config_path, lambda ctx: ctx.moderation.set_closed(site, page, False))
    click.echo(f"thread {site} {page} reopened" if changed else f"thread {site} {page} was open")


@main.command()
@config_option
def worker(config_path: Path | None) -> None:
    """Deliver the outbox (and run the periodic jobs) as a process of its own, until SIGTERM."""
    settings = _settings(config_path)
    if not settings.smtp.host:
        click.echo("invalid configuration: smtp.host: not set, so there is nowhere to send mail", err=True)
        sys.exit(2)
    from kibitz.worker import serve_worker

    _run(lambda: serve_worker(settings))


@main.group()
def outbox() -> None:
    """See the mail waiting or failed, and send failed mail again."""


@outbox.command("list")
@config_option
@click.option(
    "--status", type=click.Choice(["pending", "sending", "sent", "failed", "dropped"]), default=None
)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
def outbox_list(config_path: Path | None, status: str | None, limit: int) -> None:
    """One line per mail: id, status, kind, recipient, attempts, next attempt, last error."""
    from kibitz.store.db import Database
    from kibitz.store.outbox import OutboxRow

    settings = _settings(config_path)

    async def go() -> list[OutboxRow]:
        db = Database(settings.sqlalchemy_url)
        try:
            async with db.read() as tx:
                return await tx.outbox.list(status, limit)
        finally:
            await db.dispose()

    for row in _run(go):
        error = " ".join(row.last_error.split())
        click.echo(
            f"{row.id}\t{row.status}\t{row.kind}\t{row.recipient}\tattempts={row.attempts}\t"
            f"{row.next_attempt.isoformat(timespec='seconds')}\t{error}"
        )


@outbox.command("retry")
@config_option
@click.argument("outbox_id", type=int, required=False)
@click.option("--failed", "all_failed", is_flag=True, help="every failed mail")
def outbox_retry(config_path: Path | None, outbox_id: int | None, all_failed: bool) -> None:
    """Queue a failed (or dropped) mail again, or every failed one with --failed."""
    from datetime import UTC, datetime

    from kibitz.store.db import Database

    if (outbox_id is None) == (not all_failed):
        raise click.UsageError("give either an ID or --failed")
    settings = _settings(config_path)

    async def go() -> int:
        db = Database(settings.sqlalchemy_url)
        now = datetime.now(UTC)
        try:
            async with db.write() as tx:
                if outbox_id is None:
                    return await tx.outbox.requeue_failed(now)
                return int(await tx.outbox.requeue(outbox_id, now))
        finally:
            await db.dispose()

    count = _run(go)
    if outbox_id is None:
        click.echo(f"{count} failed mails queued again")
    elif count:
        click.echo(f"mail {outbox_id} queued again")
    else:
        click.echo(f"error: mail {outbox_id} does not exist or is not failed or dropped", err=True)
        sys.exit(1)


from kibitz.cli_staff import admin, apikey  # noqa: E402 - it uses the helpers above

main.add_command(admin)
main.add_command(apikey)
