"""`kibitz backup FILE` and `kibitz restore FILE` (the rules: kibitz/backup.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kibitz.backup import (
    BackupError,
    Checked,
    PgTools,
    backup_sqlite,
    known_revision,
    pg_command,
    restore_sqlite,
)
from kibitz.cli_data import checked, data_options, load, run, sqlite_path
from kibitz.config import Settings
from kibitz.migrate import head_revision

force_option = click.option("--force", is_flag=True, help="replace FILE (backup) or the database (restore)")


def _fail(exc: BackupError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(1)


def _said(checked: Checked) -> str:
    later = (
        "" if checked.revision == head_revision() else f" (`kibitz migrate` brings it to {head_revision()})"
    )
    return f"schema revision {checked.revision}{later}, {checked.comments} comments, integrity ok"


@click.command()
@data_options
@force_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def backup(config_path: Path | None, data_dir: Path | None, force: bool, file: Path) -> None:
    """Copy the database to FILE while Kibitz runs: SQLite's online backup (a consistent snapshot,
    checked), or pg_dump --format=custom for PostgreSQL."""
    settings = checked(config_path, data_dir)
    database = sqlite_path(settings)
    try:
        if database is not None:
            done = backup_sqlite(database, file, force=force)
            click.echo(f"backed up {database} to {file}: {_said(done)}")
            return
        if file.exists() and not force:
            raise BackupError(f"{file} exists; name a new file, or add --force to replace it")
        tools = PgTools.of(settings.database_url)
        pg_command("pg_dump", ["--format=custom", f"--file={file}", tools.url], tools)
        pg_command("pg_restore", ["--list", str(file)], tools)  # the archive reads back
        click.echo(f"backed up the PostgreSQL database to {file} (pg_dump --format=custom)")
    except BackupError as exc:
        _fail(exc)


@click.command()
@data_options
@force_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
def restore(config_path: Path | None, data_dir: Path | None, force: bool, file: Path) -> None:
    """Make the database the settings name from the backup FILE. Refuses to replace a database
    that exists (stop Kibitz first) unless --force."""
    settings = load(config_path, data_dir)
    database = sqlite_path(settings)
    try:
        if database is not None:
            done = restore_sqlite(file, database, force=force)
            click.echo(f"restored {file} to {database}: {_said(done)}")
            return
        click.echo(f"restored {file}: {_said(_restore_pg(settings, file, force))}")
    except BackupError as exc:
        _fail(exc)


def _restore_pg(settings: Settings, file: Path, force: bool) -> Checked:
    from sqlalchemy import text

    from kibitz.store.db import Database

    async def look() -> tuple[str | None, int]:
        db = Database(settings.sqlalchemy_url)
        try:
            async with db.raw() as conn:
                has = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
                if not has:
                    return None, 0
                revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
                count = await conn.scalar(text("SELECT count(*) FROM comments"))
                return (str(revision) if revision else None), int(count or 0)
        finally:
            await db.dispose()

    existing, _ = run(look)
    if existing is not None and not force:
        raise BackupError("the PostgreSQL database holds Kibitz's tables; add --force to replace them")
    tools = PgTools.of(settings.database_url)
    args = ["--no-owner", "--exit-on-error", f"--dbname={tools.url}"]
    if existing is not None:
        args += ["--clean", "--if-exists"]
    pg_command("pg_restore", [*args, str(file)], tools)
    revision, comments = run(look)
    if not known_revision(revision):
        raise BackupError(
            f"the restored database is at schema revision {revision!r}, unknown to this release"
        )
    return Checked(str(revision), comments)
