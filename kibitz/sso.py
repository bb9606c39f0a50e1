"""The publisher's own login (DESIGN.md §3b): the host page passes a short-lived JWT its server signed,
and Kibitz signs the reader in to the account of that ``sub`` on the site.

A site has one key and so one algorithm: HS256 with ``sso_secret``, or RS256/EdDSA with
``sso_public_key``. The token's own header never chooses: ``alg: none``, and an RS256 public key
used as an HS256 secret, are refused because only the site's algorithm is accepted. Required claims:
``sub``, ``name``, ``exp`` (at most ten minutes ahead); ``iat`` may not be in the future; ``aud``,
when present, must name the site's id. Optional: ``email`` (the publisher vouches for it),
``picture`` (https only), ``roles`` (``staff`` and ``moderator`` become badges; ``moderator`` also
gives moderator rights where the site sets ``sso_moderators``, reader_moderation.py), ``author_of``
(the page keys this person wrote, a list or one string: their comments there carry the ``author``
badge, story_authors.py). Every refusal is 401 ``invalid_sign_in`` and stores nothing (it is decided
before any transaction).
"""

from __future__ import annotations

import functools
import warnings
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from joserfc import jwt
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import OctKey, OKPKey, RSAKey

from kibitz import errors, inputs
from kibitz.accounts import ROLES, SSO, Profile, https_picture
from kibitz.config import SiteConfig

MAX_TOKEN = 8 * 1024
MAX_AHEAD = 10 * 60  # seconds: a token may not live longer than this from now
SKEW = 30  # seconds of clock difference forgiven between the publisher's server and this one
MAX_SUBJECT = 255
MAX_AUTHOR_OF = 50  # pages one token may say its reader wrote


@functools.cache
def _key(secret: str, pem: str) -> tuple[OctKey | RSAKey | OKPKey, str]:
    """The site's key and the one algorithm it verifies (made once per key)."""
    if secret:
        return OctKey.import_key(secret), "HS256"
    loaded = load_pem_public_key(pem.encode())
    if isinstance(loaded, Ed25519PublicKey):
        return OKPKey.import_key(pem), "EdDSA"
    return RSAKey.import_key(pem), "RS256"


def enabled(site: SiteConfig) -> bool:
    return bool(site.sso_secret or site.sso_public_key)


def _refuse(why: str) -> errors.InvalidSignIn:
    return errors.InvalidSignIn(f"The sign-in token was refused: {why}")


def verify(site: SiteConfig, token: object, now: datetime) -> Profile:
    """The reader the publisher's token names, or InvalidSignIn (401); nothing is stored either way."""
    if not enabled(site):
        raise errors.InvalidSignIn("This site has no sign-in of its own")
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN or not token.isascii():
        raise _refuse("not a token")
    key, algorithm = _key(site.sso_secret, site.sso_public_key)
    # An Ed25519 key signs "EdDSA" (RFC 8037, the contract's name) or "Ed25519" (RFC 9864, its new
    # name): the same algorithm. joserfc warns that the old name is deprecated; it is still ours.
    allowed = ["EdDSA", "Ed25519"] if algorithm == "EdDSA" else [algorithm]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)
            decoded = jwt.decode(token, key, algorithms=allowed)
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise _refuse(f"not a valid {algorithm} token of this site") from None
    if decoded.header.get("alg") not in allowed:
        raise _refuse(f"not a valid {algorithm} token of this site")
    return _profile(site, decoded.claims, int(now.timestamp()))


def _number(claims: dict[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _refuse(f"{name} is not a time")
    return int(value)


def _profile(site: SiteConfig, claims: dict[str, Any], now: int) -> Profile:
    exp = _number(claims, "exp")
    if exp is None:
        raise _refuse("exp is required")
    if exp <= now - SKEW:
        raise _refuse("it has expired")
    if exp > now + MAX_AHEAD + SKEW:
        raise _refuse("exp is more than 10 minutes ahead")
    iat = _number(claims, "iat")
    if iat is not None and iat > now + SKEW:
        raise _refuse("iat is in the future")
    nbf = _number(claims, "nbf")
    if nbf is not None and nbf > now + SKEW:
        raise _refuse("it is not valid yet")
    if "aud" in claims:
        aud = claims["aud"]
        audiences = aud if isinstance(aud, list) else [aud]
        if site.id not in audiences:
            raise _refuse("aud does not name this site")
    sub, name = claims.get("sub"), claims.get("name")
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_SUBJECT or not sub.isprintable():
        raise _refuse("sub is required")
    if not isinstance(name, str) or not name.strip():
        raise _refuse("name is required")
    email = claims.get("email")
    try:
        address = inputs.email(email, "email").lower() if isinstance(email, str) else ""
    except errors.InvalidInput:
        address = ""
    roles = claims.get("roles", [])
    if isinstance(roles, str):
        roles = roles.split()
    if not isinstance(roles, list):
        roles = []
    granted = tuple(role for role in ROLES if role in roles)
    picture = claims.get("picture")
    return Profile(
        kind=SSO,
        subject=sub,
        name=name,
        email=address,
        picture=https_picture(picture if isinstance(picture, str) else None),
        roles=granted,
        author_of=_pages(claims.get("author_of")),
    )


def _pages(value: object) -> tuple[str, ...]:
    """The ``author_of`` claim as page keys (the same keys the widget's ``data-page`` gives)."""
    if value is None:
        return ()
    listed = [value] if isinstance(value, str) else value
    if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
        raise _refuse("author_of is not a list of pages")
    if len(listed) > MAX_AUTHOR_OF:
        raise _refuse(f"author_of names more than {MAX_AUTHOR_OF} pages")
    try:
        return tuple(dict.fromkeys(inputs.page_key(item, "author_of") for item in listed))
    except errors.InvalidInput:
        raise _refuse("author_of names a page that is not a page key") from None
