"""Signing in with an OpenID Connect provider (DESIGN.md §3b): the authorization code flow with PKCE,
``state`` and ``nonce``, opened in a popup by the widget; the session goes back to the opener by
``postMessage`` to the site's origin only (web/oidc.py draws that page).

Each sign-in under way is a ``sign_ins`` row whose id is the ``state``; it holds the PKCE verifier,
the nonce, where to return and the hash of a random cookie set on the browser that started it (so a
callback URL handed to another browser signs nobody in). It works once and for 15 minutes. The
provider's discovery document, its keys and the token exchange are fetched only through outbound.py
(loopback providers only where ``outbound_allow`` lists them: tests). The ID token is checked here:
its signature against the provider's published keys (asymmetric algorithms only), ``iss``, ``aud``
(and ``azp``), ``exp``, ``iat`` and the nonce. authlib builds the request URI and the PKCE challenge;
joserfc verifies the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote_plus, urlencode

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import KeySet

from kibitz import errors, inputs, outbound
from kibitz.accounts import Accounts, Profile, SignedIn, https_picture
from kibitz.accounts_email import safe_return
from kibitz.config import Settings, SiteConfig
from kibitz.config_accounts import OidcProvider
from kibitz.origins import origin_of
from kibitz.outbound import OutboundError, OutboundPolicy
from kibitz.store.accounts import SignIn

FLOW_TTL = timedelta(minutes=15)
SKEW = 60  # seconds of clock difference forgiven with a provider
DISCOVERY_TTL = 3600.0  # seconds a provider's discovery document and keys are kept
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA", "Ed25519"]
MAX_DOCUMENT = 256 * 1024


@dataclass(frozen=True)
class Started:
    url: str  # the provider's authorization URL
    binding: str  # the cookie's value: this browser started this sign-in


@dataclass(frozen=True)
class Finished:
    signed: SignedIn
    origin: str  # where the session may be posted: one of the site's origins


class FlowFailed(errors.InvalidSignIn):
    """A sign-in that did not complete; ``origin`` is where the popup may say so (or "")."""

    def __init__(self, detail: str, origin: str = "") -> None:
        super().__init__(detail)
        self.origin = origin


@dataclass
class _Provider:
    document: dict[str, Any]
    keys: KeySet | None
    fetched: float


def binding_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Oidc:
    def __init__(self, accounts: Accounts, settings: Settings) -> None:
        self.accounts = accounts
        self.providers = {p.id: p for p in settings.oidc}
        self.sites = {site.id: site for site in settings.sites}
        self.base_url = settings.base_url.rstrip("/")
        # Providers are public services; loopback or private ones only where outbound_allow says.
        self.policy = OutboundPolicy(allow_networks=settings.outbound_allow, user_agent="Kibitz (+sign-in)")
        self._cache: dict[str, _Provider] = {}

    def provider(self, provider_id: str) -> OidcProvider:
        found = self.providers.get(provider_id)
        if found is None:
            raise errors.NotFound("No such sign-in provider")
        return found

    def callback_url(self, provider: OidcProvider) -> str:
        return f"{self.base_url}/auth/oidc/{provider.id}/callback"

    # -- what the provider publishes -------------------------------------------------------------

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await outbound.fetch(url, policy=self.policy, accept="application/json")
        except OutboundError as exc:
            raise errors.Unavailable(f"The sign-in provider could not be reached ({exc.reason})") from None
        if response.status != 200 or response.truncated:
            raise errors.Unavailable(f"The sign-in provider answered {response.status}")
        try:
            data = json.loads(response.body)
        except ValueError:
            raise errors.Unavailable("The sign-in provider's answer is not JSON") from None
        if not isinstance(data, dict):
            raise errors.Unavailable("The sign-in provider's answer is not a JSON object")
        return data

    async def _published(self, provider: OidcProvider, *, fresh_keys: bool = False) -> _Provider:
        cached = self._cache.get(provider.id)
        if cached is None or time.monotonic() - cached.fetched > DISCOVERY_TTL:
            document = await self._get_json(f"{provider.issuer}/.well-known/openid-configuration")
            if document.get("issuer") != provider.issuer:
                raise errors.Unavailable("The provider's discovery document names another issuer")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(document.get(key), str):
                    raise errors.Unavailable(f"The provider's discovery document has no {key}")
            cached = self._cache[provider.id] = _Provider(document, None, time.monotonic())
        if cached.keys is None or fresh_keys:
            try:
                cached.keys = KeySet.import_key_set(await self._get_json(cached.document["jwks_uri"]))  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError):
                raise errors.Unavailable("The provider's keys could not be read") from None
        return cached

    # -- the flow ------------------------------------------------------------------------------------

    async def start(self, provider_id: str, site: SiteConfig, return_url: str | None) -> Started:
        """A new sign-in: the row that remembers it and the provider's URL to open in the popup."""
        provider = self.provider(provider_id)
        published = await self._published(provider)
        now = self.accounts.clock()
        state, nonce, verifier = secrets.token_urlsafe(24), generate_token(32), generate_token(64)
        binding = secrets.token_urlsafe(24)
        secret = json.dumps({"verifier": verifier, "nonce": nonce, "binding": binding_hash(binding)})
        async with self.accounts.db.write() as tx:
            await tx.accounts.forget_expired(now)
            await tx.accounts.start_sign_in(
                SignIn(
                    id=state,
                    site=site.id,
                    kind=f"oidc:{provider.id}",
                    email="",
                    return_url=safe_return(site, return_url),
                    secret=secret,
                    account_id=None,
                    used=False,
                    created=now,
                    expires=now + FLOW_TTL,
                )
            )
        url = prepare_grant_uri(
            published.document["authorization_endpoint"],
            provider.client_id,
            "code",
            redirect_uri=self.callback_url(provider),
            scope=provider.scopes,
            state=state,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
            nonce=nonce,
        )
        return Started(url, binding)

    async def finish(
        self, provider_id: str, state: str | None, code: str | None, error: str | None, binding: str | None
    ) -> Finished:
        """The callback: check the state and this browser, exchange the code, check the ID token, sign in."""
        provider = self.provider(provider_id)
        now = self.accounts.clock()
        if not state or len(state) > 64:
            raise FlowFailed("The sign-in's state is missing")
        async with self.accounts.db.read() as tx:
            found = await tx.accounts.sign_in(state)
        if found is None or found.kind != f"oidc:{provider.id}" or found.expires <= now:
            raise FlowFailed("This sign-in is unknown or has expired")
        site = self.sites.get(found.site)
        origin = _origin(found.return_url)
        if site is None:
            raise FlowFailed("This sign-in's site is gone")
        stored = json.loads(found.secret)
        if not binding or not hmac.compare_digest(binding_hash(binding), stored["binding"]):
            raise FlowFailed("This sign-in was started in another browser", origin)
        async with self.accounts.db.write() as tx:
            if not await tx.accounts.use_sign_in(found.id):
                raise FlowFailed("This sign-in was used already", origin)
        if error or not code or len(code) > 2048:
            raise FlowFailed("The provider did not sign you in", origin)
        claims = await self._exchange(provider, code, stored["verifier"], origin)
        profile = self._profile(provider, claims, stored["nonce"], now, origin)
        async with self.accounts.db.write() as tx:
            signed = await self.accounts.sign_in(tx, site, profile, now)
        return Finished(SignedIn(signed.session, signed.reader, found.return_url), origin)

    async def _exchange(
        self, provider: OidcProvider, code: str, verifier: str, origin: str
    ) -> dict[str, Any]:
        published = await self._published(provider)
        body = urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.callback_url(provider),
                "code_verifier": verifier,
                "client_id": provider.client_id,
            }
        ).encode()
        basic = base64.b64encode(
            f"{_form(provider.client_id)}:{_form(provider.client_secret)}".encode()
        ).decode()
        headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
            ("Authorization", f"Basic {basic}"),
        ]
        try:
            response = await outbound.send(
                published.document["token_endpoint"], body=body, headers=headers, policy=self.policy
            )
        except OutboundError as exc:
            raise FlowFailed(f"The provider could not be reached ({exc.reason})", origin) from None
        try:
            answer = json.loads(response.body)
        except ValueError:
            answer = None
        if (
            response.status != 200
            or not isinstance(answer, dict)
            or not isinstance(answer.get("id_token"), str)
        ):
            raise FlowFailed("The provider refused the sign-in code", origin)
        return await self._verify(provider, answer["id_token"], origin)

    async def _verify(self, provider: OidcProvider, id_token: str, origin: str) -> dict[str, Any]:
        for fresh in (False, True):  # an unknown key: the provider may have rotated; read them again
            published = await self._published(provider, fresh_keys=fresh)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", SecurityWarning)
                    decoded = jwt.decode(id_token, published.keys, algorithms=ID_TOKEN_ALGORITHMS)  # type: ignore[arg-type]
            except ValueError:
                continue
            except (JoseError, TypeError, UnicodeError):
                break
            return dict(decoded.claims)
        raise FlowFailed("The provider's ID token is not valid", origin)

    def _profile(
        self, provider: OidcProvider, claims: dict[str, Any], nonce: str, now: datetime, origin: str
    ) -> Profile:
        stamp = int(now.timestamp())

        def refuse(why: str) -> FlowFailed:
            return FlowFailed(f"The provider's ID token was refused: {why}", origin)

        if claims.get("iss") != provider.issuer:
            raise refuse("another issuer")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if provider.client_id not in audiences:
            raise refuse("issued to another client")
        if len(audiences) > 1 and claims.get("azp") != provider.client_id:
            raise refuse("issued to another client")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or exp <= stamp - SKEW:
            raise refuse("expired")
        if not isinstance(iat, int | float) or iat > stamp + SKEW:
            raise refuse("issued in the future")
        token_nonce = claims.get("nonce")
        if not isinstance(token_nonce, str) or not hmac.compare_digest(token_nonce.encode(), nonce.encode()):
            raise refuse("another sign-in's nonce")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not 0 < len(sub) <= 255:
            raise refuse("no subject")
        name = next(
            (
                v
                for v in (claims.get(k) for k in ("name", "preferred_username", "given_name", "nickname"))
                if isinstance(v, str) and v.strip()
            ),
            "",
        )
        email = claims.get("email") if claims.get("email_verified") is True else None
        try:
            address = inputs.email(email, "email").lower() if isinstance(email, str) else ""
        except errors.InvalidInput:
            address = ""
        picture = claims.get("picture")
        return Profile(
            kind=f"oidc:{provider.id}",
            subject=sub,
            name=name or (address.partition("@")[0] if address else provider.name),
            email=address,
            picture=https_picture(picture if isinstance(picture, str) else None),
        )


def _form(value: str) -> str:
    """RFC 6749 §2.3.1: client credentials are form-encoded before Basic authentication."""
    return quote_plus(value)


def _origin(url: str) -> str:
    return origin_of(url) or ""
