"""OpenID Connect sign-in against a real provider the suite runs itself (oidc-provider-mock on
127.0.0.1, reached only through the outbound guard because the test allows loopback): a sign-in, and
the refusals — a wrong state, a callback in another browser, a replayed code, a wrong nonce, a wrong
audience, an expired ID token — each 401 with nothing stored (QUALITY T22, T27, T48)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import oidc_provider_mock
import pytest
import werkzeug.serving
from sqlalchemy import select, update

from kibitz.store.schema import sign_ins
from tests.accounts_helpers import BASE, account_rows
from tests.conftest import ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, site_table

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """The provider on 127.0.0.1 (a port of its own), stopped after the module."""
    app = oidc_provider_mock.app(require_nonce=True, access_token_max_age=timedelta(minutes=5))
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def oidc_settings(issuer: str, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "sites": [site_table("a", ORIGIN_A), site_table("b", ORIGIN_B)],
        "oidc": [
            {"id": "mock", "name": "Mock ID", "issuer": issuer, "client_id": "kibitz", "client_secret": "s3"}
        ],
        "outbound_allow": ["127.0.0.0/8"],
    }
    values.update(extra)
    return values


@pytest.fixture
async def api(tmp_path: Path, database_url: str, clock: FakeClock, provider: str) -> AsyncIterator[Api]:
    clock.now = datetime.now(UTC)  # the provider stamps its tokens with the real time
    async with custom_api(tmp_path, database_url, clock, **oidc_settings(provider)) as item:
        yield item


async def set_user(provider: str, sub: str, claims: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as client:
        r = await client.put(f"{provider}/users/{sub}", json=claims)
        assert r.status_code == 204, r.text


async def authorize(api: Api, sub: str, back: str = ORIGIN_A + "/story") -> str:
    """Open the popup and sign in at the provider: the callback path it sends the browser to."""
    start = await api.client.get("/auth/oidc/mock/start", params={"site": "a", "return": back})
    assert start.status_code == 303, start.text
    async with httpx.AsyncClient() as browser:
        r = await browser.post(start.headers["location"], data={"sub": sub})
    assert r.status_code == 302, r.text
    location = r.headers["location"]
    assert location.startswith(f"{BASE}/auth/oidc/mock/callback?")
    return location.removeprefix(BASE)


def handed_over(page: httpx.Response) -> dict[str, Any]:
    found = re.search(
        r'<script type="application/json" id="kibitz-sign-in"[^>]*>(.*?)</script>', page.text, re.S
    )
    assert found, page.text
    data: dict[str, Any] = json.loads(found.group(1))
    return data


async def refused(api: Api, page: httpx.Response, why: str = "") -> None:
    assert page.status_code == 401, page.text
    assert why in page.text
    data = handed_over(page)
    assert data["message"] == {"kibitz": "sign-in", "error": "invalid_sign_in"}
    assert "session" not in page.text
    assert await account_rows(api) == (0, 0, 0)


async def test_a_reader_signs_in_and_the_session_goes_to_the_sites_origin_only(
    api: Api, provider: str
) -> None:
    claims = {
        "email": "alice@mail.example",
        "email_verified": True,
        "name": "Alice Example",
        "picture": "https://id.example/alice.png",
    }
    await set_user(provider, "alice", claims)
    page = await api.client.get(await authorize(api, "alice", back="https://evil.example/x"))
    assert page.status_code == 200, page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'nonce-" in policy
    assert "frame-ancestors 'none'" in policy
    data = handed_over(page)
    assert data["origin"] == ORIGIN_A  # T48: never the return URL's origin when it is not the site's
    message = data["message"]
    assert message["kibitz"] == "sign-in"
    account = message["account"]
    assert account["name"] == "Alice Example"
    assert account["email"] == "alice@mail.example"
    assert account["picture"] == "https://id.example/alice.png"
    assert account["badges"] == ["verified"]
    assert account["signed_in_with"] == "oidc:mock"
    me = await api.client.get("/api/v1/me", headers={"X-Kibitz-Session": message["session"]})
    assert me.json()["account"]["id"] == account["id"]
    # The same person again: the same account.
    again = handed_over(await api.client.get(await authorize(api, "alice")))
    assert again["message"]["account"]["id"] == account["id"]
    assert (await account_rows(api))[:2] == (1, 1)


async def test_an_unverified_address_is_not_taken(api: Api, provider: str) -> None:
    await set_user(provider, "bob", {"email": "bob@mail.example", "email_verified": False, "name": "Bob"})
    data = handed_over(await api.client.get(await authorize(api, "bob")))
    assert data["message"]["account"]["email"] is None


async def test_a_wrong_or_foreign_state_is_refused(api: Api, provider: str) -> None:
    path = await authorize(api, "carol")
    forged = re.sub(r"state=[^&]+", "state=forged-state", path)
    await refused(api, await api.client.get(forged), "unknown or has expired")
    missing = re.sub(r"&?state=[^&]+", "", path)
    await refused(api, await api.client.get(missing))
    # The right state in another browser (no cookie of the one that started it): login CSRF.
    async with httpx.AsyncClient(transport=api.client._transport, base_url="http://kibitz.test") as other:
        await refused(api, await other.get(path), "started in another browser")


async def test_a_replayed_code_is_refused(api: Api, provider: str) -> None:
    path = await authorize(api, "dave")
    assert (await api.client.get(path)).status_code == 200
    sessions = (await account_rows(api))[2]
    # The same callback again: the state was used.
    again = await api.client.get(path)
    assert again.status_code == 401
    # The old code under a new sign-in's state: the provider refuses a code used once.
    fresh = await authorize(api, "dave")
    code = re.search(r"code=([^&]+)", path)
    assert code
    replayed = re.sub(r"code=[^&]+", f"code={code.group(1)}", fresh)
    answer = await api.client.get(replayed)
    assert answer.status_code == 401
    assert "refused the sign-in code" in answer.text
    assert (await account_rows(api))[2] == sessions


async def test_a_wrong_nonce_is_refused(api: Api, provider: str) -> None:
    path = await authorize(api, "erin")
    state = re.search(r"state=([^&]+)", path)
    assert state
    # What Kibitz expects differs from what the provider put in the token (another sign-in's nonce).
    async with api.app.state.ctx.db.write() as tx:
        row = (await tx.conn.execute(select(sign_ins).where(sign_ins.c.id == state.group(1)))).one()
        secret = json.loads(row.secret)
        secret["nonce"] = "another-sign-ins-nonce"
        await tx.conn.execute(
            update(sign_ins).where(sign_ins.c.id == row.id).values(secret=json.dumps(secret))
        )
    await refused(api, await api.client.get(path), "another sign-in&#39;s nonce")


async def test_a_token_for_another_client_is_refused(
    api: Api, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider signs an ID token whose audience is another client."""
    original = oidc_provider_mock._app.OpenIDCode.get_jwt_config

    def other_audience(self: Any, grant: Any, client: Any = None) -> dict[str, Any]:
        return {**original(self, grant, client), "aud": ["someone-else"]}

    monkeypatch.setattr(oidc_provider_mock._app.OpenIDCode, "get_jwt_config", other_audience)
    await refused(api, await api.client.get(await authorize(api, "frank")), "issued to another client")


async def test_an_expired_token_is_refused(api: Api, provider: str) -> None:
    path = await authorize(api, "grace")
    api.clock.advance(minutes=7)  # the provider's tokens live 5 minutes; the sign-in itself 15
    await refused(api, await api.client.get(path), "refused: expired")


async def test_an_expired_sign_in_and_an_unknown_provider(api: Api, provider: str) -> None:
    path = await authorize(api, "heidi")
    api.clock.advance(minutes=16)
    await refused(api, await api.client.get(path))
    assert (await api.client.get("/auth/oidc/nope/start", params={"site": "a"})).status_code == 404
    assert (await api.client.get("/auth/oidc/mock/start", params={"site": "zz"})).status_code == 404


async def test_a_loopback_provider_is_unreachable_unless_allowed(
    tmp_path: Path, database_url: str, clock: FakeClock, provider: str
) -> None:
    """The outbound guard: without outbound_allow the provider on 127.0.0.1 is never contacted."""
    async with custom_api(tmp_path, database_url, clock, **oidc_settings(provider, outbound_allow=[])) as api:
        r = await api.client.get("/auth/oidc/mock/start", params={"site": "a"})
        assert r.status_code == 503
        assert await account_rows(api) == (0, 0, 0)
