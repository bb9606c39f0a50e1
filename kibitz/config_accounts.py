"""Configuration of reader sign-in (kibitz/accounts.py): the OpenID Connect providers ([[oidc]]) and a
site's key for the publisher's own login (``sso_secret`` or ``sso_public_key``). Read with
config_values.py's typed reader, so a bad value stops the process with one line naming the key."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from kibitz import origins as urls
from kibitz.config_values import _kind, _Reader, _show

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
MIN_SSO_SECRET = 32  # HS256 with fewer than 256 bits of secret is guessable offline
MIN_RSA_BITS = 2048
MAX_PROVIDERS = 20


@dataclass(frozen=True)
class OidcProvider:
    """One [[oidc]] table: a sign-in provider readers may choose (``id`` is its slug in URLs)."""

    id: str
    name: str
    issuer: str  # its discovery document is at issuer + "/.well-known/openid-configuration"
    client_id: str
    client_secret: str = field(default="", repr=False)
    scopes: str = "openid email profile"


_OIDC_KEYS = ("id", "name", "issuer", "client_id", "client_secret", "scopes")


def oidc_tables(r: _Reader, value: object) -> tuple[OidcProvider, ...]:
    if not isinstance(value, list | tuple):
        r.fail("oidc", f"must be a list of provider tables ([[oidc]]), not {_kind(value)}")
    if len(value) > MAX_PROVIDERS:
        r.fail("oidc", f"must list at most {MAX_PROVIDERS} providers")
    found: list[OidcProvider] = []
    for index, item in enumerate(value):
        key = f"oidc[{index}]"
        table = r.table(item, key, _OIDC_KEYS)
        for required in ("id", "issuer", "client_id"):
            if not r.string(table.get(required, ""), f"{key}.{required}").strip():
                r.fail(f"{key}.{required}", "is required")
        provider_id = r.string(table["id"], f"{key}.id").strip()
        if not _SLUG.fullmatch(provider_id):
            r.fail(f"{key}.id", f"must be 1-32 characters of a-z, 0-9, '-' and '_', not {_show(provider_id)}")
        if any(p.id == provider_id for p in found):
            r.fail(f"{key}.id", f"duplicate provider id {provider_id!r}")
        issuer = r.string(table["issuer"], f"{key}.issuer").strip().rstrip("/")
        try:
            scheme_host, _ = urls.split_http_url(issuer)
        except ValueError as exc:
            r.fail(f"{key}.issuer", f"{exc}, not {_show(issuer)}")
        if not scheme_host.startswith("https://") and not _loopback(scheme_host):
            r.fail(f"{key}.issuer", "must be an https:// URL (http:// only on this machine, for tests)")
        scopes = r.string(table.get("scopes", "openid email profile"), f"{key}.scopes").split()
        if "openid" not in scopes:
            r.fail(f"{key}.scopes", "must include openid")
        found.append(
            OidcProvider(
                id=provider_id,
                name=r.string(table.get("name", provider_id), f"{key}.name").strip() or provider_id,
                issuer=issuer,
                client_id=r.string(table["client_id"], f"{key}.client_id").strip(),
                client_secret=r.string(table.get("client_secret", ""), f"{key}.client_secret"),
                scopes=" ".join(scopes),
            )
        )
    return tuple(found)


def _loopback(origin: str) -> bool:
    host = origin.partition("://")[2].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


SsoAlgorithm = Literal["HS256", "RS256", "EdDSA"]


def sso_key(r: _Reader, secret: object, public_key: object, key: str) -> tuple[str, str, SsoAlgorithm | None]:
    """(sso_secret, sso_public_key, the one algorithm a token must use) of a site; one key at most."""
    secret_text = r.string(secret, f"{key}.sso_secret")
    pem = r.string(public_key, f"{key}.sso_public_key").strip()
    if secret_text and pem:
        r.fail(f"{key}.sso_secret", "set sso_secret (HS256) or sso_public_key (RS256, EdDSA), not both")
    if secret_text:
        if len(secret_text) < MIN_SSO_SECRET:
            r.fail(f"{key}.sso_secret", f"must be at least {MIN_SSO_SECRET} characters (random), or empty")
        return secret_text, "", "HS256"
    if not pem:
        return "", "", None
    try:
        loaded = load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        r.fail(f"{key}.sso_public_key", "must be a PEM public key (-----BEGIN PUBLIC KEY-----)")
    if isinstance(loaded, RSAPublicKey):
        if loaded.key_size < MIN_RSA_BITS:
            r.fail(f"{key}.sso_public_key", f"an RSA key must have at least {MIN_RSA_BITS} bits")
        return "", pem, "RS256"
    if isinstance(loaded, Ed25519PublicKey):
        return "", pem, "EdDSA"
    r.fail(f"{key}.sso_public_key", "must be an RSA (RS256) or Ed25519 (EdDSA) public key")
