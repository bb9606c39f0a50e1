"""`kibitz bounces` (the SMTP endpoint that takes bounces and complaints, until SIGTERM), `kibitz
bounces list`, `kibitz bounces log` and `kibitz bounces lift EMAIL`; registered by kibitz/cli.py."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kibitz.cli_data import checked, data_options, load, run, with_database

if TYPE_CHECKING:
    from kibitz.store.db import Database
    from kibitz.store.suppressions import Bounce, Suppression

ACTOR = "cli"


@click.group(invoke_without_command=True)
@data_options
@click.pass_context
def bounces(ctx: click.Context, config_path: Path | None, data_dir: Path | None) -> None:
    """Take bounces and complaints by SMTP on bounces_listen, for the signed return paths of
    bounce_address, until SIGTERM (without a command); or list and lift suppressions."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load(config_path, data_dir)
    if not settings.bounce_address:
        click.echo("invalid configuration: bounce_address: not set, so no bounce is addressed here", err=True)
        sys.exit(2)
    settings = checked(config_path, data_dir)
    from kibitz.bounce_inbox import serve_bounces

    try:
        run(lambda: serve_bounces(settings))
    except OSError as exc:
        problem = exc.strerror or str(exc)
        click.echo(f"error: bounces_listen: cannot listen on {settings.bounces_listen}: {problem}", err=True)
        sys.exit(1)


def suppression_line(row: Suppression) -> str:
    """email, site ("*" for every site), reason, since, detail: tab-separated, one line."""
    detail = " ".join(row.detail.split())
    since = row.created.isoformat(timespec="seconds")
    return f"{row.email}\t{row.site or '*'}\t{row.reason}\t{since}\t{detail}"


@bounces.command("list")
@data_options
@click.option("--email", default=None, help="only this address's suppressions")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
def bounces_list(config_path: Path | None, data_dir: Path | None, email: str | None, limit: int) -> None:
    """The suppressed addresses, newest first: address, site ("*": every site), reason
    (hard_bounce, complaint, unsubscribed, erased), since when, and the report's words."""
    from kibitz import bounces as rules

    async def act(db: Database) -> list[Suppression]:
        address = rules.canonical(email) if email else None
        async with db.read() as tx:
            return await tx.suppressions.list(email=address, limit=limit)

    for row in with_database(config_path, data_dir, act):
        click.echo(suppression_line(row))


def bounce_line(row: Bounce) -> str:
    """id, when, kind, source, email, site, outbox id ("-" when unknown), detail: tab-separated."""
    detail = " ".join(row.detail.split())
    outbox_id = "-" if row.outbox_id is None else str(row.outbox_id)
    when = row.created.isoformat(timespec="seconds")
    return (
        f"{row.id}\t{when}\t{row.kind}\t{row.source}\t{row.email}\t{row.site or '-'}\t{outbox_id}\t{detail}"
    )


@bounces.command("log")
@data_options
@click.option("--email", default=None, help="only this address's reports")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000))
def bounces_log(config_path: Path | None, data_dir: Path | None, email: str | None, limit: int) -> None:
    """Every bounce and complaint received, newest first: id, when, kind (hard, soft, complaint),
    source (smtp, webhook), address, site and outbox id of the mail it answers, and what it said."""
    from kibitz import bounces as rules

    async def act(db: Database) -> list[Bounce]:
        address = rules.canonical(email) if email else None
        async with db.read() as tx:
            return await tx.bounces.list(email=address, limit=limit)

    for row in with_database(config_path, data_dir, act):
        click.echo(bounce_line(row))


@bounces.command("lift")
@data_options
@click.argument("email")
@click.option("--site", default=None, help="only this site's suppression (default: every one of the address)")
def bounces_lift(config_path: Path | None, data_dir: Path | None, email: str, site: str | None) -> None:
    """Mail EMAIL again: lift its suppressions. Its subscriptions wait for it to confirm them anew."""
    from kibitz import bounces as rules

    async def act(db: Database) -> int:
        return await rules.lift(db, email, site, ACTOR, datetime.now(UTC))

    removed = with_database(config_path, data_dir, act)
    if not removed:
        click.echo(f"error: {email} is not suppressed", err=True)
        sys.exit(1)
    click.echo(f"{email}: {removed} suppression{'s' if removed > 1 else ''} lifted")
