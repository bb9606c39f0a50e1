"""API keys for machines: `kbz_…` secrets for one site and one scope, kept only as SHA-256 hashes.
Every request checks the database (no cache), so revoking a key stops it at once on every worker."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta

from kibitz import errors, inputs
from kibitz.store.db import Database
from kibitz.store.staff import ApiKey

Clock = Callable[[], datetime]
SCOPES = ("moderate", "publish")
PREFIX = "kbz_"
PREFIX_LENGTH = 12  # what lists show, to tell keys apart: "kbz_" and 8 characters of the secret
MAX_NAME = 100
MAX_SECRET = 100  # a real one is 47 characters
USED_EVERY = timedelta(minutes=1)  # write last_used at most this often per key
_SITE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def digest(secret: str) -> str:
    """What the database keeps of a secret token (keys and session tokens alike)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def check_site(site: str, field: str = "site") -> str:
    """A site id in the form the configuration allows (whether it is configured is the caller's check)."""
    if not isinstance(site, str) or not _SITE_ID.fullmatch(site):
        raise errors.InvalidInput.field(field, "is not a site id")
    return site


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise errors.InvalidInput.field("scope", "must be moderate or publish")
    return scope


def check_name(name: str) -> str:
    inputs.check_string("name", name)
    name = unicodedata.normalize("NFC", name).strip()
    if len(name) > MAX_NAME:
        raise errors.InvalidInput.field("name", f"must be at most {MAX_NAME} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in name):
        raise errors.InvalidInput.field("name", "must not contain control or invisible characters")
    return name


def key_actor(key: ApiKey) -> str:
    """How the audit log names a key: its id and its name, or its prefix when it has none."""
    return f"key:{key.id} {key.name or key.prefix}"


class ApiKeys:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def create(self, site: str, scope: str, name: str, actor: str) -> tuple[ApiKey, str]:
        """A new key and its secret, which is shown this once and never again."""
        site, scope, name = check_site(site), check_scope(scope), check_name(name)
        secret = PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        async with self.db.write() as tx:
            key = await tx.api_keys.add(site, scope, name, secret[:PREFIX_LENGTH], digest(secret), now)
            await tx.audit.record(
                at=now,
                site=site,
                actor=actor,
                action="apikey.create",
                target=f"apikey:{key.id}",
                detail={"scope": scope, "name": name, "prefix": key.prefix},
            )
        return key, secret

    async def listing(self, site: str | None = None) -> list[ApiKey]:
        async with self.db.read() as tx:
            return await tx.api_keys.listing(site)

    async def revoke(self, key_id: int, actor: str) -> bool:
        """Revoke a key: True, or False when it was revoked already; NotFound when there is none."""
        now = self.clock()
        async with self.db.write() as tx:
            key = next((k for k in await tx.api_keys.listing() if k.id == key_id), None)
            if key is None:
                raise errors.NotFound(f"No API key {key_id}")
            if not await tx.api_keys.revoke(key_id, now):
                return False
            await tx.audit.record(
                at=now,
                site=key.site,
                actor=actor,
                action="apikey.revoke",
                target=f"apikey:{key_id}",
                detail={"name": key.name, "prefix": key.prefix},
            )
        return True

    async def verify(self, secret: str) -> ApiKey | None:
        """The live key this secret belongs to, or None (unknown, malformed or revoked)."""
        if not secret.startswith(PREFIX) or len(secret) > MAX_SECRET:
            return None
        async with self.db.read() as tx:
            key = await tx.api_keys.by_hash(digest(secret))
        if key is None or key.revoked is not None:
            return None
        now = self.clock()
        if key.last_used is None or now - key.last_used >= USED_EVERY:
            async with self.db.write() as tx:
                await tx.api_keys.used(key.id, now)
        return key
