"""Reader accounts on both engines: the mailed sign-in link (QUALITY T27, T48), sessions (revoked at
once, on every worker), ``/api/v1/me``, the signed-in author's name and badges on their comments, and
the site's ``authors`` policy on every write path (T26)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from kibitz.store.schema import comments, sign_ins, subscriptions
from tests.accounts_helpers import (
    SSO_SECRET,
    account_rows,
    ask_link,
    claims,
    count,
    email_session,
    hs256,
    press,
    sign_in_mails,
    sso,
)
from tests.conftest import ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, make_settings, open_api, site_table

pytestmark = pytest.mark.anyio
EMAIL = "reader@mail.example"


def sites(**a: Any) -> list[dict[str, Any]]:
    return [site_table("a", ORIGIN_A, sso_secret=SSO_SECRET, **a), site_table("b", ORIGIN_B)]


@pytest.fixture
async def api(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as item:
        yield item


async def me(api: Api, session: str) -> Any:
    return await api.client.get("/api/v1/me", headers={"X-Kibitz-Session": session, "Origin": ORIGIN_A})


async def post_as(api: Api, session: str | None, **body: Any) -> Any:
    headers = {"X-Kibitz-Session": session} if session else {}
    return await api.post(headers=headers, **body)


# -- the mailed link ---------------------------------------------------------------------------------


async def test_a_mailed_link_signs_in_once_and_returns_to_the_story(api: Api) -> None:
    session = await email_session(api, EMAIL)
    r = await me(api, session)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    account = r.json()["account"]
    assert account["email"] == EMAIL
    assert account["name"] == "reader"
    assert account["badges"] == ["verified"]
    assert account["signed_in_with"] == "email"
    assert account["identities"] == ["email"]
    # T27: the link works once; a second press is 410 and signs nobody in.
    [path] = await sign_in_mails(api, EMAIL)
    sessions_before = (await account_rows(api))[2]
    again = await press(api, path)
    assert again.status_code == 410
    assert (await account_rows(api))[2] == sessions_before


async def test_the_link_page_changes_nothing_until_its_button_is_pressed(api: Api) -> None:
    assert (await ask_link(api, EMAIL)).status_code == 202
    [path] = await sign_in_mails(api, EMAIL)
    for _ in range(3):  # a mail scanner opening the link
        shown = await api.client.get(path)
        assert shown.status_code == 200
        assert "Sign in" in shown.text
        assert EMAIL in shown.text
    assert await account_rows(api) == (0, 0, 0)
    # A post from another site, or without the page's form token, signs nobody in.
    foreign = await api.client.post(
        path,
        content=b"",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"},
    )
    assert foreign.status_code == 403
    assert await account_rows(api) == (0, 0, 0)


async def test_an_expired_link_is_gone(api: Api) -> None:
    assert (await ask_link(api, EMAIL)).status_code == 202
    [path] = await sign_in_mails(api, EMAIL)
    api.clock.advance(minutes=16)
    assert (await api.client.get(path)).status_code == 410
    assert (await press(api, path)).status_code == 410
    assert await account_rows(api) == (0, 0, 0)
    forged = path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb")
    assert (await api.client.get(forged)).status_code == 404


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "https://news-a.example.evil.example/",
        "javascript:alert(1)",
        ORIGIN_B + "/story",
    ],
)
async def test_the_way_back_goes_only_to_the_sites_own_origins(api: Api, target: str) -> None:
    """QUALITY T48: anything but the site's own origins returns to its first origin."""
    assert (await ask_link(api, EMAIL, **{"return": target})).status_code == 202
    done = await press(api, (await sign_in_mails(api, EMAIL))[-1])
    assert done.status_code == 303
    assert done.headers["location"].startswith(ORIGIN_A + "/#kibitz-session=")


async def test_every_address_gets_the_same_answer_and_limits_hold(api: Api) -> None:
    first = await ask_link(api, "known@mail.example")
    await email_session(api, "known@mail.example")
    again = await ask_link(api, "known@mail.example")
    unknown = await ask_link(api, "nobody@mail.example")
    assert first.status_code == again.status_code == unknown.status_code == 202
    assert again.json() == unknown.json() == {"status": "sent"}
    # Per address: a fourth link within the hour is quietly not mailed; the answer stays 202.
    for _ in range(3):
        assert (await ask_link(api, "target@mail.example")).status_code == 202
    assert len(await sign_in_mails(api, "target@mail.example")) == 3
    # Bad input is refused with a field error, and mails nothing.
    bad = await ask_link(api, "not an address")
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_input"


async def test_sign_in_requests_are_limited_per_client_address(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    limited = [site_table("a", ORIGIN_A, rate_limits={"sign_ins": "3/hour"})]
    async with custom_api(tmp_path, database_url, clock, sites=limited) as api:
        for n in range(3):
            assert (await ask_link(api, f"r{n}@mail.example")).status_code == 202
        over = await ask_link(api, "r9@mail.example")
        assert over.status_code == 429
        assert int(over.headers["retry-after"]) > 0
        assert await sign_in_mails(api, "r9@mail.example") == []


# -- sessions ------------------------------------------------------------------------------------


async def test_sign_out_ends_the_session_at_once_on_every_worker(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    """Two app processes' worth of state on one database: a session ended through one is refused by
    the other on its very next request (no cache of sessions anywhere)."""
    settings = make_settings(tmp_path, database_url, sites=sites())
    async for one in open_api(settings, clock):
        async for two in open_api(settings, clock):
            session = await email_session(one, EMAIL)
            assert (await me(two, session)).status_code == 200
            out = await two.client.post(
                "/api/v1/me/sign-out", json={}, headers={"X-Kibitz-Session": session, "Origin": ORIGIN_A}
            )
            assert out.status_code == 204
            for api in (one, two):
                r = await me(api, session)
                assert r.status_code == 401
                assert r.json()["code"] == "session_invalid"
                # T26: a post with the ended session stores nothing.
                posted = await post_as(api, session, text="After sign-out")
                assert posted.status_code == 401
            assert await count(one, comments) == 0


async def test_sign_out_everywhere_and_forged_or_foreign_sessions(api: Api) -> None:
    first = await email_session(api, EMAIL)
    second = await email_session(api, EMAIL)
    assert (await me(api, first)).status_code == (await me(api, second)).status_code == 200
    out = await api.client.post(
        "/api/v1/me/sign-out",
        json={"everywhere": True},
        headers={"X-Kibitz-Session": first, "Origin": ORIGIN_A},
    )
    assert out.status_code == 204
    assert (await me(api, second)).json()["code"] == "session_invalid"
    assert (await me(api, first[:-2] + "xx")).status_code == 401
    assert (await api.client.get("/api/v1/me")).json()["code"] == "unauthorized"
    # A session of site a is no session on site b.
    third = await email_session(api, EMAIL)
    r = await api.post(site="b", origin=ORIGIN_B, headers={"X-Kibitz-Session": third})
    assert r.status_code == 401
    assert r.json()["code"] == "session_invalid"
    # An expired session (30 days) is refused.
    api.clock.advance(days=31)
    assert (await me(api, third)).status_code == 401


# -- comments of a signed-in reader --------------------------------------------------------------------


async def test_a_signed_in_readers_comment_carries_the_accounts_name_and_badges(api: Api) -> None:
    token = hs256(claims(api.clock.now.timestamp(), roles=["staff"], email="pat@news-a.example"))
    signed = await sso(api, token)
    assert signed.status_code == 200, signed.text
    session = signed.json()["session"]
    r = await post_as(
        api, session, text="From the newsroom", author={"name": "Someone Else", "email": "x@y.example"}
    )
    assert r.status_code == 201, r.text
    author = r.json()["comment"]["author"]
    assert author["name"] == "Pat Publisher"
    assert author["badges"] == ["staff", "verified"]
    thread = await api.thread(fresh="1")
    assert thread["comments"][0]["author"]["badges"] == ["staff", "verified"]
    async with api.app.state.ctx.db.read() as tx:
        row = (await tx.conn.execute(select(comments))).one()
    assert row.account_id is not None
    assert row.author_email == "pat@news-a.example"
    # A guest's comment has no badges.
    guest = await api.post(text="A guest")
    assert guest.json()["comment"]["author"]["badges"] == []


async def test_me_changes_name_avatar_and_preferences(api: Api) -> None:
    session = await email_session(api, EMAIL)
    headers = {"X-Kibitz-Session": session, "Origin": ORIGIN_A}
    r = await api.client.patch("/api/v1/me", json={"name": "Rea Der", "notify": "replies"}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["account"]["name"] == "Rea Der"
    assert r.json()["account"]["notify"] == "replies"
    no_picture = await api.client.patch("/api/v1/me", json={"avatar": "picture"}, headers=headers)
    assert no_picture.status_code == 422
    for bad in ({"notify": "spam"}, {"name": ""}, {"name": "x" * 65}, {"unknown": 1}):
        refused = await api.client.patch("/api/v1/me", json=bad, headers=headers)
        assert refused.status_code == 422, bad
    foreign = await api.client.patch(
        "/api/v1/me", json={"name": "B"}, headers={**headers, "Origin": ORIGIN_B}
    )
    assert foreign.status_code == 403
    assert (await me(api, session)).json()["account"]["name"] == "Rea Der"


async def test_a_guests_past_comments_join_the_proven_address(api: Api) -> None:
    guest = await api.post(text="As a guest", author={"name": "Rea", "email": EMAIL})
    other = await api.post(text="Someone else", author={"name": "Bo", "email": "bo@mail.example"})
    assert guest.status_code == other.status_code == 201
    session = await email_session(api, EMAIL)
    r = await api.client.post(
        "/api/v1/me/join", json={}, headers={"X-Kibitz-Session": session, "Origin": ORIGIN_A}
    )
    assert r.status_code == 200
    assert r.json() == {"joined": 1}
    async with api.app.state.ctx.db.read() as tx:
        owned = {row.text: row.account_id for row in await tx.conn.execute(select(comments))}
    assert owned["As a guest"] is not None
    assert owned["Someone else"] is None


async def test_a_signed_in_readers_subscription_needs_no_confirmation(api: Api) -> None:
    session = await email_session(api, EMAIL)
    r = await post_as(api, session, text="Follow", notify="all")
    assert r.status_code == 201
    async with api.app.state.ctx.db.read() as tx:
        [row] = (await tx.conn.execute(select(subscriptions))).all()
    assert not row.pending


# -- the site's authors policy ----------------------------------------------------------------------


async def write_paths(api: Api, session: str | None, comment_id: str, token: str) -> dict[str, int]:
    headers = {"Origin": ORIGIN_A, **({"X-Kibitz-Session": session} if session else {})}
    c = api.client
    return {
        "post": (await post_as(api, session, text="Policy")).status_code,
        "edit": (
            await c.patch(
                f"/api/v1/comments/{comment_id}",
                json={"text": "Edited"},
                headers={**headers, "Authorization": f"Bearer {token}"},
            )
        ).status_code,
        "vote": (
            await c.post(f"/api/v1/comments/{comment_id}/vote", json={"value": 1}, headers=headers)
        ).status_code,
        "flag": (
            await c.post(f"/api/v1/comments/{comment_id}/flag", json={"reason": "spam"}, headers=headers)
        ).status_code,
        "subscribe": (
            await c.post(
                "/api/v1/sites/a/subscriptions",
                json={"email": "s@mail.example", "topic": "thread", "page": "/story"},
                headers=headers,
            )
        ).status_code,
    }


async def set_authors(api: Api, value: str) -> None:
    ctx = api.app.state.ctx
    async with ctx.db.write() as tx:
        await ctx.policies.update(tx, ctx.settings.site("a"), {"authors": value}, now=api.clock(), by="test")


async def test_authors_policy_holds_on_every_write_path(api: Api) -> None:
    first = await api.post(text="Before the policy", author={"name": "Ann"})
    assert first.status_code == 201
    cid, token = first.json()["comment"]["id"], first.json()["token"]
    await set_authors(api, "verified")
    before = (await count(api, comments), await count(api, subscriptions))
    anonymous = await write_paths(api, None, cid, token)
    assert set(anonymous.values()) == {401}, anonymous
    r = await post_as(api, None, text="x")
    assert r.json()["code"] == "sign_in_required"
    assert (await count(api, comments), await count(api, subscriptions)) == before
    # A mailed link is enough for "verified" ...
    mailed = await email_session(api, EMAIL)
    allowed = await write_paths(api, mailed, cid, token)
    assert allowed == {"post": 201, "edit": 200, "vote": 200, "flag": 202, "subscribe": 202}, allowed
    # ... not for "accounts", which wants a provider or the publisher's own login.
    await set_authors(api, "accounts")
    refused = await write_paths(api, mailed, cid, token)
    assert set(refused.values()) == {403}, refused
    r = await post_as(api, mailed, text="x")
    assert r.json()["code"] == "account_required"
    publisher = (await sso(api, hs256(claims(api.clock.now.timestamp())))).json()["session"]
    assert (await post_as(api, publisher, text="Subscriber")).status_code == 201
    # A newsletter sign-up is not a comment reader's write: the policy leaves it alone.
    news = await api.client.post(
        "/api/v1/sites/a/subscriptions",
        json={"email": "n@mail.example", "topic": "newsletter"},
        headers={"Origin": ORIGIN_A},
    )
    assert news.status_code == 202
    # Deleting one's own comment stays possible (it only removes).
    gone = await api.client.delete(
        f"/api/v1/comments/{cid}", headers={"Origin": ORIGIN_A, "Authorization": f"Bearer {token}"}
    )
    assert gone.status_code == 204


async def test_a_link_for_an_erased_account_is_gone(api: Api) -> None:
    """T27: a link to add an address to an account that no longer exists signs nobody in."""
    publisher = (await sso(api, hs256(claims(api.clock.now.timestamp())))).json()["session"]
    r = await api.client.post(
        "/api/v1/sites/a/auth/email",
        json={"email": EMAIL},
        headers={"Origin": ORIGIN_A, "X-Kibitz-Session": publisher},
    )
    assert r.status_code == 202
    [path] = await sign_in_mails(api, EMAIL)
    from kibitz.store.schema import accounts

    async with api.app.state.ctx.db.write() as tx:
        await tx.conn.execute(accounts.delete())
    assert await count(api, sign_ins) == 0
    assert (await press(api, path)).status_code == 410
    assert await account_rows(api) == (0, 0, 0)


async def test_adding_an_address_joins_it_to_the_signed_in_account(api: Api) -> None:
    publisher = (await sso(api, hs256(claims(api.clock.now.timestamp())))).json()["session"]
    r = await api.client.post(
        "/api/v1/sites/a/auth/email",
        json={"email": EMAIL},
        headers={"Origin": ORIGIN_A, "X-Kibitz-Session": publisher},
    )
    assert r.status_code == 202
    done = await press(api, (await sign_in_mails(api, EMAIL))[-1])
    assert done.status_code == 303
    session = done.headers["location"].partition("#kibitz-session=")[2]
    account = (await me(api, session)).json()["account"]
    assert account["email"] == EMAIL
    assert account["name"] == "Pat Publisher"
    assert sorted(account["identities"]) == ["email", "sso"]
    assert (await account_rows(api))[0] == 1


async def test_a_session_gives_no_rights_over_anothers_comment(api: Api) -> None:
    """QUALITY T22 with sessions: a signed-in reader edits and deletes only with the comment's own
    edit token, never by being signed in (another account's comment, a guessed id, a foreign token)."""
    first = await email_session(api, "first@mail.example")
    other = await email_session(api, "other@mail.example")
    mine = await post_as(api, first, text="Mine")
    assert mine.status_code == 201
    cid, token = mine.json()["comment"]["id"], mine.json()["token"]
    theirs = await post_as(api, other, text="Theirs")
    their_token = theirs.json()["token"]
    headers = {"Origin": ORIGIN_A, "X-Kibitz-Session": other}
    for auth in ({}, {"Authorization": f"Bearer {their_token}"}, {"Authorization": "Bearer forged.1.x"}):
        edit = await api.client.patch(
            f"/api/v1/comments/{cid}", json={"text": "Taken"}, headers={**headers, **auth}
        )
        delete = await api.client.delete(f"/api/v1/comments/{cid}", headers={**headers, **auth})
        assert edit.status_code in (401, 403), auth
        assert delete.status_code in (401, 403), auth
    async with api.app.state.ctx.db.read() as tx:
        row = (await tx.conn.execute(select(comments).where(comments.c.id == int(cid)))).one()
    assert row.text == "Mine"
    assert not row.deleted
    # Its own author, with its token, still may.
    ok = await api.client.patch(
        f"/api/v1/comments/{cid}",
        json={"text": "Mine, edited"},
        headers={"Origin": ORIGIN_A, "X-Kibitz-Session": first, "Authorization": f"Bearer {token}"},
    )
    assert ok.status_code == 200


async def test_provider_sign_ins_count_against_the_client_limit(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    """T25 for OpenID Connect: starting sign-ins is limited per client address (before any provider
    is asked), like the other paths."""
    limited = [site_table("a", ORIGIN_A, rate_limits={"sign_ins": "2/hour"})]
    # On loopback, which the outbound guard refuses (no outbound_allow): nothing is ever contacted.
    providers = [{"id": "p", "issuer": "http://127.0.0.1:9", "client_id": "c"}]
    async with custom_api(tmp_path, database_url, clock, sites=limited, oidc=providers) as api:
        answers = [
            (await api.client.get("/auth/oidc/p/start", params={"site": "a"})).status_code for _ in range(3)
        ]
        # The provider may not be reached: 503 pages, then the limit's 429.
        assert answers == [503, 503, 429]
        assert await count(api, sign_ins) == 0
