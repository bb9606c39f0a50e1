"""How every command finds its settings and its data, as `kibitz serve` and `kibitz demo` do.

Settings: ``--config FILE``, else ``KIBITZ_CONFIG``, else ``./kibitz.toml`` when it exists, then the
``KIBITZ_*`` environment. ``--data DIR`` opens the SQLite database ``DIR/kibitz.db`` that
``kibitz demo --data DIR`` keeps (it sets ``data_dir`` and ``database_url``; the rest still comes from
the file and the environment). Commands that act on data (comments, threads, outbox, admin, apikey,
worker) never create a database: where there is none, they stop and say where they looked and why,
and how to name the right one. ``serve``, ``migrate`` and ``demo`` make a new database when needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from kibitz import errors
from kibitz.config import ConfigError, Settings, load_settings
from kibitz.config_layers import config_file_source, setting_source

if TYPE_CHECKING:
    from kibitz.context import Context
    from kibitz.store.db import Database

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
DEMO_DATA_DIR = Path("kibitz-demo")  # `kibitz demo`'s --data when none is given
DATA_DATABASE_URL = "sqlite:///kibitz.db"  # what --data DIR opens: DIR/kibitz.db, where the demo keeps it

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="TOML file (default: $KIBITZ_CONFIG, else ./kibitz.toml when it exists)",
)
data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    default=None,
    help="a data directory as `kibitz demo --data DIR` keeps it: the SQLite database DIR/kibitz.db",
)


def data_options(command: F) -> F:
    """``--config FILE`` and ``--data DIR``: the parameters ``config_path`` and ``data_dir``."""
    return config_option(data_option(command))


def load(config_path: Path | None, data_dir: Path | None = None) -> Settings:
    """The settings, as `kibitz serve` reads them, with ``--data`` applied; exits 2 when unusable."""
    overrides: dict[str, object] | None = None
    if data_dir is not None:
        overrides = {"data_dir": str(data_dir), "database_url": DATA_DATABASE_URL}
    try:
        return load_settings(config_path, overrides=overrides)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


def run(make: Callable[[], Awaitable[T]], *, fast_loop: bool = False) -> T:
    """Run a coroutine to its end; a Kibitz error becomes ``error: …`` and exit status 1.
    ``fast_loop``: on uvloop when it is installed (as `kibitz serve` runs, through uvicorn)."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if fast_loop:
        with contextlib.suppress(ImportError):
            import uvloop

            factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(make())  # type: ignore[arg-type]
    except errors.KibitzError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)


def sqlite_path(settings: Settings) -> Path | None:
    """The SQLite database's file, or None (PostgreSQL, or a database in memory)."""
    if not settings.is_sqlite:
        return None
    name = settings.sqlalchemy_url.partition(":///")[2].partition("?")[0]
    return None if not name or name == ":memory:" else Path(name)


def _source(key: str, settings: Settings, data_dir: Path | None) -> str:
    if data_dir is not None:
        return "from --data"
    found = setting_source(key, settings.config_path)
    return f"from {found}" if found else "the default"


def where_text(settings: Settings, config_path: Path | None, data_dir: Path | None) -> str:
    """Why the settings point where they do, in one sentence."""
    url = f"database_url {settings.database_url!r}" if settings.is_sqlite else "database_url"
    parts = [f"{url} ({_source('database_url', settings, data_dir)})"]
    file = sqlite_path(settings)
    if file is not None and not settings.database_url.partition(":///")[2].startswith("/"):
        parts.append(
            f"inside data_dir {str(settings.data_dir)!r} ({_source('data_dir', settings, data_dir)})"
        )
    return f"{' '.join(parts)}; {config_file_source(config_path, settings.config_path)}"


def database_text(settings: Settings) -> str:
    file = sqlite_path(settings)
    return f"the database {file}" if file else "the PostgreSQL database of database_url"


def _demo_hint(settings: Settings, data_dir: Path | None) -> str:
    demo = DEMO_DATA_DIR / "kibitz.db"
    if data_dir is None and demo.is_file() and demo.resolve() != sqlite_path(settings):
        return f"The demo's data is in ./{DEMO_DATA_DIR}: add --data {DEMO_DATA_DIR}.\n"
    return ""


def missing(settings: Settings, config_path: Path | None, data_dir: Path | None, problem: str) -> NoReturn:
    """Stop: the database the settings name is not there (or not Kibitz's); say where and what to do."""
    click.echo(
        f"error: {problem}, so nothing was done (and no database was made).\n"
        f"Looked there because of {where_text(settings, config_path, data_dir)}.\n"
        f"{_demo_hint(settings, data_dir)}"
        f"Name the data to use with --data DIR (the directory `kibitz demo --data DIR` uses, "
        f"./{DEMO_DATA_DIR} by default) or --config FILE (a server's kibitz.toml; or set KIBITZ_CONFIG). "
        f"`kibitz migrate` or `kibitz serve` makes a new database.",
        err=True,
    )
    sys.exit(1)


def existing(config_path: Path | None, data_dir: Path | None) -> Settings:
    """The settings, once their SQLite database file is known to exist (exits 1 when it does not)."""
    settings = load(config_path, data_dir)
    file = sqlite_path(settings)
    if file is not None and not file.is_file():
        missing(settings, config_path, data_dir, f"there is no database at {file}")
    return settings


class NoSchema(Exception):
    """The database exists but holds no Kibitz tables."""


async def check_schema(db: Database) -> None:
    """Raise NoSchema when the database has no Kibitz tables (an empty file or PostgreSQL database)."""
    from alembic.runtime.migration import MigrationContext

    async with db.raw() as conn:
        revision = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    if revision is None:
        raise NoSchema


def _run_on(
    settings: Settings, config_path: Path | None, data_dir: Path | None, go: Callable[[], Awaitable[T]]
) -> T:
    try:
        return asyncio.run(go())  # type: ignore[arg-type]
    except NoSchema:
        missing(settings, config_path, data_dir, f"{database_text(settings)} has no Kibitz tables")
    except errors.KibitzError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        if isinstance(exc, errors.NotFound):
            # What was asked for may well be in another database: say which one this was.
            click.echo(f"(in {database_text(settings)}; --data DIR or --config FILE names another)", err=True)
        sys.exit(1)


def checked(config_path: Path | None, data_dir: Path | None) -> Settings:
    """The settings, once the database they name is known to exist and to hold Kibitz's tables
    (exits 1, saying where it looked, when it does not)."""
    from kibitz.store.db import Database

    settings = existing(config_path, data_dir)
    file = sqlite_path(settings)
    if file is not None:
        # Read with the plain driver: opening a Database makes its side files beside the file.
        if not _sqlite_has_schema(file):
            missing(settings, config_path, data_dir, f"{database_text(settings)} has no Kibitz tables")
        return settings

    async def go() -> None:
        db = Database(settings.sqlalchemy_url)
        try:
            await check_schema(db)
        finally:
            await db.dispose()

    _run_on(settings, config_path, data_dir, go)
    return settings


def _sqlite_has_schema(file: Path) -> bool:
    try:
        with contextlib.closing(sqlite3.connect(file, timeout=5)) as conn:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'").fetchone()
    except sqlite3.DatabaseError:  # not a database at all
        return False
    return found is not None


def with_database(
    config_path: Path | None, data_dir: Path | None, act: Callable[[Database], Awaitable[T]]
) -> T:
    """Run ``act`` on the existing database the settings name (never creating one), then close it."""
    from kibitz.store.db import Database

    settings = checked(config_path, data_dir)

    async def go() -> T:
        db = Database(settings.sqlalchemy_url)
        try:
            return await act(db)
        finally:
            await db.dispose()

    return _run_on(settings, config_path, data_dir, go)


def with_context(
    config_path: Path | None, data_dir: Path | None, act: Callable[[Context], Awaitable[T]]
) -> T:
    """Run ``act`` on a context opened on the existing database (never creating one), then close it."""
    from kibitz.context import close_context, open_context

    settings = checked(config_path, data_dir)

    async def go() -> T:
        ctx = await open_context(settings)
        try:
            return await act(ctx)
        finally:
            await close_context(ctx)

    return _run_on(settings, config_path, data_dir, go)
