"""`kibitz comments …` (list, hide, restore) and `kibitz threads …` (close, reopen); registered by
kibitz/cli.py. They find their data as every command does (kibitz/cli_data.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kibitz.cli_data import data_options, load, with_context

if TYPE_CHECKING:
    from kibitz.context import Context
    from kibitz.models import QueueItem

EXCERPT = 60  # characters of a comment's text shown by `comments list`
LIST_STATUSES = ("all", "approved", "pending", "flagged", "spam", "rejected")


@click.group()
def comments() -> None:
    """Find comments, and hide or restore one, from the shell (the admin at /admin/ does more)."""


def excerpt(text: str, width: int = EXCERPT) -> str:
    """The text on one line, cut to ``width`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def comment_line(item: QueueItem) -> str:
    """id, site, page, author, status, created, excerpt: tab-separated, one line."""
    c = item.comment
    status = "deleted" if c.deleted else c.status.value
    reports = sum(flag.count for flag in item.flags)
    if reports:
        status += f",reported={reports}"
    author = " ".join(c.author.name.split()) or "-"
    created = c.created.isoformat(timespec="seconds")
    return f"{c.id}\t{c.site}\t{item.page}\t{author}\t{status}\t{created}\t{excerpt(c.text)}"


@comments.command("list")
@data_options
@click.option("--site", default=None, help="only this site (default: every configured site)")
@click.option("--page", default=None, help="only this page (its key, e.g. /2026/some-story)")
@click.option("--status", type=click.Choice(LIST_STATUSES), default="all", show_default=True)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
def list_comments(
    config_path: Path | None,
    data_dir: Path | None,
    site: str | None,
    page: str | None,
    status: str,
    limit: int,
) -> None:
    """Newest first, one line each: id, site, page, author, status, created, the start of the text.

    flagged: comments with open reader reports; all: every status, deleted ones too."""
    from kibitz.store.moderation import QueueFilter

    known = [s.id for s in load(config_path, data_dir).sites]
    if site is not None and site not in known:
        click.echo(f"error: no site {site!r} in the configuration (sites: {', '.join(known)})", err=True)
        sys.exit(1)

    async def act(ctx: Context) -> list[QueueItem]:
        wanted = QueueFilter(status=status, page=page or "")
        found: list[QueueItem] = []
        async with ctx.db.read() as tx:
            for site_id in [site] if site is not None else known:
                found += await tx.moderation.queue(site_id, wanted, None, limit)
        found.sort(key=lambda item: (item.comment.created, item.comment.id), reverse=True)
        return found[:limit]

    items = with_context(config_path, data_dir, act)
    for item in items:
        click.echo(comment_line(item))
    if not items:
        click.echo("no comments match", err=True)


@comments.command("hide")
@data_options
@click.argument("comment_id", type=int)
def hide_comment(config_path: Path | None, data_dir: Path | None, comment_id: int) -> None:
    """Hide a comment from readers (its replies stay)."""
    changed = with_context(config_path, data_dir, lambda ctx: ctx.moderation.set_hidden(comment_id, True))
    click.echo(f"comment {comment_id} hidden" if changed else f"comment {comment_id} was already hidden")


@comments.command("restore")
@data_options
@click.argument("comment_id", type=int)
def restore_comment(config_path: Path | None, data_dir: Path | None, comment_id: int) -> None:
    """Show a hidden comment again."""
    changed = with_context(config_path, data_dir, lambda ctx: ctx.moderation.set_hidden(comment_id, False))
    click.echo(f"comment {comment_id} restored" if changed else f"comment {comment_id} was not hidden")


@click.group()
def threads() -> None:
    """Close or reopen a thread from the shell (also in the admin, on the story's page)."""


@threads.command("close")
@data_options
@click.argument("site")
@click.argument("page")
def close_thread(config_path: Path | None, data_dir: Path | None, site: str, page: str) -> None:
    """Refuse new comments on a page (they get `thread_closed`)."""
    changed = with_context(config_path, data_dir, lambda ctx: ctx.moderation.set_closed(site, page, True))
    click.echo(f"thread {site} {page} closed" if changed else f"thread {site} {page} was already closed")


@threads.command("reopen")
@data_options
@click.argument("site")
@click.argument("page")
def reopen_thread(config_path: Path | None, data_dir: Path | None, site: str, page: str) -> None:
    """Accept new comments on a page again."""
    changed = with_context(config_path, data_dir, lambda ctx: ctx.moderation.set_closed(site, page, False))
    click.echo(f"thread {site} {page} reopened" if changed else f"thread {site} {page} was open")
