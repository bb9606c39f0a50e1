"""Privacy for signed-in readers (issue 17): "Download my data" (GET /api/v1/me/export) holds the
account, how it signs in and its sessions beside the comments; "Erase me" (DELETE /api/v1/me) signs
the reader out at once and leaves neither the name nor the proven address anywhere, on both engines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.accounts_helpers import SSO_SECRET, account_rows, claims, hs256, sso
from tests.conftest import ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, site_table
from tests.test_privacy import everything

pytestmark = pytest.mark.anyio
NAME = "Quentin Quill"
EMAIL = "quentin.quill@example.net"


@pytest.fixture
async def sso_api(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    sites = [site_table("a", ORIGIN_A, sso_secret=SSO_SECRET), site_table("b", ORIGIN_B)]
    async with custom_api(tmp_path, database_url, clock, sites=sites) as api:
        yield api


async def signed_in(api: Api) -> dict[str, str]:
    token = hs256(claims(api.clock.now.timestamp(), sub="quill", name=NAME, email=EMAIL))
    r = await sso(api, token)
    assert r.status_code == 200, r.text
    return {"X-Kibitz-Session": r.json()["session"], "Origin": ORIGIN_A}


async def test_a_signed_in_reader_downloads_their_account_and_comments(sso_api: Api) -> None:
    headers = await signed_in(sso_api)
    posted = await sso_api.post(headers=headers, text="Signed and said", author={"name": NAME})
    assert posted.status_code == 201, posted.text

    r = await sso_api.client.get("/api/v1/me/export", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].startswith("attachment")
    data = r.json()
    [account] = data["accounts"]
    assert (account["name"], account["email"]) == (NAME, EMAIL)
    assert [way["kind"] for way in account["sign_in_ways"]] == ["sso"]
    assert [session["via"] for session in account["sessions"]] == ["sso"]
    assert [c["text"] for c in data["comments"]] == ["Signed and said"]
    assert headers["X-Kibitz-Session"] not in r.text  # when and how, never the token

    assert (await sso_api.client.get("/api/v1/me/export")).status_code == 401


async def test_erase_me_signs_out_at_once_and_leaves_no_trace(sso_api: Api) -> None:
    headers = await signed_in(sso_api)
    posted = await sso_api.post(headers=headers, text="Soon anonymous", author={"name": NAME})
    assert posted.status_code == 201, posted.text
    reply = await sso_api.post(text="A reply", author={"name": "Bo"}, parent=posted.json()["comment"]["id"])
    assert reply.status_code == 201, reply.text
    assert await account_rows(sso_api) == (1, 1, 1)

    without_origin = {"X-Kibitz-Session": headers["X-Kibitz-Session"]}
    assert (await sso_api.client.delete("/api/v1/me", headers=without_origin)).status_code == 403
    r = await sso_api.client.delete("/api/v1/me", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["erased"]["accounts"] == 1
    assert r.json()["erased"]["comments"] == 1

    assert (await sso_api.client.get("/api/v1/me", headers=headers)).status_code == 401
    assert await account_rows(sso_api) == (0, 0, 0)
    shown = (await sso_api.thread())["comments"]
    assert shown[0]["author"]["name"] == "deleted"
    assert shown[0]["author"]["badges"] == []
    assert shown[0]["replies"][0]["author"]["name"] == "Bo"
    dump = await everything(sso_api)
    assert NAME not in dump
    assert EMAIL not in dump
