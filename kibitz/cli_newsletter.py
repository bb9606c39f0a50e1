"""`kibitz newsletter list|send ID [--follow]` (campaigns.py) and `kibitz newsletter import|export` (a
list's subscribers as CSV, subscriber_io.py); registered by kibitz/cli.py. Sending here starts the
campaign and writes its outbox rows at once, with a progress bar; the worker delivers them as always,
and ``--follow`` keeps a second bar until every mail is sent, failed or dropped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kibitz import errors
from kibitz.cli_data import data_options, with_context

if TYPE_CHECKING:
    from kibitz.config import SiteConfig
    from kibitz.context import Context
    from kibitz.store.campaigns import Campaign
    from kibitz.subscriber_io import Report

ACTOR = "cli"


@click.group()
def newsletter() -> None:
    """Newsletter campaigns (list them, send one) and a list's subscribers (import, export)."""


def campaign_line(campaign: Campaign) -> str:
    """id, site, list, status, total, send_at, subject: tab-separated, one line."""
    send_at = campaign.send_at.isoformat(timespec="seconds") if campaign.send_at else "-"
    subject = " ".join(campaign.subject.split())
    return (
        f"{campaign.id}\t{campaign.site}\t{campaign.list_id}\t{campaign.status}\t"
        f"total={campaign.total}\tsend_at={send_at}\t{subject}"
    )


@newsletter.command("list")
@data_options
def newsletter_list(config_path: Path | None, data_dir: Path | None) -> None:
    """Every campaign, newest first, one line each: id, site, list, status, mails queued, send_at,
    subject."""

    async def act(ctx: Context) -> list[Campaign]:
        async with ctx.db.read() as tx:
            return await tx.campaigns.all()

    for campaign in with_context(config_path, data_dir, act):
        click.echo(campaign_line(campaign))


def _reporter(what: str) -> tuple[Callable[[int, int, int | None], None], Callable[[], None]]:
    """A progress callback ``(campaign id, done, total or None)`` and its closer: a rich progress bar
    when rich is installed, else lines."""
    try:
        from rich.progress import Progress
    except ImportError:  # pragma: no cover - rich is a dependency, but optional here

        def line(campaign_id: int, done: int, total: int | None) -> None:
            click.echo(f"campaign {campaign_id}: {done}{f' of {total}' if total else ''} mails {what}")

        return line, lambda: None
    progress = Progress(transient=False)
    progress.start()
    task = progress.add_task(f"mails {what}", total=None)

    def update(campaign_id: int, done: int, total: int | None) -> None:
        progress.update(
            task, completed=done, total=total, description=f"campaign {campaign_id}: mails {what}"
        )

    return update, progress.stop


FOLLOW_EVERY = 0.5  # seconds between two looks at the campaign's counts


async def _follow(ctx: Context, campaign_id: int, update: Callable[[int, int, int | None], None]) -> None:
    """Until none of the campaign's mail waits (pending or being sent): report how much is done."""
    while True:
        async with ctx.db.read() as tx:
            campaign = await tx.campaigns.get(campaign_id)
            counts = await tx.campaigns.counts(campaign_id)
        waiting = counts.get("pending", 0) + counts.get("sending", 0)
        done = sum(counts.values()) - waiting
        update(campaign_id, done, campaign.total if campaign is not None else None)
        if campaign is None or (waiting == 0 and (campaign.queued or campaign.status == "cancelled")):
            return
        await asyncio.sleep(FOLLOW_EVERY)


@newsletter.command("send")
@data_options
@click.argument("campaign_id", type=int)
@click.option(
    "--follow", is_flag=True, help="Then show the delivery until every mail is sent, failed or dropped."
)
def newsletter_send(config_path: Path | None, data_dir: Path | None, campaign_id: int, follow: bool) -> None:
    """Send a draft campaign now (or schedule it, when its send_at is ahead) and queue its mail."""

    async def act(ctx: Context) -> Campaign:
        async with ctx.db.read() as tx:
            found = await tx.campaigns.get(campaign_id)
        site = ctx.settings.site(found.site) if found is not None else None
        if found is None or site is None:
            raise errors.NotFound(f"No campaign {campaign_id}")
        campaign = await ctx.campaigns.send(site, campaign_id, ACTOR)
        if campaign.status == "sending":
            update, stop = _reporter("queued")
            try:
                await ctx.campaigns.enqueue_all(campaign_id, lambda cid, done: update(cid, done, None))
            finally:
                stop()
            if follow:
                update, stop = _reporter("delivered")
                try:
                    await _follow(ctx, campaign_id, update)
                finally:
                    stop()
        return await ctx.campaigns.get(site, campaign_id)

    campaign = with_context(config_path, data_dir, act)
    click.echo(campaign_line(campaign))


def _site(ctx: Context, site_id: str) -> SiteConfig:
    site = ctx.settings.site(site_id)
    if site is None:
        raise errors.NotFound(f"No site {site_id!r} in the configuration")
    return site


def _bar() -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A progress callback (records done, records in all) drawing a rich bar on stderr, and its closer."""
    from rich.console import Console
    from rich.progress import Progress, TaskID

    progress = Progress(console=Console(stderr=True), transient=False)
    task: list[TaskID] = []  # made when the first count arrives: the file's length is known then

    def update(done: int, total: int) -> None:
        if not task:
            progress.start()
            task.append(progress.add_task("importing subscribers", total=total))
        progress.update(task[0], completed=done)

    def stop() -> None:
        if task:
            progress.stop()

    return update, stop


def report_lines(report: Report) -> list[str]:
    """What an import did (or would do), as the command prints it."""
    head = (
        f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
        f"skipped {report.skipped_total}"
    )
    lines = [head + (" (dry run: nothing was written)" if report.dry_run else "")]
    if report.confirmations:
        queued = "that would be queued" if report.dry_run else "queued"
        lines.append(f"confirmation mails {queued}: {report.confirmations}")
    if report.ignored_columns:
        lines.append("ignored columns: " + ", ".join(report.ignored_columns))
    lines.extend(f"line {line}: {reason}" for line, reason in report.skipped)
    if report.skipped_total > len(report.skipped):
        lines.append(f"… and {report.skipped_total - len(report.skipped)} more skipped")
    return lines


@newsletter.command("import")
@data_options
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--site", "site_id", required=True, help="the site's id")
@click.option("--list", "list_id", required=True, help="one of the site's newsletter lists")
@click.option("--dry-run", is_flag=True, help="report what would be done; write nothing")
@click.option("--source", default="", help="consent_source for rows whose own is empty")
@click.option("--send-confirmation", is_flag=True, help="mail rows without consent_at a confirmation")
def newsletter_import(
    config_path: Path | None,
    data_dir: Path | None,
    file: Path,
    site_id: str,
    list_id: str,
    dry_run: bool,
    source: str,
    send_confirmation: bool,
) -> None:
    """Import subscribers into a list from a UTF-8 CSV file whose first line names the columns: email
    (required), name, consent_at (ISO date or date-time of the person's consent), consent_source.
    Rows with consent_at are subscribed at once, with that consent recorded; rows without it wait,
    pending, for the person to confirm (asked by mail only with --send-confirmation). Suppressed
    addresses and people who left are skipped; a second run of the same file changes nothing."""

    def lines() -> Iterator[str]:
        with file.open(encoding="utf-8-sig", newline="") as text:
            yield from text

    async def act(ctx: Context) -> Report:
        update, stop = _bar()
        try:
            return await ctx.subscriber_io.import_csv(
                _site(ctx, site_id), list_id, lines, ACTOR, dry_run=dry_run, default_source=source,
                send_confirmation=send_confirmation, progress=update,
            )  # fmt: skip
        finally:
            stop()

    for line in report_lines(with_context(config_path, data_dir, act)):
        click.echo(line)


@newsletter.command("export")
@data_options
@click.option("--site", "site_id", required=True, help="the site's id")
@click.option("--list", "list_id", default=None, help="one of the site's lists (default: every list)")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="write the CSV to this file (default: standard output)")  # fmt: skip
def newsletter_export(
    config_path: Path | None, data_dir: Path | None, site_id: str, list_id: str | None, output: Path | None
) -> None:
    """Write a site's newsletter subscribers as CSV, one line per subscription: email, name, list,
    status (pending, confirmed, paused, unsubscribed), subscribed_at, confirmed_at, consent_at,
    consent_source, suppressed (why the address gets no mail, if so). Audited."""

    async def act(ctx: Context) -> int:
        chunks = await ctx.subscriber_io.export_csv(_site(ctx, site_id), list_id, ACTOR)
        written = 0
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(output.open("w", encoding="utf-8", newline="")) if output else None
            async for chunk in chunks:
                if out is not None:
                    out.write(chunk)
                else:
                    click.echo(chunk, nl=False)
                written += chunk.count("\n")
        return written - 1

    count = with_context(config_path, data_dir, act)
    if output is not None:
        click.echo(f"{count} subscriptions written to {output}", err=True)
