"""`kibitz import FORMAT FILE --site ID` and `kibitz export --site ID --format F`; registered by
kibitz/cli.py. The work is in kibitz/imports/: this module reads the options and shows progress."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn

from kibitz import errors
from kibitz.cli_data import data_options, load, with_context, with_database
from kibitz.imports.formats import READERS, WRITERS

if TYPE_CHECKING:
    from kibitz.context import Context
    from kibitz.imports.report import Report
    from kibitz.store.db import Database


def _site(config_path: Path | None, data_dir: Path | None, site: str) -> None:
    known = [s.id for s in load(config_path, data_dir).sites]
    if site not in known:
        click.echo(f"error: no site {site!r} in the configuration (sites: {', '.join(known)})", err=True)
        sys.exit(1)


@contextlib.contextmanager
def _bar() -> Iterator[Progress]:
    """A progress bar on the terminal's stderr (nothing when stderr is not a terminal)."""
    console = Console(stderr=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        yield bar


@click.command("import")
@data_options
@click.argument("format_name", metavar="FORMAT", type=click.Choice(sorted(READERS)))
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--site", required=True, help="the configured site to import into")
@click.option("--dry-run", is_flag=True, help="say what would be created, updated and skipped; write nothing")
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="OLD_PREFIX=NEW_PREFIX",
    help="rewrite article links that start with OLD_PREFIX (repeatable; the first match applies)",
)
def import_comments(
    config_path: Path | None,
    data_dir: Path | None,
    format_name: str,
    file: Path,
    site: str,
    dry_run: bool,
    maps: tuple[str, ...],
) -> None:
    """Import a comment export into a site; a second run creates nothing and updates what changed.

    The whole file is checked before anything is written: a file that is not well-formed, or hostile,
    or whose replies form a loop, is refused and nothing is imported."""
    from kibitz.imports.normalise import PageMap
    from kibitz.imports.writer import Importer
    from kibitz.imports.writer import Progress as Steps

    _site(config_path, data_dir, site)
    try:
        page_maps = [PageMap.parse(value) for value in maps]
    except errors.InvalidInput as exc:
        raise click.BadParameter(exc.detail, param_hint="--map") from None
    source = READERS[format_name](file)

    async def act(db: Database) -> Report:
        # Not the whole server's context: an import needs the database, the site's settings and the
        # secret its avatars are keyed with (a big import's memory is mostly what is loaded).
        from kibitz.migrate import upgrade
        from kibitz.policy import Policies
        from kibitz.store.meta import load_secret

        settings = load(config_path, data_dir)
        await upgrade(db, settings)
        secret = (await load_secret(db, settings.secret_key)).encode()
        config = settings.site(site)
        assert config is not None
        async with db.read() as tx:
            config = await Policies(db, secret).effective(tx, config)
        importer = Importer(db, config, partial(datetime.now, UTC), secret)
        with _bar() as bar:
            tasks: dict[str, TaskID] = {}

            def update(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(phase, total=total or None)
                bar.update(tasks[phase], completed=done, total=total or None)

            return await importer.run(
                source, str(file), dry_run=dry_run, maps=page_maps, progress=Steps(update)
            )

    report = with_database(config_path, data_dir, act)
    for line in report.lines():
        click.echo(line)
    if dry_run:
        click.echo("dry run: nothing was written")


@click.command("export")
@data_options
@click.option("--site", required=True, help="the configured site to export")
@click.option(
    "--format", "format_name", type=click.Choice(sorted(WRITERS)), default="json", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="the file to write (default: standard output); written whole or not at all",
)
def export_comments(
    config_path: Path | None, data_dir: Path | None, site: str, format_name: str, output: Path | None
) -> None:
    """Export every thread and comment of a site (every status; authors' addresses included)."""
    from kibitz.imports.export import ExportThread, walk

    _site(config_path, data_dir, site)

    async def write(ctx: Context, out: IO[str]) -> None:
        config = ctx.settings.site(site)
        assert config is not None
        writer = WRITERS[format_name](out, config)
        writer.start(site)
        async for item in walk(ctx.db, site):
            if isinstance(item, ExportThread):
                writer.thread(item)
            else:
                writer.comment(item)
        writer.end()

    if output is None:
        with_context(config_path, data_dir, lambda ctx: write(ctx, sys.stdout))
        return
    # Beside the target, then renamed: an export that fails leaves no half-written file.
    fd, temp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            with_context(config_path, data_dir, lambda ctx: write(ctx, out))
        Path(temp).replace(output)
    finally:
        Path(temp).unlink(missing_ok=True)
    click.echo(f"exported site {site!r} as {format_name} to {output}", err=True)
