"""Staff accounts with their sites, admin sessions, and API keys (SQL only; rules in kibitz/staff.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, or_, select, update

from kibitz.store.schema import (
    api_keys,
    moderator_digest_items,
    moderator_links_used,
    staff,
    staff_sessions,
    staff_sites,
)

if TYPE_CHECKING:
    from kibitz.store.tx import Tx


@dataclass(frozen=True)
class StaffMember:
    id: int
    email: str
    role: str  # owner | moderator
    sites: tuple[str, ...]  # a moderator's sites (owners see every site)
    password_hash: str | None
    totp_secret: str | None
    active: bool
    reset_nonce: str | None
    failed_logins: int
    locked_until: datetime | None
    created: datetime
    last_login: datetime | None
    moderation_mail: str = "instant"  # held and reported comments by mail: instant | digest | off

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"

    def may_see(self, site: str) -> bool:
        return self.active and (self.is_owner or site in self.sites)


@dataclass(frozen=True)
class StaffSession:
    token_hash: str
    staff_id: int
    csrf: str
    created: datetime
    last_seen: datetime
    user_agent: str


@dataclass(frozen=True)
class ApiKey:
    id: int
    site: str
    scope: str  # moderate | publish
    name: str
    prefix: str
    created: datetime
    last_used: datetime | None
    revoked: datetime | None


def _key(row: Any) -> ApiKey:
    return ApiKey(row.id, row.site, row.scope, row.name, row.prefix, row.created, row.last_used, row.revoked)


class StaffRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def _member(self, row: Any) -> StaffMember:
        stmt = select(staff_sites.c.site).where(staff_sites.c.staff_id == row.id).order_by(staff_sites.c.site)
        sites = tuple(r.site for r in await self.tx.conn.execute(stmt))
        return StaffMember(
            id=row.id,
            email=row.email,
            role=row.role,
            sites=sites,
            password_hash=row.password_hash,
            totp_secret=row.totp_secret,
            active=bool(row.active),
            reset_nonce=row.reset_nonce,
            failed_logins=row.failed_logins,
            locked_until=row.locked_until,
            created=row.created,
            last_login=row.last_login,
            moderation_mail=row.moderation_mail,
        )

    async def add(self, email: str, role: str, sites: tuple[str, ...], now: datetime) -> StaffMember:
        row = (
            await self.tx.conn.execute(
                staff.insert().values(email=email, role=role, created=now).returning(*staff.c)
            )
        ).one()
        await self.set_sites(row.id, sites)
        return await self._member(row)

    async def set_sites(self, staff_id: int, sites: tuple[str, ...]) -> None:
        await self.tx.conn.execute(delete(staff_sites).where(staff_sites.c.staff_id == staff_id))
        for site in dict.fromkeys(sites):
            await self.tx.conn.execute(staff_sites.insert().values(staff_id=staff_id, site=site))

    async def get(self, staff_id: int) -> StaffMember | None:
        row = (await self.tx.conn.execute(select(staff).where(staff.c.id == staff_id))).first()
        return await self._member(row) if row else None

    async def by_email(self, email: str) -> StaffMember | None:
        row = (await self.tx.conn.execute(select(staff).where(staff.c.email == email))).first()
        return await self._member(row) if row else None

    async def listing(self) -> list[StaffMember]:
        rows = list(await self.tx.conn.execute(select(staff).order_by(staff.c.email)))
        return [await self._member(row) for row in rows]

    async def count_owners(self) -> int:
        stmt = select(func.count()).select_from(staff).where(staff.c.role == "owner", staff.c.active)
        return int((await self.tx.conn.execute(stmt)).scalar_one())

    async def update(self, staff_id: int, **values: Any) -> None:
        """Set columns of a staff row (password_hash, totp_secret, active, role, reset_nonce,
        failed_logins, locked_until, last_login, moderation_mail)."""
        await self.tx.conn.execute(update(staff).where(staff.c.id == staff_id).values(**values))

    async def remove(self, staff_id: int) -> None:
        await self.tx.conn.execute(delete(staff).where(staff.c.id == staff_id))

    # -- moderation mail (rules in kibitz/moderator_mail.py) ---------------------------------------

    async def mailed_about(self, site: str) -> list[StaffMember]:
        """Active members who see ``site`` (owners, and moderators of it) and take its mail."""
        theirs = select(staff_sites.c.staff_id).where(staff_sites.c.site == site)
        stmt = (
            select(staff)
            .where(
                staff.c.active,
                staff.c.moderation_mail != "off",
                or_(staff.c.role == "owner", staff.c.id.in_(theirs)),
            )
            .order_by(staff.c.id)
        )
        return [await self._member(row) for row in list(await self.tx.conn.execute(stmt))]

    async def add_digest_item(self, staff_id: int, comment_id: int, event: str, now: datetime) -> None:
        """Keep a comment for the member's next digest (once per comment and event)."""
        stmt = self.tx.upsert(moderator_digest_items).values(
            staff_id=staff_id, comment_id=comment_id, event=event, created=now
        )
        await self.tx.conn.execute(stmt.on_conflict_do_nothing())

    async def digest_waiting(self) -> list[int]:
        """Members with comments waiting for their digest."""
        d = moderator_digest_items.c
        stmt = select(d.staff_id).distinct().order_by(d.staff_id)
        return [int(row.staff_id) for row in await self.tx.conn.execute(stmt)]

    async def digest_items(self, staff_id: int) -> list[tuple[int, str]]:
        """(comment id, event) waiting for the member's digest, oldest first."""
        d = moderator_digest_items.c
        stmt = select(d.comment_id, d.event).where(d.staff_id == staff_id).order_by(d.created, d.comment_id)
        return [(int(row.comment_id), str(row.event)) for row in await self.tx.conn.execute(stmt)]

    async def clear_digest_items(self, staff_id: int, items: list[tuple[int, str]]) -> None:
        d = moderator_digest_items.c
        for comment_id, event in items:
            await self.tx.conn.execute(
                delete(moderator_digest_items).where(
                    d.staff_id == staff_id, d.comment_id == comment_id, d.event == event
                )
            )

    async def spend_link(self, nonce: str, now: datetime) -> bool:
        """Record a mail link's nonce as used; False when it was used before. A second use at the
        same moment waits for the first to commit, then finds it."""
        stmt = self.tx.upsert(moderator_links_used).values(nonce=nonce, used=now)
        result = await self.tx.conn.execute(stmt.on_conflict_do_nothing(index_elements=["nonce"]))
        return bool(result.rowcount)

    async def link_used(self, nonce: str) -> datetime | None:
        """When a mail link's nonce was used, or None."""
        stmt = select(moderator_links_used.c.used).where(moderator_links_used.c.nonce == nonce)
        used: datetime | None = (await self.tx.conn.execute(stmt)).scalar_one_or_none()
        return used

    async def forget_links(self, before: datetime) -> None:
        """Drop the record of links used before ``before`` (they have expired since)."""
        await self.tx.conn.execute(delete(moderator_links_used).where(moderator_links_used.c.used < before))


class SessionRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def add(self, token_hash: str, staff_id: int, csrf: str, now: datetime, user_agent: str) -> None:
        await self.tx.conn.execute(
            staff_sessions.insert().values(
                token_hash=token_hash,
                staff_id=staff_id,
                csrf=csrf,
                created=now,
                last_seen=now,
                user_agent=user_agent[:200],
            )
        )

    async def get(self, token_hash: str) -> StaffSession | None:
        stmt = select(staff_sessions).where(staff_sessions.c.token_hash == token_hash)
        row = (await self.tx.conn.execute(stmt)).first()
        if row is None:
            return None
        return StaffSession(
            row.token_hash, row.staff_id, row.csrf, row.created, row.last_seen, row.user_agent
        )

    async def touch(self, token_hash: str, now: datetime) -> None:
        await self.tx.conn.execute(
            update(staff_sessions).where(staff_sessions.c.token_hash == token_hash).values(last_seen=now)
        )

    async def remove(self, token_hash: str) -> None:
        await self.tx.conn.execute(delete(staff_sessions).where(staff_sessions.c.token_hash == token_hash))

    async def remove_all(self, staff_id: int) -> int:
        result = await self.tx.conn.execute(
            delete(staff_sessions).where(staff_sessions.c.staff_id == staff_id)
        )
        return int(result.rowcount or 0)

    async def forget_idle(self, before: datetime) -> None:
        await self.tx.conn.execute(delete(staff_sessions).where(staff_sessions.c.last_seen < before))


class ApiKeyRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def add(
        self, site: str, scope: str, name: str, prefix: str, key_hash: str, now: datetime
    ) -> ApiKey:
        stmt = (
            api_keys.insert()
            .values(site=site, scope=scope, name=name, prefix=prefix, key_hash=key_hash, created=now)
            .returning(*api_keys.c)
        )
        return _key((await self.tx.conn.execute(stmt)).one())

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        row = (await self.tx.conn.execute(select(api_keys).where(api_keys.c.key_hash == key_hash))).first()
        return _key(row) if row else None

    async def listing(self, site: str | None = None) -> list[ApiKey]:
        stmt = select(api_keys).order_by(api_keys.c.site, api_keys.c.id)
        if site is not None:
            stmt = stmt.where(api_keys.c.site == site)
        return [_key(row) for row in await self.tx.conn.execute(stmt)]

    async def revoke(self, key_id: int, now: datetime) -> bool:
        result = await self.tx.conn.execute(
            update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked.is_(None)).values(revoked=now)
        )
        return bool(result.rowcount)

    async def used(self, key_id: int, now: datetime) -> None:
        await self.tx.conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used=now))
