"""Bans per site: add, list, lift, and the live ones that match a would-be post."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select

from kibitz.models import Ban, BanKind
from kibitz.store import fast
from kibitz.store.fast import Fast
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


_BAN_LIST, _BAN_FIELDS, _BAN_TYPES = fast.columns_of(bans)
_MATCHING: dict[int, Fast] = {}


def _matching(pairs: int) -> Fast:
    """The live bans of a site among ``pairs`` (kind, value) pairs, and every network ban."""
    found = _MATCHING.get(pairs)
    if found is None:
        terms = " OR ".join(f"(kind = :k{n} AND value = :v{n})" for n in range(pairs))
        found = _MATCHING[pairs] = Fast(
            f"SELECT {_BAN_LIST} FROM bans WHERE site = :site "  # noqa: S608 - only placeholders vary
            f"AND (kind = 'network'{' OR ' + terms if terms else ''}) "
            "AND (expires IS NULL OR expires > :now)",
            binds={"now": b.expires.type},
            columns=_BAN_TYPES,
            fields=_BAN_FIELDS,
        )
    return found


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
        params: dict[str, Any] = {"site": site, "now": now}
        for n, (kind, value) in enumerate(pairs):
            params[f"k{n}"], params[f"v{n}"] = kind, value
        return [to_ban(row) for row in await fast.rows(self.tx, _matching(len(pairs)), params)]
