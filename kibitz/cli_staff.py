"""`kibitz admin …` (staff accounts) and `kibitz apikey …` (machine keys); registered by kibitz/cli.py."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from kibitz.cli_data import data_options, load, with_context

if TYPE_CHECKING:
    from kibitz.context import Context
    from kibitz.store.staff import ApiKey, StaffMember

T = TypeVar("T")
ACTOR = "cli"


def _with_context(
    where: tuple[Path | None, Path | None],
    act: Callable[[Context], Awaitable[T]],
    *,
    sites: tuple[str, ...] = (),
) -> T:
    """Run ``act`` on a context opened on the data ``where`` (--config, --data) names, never making a
    new database; every ``sites`` id must be a configured site."""
    known = [site.id for site in load(*where).sites]
    for site in sites:
        if site not in known:
            click.echo(f"error: no site {site!r} in the configuration (sites: {', '.join(known)})", err=True)
            sys.exit(1)
    return with_context(*where, act)


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "-"


@click.group()
def admin() -> None:
    """Staff accounts: owners (every site) and moderators (the sites named)."""


@admin.command("add")
@data_options
@click.argument("email")
@click.option("--role", type=click.Choice(["owner", "moderator"]), required=True)
@click.option("--site", "sites", multiple=True, help="a site a moderator moderates (repeat for more)")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def admin_add(
    config_path: Path | None,
    data_dir: Path | None,
    email: str,
    role: str,
    sites: tuple[str, ...],
    password_stdin: bool,
) -> None:
    """Add a staff member; without --password-stdin, print a set-password link (single use, 24 h)."""
    password = None
    if password_stdin:
        password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    member, link = _with_context(
        (config_path, data_dir), lambda ctx: ctx.staff.add(email, role, sites, password, ACTOR), sites=sites
    )
    click.echo(f"added {member.role} {member.email} (id {member.id})")
    if link:
        click.echo(f"set-password link (single use, valid 24 hours): {link}")


def _member_line(member: StaffMember) -> str:
    sites = "*" if member.is_owner else ",".join(member.sites)
    state = "active" if member.active else "inactive"
    if member.password_hash is None:
        state += ",no-password"
    if member.totp_secret:
        state += ",totp"
    if member.locked_until:
        state += f",locked-until={_when(member.locked_until)}"
    return (
        f"{member.id}\t{member.email}\t{member.role}\t{sites}\t{state}\tlast-login={_when(member.last_login)}"
    )


@admin.command("list")
@data_options
def admin_list(config_path: Path | None, data_dir: Path | None) -> None:
    """One line per staff member: id, email, role, sites (* for all), state, last sign-in."""
    for member in _with_context((config_path, data_dir), lambda ctx: ctx.staff.listing()):
        click.echo(_member_line(member))


@admin.command("remove")
@data_options
@click.argument("email")
def admin_remove(config_path: Path | None, data_dir: Path | None, email: str) -> None:
    """Remove a staff member (their sessions end at once); never the last owner."""
    _with_context((config_path, data_dir), lambda ctx: ctx.staff.remove(email, ACTOR))
    click.echo(f"removed {email}")


@admin.command("reset")
@data_options
@click.argument("email")
def admin_reset(config_path: Path | None, data_dir: Path | None, email: str) -> None:
    """Sign a member out everywhere and print a new set-password link (single use, 24 h)."""
    link = _with_context((config_path, data_dir), lambda ctx: ctx.staff.reset(email, ACTOR))
    click.echo(f"set-password link (single use, valid 24 hours): {link}")


@admin.command("totp")
@data_options
@click.argument("email")
@click.option("--disable", is_flag=True, help="remove the authenticator instead")
def admin_totp(config_path: Path | None, data_dir: Path | None, email: str, disable: bool) -> None:
    """Give a member a new authenticator secret (printed with its otpauth:// URI), or remove it."""
    if disable:
        _with_context((config_path, data_dir), lambda ctx: ctx.staff.totp_disable(email, ACTOR))
        click.echo(f"authenticator removed for {email}")
        return
    secret, uri = _with_context((config_path, data_dir), lambda ctx: ctx.staff.totp_enable(email, ACTOR))
    click.echo(f"secret: {secret}")
    click.echo(f"uri: {uri}")


@admin.command("mail")
@data_options
@click.argument("email")
@click.argument("preference", required=False, type=click.Choice(["instant", "digest", "off"]))
def admin_mail(config_path: Path | None, data_dir: Path | None, email: str, preference: str | None) -> None:
    """How held and reported comments reach a member by mail: instant, digest (hourly) or off.
    Without PREFERENCE, print the member's current one."""
    from kibitz.moderator_mail import set_preference
    from kibitz.staff import member_of

    async def act(ctx: Context) -> str:
        if preference is not None:
            return (await set_preference(ctx.db, ctx.clock, email, preference, ACTOR)).moderation_mail
        async with ctx.db.read() as tx:
            return (await member_of(tx, email)).moderation_mail

    click.echo(f"{email}: {_with_context((config_path, data_dir), act)}")


@click.group()
def apikey() -> None:
    """API keys for machines: one site and one scope each, shown once, stored hashed."""


@apikey.command("create")
@data_options
@click.option("--site", required=True)
@click.option("--scope", type=click.Choice(["moderate", "publish"]), required=True)
@click.option("--name", default="", help="what the key is for, shown in lists and the audit log")
def apikey_create(config_path: Path | None, data_dir: Path | None, site: str, scope: str, name: str) -> None:
    """Create a key and print its secret (kbz_…) on standard output, this once."""
    key, secret = _with_context(
        (config_path, data_dir), lambda ctx: ctx.staff.create_key(site, scope, name, ACTOR), sites=(site,)
    )
    click.echo(secret)
    click.echo(
        f"key {key.id} for site {key.site}, scope {key.scope}: keep it now, it is not shown again", err=True
    )


def _key_line(key: ApiKey) -> str:
    state = f"revoked={_when(key.revoked)}" if key.revoked else "active"
    return (
        f"{key.id}\t{key.site}\t{key.scope}\t{key.prefix}…\t{key.name or '-'}\t{state}\t"
        f"created={_when(key.created)}\tlast-used={_when(key.last_used)}"
    )


@apikey.command("list")
@data_options
@click.option("--site", default=None, help="only this site's keys")
def apikey_list(config_path: Path | None, data_dir: Path | None, site: str | None) -> None:
    """One line per key: id, site, scope, prefix, name, state, created, last used."""
    for key in _with_context((config_path, data_dir), lambda ctx: ctx.staff.keys(site)):
        click.echo(_key_line(key))


@apikey.command("revoke")
@data_options
@click.argument("key_id", type=int)
def apikey_revoke(config_path: Path | None, data_dir: Path | None, key_id: int) -> None:
    """Revoke a key: it stops working at once, on every worker."""
    revoked = _with_context((config_path, data_dir), lambda ctx: ctx.staff.revoke_key(key_id, ACTOR))
    click.echo(f"key {key_id} revoked" if revoked else f"key {key_id} was already revoked")
