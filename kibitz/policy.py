"""A site's moderation settings as in force now: kibitz.toml, overridden key by key by what staff
stored in the admin (DESIGN.md §3b). Every write reads the settings version in its own transaction,
so a change takes effect at once on every worker and instance."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from datetime import datetime
from typing import Any

from kibitz import errors
from kibitz.config import (
    AuthorPolicy,
    ConfigError,
    ErasePolicy,
    ModerationMode,
    SiteConfig,
    parse_duration_setting,
)
from kibitz.security import rate_key
from kibitz.store.db import Database
from kibitz.store.tx import Tx
from kibitz.wordlists import WordList, validate_patterns

# Client addresses whose keyed hash a process remembers (a spike's or an attack's few addresses).
ADDRESS_HASHES_KEPT = 4096
# The settings object of §3b, in the order the admin shows it.
KEYS = (
    "moderation",
    "hold_links",
    "blocked_words",
    "suspect_words",
    "trust_after",
    "spam_hold",
    "spam_reject",
    "edit_window",
    "close_after",
    "allow_images",
    "authors",
    "votes_per_address",
    "erase",
    "sso_moderators",
)


def _duration_text(value: Any) -> str:
    seconds = int(value.total_seconds()) if value else 0
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s" if seconds else "0"


def as_dict(site: SiteConfig) -> dict[str, Any]:
    """The §3b settings object of a site (JSON-ready)."""
    return {
        "moderation": site.moderation.value,
        "hold_links": site.hold_links,
        "blocked_words": list(site.blocked_words),
        "suspect_words": list(site.suspect_words),
        "trust_after": site.trust_after,
        "spam_hold": site.spam_hold,
        "spam_reject": site.spam_reject,
        "edit_window": _duration_text(site.edit_window),
        "close_after": _duration_text(site.close_after) if site.close_after else "",
        "allow_images": site.allow_images,
        "authors": site.authors.value,
        "votes_per_address": site.votes_per_address,
        "erase": site.erase.value,
        "sso_moderators": site.sso_moderators,
    }


def _int(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise errors.InvalidInput.field(key, f"must be a whole number from {low} to {high}")
    return value


def _fraction(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise errors.InvalidInput.field(key, "must be a number from 0 to 1")
    return float(value)


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise errors.InvalidInput.field(key, "must be one of " + ", ".join(allowed))
    return str(value)


def _duration(key: str, value: Any, *, optional: bool) -> str:
    if not isinstance(value, str):
        raise errors.InvalidInput.field(key, "must be a duration like '15m', '2h' or '30d'")
    try:
        parse_duration_setting(value, key, optional=optional)
    except ConfigError as exc:
        raise errors.InvalidInput.field(key, exc.problem) from None
    return value.strip().lower()


def _words(key: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise errors.InvalidInput.field(key, "must be a list of words (use * as a wildcard)")
    try:
        return validate_patterns(value)
    except ValueError as exc:
        raise errors.InvalidInput.field(key, str(exc)) from None


def validate(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes of a settings PUT, checked and canonical; unknown keys are refused."""
    unknown = sorted(set(changes) - set(KEYS))
    if unknown:
        raise errors.InvalidInput(
            "Unknown settings: " + ", ".join(unknown),
            errors=[errors.FieldError(key, "is not a site setting") for key in unknown],
        )
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "moderation":
            out[key] = _choice(key, value, tuple(m.value for m in ModerationMode))
        elif key == "authors":
            out[key] = _choice(key, value, tuple(a.value for a in AuthorPolicy))
        elif key == "erase":
            out[key] = _choice(key, value, tuple(e.value for e in ErasePolicy))
        elif key in ("hold_links", "trust_after"):
            out[key] = _int(key, value, 0, 1000)
        elif key == "votes_per_address":
            out[key] = _int(key, value, 1, 1000)
        elif key in ("spam_hold", "spam_reject"):
            out[key] = _fraction(key, value)
        elif key in ("blocked_words", "suspect_words"):
            out[key] = _words(key, value)
        elif key in ("allow_images", "sso_moderators"):
            if not isinstance(value, bool):
                raise errors.InvalidInput.field(key, "must be true or false")
            out[key] = value
        else:
            out[key] = _duration(key, value, optional=key == "close_after")
    return out


def apply(site: SiteConfig, stored: dict[str, Any]) -> SiteConfig:
    """``site`` with the stored overrides applied (values were validated when stored)."""
    values: dict[str, Any] = {}
    for key, value in stored.items():
        if key not in KEYS:
            continue
        if key == "moderation":
            values[key] = ModerationMode(value)
        elif key == "authors":
            values[key] = AuthorPolicy(value)
        elif key == "erase":
            values[key] = ErasePolicy(value)
        elif key in ("blocked_words", "suspect_words"):
            values[key] = tuple(value)
        elif key in ("edit_window", "close_after"):
            values[key] = parse_duration_setting(value, key, optional=key == "close_after")
            if key == "edit_window" and values[key] is None:
                values[key] = site.edit_window
        else:
            values[key] = value
    merged = replace(site, **values)
    if merged.spam_hold > merged.spam_reject:
        merged = replace(merged, spam_hold=merged.spam_reject)
    return merged


class Policies:
    """Effective site settings and compiled word lists, reloaded when the settings version moves."""

    def __init__(self, db: Database, secret: bytes) -> None:
        self.db = db
        self._secret = secret
        self._address_hashes: dict[str, str] = {}  # a request's address is hashed more than once
        self._version = -1
        self._stored: dict[str, dict[str, Any]] = {}
        self._applied: dict[str, SiteConfig] = {}
        self._words: dict[tuple[str, ...], WordList] = {}

    async def effective(self, tx: Tx, site: SiteConfig) -> SiteConfig:
        """``site`` as in force now, read inside the caller's transaction."""
        version = await tx.site_settings.version()
        if version != self._version:
            self._stored = await tx.site_settings.all()
            self._applied = {}
            self._version = version
        return self.known(site)

    def known(self, site: SiteConfig) -> SiteConfig:
        """``site`` with the overrides this process last read (no query): for the read cache's fast
        path, whose version check sends every thread changed since to a handler that reads them
        again (a change of ``close_after`` moves every thread of its site)."""
        applied = self._applied.get(site.id)
        if applied is None:
            stored = self._stored.get(site.id)
            applied = self._applied[site.id] = apply(site, stored) if stored else site
        return applied

    async def current(self, site: SiteConfig) -> SiteConfig:
        async with self.db.read() as tx:
            return await self.effective(tx, site)

    async def stored(self, site_id: str) -> dict[str, Any]:
        """The keys staff stored for a site (what overrides the file)."""
        async with self.db.read() as tx:
            return (await tx.site_settings.all()).get(site_id, {})

    def words(self, patterns: tuple[str, ...]) -> WordList:
        found = self._words.get(patterns)
        if found is None:
            if len(self._words) > 64:
                self._words.clear()
            found = self._words[patterns] = WordList.compile(patterns)
        return found

    def address_hash(self, addr: str) -> str:
        """A keyed hash of a client's address (an IPv6 address by its /64): bans match on it, and
        nobody can read the address back from it."""
        if not addr:
            return ""
        found = self._address_hashes.get(addr)
        if found is None:
            key = rate_key(addr)
            found = hmac.new(self._secret, f"addr\0{key}".encode(), hashlib.sha256).hexdigest()[:40]
            if len(self._address_hashes) >= ADDRESS_HASHES_KEPT:
                self._address_hashes.clear()
            self._address_hashes[addr] = found
        return found

    async def update(
        self, tx: Tx, site: SiteConfig, changes: dict[str, Any], *, now: datetime, by: str
    ) -> tuple[SiteConfig, dict[str, Any]]:
        """Store checked changes in the caller's transaction; (the site as in force after, the
        changes as stored)."""
        checked = validate(changes)
        before = await self.effective(tx, site)
        stored = {**self._stored.get(site.id, {}), **checked}  # read by effective(), in this transaction
        after = apply(site, stored)
        if after.spam_hold > after.spam_reject:
            raise errors.InvalidInput.field("spam_hold", "must not be above spam_reject")
        await tx.site_settings.put(site.id, checked, now=now, by=by)
        if before.close_after != after.close_after:
            # Whether a thread is closed by age is part of every cached read: move them all.
            await tx.threads.bump_site(site.id)
        return after, checked
