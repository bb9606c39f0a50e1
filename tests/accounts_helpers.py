"""Helpers of the reader-account tests: the publisher's tokens, a mailed link followed as a person
does, and the rows the account tables hold."""

from __future__ import annotations

import base64
import json
import re
import warnings
from typing import Any
from urllib.parse import quote

import httpx
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import OctKey, OKPKey, RSAKey
from sqlalchemy import func, select

from kibitz.store.schema import account_identities, account_sessions, accounts, outbox
from tests.conftest import ORIGIN_A, Api

SSO_SECRET = "publisher-secret-" + "x" * 40
RSA_KEY = RSAKey.generate_key(2048)
ED_KEY = OKPKey.generate_key("Ed25519")
RSA_PUBLIC = RSA_KEY.as_pem(private=False).decode()
ED_PUBLIC = ED_KEY.as_pem(private=False).decode()
BASE = "http://127.0.0.1:8000"
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(now: float, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sub": "user-1", "name": "Pat Publisher", "iat": int(now), "exp": int(now) + 300}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def hs256(payload: dict[str, Any], secret: str = SSO_SECRET) -> str:
    return jwt.encode({"alg": "HS256"}, payload, OctKey.import_key(secret))


def rs256(payload: dict[str, Any]) -> str:
    return jwt.encode({"alg": "RS256"}, payload, RSA_KEY)


def eddsa(payload: dict[str, Any], alg: str = "EdDSA") -> str:
    with warnings.catch_warnings():  # "EdDSA" is the contract's name; joserfc prefers "Ed25519"
        warnings.simplefilter("ignore", SecurityWarning)
        return jwt.encode({"alg": alg}, payload, ED_KEY, algorithms=[alg])


def unsigned(payload: dict[str, Any]) -> str:
    """``alg: none``: a token anyone can write."""
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(payload).encode())}."


async def sso(api: Api, token: str, site: str = "a", origin: str = ORIGIN_A) -> httpx.Response:
    return await api.client.post(
        f"/api/v1/sites/{site}/auth/sso", json={"token": token}, headers={"Origin": origin}
    )


async def count(api: Api, table: Any) -> int:
    async with api.app.state.ctx.db.read() as tx:
        return int((await tx.conn.execute(select(func.count()).select_from(table))).scalar_one())


async def account_rows(api: Api) -> tuple[int, int, int]:
    return (
        await count(api, accounts),
        await count(api, account_identities),
        await count(api, account_sessions),
    )


async def sign_in_mails(api: Api, recipient: str) -> list[str]:
    """The sign-in links mailed to ``recipient`` (paths), oldest first."""
    async with api.app.state.ctx.db.read() as tx:
        stmt = select(outbox).where(outbox.c.kind == "sign_in", outbox.c.recipient == recipient)
        found = list((await tx.conn.execute(stmt.order_by(outbox.c.id))).all())
    return [link_of(row.text_body) for row in found]


def link_of(text: str) -> str:
    found = re.search(rf"{re.escape(BASE)}(/auth/email/[A-Za-z0-9_.\-]+)", text)
    assert found, f"no sign-in link in {text!r}"
    return found.group(1)


async def press(api: Api, path: str) -> httpx.Response:
    """A person opening the link and pressing its button."""
    shown = await api.client.get(path)
    found = re.search(r'name="form" value="([^"]+)"', shown.text)
    body = f"form={quote(found.group(1))}" if found else ""
    return await api.client.post(path, content=body.encode(), headers=FORM_HEADERS)


async def ask_link(
    api: Api, email: str, site: str = "a", origin: str = ORIGIN_A, **extra: Any
) -> httpx.Response:
    return await api.client.post(
        f"/api/v1/sites/{site}/auth/email", json={"email": email, **extra}, headers={"Origin": origin}
    )


async def email_session(api: Api, email: str, site: str = "a", origin: str = ORIGIN_A) -> str:
    """Sign in with a mailed link, as the widget does; the session."""
    r = await ask_link(api, email, site, origin, **{"return": f"{origin}/story"})
    assert r.status_code == 202, r.text
    done = await press(api, (await sign_in_mails(api, email))[-1])
    assert done.status_code == 303, done.text
    target = done.headers["location"]
    assert target.startswith(f"{origin}/story#kibitz-session="), target
    return target.partition("#kibitz-session=")[2]
