"""Key-value settings kept in the database (the generated secret, shared by every worker)."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from sqlalchemy import Integer, Text, cast, update

from kibitz.store import fast
from kibitz.store.fast import Fast
from kibitz.store.schema import meta

if TYPE_CHECKING:
    from kibitz.store.db import Database
    from kibitz.store.tx import Tx


_GET = Fast("SELECT value FROM meta WHERE key = :key")  # read by every post (the settings' version)


class MetaRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def get(self, key: str) -> str | None:
        """The value under ``key``, or None."""
        found = await fast.scalar(self.tx, _GET, {"key": key})
        return None if found is None else str(found)

    async def put_if_absent(self, key: str, value: str) -> str:
        """Store ``value`` unless a value is there already; return whichever is kept."""
        stmt = self.tx.upsert(meta).values(key=key, value=value).on_conflict_do_nothing()
        await self.tx.conn.execute(stmt)
        kept = await self.get(key)
        assert kept is not None
        return kept

    async def put(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        stmt = self.tx.upsert(meta).values(key=key, value=value)
        await self.tx.conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))

    async def bump(self, key: str) -> int:
        """Add one to the integer under ``key`` (0 when absent), atomically; the new value."""
        await self.put_if_absent(key, "0")
        stmt = (
            update(meta)
            .where(meta.c.key == key)
            .values(value=cast(cast(meta.c.value, Integer) + 1, Text))
            .returning(meta.c.value)
        )
        return int((await self.tx.conn.execute(stmt)).scalar_one())


async def load_secret(db: Database, configured: str) -> str:
    """The configured secret, or one generated once and kept in the database for every worker."""
    if configured:
        return configured
    async with db.write() as tx:
        return await tx.meta.put_if_absent("secret_key", secrets.token_urlsafe(48))
