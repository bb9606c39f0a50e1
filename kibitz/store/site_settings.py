"""Per-site settings stored from the admin (overriding kibitz.toml key by key), and author trust."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from kibitz.store import fast
from kibitz.store.fast import Fast
from kibitz.store.schema import site_settings, trust

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

VERSION_KEY = "settings_version"


class SiteSettingsRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def version(self) -> int:
        """Bumped by every change of any site's stored settings."""
        return int(await self.tx.meta.get(VERSION_KEY) or 0)

    async def all(self) -> dict[str, dict[str, Any]]:
        """Every stored override: site -> key -> value."""
        out: dict[str, dict[str, Any]] = {}
        for row in await self.tx.conn.execute(select(site_settings)):
            out.setdefault(row.site, {})[row.key] = json.loads(row.value)
        return out

    async def put(self, site: str, values: dict[str, Any], *, now: datetime, by: str) -> int:
        """Store these keys (a None value removes the override); the new settings version."""
        for key, value in values.items():
            await self.tx.conn.execute(
                delete(site_settings).where(site_settings.c.site == site, site_settings.c.key == key)
            )
            if value is not None:
                await self.tx.conn.execute(
                    site_settings.insert().values(
                        site=site, key=key, value=json.dumps(value), updated=now, updated_by=by
                    )
                )
        return await self.tx.meta.bump(VERSION_KEY)


_TRUST = Fast("SELECT approved, rejected FROM trust WHERE site = :site AND author = :author")
_TRUST_ADD = Fast(
    "INSERT INTO trust (site, author, approved, rejected, updated) "
    "VALUES (:site, :author, :approved_new, :rejected_new, :now) "
    "ON CONFLICT (site, author) DO UPDATE SET approved = trust.approved + :approved, "
    "rejected = trust.rejected + :rejected, updated = :now",
    binds={"now": trust.c.updated.type},
)


class TrustRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def get(self, site: str, author: str) -> tuple[int, int]:
        """(approved, rejected) comments of an author on a site."""
        row = await fast.first(self.tx, _TRUST, {"site": site, "author": author})
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def add(
        self, site: str, author: str, *, approved: int = 0, rejected: int = 0, now: datetime
    ) -> None:
        params = {
            "site": site,
            "author": author,
            "approved_new": max(approved, 0),
            "rejected_new": max(rejected, 0),
            "approved": approved,
            "rejected": rejected,
            "now": now,
        }
        await fast.rows(self.tx, _TRUST_ADD, params)
