"""Bans per site: add, list, lift, and the live ones that match a would-be post."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, delete, or_, select

from kibitz.models import Ban, BanKind
from kibitz.store.schema import bans

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

b = bans.c


def to_ban(row: Any) -> Ban:
    return Ban(
        id=row.id,
        site=row.site,
        kind=BanKind(row.kind),
        value=row.value,
        label=row.label,
        shadow=bool(row.shadow),
        reason=row.reason,
        created=row.created,
        created_by=row.created_by,
        expires=row.expires,
    )


class BanRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def add(
        self,
        site: str,
        kind: BanKind,
        value: str,
        *,
        label: str,
        shadow: bool,
        reason: str,
        created: datetime,
        created_by: str,
        expires: datetime | None,
    ) -> Ban:
        stmt = (
            bans.insert()
            .values(
                site=site,
                kind=kind.value,
                value=value,
                label=label,
                shadow=shadow,
                reason=reason,
                created=created,
                created_by=created_by,
                expires=expires,
            )
            .returning(*bans.c)
        )
        return to_ban((await self.tx.conn.execute(stmt)).one())

    async def get(self, site: str, ban_id: int) -> Ban | None:
        row = (await self.tx.conn.execute(select(bans).where(b.site == site, b.id == ban_id))).first()
        return to_ban(row) if row else None

    async def remove(self, site: str, ban_id: int) -> bool:
        result = await self.tx.conn.execute(delete(bans).where(b.site == site, b.id == ban_id))
        return bool(result.rowcount)

    async def listing(self, site: str, now: datetime, *, include_expired: bool = False) -> list[Ban]:
        stmt = select(bans).where(b.site == site)
        if not include_expired:
            stmt = stmt.where(or_(b.expires.is_(None), b.expires > now))
        stmt = stmt.order_by(b.created.desc(), b.id.desc())
        return [to_ban(row) for row in await self.tx.conn.execute(stmt)]

    async def matching(self, site: str, keys: Iterable[tuple[BanKind, str]], now: datetime) -> list[Ban]:
        """Live bans of ``site`` whose (kind, value) is one of ``keys``, plus every network ban (the
        caller checks addresses against them)."""
        pairs = [(kind.value, value) for kind, value in keys if value]
        terms: list[ColumnElement[bool]] = [and_(b.kind == kind, b.value == value) for kind, value in pairs]
        terms.append(b.kind == BanKind.NETWORK.value)
        stmt = select(bans).where(b.site == site, or_(*terms), or_(b.expires.is_(None), b.expires > now))
        return [to_ban(row) for row in await self.tx.conn.execute(stmt)]
