"""`kibitz admin …` and `kibitz apikey …` as an operator runs them, on a SQLite database in tmp_path."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pyotp
import pytest
from click.testing import CliRunner, Result

from kibitz import errors
from kibitz.cli import main
from kibitz.config import load_settings
from kibitz.context import Context, close_context, open_context
from tests.server import write_config

T = TypeVar("T")
PASSWORD = "correct horse battery"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A configuration and its database, made as an operator would: `kibitz migrate` (the staff
    commands never make a database themselves, tests/test_cli_data.py)."""
    path = write_config(tmp_path / "kibitz.toml", tmp_path, "sqlite:///kibitz.db")
    made = CliRunner().invoke(main, ["migrate", "--config", str(path)])
    assert made.exit_code == 0, made.output
    return path


def not_found(result: Result, error: str) -> None:
    """Exit status 1, ``error``, then which database was searched (what was asked for may be in another)."""
    assert result.exit_code == 1, result.output
    first, where = result.stderr.splitlines()
    assert first == error
    assert where.startswith("(in the database ")
    assert "--data DIR or --config FILE" in where


def kibitz(config: Path, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, [*args, "--config", str(config)], input=stdin)


def ok(config: Path, *args: str, stdin: str | None = None) -> str:
    result = kibitz(config, *args, stdin=stdin)
    assert result.exit_code == 0, result.output
    return result.stdout


def on_context(config: Path, act: Callable[[Context], Awaitable[T]]) -> T:
    """Do something in-process against the same database, as the server would."""

    async def go() -> T:
        ctx = await open_context(load_settings(config, env={}))
        try:
            return await act(ctx)
        finally:
            await close_context(ctx)

    return asyncio.run(go())


def sign_in(config: Path, email: str, password: str, totp: str | None = None) -> str:
    """The member's email on success, else the error code."""

    async def act(ctx: Context) -> str:
        try:
            return (await ctx.staff.sign_in(email, password, totp, "192.0.2.1", "cli test")).member.email
        except errors.KibitzError as exc:
            return exc.code

    return on_context(config, act)


def link_token(output: str) -> str:
    found = re.search(
        r"set-password link \(single use, valid 24 hours\): \S+/admin/set-password/(\S+)", output
    )
    assert found, output
    return found.group(1)


def test_admin_add_without_a_password_prints_a_link_that_works_once(config: Path) -> None:
    out = ok(config, "admin", "add", "Ann@Example.org", "--role", "owner")
    assert out.splitlines()[0] == "added owner ann@example.org (id 1)"
    token = link_token(out)
    assert sign_in(config, "ann@example.org", "") == "invalid_credentials"
    on_context(config, lambda ctx: ctx.staff.set_password(token, PASSWORD))
    assert sign_in(config, "ann@example.org", PASSWORD) == "ann@example.org"
    with pytest.raises(errors.Gone):
        on_context(config, lambda ctx: ctx.staff.set_password(token, "another password"))


def test_admin_add_reads_the_password_from_stdin_and_list_shows_each_account(config: Path) -> None:
    out = ok(
        config,
        "admin",
        "add",
        "ann@example.org",
        "--role",
        "owner",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert out == "added owner ann@example.org (id 1)\n"
    assert sign_in(config, "ann@example.org", PASSWORD) == "ann@example.org"
    ok(config, "admin", "add", "mo@example.org", "--role", "moderator", "--site", "a", "--site", "b")
    lines = ok(config, "admin", "list").splitlines()
    assert [line.split("\t")[:5] for line in lines] == [
        ["1", "ann@example.org", "owner", "*", "active"],
        ["2", "mo@example.org", "moderator", "a,b", "active,no-password"],
    ]
    assert re.search(r"\tlast-login=\d{4}-\d\d-\d\dT", lines[0])  # ann signed in above
    assert lines[1].endswith("last-login=-")


def test_admin_add_refuses_unknown_sites_siteless_moderators_short_passwords_and_twins(config: Path) -> None:
    unknown = kibitz(config, "admin", "add", "mo@example.org", "--role", "moderator", "--site", "zz")
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == "error: no site 'zz' in the configuration (sites: a, b)"
    siteless = kibitz(config, "admin", "add", "mo@example.org", "--role", "moderator")
    assert (siteless.exit_code, siteless.stderr.strip()) == (
        1,
        "error: sites: a moderator needs at least one site",
    )
    short = kibitz(
        config, "admin", "add", "ann@example.org", "--role", "owner", "--password-stdin", stdin="short\n"
    )
    assert (short.exit_code, short.stderr.strip()) == (1, "error: password: must be at least 10 characters")
    bad_role = kibitz(config, "admin", "add", "ann@example.org", "--role", "root")
    assert bad_role.exit_code == 2
    assert ok(config, "admin", "list") == ""
    ok(config, "admin", "add", "ann@example.org", "--role", "owner")
    twin = kibitz(config, "admin", "add", "ANN@example.org", "--role", "owner")
    assert (twin.exit_code, twin.stderr.strip()) == (1, "error: ann@example.org is a staff member already")


def test_admin_remove_keeps_the_last_owner_and_ends_the_sessions_of_whom_it_removes(config: Path) -> None:
    ok(config, "admin", "add", "ann@example.org", "--role", "owner", "--password-stdin", stdin=PASSWORD)
    last = kibitz(config, "admin", "remove", "ann@example.org")
    assert (last.exit_code, last.stderr.strip()) == (
        1,
        "error: This is the last owner; add another owner first",
    )
    ok(
        config,
        "admin",
        "add",
        "mo@example.org",
        "--role",
        "moderator",
        "--site",
        "a",
        "--password-stdin",
        stdin=PASSWORD,
    )
    token = on_context(
        config, lambda ctx: ctx.staff.sign_in("mo@example.org", PASSWORD, None, "192.0.2.1", "")
    ).token
    assert ok(config, "admin", "remove", "mo@example.org") == "removed mo@example.org\n"
    assert on_context(config, lambda ctx: ctx.staff.session(token)) is None
    gone = kibitz(config, "admin", "remove", "mo@example.org")
    not_found(gone, "error: No staff member mo@example.org")


def test_admin_reset_prints_a_new_link_and_signs_the_member_out(config: Path) -> None:
    ok(config, "admin", "add", "ann@example.org", "--role", "owner", "--password-stdin", stdin=PASSWORD)
    token = on_context(
        config, lambda ctx: ctx.staff.sign_in("ann@example.org", PASSWORD, None, "192.0.2.1", "")
    ).token
    link = link_token(ok(config, "admin", "reset", "ann@example.org"))
    assert on_context(config, lambda ctx: ctx.staff.session(token)) is None
    assert sign_in(config, "ann@example.org", PASSWORD) == "ann@example.org"  # until the link is used
    on_context(config, lambda ctx: ctx.staff.set_password(link, "a new password"))
    assert sign_in(config, "ann@example.org", PASSWORD) == "invalid_credentials"
    assert sign_in(config, "ann@example.org", "a new password") == "ann@example.org"


def test_admin_totp_prints_a_secret_and_uri_and_disable_removes_it(config: Path) -> None:
    ok(config, "admin", "add", "ann@example.org", "--role", "owner", "--password-stdin", stdin=PASSWORD)
    secret_line, uri_line = ok(config, "admin", "totp", "ann@example.org").splitlines()
    secret = secret_line.removeprefix("secret: ")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert uri_line == f"uri: otpauth://totp/Kibitz:ann%40example.org?secret={secret}&issuer=Kibitz"
    assert ",totp" in ok(config, "admin", "list")
    assert sign_in(config, "ann@example.org", PASSWORD) == "totp_required"
    assert sign_in(config, "ann@example.org", PASSWORD, pyotp.TOTP(secret).now()) == "ann@example.org"
    assert (
        ok(config, "admin", "totp", "ann@example.org", "--disable")
        == "authenticator removed for ann@example.org\n"
    )
    assert sign_in(config, "ann@example.org", PASSWORD) == "ann@example.org"


def test_apikey_create_prints_the_secret_once_and_revoke_stops_it(config: Path) -> None:
    created = kibitz(config, "apikey", "create", "--site", "a", "--scope", "moderate", "--name", "bot")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert re.fullmatch(r"kbz_[A-Za-z0-9_-]{43}", secret)
    assert created.stderr.strip() == "key 1 for site a, scope moderate: keep it now, it is not shown again"
    who = on_context(config, lambda ctx: ctx.staff.key_principal(secret))
    assert who is not None
    assert who.can("a")

    listed = ok(config, "apikey", "list")
    assert listed.split("\t")[:6] == ["1", "a", "moderate", f"{secret[:12]}…", "bot", "active"]
    assert secret not in listed
    assert ok(config, "apikey", "list", "--site", "b") == ""
    assert ok(config, "apikey", "revoke", "1") == "key 1 revoked\n"
    assert on_context(config, lambda ctx: ctx.staff.key_principal(secret)) is None
    assert ok(config, "apikey", "revoke", "1") == "key 1 was already revoked\n"
    assert "\trevoked=" in ok(config, "apikey", "list")
    missing = kibitz(config, "apikey", "revoke", "9")
    not_found(missing, "error: No API key 9")

    unknown = kibitz(config, "apikey", "create", "--site", "zz", "--scope", "publish")
    assert (unknown.exit_code, unknown.stderr.strip()) == (
        1,
        "error: no site 'zz' in the configuration (sites: a, b)",
    )
    assert kibitz(config, "apikey", "create", "--site", "a", "--scope", "admin").exit_code == 2
