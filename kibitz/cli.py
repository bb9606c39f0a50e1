"""The `kibitz` command line: serve, demo and migrate here; the operator's commands in kibitz/cli_*.py.

Every command finds its settings and data the same way (kibitz/cli_data.py): --config, KIBITZ_CONFIG,
./kibitz.toml, the KIBITZ_* environment, and --data DIR for a demo's data directory."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import click

from kibitz import __version__
from kibitz.cli_backup import backup, restore
from kibitz.cli_bounces import bounces
from kibitz.cli_comments import comments, threads
from kibitz.cli_data import (
    DATA_DATABASE_URL,
    DEMO_DATA_DIR,
    data_options,
    load,
    run,
    sqlite_path,
    where_text,
)
from kibitz.cli_import import export_comments, import_comments
from kibitz.cli_newsletter import newsletter
from kibitz.cli_outbox import outbox, worker
from kibitz.cli_privacy import privacy
from kibitz.cli_staff import admin, apikey
from kibitz.config import Settings
from kibitz.origins import origin


@click.group()
@click.version_option(__version__, prog_name="kibitz")
def main() -> None:
    """Kibitz: comments and reader subscriptions for news sites."""


@main.command()
@data_options
def migrate(config_path: Path | None, data_dir: Path | None) -> None:
    """Bring the database schema up to date (making a new database when there is none)."""
    from kibitz.migrate import head_revision, upgrade
    from kibitz.store.db import Database

    settings = load(config_path, data_dir)
    file = sqlite_path(settings)
    new = file is not None and not file.is_file()

    async def go() -> None:
        db = Database(settings.sqlalchemy_url)
        try:
            await upgrade(db, settings)
        finally:
            await db.dispose()

    run(go)
    if new:
        click.echo(f"made a new database at {file} ({where_text(settings, config_path, data_dir)})", err=True)
    click.echo(f"database is at revision {head_revision()}")


def _serve(
    settings: Settings, host: str, port: int, workers: int, config_path: Path | None, data_dir: Path | None
) -> None:
    import uvicorn

    from kibitz.migrate import upgrade
    from kibitz.store.db import Database

    async def prepare() -> None:
        db = Database(settings.sqlalchemy_url)
        try:
            await upgrade(db, settings)
        finally:
            await db.dispose()

    run(prepare)  # once, before any worker starts
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
        # httptools with bounded request heads (431 before the app; web/edge.py) and the read cache
        # answering repeats on the spot (web/wire.py).
        "http": "kibitz.web.wire:KibitzHttp",
    }
    sockets = _gather_metrics(settings, workers)
    try:
        if workers > 1:
            # Worker processes rebuild the settings from the same file.
            if config_path is not None:
                os.environ["KIBITZ_CONFIG"] = str(config_path.resolve())
            if data_dir is not None:  # --data: the variables win over the file, as the option did
                os.environ["KIBITZ_DATA_DIR"] = str(data_dir.resolve())
                os.environ["KIBITZ_DATABASE_URL"] = DATA_DATABASE_URL
            uvicorn.run("kibitz.app:factory", factory=True, workers=workers, **options)  # type: ignore[arg-type]
        else:
            from kibitz.app import create_app

            uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
    finally:
        if sockets is not None:
            shutil.rmtree(sockets, ignore_errors=True)


def _gather_metrics(settings: Settings, workers: int) -> str | None:
    """With several workers or ``metrics_listen``: the private directory where every worker answers
    its metrics (so that /metrics reports them all), and with ``metrics_listen`` the listener on
    that address, served by this process (which outlives the workers uvicorn restarts)."""
    address = settings.metrics_address
    if address is None and workers == 1:
        return None
    from kibitz.web.ops import METRICS_SOCKETS_ENV, MetricsListener

    sockets = tempfile.mkdtemp(prefix="kibitz-metrics-")  # mode 0700: only this user's processes
    try:
        if address is not None:
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
@data_options
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def serve(config_path: Path | None, data_dir: Path | None, host: str, port: int, workers: int) -> None:
    """Serve the API, the admin, and the outbox worker (when [smtp] host is set)."""
    _serve(load(config_path, data_dir), host, port, workers, config_path, data_dir)


def _origin(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    found = []
    for value in values:
        try:
            found.append(origin(value))
        except ValueError as exc:
            raise click.BadParameter(
                f"{exc}, not {value!r}: scheme, host and port, e.g. http://127.0.0.1:8080"
            ) from None
    return tuple(found)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    default=DEMO_DATA_DIR,
    show_default=True,
    help="where the demo keeps its SQLite database (kibitz.db), its mail and its admin's sign-in",
)
@click.option(
    "--origin",
    "origins",
    multiple=True,
    callback=_origin,
    metavar="URL",
    help="also let pages at this origin embed the demo's widget, e.g. http://127.0.0.1:8080 (repeatable)",
)
def demo(host: str, port: int, data_dir: Path, origins: tuple[str, ...]) -> None:
    """A sample news site with comments, on SQLite, with no configuration."""
    from kibitz.demo import run_demo

    run_demo(host, port, data_dir, origins)


for command in (comments, threads, worker, outbox, admin, apikey, bounces, newsletter, privacy):
    main.add_command(command)
for command in (import_comments, export_comments, backup, restore):
    main.add_command(command)
