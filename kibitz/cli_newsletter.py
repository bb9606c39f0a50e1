"""`kibitz newsletter list` and `kibitz newsletter send ID`: newsletter campaigns from the command line
(campaigns.py); registered by kibitz/cli.py. Sending here starts the campaign and writes its outbox
rows at once, with a progress bar when ``rich`` is there; the worker delivers them as always."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kibitz import errors
from kibitz.cli_data import data_options, with_context

if TYPE_CHECKING:
    from kibitz.context import Context
    from kibitz.store.campaigns import Campaign

ACTOR = "cli"


@click.group()
def newsletter() -> None:
    """Newsletter campaigns: list them, send one."""


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


def _reporter() -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A progress callback and its closer: a rich progress bar when rich is installed, else lines."""
    try:
        from rich.progress import Progress
    except ImportError:  # pragma: no cover - rich is a dependency, but optional here

        def line(campaign_id: int, done: int) -> None:
            click.echo(f"campaign {campaign_id}: {done} mails queued")

        return line, lambda: None
    progress = Progress(transient=False)
    progress.start()
    task = progress.add_task("queueing mails", total=None)

    def update(campaign_id: int, done: int) -> None:
        progress.update(task, completed=done, description=f"campaign {campaign_id}: queueing mails")

    return update, progress.stop


@newsletter.command("send")
@data_options
@click.argument("campaign_id", type=int)
def newsletter_send(config_path: Path | None, data_dir: Path | None, campaign_id: int) -> None:
    """Send a draft campaign now (or schedule it, when its send_at is ahead) and queue its mail."""

    async def act(ctx: Context) -> Campaign:
        async with ctx.db.read() as tx:
            found = await tx.campaigns.get(campaign_id)
        site = ctx.settings.site(found.site) if found is not None else None
        if found is None or site is None:
            raise errors.NotFound(f"No campaign {campaign_id}")
        campaign = await ctx.campaigns.send(site, campaign_id, ACTOR)
        if campaign.status == "sending":
            update, stop = _reporter()
            try:
                await ctx.campaigns.enqueue_all(campaign_id, update)
            finally:
                stop()
        return await ctx.campaigns.get(site, campaign_id)

    campaign = with_context(config_path, data_dir, act)
    click.echo(campaign_line(campaign))
