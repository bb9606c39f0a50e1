"""Signed, expiring tokens; anonymous reader ids; client addresses; origins; password hashing."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, Signer

Network = IPv4Network | IPv6Network


class TokenError(Exception):
    """A token that is malformed, forged, for another purpose, or expired."""


class Tokens:
    """HMAC-signed tokens ``<subject>.<expiry>.<signature>``; expiry is checked against a given clock."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def _signer(self, purpose: str) -> Signer:
        return Signer(self._secret, salt=f"kibitz.{purpose}", digest_method=hashlib.sha256)

    def issue(self, purpose: str, subject: str, *, now: datetime, ttl: timedelta) -> str:
        expires = int((now + ttl).timestamp())
        return self._signer(purpose).sign(f"{subject}.{expires}").decode()

    def verify(self, purpose: str, token: str, *, now: datetime) -> str:
        """The token's subject; raises TokenError if it is not valid now."""
        try:
            payload = self._signer(purpose).unsign(token.encode("utf-8", "strict")).decode()
            subject, _, expires = payload.rpartition(".")
            if not subject or int(expires) < now.timestamp():
                raise TokenError("expired")
        except (BadSignature, ValueError, UnicodeError) as exc:
            raise TokenError("invalid") from exc
        return subject

    @staticmethod
    def new_reader() -> str:
        """A new anonymous reader's raw id (kept in the database; the browser gets it signed)."""
        return "r" + secrets.token_urlsafe(15)

    def sign_reader(self, raw: str) -> str:
        return self._signer("reader").sign(raw).decode()

    def reader(self, signed: str | None) -> str | None:
        """The raw reader id of a signed one, or None when absent, unknown or forged."""
        if not signed or len(signed) > 200:
            return None
        try:
            return self._signer("reader").unsign(signed.encode("ascii")).decode()
        except (BadSignature, UnicodeError):
            return None

    def keyed_hash(self, *parts: str) -> str:
        """A stable keyed digest (e.g. for request fingerprints) that reveals nothing of its input."""
        mac = hmac.new(self._secret, "\0".join(parts).encode("utf-8", "surrogatepass"), hashlib.sha256)
        return mac.hexdigest()


ERASED_PREFIX = "hmac:"


def suppression_key(tokens: Tokens, email: str) -> str:
    """How the suppression list holds an erased address (privacy.py): a keyed hash of its canonical
    form, so the list can stop mail to it without anyone reading the address back."""
    return ERASED_PREFIX + tokens.keyed_hash("suppression", email)


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The address to account a request to: the socket peer, or the first untrusted hop behind
    trusted proxies (X-Forwarded-For is believed only when the peer is a trusted proxy)."""
    addr = peer or "0.0.0.0"  # noqa: S104 - a placeholder key, never bound
    if not forwarded_for or not _in_any(addr, trusted):
        return addr
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ip_address(hop)
        except ValueError:
            return addr
        if not _in_any(hop, trusted):
            return hop
        addr = hop
    return addr


def _in_any(addr: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def rate_key(addr: str) -> str:
    """The unit rate limits count by: an IPv4 address, or an IPv6 address's /64."""
    try:
        ip = ip_address(addr)
    except ValueError:
        return addr[:64]
    if isinstance(ip, IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ip_network(f"{ip}/64", strict=False))
    return str(ip)


_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
