"""Moderators from the publisher's own login (issue 17), on both engines: with ``sso_moderators`` on,
an account the SSO token marks ``moderator`` moderates its site's comments through
``POST /api/v1/comments/{id}/moderate``; refused, with nothing changed, when the setting is off, the
role is missing (or was taken away at the next sign-in), the session is another site's, ended, or
signed in some other way; every act is audited with the account as actor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.accounts_helpers import SSO_SECRET, claims, hs256, press, sign_in_mails, sso
from tests.conftest import ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, site_table

pytestmark = pytest.mark.anyio
ADMIN = "/api/v1/admin"


def sites(a: dict[str, Any], b: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [
        site_table("a", ORIGIN_A, sso_secret=SSO_SECRET, **a),
        site_table("b", ORIGIN_B, sso_secret=SSO_SECRET, **(b or {})),
    ]


@pytest.fixture
async def api(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    async with custom_api(
        tmp_path, database_url, clock, sites=sites({"sso_moderators": True}, {"sso_moderators": True})
    ) as made:
        yield made


@pytest.fixture
async def off(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    async with custom_api(tmp_path, database_url, clock, sites=sites({})) as made:
        yield made


async def signed_in(api: Api, site: str = "a", **extra: Any) -> dict[str, Any]:
    origin = ORIGIN_A if site == "a" else ORIGIN_B
    r = await sso(api, hs256(claims(api.clock.now.timestamp(), **extra)), site, origin)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def moderator(api: Api, site: str = "a", sub: str = "mod-1") -> str:
    body = await signed_in(api, site, sub=sub, name="Mo Derator", roles=["moderator"])
    session: str = body["session"]
    return session


async def comment(api: Api, site: str = "a", page: str = "/story") -> str:
    origin = ORIGIN_A if site == "a" else ORIGIN_B
    r = await api.post(site=site, origin=origin, page=page, text="A comment to moderate")
    assert r.status_code == 201, r.text
    cid: str = r.json()["comment"]["id"]
    return cid


async def moderate(
    api: Api, cid: str, action: str, session: str | None, origin: str = ORIGIN_A
) -> httpx.Response:
    headers = {"Origin": origin}
    if session is not None:
        headers["X-Kibitz-Session"] = session
    return await api.client.post(f"/api/v1/comments/{cid}/moderate", json={"action": action}, headers=headers)


async def shown(api: Api, site: str = "a") -> list[str]:
    thread = await api.thread(site=site)
    return [c["id"] for c in thread["comments"] if not c["deleted"]]


async def audit(api: Api, site: str = "a") -> list[dict[str, Any]]:
    _, secret = await api.app.state.ctx.staff.create_key(site, "moderate", "tests", "tests")
    r = await api.client.get(f"{ADMIN}/audit", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def refused(r: httpx.Response, status: int = 403, code: str = "forbidden") -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code


async def test_a_moderator_from_the_login_hides_pins_and_is_audited(api: Api) -> None:
    body = await signed_in(api, sub="mod-1", name="Mo Derator", roles=["moderator"])
    assert body["account"]["moderates"] is True
    session = body["session"]
    cid, other = await comment(api), await comment(api)
    assert set(await shown(api)) == {cid, other}

    r = await moderate(api, other, "pin", session)
    assert r.status_code == 200, r.text
    assert r.json()["comment"]["pinned"] is True
    assert "email" not in r.json()["comment"]  # the public shape: no author's address
    r = await moderate(api, cid, "reject", session)
    assert r.status_code == 200, r.text
    assert r.json()["comment"]["status"] == "rejected"
    assert await shown(api) == [other]  # gone for every reader (the cached read moved too)

    acts = [e for e in await audit(api) if e["action"].startswith("comment.")]
    account_id = body["account"]["id"]
    assert [(e["action"], e["target"], e["actor"], e["site"]) for e in acts] == [
        ("comment.reject", f"comment:{cid}", f"account:{account_id}", "a"),
        ("comment.pin", f"comment:{other}", f"account:{account_id}", "a"),
    ]
    assert acts[0]["detail"]["via"] == "sso"


async def test_the_setting_off_refuses_and_changes_nothing(off: Api) -> None:
    body = await signed_in(off, sub="mod-1", roles=["moderator"])
    assert body["account"]["moderates"] is False
    assert "moderator" in body["account"]["badges"]  # the badge still shows
    cid = await comment(off)
    refused(await moderate(off, cid, "reject", body["session"]))
    assert await shown(off) == [cid]
    assert not [e for e in await audit(off) if e["action"].startswith("comment.")]


async def test_the_setting_is_read_per_request_and_staff_may_turn_it_on(off: Api) -> None:
    session = await moderator(off)
    cid = await comment(off)
    refused(await moderate(off, cid, "spam", session))
    _, secret = await off.app.state.ctx.staff.create_key("a", "moderate", "tests", "tests")
    key = {"Authorization": f"Bearer {secret}"}
    r = await off.client.put(f"{ADMIN}/sites/a/settings", json={"sso_moderators": True}, headers=key)
    assert r.status_code == 200, r.text
    assert r.json()["sso_moderators"] is True
    r = await moderate(off, cid, "spam", session)
    assert r.status_code == 200, r.text
    assert await shown(off) == []
    r = await off.client.put(f"{ADMIN}/sites/a/settings", json={"sso_moderators": "yes"}, headers=key)
    refused(r, 422, "invalid_input")


async def test_a_reader_without_the_role_is_refused(api: Api) -> None:
    body = await signed_in(api, sub="reader-1", roles=["staff"])
    assert body["account"]["moderates"] is False
    cid = await comment(api)
    for action in ("reject", "spam", "pin", "approve"):
        refused(await moderate(api, cid, action, body["session"]))
    assert await shown(api) == [cid]
    thread = await api.thread()
    assert thread["comments"][0]["pinned"] is False


async def test_another_sites_session_is_refused(api: Api) -> None:
    session_b = await moderator(api, "b")
    cid = await comment(api, "a")
    # From site a's page (the Origin the comment's site allows) and from site b's: both refused.
    refused(await moderate(api, cid, "reject", session_b))
    refused(await moderate(api, cid, "reject", session_b, origin=ORIGIN_B), 403, "origin_not_allowed")
    assert await shown(api) == [cid]


async def test_an_ended_session_and_no_session_are_refused(api: Api) -> None:
    session = await moderator(api)
    cid = await comment(api)
    r = await api.client.post(
        "/api/v1/me/sign-out", json={}, headers={"X-Kibitz-Session": session, "Origin": ORIGIN_A}
    )
    assert r.status_code == 204, r.text
    refused(await moderate(api, cid, "reject", session), 401, "session_invalid")
    refused(await moderate(api, cid, "reject", None), 401, "unauthorized")
    refused(await moderate(api, cid, "reject", "forged." + session[7:]), 401, "session_invalid")
    assert await shown(api) == [cid]


async def test_the_role_taken_away_at_the_next_sign_in_ends_the_rights_at_once(api: Api) -> None:
    first = await moderator(api, sub="mod-1")
    cid, other = await comment(api), await comment(api)
    assert (await moderate(api, cid, "reject", first)).status_code == 200
    # The publisher's login no longer says "moderator": the next token signs in without it, and the
    # session opened before it (another tab, another device) loses the rights too.
    again = await signed_in(api, sub="mod-1", name="Mo Derator", roles=[])
    assert again["account"]["moderates"] is False
    assert "moderator" not in again["account"]["badges"]
    refused(await moderate(api, other, "reject", first))
    refused(await moderate(api, other, "reject", again["session"]))
    assert await shown(api) == [other]


async def test_only_a_session_of_the_publishers_login_moderates(api: Api) -> None:
    """The moderator's account adds a mailed link as a way in (asked while signed in by SSO): a
    session of that link is the same account, shows the badge, and does not moderate."""
    body = await signed_in(api, sub="mod-1", roles=["moderator"])
    r = await api.client.post(
        "/api/v1/sites/a/auth/email",
        json={"email": "mo@news-a.example", "return": f"{ORIGIN_A}/story"},
        headers={"Origin": ORIGIN_A, "X-Kibitz-Session": body["session"]},
    )
    assert r.status_code == 202, r.text
    done = await press(api, (await sign_in_mails(api, "mo@news-a.example"))[-1])
    assert done.status_code == 303, done.text
    mailed = done.headers["location"].partition("#kibitz-session=")[2]
    me = await api.client.get("/api/v1/me", headers={"X-Kibitz-Session": mailed, "Origin": ORIGIN_A})
    assert me.status_code == 200, me.text
    account = me.json()["account"]
    assert account["id"] == body["account"]["id"]
    assert account["signed_in_with"] == "email"
    assert "moderator" in account["badges"]
    assert account["moderates"] is False
    cid = await comment(api)
    refused(await moderate(api, cid, "reject", mailed))
    assert await shown(api) == [cid]
    assert (await moderate(api, cid, "reject", body["session"])).status_code == 200


async def test_bad_input_and_unknown_comments(api: Api) -> None:
    session = await moderator(api)
    cid = await comment(api)
    refused(await moderate(api, cid, "restore", session), 422, "invalid_input")
    refused(await moderate(api, cid, "delete-everything", session), 422, "invalid_input")
    refused(await moderate(api, "999999", "reject", session), 404, "not_found")
    r = await api.client.post(
        f"/api/v1/comments/{cid}/moderate",
        json={"action": "reject"},
        headers={"X-Kibitz-Session": session},  # no Origin: refused as every reader write is
    )
    refused(r, 403, "origin_not_allowed")
    assert await shown(api) == [cid]
