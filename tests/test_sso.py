"""The publisher's own login (DESIGN.md §3b), on both engines: HS256, RS256 and EdDSA tokens sign in;
``alg: none``, an RS256 public key used as an HS256 secret, an expired token, a future ``iat``, a
wrong ``aud``, tampered claims and the rest are refused with 401 and nothing stored (QUALITY T25-T27)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from kibitz.config import ConfigError
from tests.accounts_helpers import (
    ED_PUBLIC,
    RSA_PUBLIC,
    SSO_SECRET,
    account_rows,
    b64,
    claims,
    eddsa,
    hs256,
    rs256,
    sso,
    unsigned,
)
from tests.conftest import ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, make_settings, site_table

pytestmark = pytest.mark.anyio


def sites(key: dict[str, str]) -> list[dict[str, Any]]:
    return [site_table("a", ORIGIN_A, **key), site_table("b", ORIGIN_B)]


@pytest.fixture
async def hs_api(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    async with custom_api(tmp_path, database_url, clock, sites=sites({"sso_secret": SSO_SECRET})) as api:
        yield api


@pytest.fixture
async def rs_api(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    async with custom_api(tmp_path, database_url, clock, sites=sites({"sso_public_key": RSA_PUBLIC})) as api:
        yield api


def now_of(api: Api) -> float:
    return api.clock.now.timestamp()


async def refused(api: Api, token: str) -> None:
    r = await sso(api, token)
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "invalid_sign_in"
    assert "session" not in r.json()
    assert await account_rows(api) == (0, 0, 0)


async def test_an_hs256_token_signs_in_with_name_picture_and_roles(hs_api: Api) -> None:
    token = hs256(
        claims(
            now_of(hs_api),
            aud="a",
            email="Pat@News-A.example",
            picture="https://cdn.news-a.example/pat.png",
            roles=["moderator", "subscriber"],
        )
    )
    r = await sso(hs_api, token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert r.headers["x-kibitz-session"] == body["session"]
    account = body["account"]
    assert account["name"] == "Pat Publisher"
    assert account["email"] == "pat@news-a.example"
    assert account["picture"] == "https://cdn.news-a.example/pat.png"
    assert account["badges"] == ["moderator", "verified"]
    assert account["signed_in_with"] == "sso"
    # The same sub again: the same account, with what the publisher says now.
    again = await sso(hs_api, hs256(claims(now_of(hs_api), name="Pat P.", roles=[])))
    assert again.json()["account"]["id"] == account["id"]
    assert again.json()["account"]["name"] == "Pat P."
    assert again.json()["account"]["badges"] == ["verified"]
    assert (await account_rows(hs_api))[:2] == (1, 1)


async def test_an_http_picture_is_never_shown(hs_api: Api) -> None:
    r = await sso(hs_api, hs256(claims(now_of(hs_api), picture="http://cdn.example/p.png")))
    assert r.json()["account"]["picture"] is None


async def test_rs256_signs_in_and_refuses_the_public_key_as_an_hs256_secret(rs_api: Api) -> None:
    await refused(rs_api, hs256(claims(now_of(rs_api)), secret=SSO_SECRET))
    # HS/RS confusion: an HMAC under the site's own public key (as a library that trusts the
    # header's alg would accept). Built by hand: joserfc itself refuses a PEM as a secret.
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims(now_of(rs_api))).encode())
    mac = hmac.new(RSA_PUBLIC.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    await refused(rs_api, f"{header}.{payload}.{b64(mac)}")
    await refused(rs_api, unsigned(claims(now_of(rs_api))))
    r = await sso(rs_api, rs256(claims(now_of(rs_api))))
    assert r.status_code == 200, r.text


async def test_eddsa_signs_in(tmp_path: Path, database_url: str, clock: FakeClock) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites({"sso_public_key": ED_PUBLIC})) as api:
        await refused(api, rs256(claims(now_of(api))))
        r = await sso(api, eddsa(claims(now_of(api))))
        assert r.status_code == 200, r.text
        r = await sso(api, eddsa(claims(now_of(api)), alg="Ed25519"))
        assert r.status_code == 200, r.text


def tamper(token: str) -> str:
    """The payload changed (another sub, staff rights), the signature kept."""
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(sub="admin", roles=["staff", "moderator"])
    return f"{header}.{b64(json.dumps(data).encode())}.{signature}"


REFUSALS: dict[str, Callable[[float], str]] = {
    "alg none": lambda now: unsigned(claims(now)),
    "alg none, capitalised": lambda now: unsigned(claims(now)).replace(
        b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()), b64(json.dumps({"alg": "None"}).encode())
    ),
    "expired": lambda now: hs256(claims(now, iat=int(now) - 900, exp=int(now) - 60)),
    "exp too far ahead": lambda now: hs256(claims(now, exp=int(now) + 3600)),
    "no exp": lambda now: hs256(claims(now, exp=None)),
    "exp not a number": lambda now: hs256(claims(now, exp="soon")),
    "iat in the future": lambda now: hs256(claims(now, iat=int(now) + 300)),
    "nbf in the future": lambda now: hs256(claims(now, nbf=int(now) + 300)),
    "wrong aud": lambda now: hs256(claims(now, aud="b")),
    "wrong aud list": lambda now: hs256(claims(now, aud=["b", "c"])),
    "tampered claims": lambda now: tamper(hs256(claims(now))),
    "wrong secret": lambda now: hs256(claims(now), secret="another-secret-" + "y" * 40),
    "no sub": lambda now: hs256(claims(now, sub=None)),
    "empty sub": lambda now: hs256(claims(now, sub="")),
    "no name": lambda now: hs256(claims(now, name=None)),
    "name not a string": lambda now: hs256(claims(now, name=["x"])),
    "not a token": lambda now: "not-a-token",
    "two parts": lambda now: "abc.def",
    "garbage base64": lambda now: "###.###.###",
    "signature stripped": lambda now: hs256(claims(now)).rpartition(".")[0] + ".",
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
async def test_refused_tokens_store_nothing(hs_api: Api, case: str) -> None:
    await refused(hs_api, REFUSALS[case](now_of(hs_api)))


async def test_malformed_bodies_and_sites_without_sso(hs_api: Api) -> None:
    for body in ({}, {"token": 5}, {"token": ""}, {"token": "x" * 9000}, {"token": "t", "extra": 1}):
        r = await hs_api.client.post("/api/v1/sites/a/auth/sso", json=body, headers={"Origin": ORIGIN_A})
        assert r.status_code in (413, 422), (body, r.status_code)
    # Site b has no login of its own: a token good for a is refused there.
    r = await sso(hs_api, hs256(claims(now_of(hs_api))), site="b", origin=ORIGIN_B)
    assert r.status_code == 401
    assert await account_rows(hs_api) == (0, 0, 0)
    # An origin not of the site is refused before anything (403, no CORS grant).
    r = await sso(hs_api, hs256(claims(now_of(hs_api))), origin="https://evil.example")
    assert r.status_code == 403
    assert await account_rows(hs_api) == (0, 0, 0)


async def test_token_attempts_are_limited_per_client_address(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    """T25: guesses from one address are throttled (429 with Retry-After), good and bad alike."""
    limited = [site_table("a", ORIGIN_A, sso_secret=SSO_SECRET, rate_limits={"sign_ins": "5/hour"})]
    async with custom_api(tmp_path, database_url, clock, sites=limited) as api:
        for _ in range(5):
            assert (await sso(api, hs256(claims(now_of(api)), secret="guess-" + "z" * 40))).status_code == 401
        r = await sso(api, hs256(claims(now_of(api))))
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) > 0
        assert await account_rows(api) == (0, 0, 0)


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ({"sso_secret": "short"}, "sites[0].sso_secret"),
        ({"sso_public_key": "not a pem"}, "sites[0].sso_public_key"),
        ({"sso_secret": SSO_SECRET, "sso_public_key": RSA_PUBLIC}, "sites[0].sso_secret"),
    ],
)
def test_a_bad_sso_key_stops_the_start(tmp_path: Path, key: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        make_settings(tmp_path, "sqlite:///x.db", sites=[site_table("a", ORIGIN_A, **key)])
    assert raised.value.key == problem
