"""`kibitz privacy export` and `kibitz privacy erase`: a reader's data or erasure, for requests that
reach the publisher by post (privacy.py has the rules); registered by kibitz/cli.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kibitz.cli_data import data_options, with_context

if TYPE_CHECKING:
    from kibitz.context import Context
    from kibitz.privacy import Erasure

ACTOR = "cli"


@click.group()
def privacy() -> None:
    """A reader's data on one site: download it, or erase it (audited, without the address)."""


@privacy.command("export")
@data_options
@click.option("--site", "site_id", required=True, help="the site's id")
@click.option("--email", required=True, help="the reader's address")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the JSON here (default: standard output)")  # fmt: skip
def privacy_export(
    config_path: Path | None, data_dir: Path | None, site_id: str, email: str, output: Path | None
) -> None:
    """Everything kept about EMAIL on SITE, as JSON: comments, votes, reports, subscriptions with
    their consent, newsletters, mails."""
    from kibitz import errors

    async def act(ctx: Context) -> dict[str, Any]:
        site = ctx.settings.site(site_id)
        if site is None:
            raise errors.NotFound(f"No site {site_id!r}")
        return await ctx.privacy.export(ctx.privacy.identity(site, email), actor=ACTOR)

    data = with_context(config_path, data_dir, act)
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@privacy.command("erase")
@data_options
@click.option("--site", "site_id", required=True, help="the site's id")
@click.option("--email", required=True, help="the reader's address")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def privacy_erase(
    config_path: Path | None, data_dir: Path | None, site_id: str, email: str, yes: bool
) -> None:
    """Erase EMAIL from SITE under the site's erase policy (anonymise or remove its comments; its
    subscriptions, mail and votes go; the address stays only as a keyed hash in the suppression list)."""
    from kibitz import errors

    if not yes and not click.confirm(f"Erase {email} from {site_id}? This cannot be undone", err=True):
        click.echo("nothing erased", err=True)
        sys.exit(1)

    async def act(ctx: Context) -> Erasure:
        site = ctx.settings.site(site_id)
        if site is None:
            raise errors.NotFound(f"No site {site_id!r}")
        policy = (await ctx.policies.current(site)).erase
        return await ctx.privacy.erase(ctx.privacy.identity(site, email), policy, actor=ACTOR)

    done = with_context(config_path, data_dir, act)
    counts = done.counts()
    record = "a subscriber record" if counts["subscriber"] else "no subscriber record"
    click.echo(
        f"erased from {site_id} ({counts['mode']}): {counts['comments']} comments, "
        f"{counts['votes']} votes, {record}, {counts['mails']} mails"
    )
