"""The audit log: every staff act, appended in the transaction of the act itself."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kibitz.models import AuditEntry
from kibitz.store.schema import audit_log

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

a = audit_log.c


@dataclass(frozen=True)
class AuditFilter:
    sites: tuple[str, ...] | None = None  # None: every site (owners); else only these
    site: str = ""  # one site, or "" for all the caller may see
    actor: str = ""  # part of the actor
    action: str = ""  # an exact action
    target: str = ""  # an exact target, e.g. "comment:42"


def to_entry(row: Any) -> AuditEntry:
    try:
        detail = json.loads(row.detail) if row.detail else {}
    except ValueError:
        detail = {}
    return AuditEntry(row.id, row.at, row.site, row.actor, row.action, row.target, detail)


class AuditRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def record(
        self, *, at: datetime, site: str, actor: str, action: str, target: str, detail: dict[str, Any]
    ) -> None:
        await self.tx.conn.execute(
            audit_log.insert().values(
                at=at,
                site=site,
                actor=actor[:200],
                action=action[:64],
                target=target[:200],
                detail=json.dumps(detail, ensure_ascii=False, default=str),
            )
        )

    async def listing(self, f: AuditFilter, before: int | None, limit: int) -> list[AuditEntry]:
        """Newest first, ids below ``before``."""
        stmt = select(audit_log)
        if f.sites is not None:
            stmt = stmt.where(a.site.in_(f.sites))
        if f.site:
            stmt = stmt.where(a.site == f.site)
        if f.actor:
            escaped = f.actor.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(a.actor.ilike(f"%{escaped}%", escape="\\"))
        if f.action:
            stmt = stmt.where(a.action == f.action)
        if f.target:
            stmt = stmt.where(a.target == f.target)
        if before is not None:
            stmt = stmt.where(a.id < before)
        stmt = stmt.order_by(a.id.desc()).limit(limit)
        return [to_entry(row) for row in await self.tx.conn.execute(stmt)]
