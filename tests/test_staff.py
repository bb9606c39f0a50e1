"""Staff accounts, set-password links, sign-in with lockouts and codes, sessions, API keys and the
admin request's principal, on SQLite and PostgreSQL with the clock in the test's hands."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pyotp
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from kibitz import errors
from kibitz.context import Context, close_context, open_context
from kibitz.staff import Principal, SignedIn
from kibitz.store.audit import AuditFilter
from kibitz.store.schema import api_keys, staff, staff_sessions
from kibitz.store.staff import ApiKey, StaffMember
from kibitz.web import staff_auth
from tests.conftest import FakeClock, make_settings

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"
ADDRESS = "198.51.100.7"


@pytest.fixture
async def ctx(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Context]:
    context = await open_context(make_settings(tmp_path, database_url), clock=clock)
    try:
        yield context
    finally:
        await close_context(context)


async def sign_in(
    ctx: Context, email: str = "ann@example.org", password: str = PASSWORD, *, totp: str | None = None,
    client: str = ADDRESS,
) -> SignedIn:  # fmt: skip
    return await ctx.staff.sign_in(email, password, totp, client, "pytest")


async def refused(ctx: Context, email: str, password: str, client: str = ADDRESS) -> errors.KibitzError:
    with pytest.raises(errors.KibitzError) as caught:
        await sign_in(ctx, email, password, client=client)
    return caught.value


async def audit_actions(ctx: Context) -> list[tuple[str, str, str]]:
    async with ctx.db.read() as tx:
        entries = await tx.audit.listing(AuditFilter(), None, 1000)
    return [(e.actor, e.action, json.dumps(e.detail)) for e in reversed(entries)]


def token_of(link: str) -> str:
    prefix = "http://127.0.0.1:8000/admin/set-password/"
    assert link.startswith(prefix), link
    return link.removeprefix(prefix)


# -- accounts and set-password links ------------------------------------------------------------------


async def test_a_member_added_with_a_password_signs_in_and_one_without_gets_a_link(ctx: Context) -> None:
    ann, link = await ctx.staff.add(" Ann@Example.ORG ", "owner", [], PASSWORD, "cli")
    assert link is None
    assert (ann.email, ann.role, ann.active) == ("ann@example.org", "owner", True)
    assert ann.password_hash is not None
    assert ann.password_hash.startswith("$argon2id$")
    signed = await sign_in(ctx, "ANN@example.org")
    assert signed.member.id == ann.id
    assert signed.member.last_login == ctx.clock()

    bob, link = await ctx.staff.add("bob@example.org", "moderator", ["a"], None, "cli")
    assert bob.password_hash is None
    assert bob.sites == ("a",)
    assert link is not None
    assert (await ctx.staff.check_set_password(token_of(link))).id == bob.id
    assert isinstance(await refused(ctx, "bob@example.org", ""), errors.InvalidCredentials)
    await ctx.staff.set_password(token_of(link), "a new password")
    assert (await sign_in(ctx, "bob@example.org", "a new password")).member.id == bob.id
    actions = [(actor, action) for actor, action, _ in await audit_actions(ctx)]
    assert ("cli", "staff.add") in actions
    assert (f"staff:{bob.id} bob@example.org", "staff.set_password") in actions


async def test_account_rules_refuse_bad_input_duplicates_and_removing_the_last_owner(ctx: Context) -> None:
    for password, message in [("short", "at least 10"), ("x" * 1001, "at most 1000")]:
        with pytest.raises(errors.InvalidInput) as bad:
            await ctx.staff.add("ann@example.org", "owner", [], password, "cli")
        assert bad.value.errors[0].field == "password"
        assert message in bad.value.errors[0].message
    with pytest.raises(errors.InvalidInput, match="sites"):
        await ctx.staff.add("mo@example.org", "moderator", [], None, "cli")
    with pytest.raises(errors.InvalidInput, match="role"):
        await ctx.staff.add("mo@example.org", "admin", ["a"], None, "cli")
    with pytest.raises(errors.InvalidInput, match="email"):
        await ctx.staff.add("not an email", "owner", [], None, "cli")
    assert await ctx.staff.listing() == []

    await ctx.staff.add("ann@example.org", "owner", [], None, "cli")
    with pytest.raises(errors.Conflict):
        await ctx.staff.add("ANN@example.org", "moderator", ["a"], None, "cli")
    with pytest.raises(errors.Conflict):
        await ctx.staff.remove("ann@example.org", "cli")
    with pytest.raises(errors.Conflict):
        await ctx.staff.set_role("ann@example.org", "moderator", "cli")
    await ctx.staff.add("cat@example.org", "owner", [], None, "cli")
    await ctx.staff.remove("ann@example.org", "cli")
    assert [m.email for m in await ctx.staff.listing()] == ["cat@example.org"]
    with pytest.raises(errors.NotFound):
        await ctx.staff.remove("ann@example.org", "cli")

    await ctx.staff.add("mo@example.org", "moderator", ["a"], None, "cli")
    moved = await ctx.staff.set_sites("mo@example.org", ["b", "a", "b"], "cli")
    assert moved.sites == ("a", "b")
    assert (await ctx.staff.set_role("mo@example.org", "owner", "cli")).is_owner


async def test_a_set_password_link_works_once_and_a_newer_one_replaces_it(ctx: Context) -> None:
    _, link = await ctx.staff.add("bob@example.org", "moderator", ["a"], None, "cli")
    assert link is not None
    await ctx.staff.set_password(token_of(link), "first password")
    for attempt in (
        ctx.staff.check_set_password(token_of(link)),
        ctx.staff.set_password(token_of(link), PASSWORD),
    ):
        with pytest.raises(errors.Gone) as gone:
            await attempt
        assert (gone.value.status, gone.value.code) == (410, "token_used")
    await sign_in(ctx, "bob@example.org", "first password")

    older = await ctx.staff.reset("bob@example.org", "cli")
    newer = await ctx.staff.reset("bob@example.org", "cli")
    await sign_in(ctx, "bob@example.org", "first password")  # a reset keeps the password until used
    with pytest.raises(errors.Gone):
        await ctx.staff.set_password(token_of(older), PASSWORD)
    await ctx.staff.set_password(token_of(newer), PASSWORD)
    await sign_in(ctx, "bob@example.org", PASSWORD)


async def test_a_set_password_link_expires_after_a_day_and_a_forged_one_is_unknown(
    ctx: Context, clock: FakeClock
) -> None:
    _, link = await ctx.staff.add("bob@example.org", "moderator", ["a"], None, "cli")
    assert link is not None
    token = token_of(link)
    clock.advance(hours=23, minutes=59)
    assert (await ctx.staff.check_set_password(token)).email == "bob@example.org"
    clock.advance(minutes=2)
    with pytest.raises(errors.Gone):
        await ctx.staff.set_password(token, PASSWORD)
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    with pytest.raises(errors.NotFound):
        await ctx.staff.check_set_password(forged)
    with pytest.raises(errors.NotFound):
        await ctx.staff.set_password("nonsense", PASSWORD)


async def test_a_link_used_twice_at_the_same_moment_works_once(ctx: Context) -> None:
    _, link = await ctx.staff.add("bob@example.org", "moderator", ["a"], None, "cli")
    assert link is not None
    results = await asyncio.gather(
        ctx.staff.set_password(token_of(link), "first password"),
        ctx.staff.set_password(token_of(link), "second password"),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["Gone", "StaffMember"]
    winner = "first password" if isinstance(results[0], StaffMember) else "second password"
    assert (await sign_in(ctx, "bob@example.org", winner)).member.email == "bob@example.org"


async def test_the_link_of_a_removed_account_is_refused(ctx: Context) -> None:
    await ctx.staff.add("ann@example.org", "owner", [], PASSWORD, "cli")
    _, link = await ctx.staff.add("bob@example.org", "moderator", ["a"], None, "cli")
    assert link is not None
    await ctx.staff.remove("bob@example.org", "cli")
    with pytest.raises(errors.Gone):
        await ctx.staff.set_password(token_of(link), PASSWORD)
    assert [m.email for m in await ctx.staff.listing()] == ["ann@example.org"]


# -- signing in ---------------------------------------------------------------------------------------


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(ctx: Context) -> None:
    await ctx.staff.add("ann@example.org", "owner", [], PASSWORD, "cli")
    await ctx.staff.add("bob@example.org", "moderator", ["a"], None, "cli")
    answers = [
        await refused(ctx, "ann@example.org", "wrong password"),
        await refused(ctx, "nobody@example.org", PASSWORD),
        await refused(ctx, "bob@example.org", ""),  # no password set yet
        await refused(ctx, "not an email", PASSWORD),
    ]
    assert {(type(a), a.status, a.code, a.detail) for a in answers} == {
        (errors.InvalidCredentials, 401, "invalid_credentials", errors.InvalidCredentials.title)
    }
    failed = [
        (actor, detail)
        for actor, action, detail in await audit_actions(ctx)
        if action == "staff.sign_in_failed"
    ]
    assert len(failed) == 4
    assert all(actor == f"address:{ADDRESS}" for actor, _ in failed)
    assert '"nobody@example.org"' in failed[1][1]
    assert not any("wrong password" in detail or PASSWORD in detail for _, detail in failed)


async def test_an_account_locks_after_five_failures_from_any_addresses(
    ctx: Context, clock: FakeClock
) -> None:
    ann, _ = await ctx.staff.add("ann@example.org", "owner", [], PASSWORD, "cli")
    codes = []
    for attempt in range(50):  # from 50 addresses, so no address is ever locked
        codes.append((await refused(ctx, "ann@example.org", f"guess {attempt}", f"203.0.113.{attempt}")).code)
        clock.advance(seconds=10)
    assert codes == ["invalid_credentials"] * 5 + ["rate_limited"] * 45
    locked = await refused(ctx, "ann@example.org", PASSWORD, "192.0.2.1")  # the right password too
    assert isinstance(locked, errors.RateLimited)
    assert 0 < int(locked.headers["Retry-After"]) <= 900
    member = (await ctx.staff.listing())[0]
    assert member.failed_logins == 5
    assert member.locked_until is not None
    clock.advance(seconds=locked.retry_after)
    assert (await sign_in(ctx, client="192.0.2.1")).member.id == ann.id
    assert (await ctx.staff.listing())[0].failed_logins == 0


async def test_an_address_locks_after_five_failures_across_many_accounts(ctx: Context) -> None:
    await ctx.staff.add("ann@example.org", "owner", [], PASSWORD, "cli")
    for n in range(3):
        await ctx.staff.add(f"mod{n}@example.org", "moderator", ["a"], PASSWORD, "cli")
    emails = [f"mod{n}@example.org" for n in range(3)] + [f"user{n}@example.org" for n in range(497)]
    codes = [(await refused(ctx, email, "Summer2026!")).code for email in emails]
    assert codes == ["invalid_credentials"] * 5 + ["rate_limited"] * 495
    locked = await refused(ctx, "ann@example.org", PASSWORD)
    assert isinstance(locked, errors.RateLimited)
    assert locked.headers["Retry-After"] == "900"
    assert (await sign_in(ctx, client="192.0.2.1")).member.email == "ann@example.org"  # another address


async def test_a_burst_of_parallel_guesses_gets_no_more_than_five_checked(ctx: Context) -> None:
    await ctx.staff.add("ann@example.org", "owner", [], PASSWORD, "cli")
    guesses = [sign_in(ctx, "ann@example.org", f"guess {n}", client=f"192.0.2.{n}") for n in range(20)]
    results = await asyncio.gather(*guesses, return_exceptions=True)
    codes = sorted(r.code for r in results if isinstance(r, errors.KibitzError))
    assert codes == ["invalid_credentials"] * 5 + ["rate_limited"] * 15


async def test_more_than_five_attempts_a_minute_wait_for_the_next_minute(
    ctx: Context, clock: FakeClock
) -> None:
    await ctx.staff.add("ann@example.org", "owner", [], PASSWORD, "cli")
    clock.advance(seconds=15)
    for _ in range(5):
        await sign_in(ctx)
    too_many = await refused(ctx, "ann@example.org", PASSWORD)
    assert isinstance(too_many, errors.RateLimited)
    assert too_many.headers["Retry-After"] == "45"
    clock.advance(seconds=45)
    await sign_in(ctx)


async def test_an_account_with_an_authenticator_needs_its_current_code_once(
    ctx: Context, clock: FakeClock
) -> None:
    await ctx.staff.add("ann@example.org", "owner", [], PASSWORD, "cli")
    secret, uri = await ctx.staff.totp_enable("ann@example.org", "cli")
    assert uri.startswith("otpauth://totp/Kibitz:ann%40example.org?secret=" + secret)
    assert "issuer=Kibitz" in uri
    code = pyotp.TOTP(secret).at(clock.now)
    with pytest.raises(errors.TotpRequired) as needed:
        await sign_in(ctx)
    assert (needed.value.status, needed.value.code) == (401, "totp_required")
    wrong = f"{(int(code) + 1) % 1000000:06d}"
    with pytest.raises(errors.InvalidCredentials):
        await sign_in(ctx, totp=wrong)
    with pytest.raises(errors.InvalidCredentials):  # the right code does not save a wrong password
        await sign_in(ctx, password="wrong password", totp=code)
    assert (await sign_in(ctx, totp=f"{code[:3]} {code[3:]}")).member.email == "ann@example.org"
    with pytest.raises(errors.InvalidCredentials):  # a code works once
        await sign_in(ctx, totp=code)
    clock.advance(seconds=60)
    await sign_in(ctx, totp=pyotp.TOTP(secret).at(clock.now))

    await ctx.staff.totp_disable("ann@example.org", "cli")
    clock.advance(minutes=1)
    await sign_in(ctx)


# -- sessions -----------------------------------------------------------------------------------------


async def test_a_session_ends_after_twelve_idle_hours(ctx: Context, clock: FakeClock) -> None:
    ann, _ = await ctx.staff.add("ann@example.org", "owner", [], PASSWORD, "cli")
    signed = await sign_in(ctx)
    assert len(signed.token) >= 43
    assert len(signed.csrf) >= 43
    async with ctx.db.read() as tx:
        rows = (await tx.conn.execute(select(staff_sessions.c.token_hash, staff_sessions.c.csrf))).all()
    assert [r.token_hash for r in rows] == [hashlib.sha256(signed.token.encode()).hexdigest()]
    for _ in range(3):  # each use keeps it alive
        clock.advance(hours=11, minutes=59)
        who = await ctx.staff.session(signed.token)
        assert who is not None
        assert who.member is not None
        assert who.member.id == ann.id
        assert (who.actor, who.csrf, who.key) == (f"staff:{ann.id} ann@example.org", signed.csrf, None)
    clock.advance(hours=12)
    assert await ctx.staff.session(signed.token) is None
    clock.advance(hours=-12)
    assert await ctx.staff.session(signed.token) is None  # deleted, not merely expired
    assert await ctx.staff.session("not a session") is None


async def test_signing_out_everywhere_ends_every_session_at_once(ctx: Context) -> None:
    ann, _ = await ctx.staff.add("ann@example.org", "owner", [], PASSWORD, "cli")
    first, second, third = [await sign_in(ctx, client=f"192.0.2.{n}") for n in range(3)]
    assert len({first.token, second.token, third.token}) == 3
    await ctx.staff.sign_out(first.token)
    assert await ctx.staff.session(first.token) is None
    assert await ctx.staff.session(second.token) is not None
    assert await ctx.staff.sign_out_everywhere(ann.id, f"staff:{ann.id} ann@example.org") == 2
    assert [await ctx.staff.session(s.token) for s in (second, third)] == [None, None]

    again = await sign_in(ctx, client="192.0.2.9")
    await ctx.staff.reset("ann@example.org", "cli")
    assert await ctx.staff.session(again.token) is None


async def test_a_removed_or_disabled_member_is_signed_out_at_once(ctx: Context) -> None:
    await ctx.staff.add("ann@example.org", "owner", [], PASSWORD, "cli")
    await ctx.staff.add("bob@example.org", "moderator", ["a"], PASSWORD, "cli")
    cat, _ = await ctx.staff.add("cat@example.org", "moderator", ["a"], PASSWORD, "cli")
    bob_session = await sign_in(ctx, "bob@example.org")
    cat_session = await sign_in(ctx, "cat@example.org")
    await ctx.staff.remove("bob@example.org", "cli")
    assert await ctx.staff.session(bob_session.token) is None
    async with ctx.db.write() as tx:
        await tx.staff.update(cat.id, active=False)
    assert await ctx.staff.session(cat_session.token) is None
    assert isinstance(await refused(ctx, "cat@example.org", PASSWORD), errors.InvalidCredentials)


# -- API keys and principals --------------------------------------------------------------------------


async def test_an_api_key_works_for_its_site_and_scope_until_revoked(ctx: Context, clock: FakeClock) -> None:
    key, secret = await ctx.staff.create_key("a", "moderate", "Moderation bot", "cli")
    assert secret.startswith("kbz_")
    assert len(secret) == 47
    assert key.prefix == secret[:12]
    async with ctx.db.read() as tx:
        stored = (await tx.conn.execute(select(api_keys))).one()
    assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in [str(value) for value in stored]
    who = await ctx.staff.key_principal(secret)
    assert who is not None
    assert (who.actor, who.member, who.csrf, who.session_hash) == (
        f"key:{key.id} Moderation bot",
        None,
        "",
        None,
    )
    assert [who.can("a"), who.can("a", "publish"), who.can("b"), who.is_owner] == [True, False, False, False]
    first_use = clock.now
    assert (await ctx.staff.keys("a"))[0].last_used == first_use
    clock.advance(seconds=30)
    await ctx.staff.key_principal(secret)
    assert (await ctx.staff.keys())[0].last_used == first_use  # written at most once a minute
    clock.advance(seconds=30)
    await ctx.staff.key_principal(secret)
    assert (await ctx.staff.keys())[0].last_used == clock.now

    assert await ctx.staff.key_principal(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert await ctx.staff.key_principal("kbz_") is None
    assert await ctx.staff.revoke_key(key.id, "cli") is True
    assert await ctx.staff.key_principal(secret) is None
    assert await ctx.staff.revoke_key(key.id, "cli") is False
    with pytest.raises(errors.NotFound):
        await ctx.staff.revoke_key(key.id + 100, "cli")
    assert (await ctx.staff.keys("b")) == []
    with pytest.raises(errors.InvalidInput, match="scope"):
        await ctx.staff.create_key("a", "admin", "", "cli")
    unnamed, _ = await ctx.staff.create_key("b", "publish", "", "cli")
    assert [(a, act) for a, act, _ in await audit_actions(ctx)][-1] == ("cli", "apikey.create")
    assert unnamed.name == ""


def _member(role: str, sites: tuple[str, ...], *, active: bool = True) -> StaffMember:
    now = FakeClock().now
    return StaffMember(1, "m@example.org", role, sites, None, None, active, None, 0, None, now, None)


def _principal(member: StaffMember | None = None, key: ApiKey | None = None) -> Principal:
    return Principal("test", member, key, None, "")


def test_principals_may_act_on_what_their_role_or_key_allows() -> None:
    owner = _principal(_member("owner", ()))
    moderator = _principal(_member("moderator", ("a",)))
    disabled = _principal(_member("owner", (), active=False))
    now = FakeClock().now
    key = _principal(key=ApiKey(7, "b", "publish", "", "kbz_abcdefgh", now, None, None))
    revoked = _principal(key=ApiKey(8, "b", "publish", "", "kbz_abcdefgh", now, None, now))
    cases = [("a", "moderate"), ("a", "publish"), ("b", "moderate"), ("b", "publish"), ("a", "admin")]
    assert [owner.can(*c) for c in cases] == [True, True, True, True, False]
    assert [moderator.can(*c) for c in cases] == [True, False, False, False, False]
    assert [key.can(*c) for c in cases] == [False, False, False, True, False]
    assert not any(disabled.can(*c) for c in cases)
    assert not any(revoked.can(*c) for c in cases)
    assert [owner.is_owner, moderator.is_owner, disabled.is_owner, key.is_owner] == [
        True,
        False,
        False,
        False,
    ]
    sites = ["a", "b", "c"]
    assert [p.visible_sites(sites) for p in (owner, moderator, key, disabled)] == [sites, ["a"], ["b"], []]


# -- the web side: credentials, CSRF, the cookie --------------------------------------------------------


def probe_app(ctx: Context) -> FastAPI:
    """A route that does what every admin route does first: who is it, may they act on this site."""
    app = FastAPI()
    app.state.ctx = ctx

    @app.api_route("/probe/{site}", methods=["GET", "POST"])
    async def probe(request: Request, site: str) -> Response:
        try:
            who = await staff_auth.principal(request, form_csrf=request.query_params.get("csrf"))
            staff_auth.require(who, site)
        except errors.KibitzError as exc:
            return JSONResponse({"code": exc.code}, status_code=exc.status)
        return JSONResponse({"actor": who.actor})

    return app


async def test_admin_requests_need_a_live_key_or_a_session_with_its_csrf_token(ctx: Context) -> None:
    await ctx.staff.add("mo@example.org", "moderator", ["a"], PASSWORD, "cli")
    signed = await sign_in(ctx, "mo@example.org")
    key, secret = await ctx.staff.create_key("a", "moderate", "", "cli")
    transport = httpx.ASGITransport(app=probe_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://kibitz.test") as client:

        async def code(method: str, path: str, **headers: str) -> tuple[int, str]:
            r = await client.request(method, path, headers=headers)
            return r.status_code, r.json().get("code", r.json().get("actor"))

        assert await code("GET", "/probe/a") == (401, "unauthorized")
        assert await code("POST", "/probe/a", authorization="Bearer kbz_unknown") == (401, "unauthorized")
        assert await code("GET", "/probe/a", authorization="Basic eDp5") == (401, "unauthorized")
        bearer = f"Bearer {secret}"
        assert await code("POST", "/probe/a", authorization=bearer) == (200, f"key:{key.id} {key.prefix}")
        assert await code("POST", "/probe/b", authorization=bearer) == (403, "forbidden")
        assert await code("POST", "/probe/no-such-site", authorization=bearer) == (403, "forbidden")

        client.cookies.set("kibitz_admin", signed.token)
        actor = f"staff:{signed.member.id} {signed.member.email}"
        assert (await code("GET", "/probe/a"))[0] == 200
        assert await code("POST", "/probe/a") == (403, "csrf_failed")
        assert await code("POST", "/probe/a", **{"X-CSRF-Token": signed.csrf[:-1]}) == (403, "csrf_failed")
        odd = await client.post("/probe/a", headers={b"X-CSRF-Token": "ä".encode("latin-1") * 43})
        assert (odd.status_code, odd.json()["code"]) == (403, "csrf_failed")
        assert await code("POST", "/probe/a", **{"X-CSRF-Token": signed.csrf}) == (200, actor)
        assert await code("POST", f"/probe/a?csrf={signed.csrf}") == (200, actor)
        assert await code("POST", f"/probe/b?csrf={signed.csrf}") == (403, "forbidden")

        await ctx.staff.revoke_key(key.id, "cli")
        client.cookies.clear()
        assert await code("POST", "/probe/a", authorization=bearer) == (401, "unauthorized")


def test_the_session_cookie_is_strict_and_host_only_over_https(tmp_path: Path) -> None:
    plain = make_settings(tmp_path, "sqlite:///kibitz.db")
    secure = make_settings(tmp_path, "sqlite:///kibitz.db", base_url="https://comments.example.org")
    assert staff_auth.session_cookie_name(plain) == "kibitz_admin"
    assert staff_auth.session_cookie_name(secure) == "__Host-kibitz_admin"
    for settings, secure_flag in ((plain, False), (secure, True)):
        response = Response()
        staff_auth.set_session_cookie(response, "tok", settings)
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{staff_auth.session_cookie_name(settings)}=tok;")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/" in cookie
        assert "Max-Age=43200" in cookie
        assert "Domain" not in cookie
        assert ("Secure" in cookie) is secure_flag
        cleared = Response()
        staff_auth.clear_session_cookie(cleared, settings)
        assert "Max-Age=0" in cleared.headers["set-cookie"]


async def test_staff_rows_keep_no_password_or_token_in_the_clear(ctx: Context) -> None:
    await ctx.staff.add("ann@example.org", "owner", [], PASSWORD, "cli")
    signed = await sign_in(ctx)
    async with ctx.db.read() as tx:
        rows = [*await tx.conn.execute(select(staff)), *await tx.conn.execute(select(staff_sessions))]
    text = repr(rows)
    assert PASSWORD not in text
    assert signed.token not in text
