"""Reader accounts, their identities and sessions, and sign-ins under way (SQL only; the rules are in
kibitz/accounts.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, false, select, update

from kibitz.store.schema import account_identities, account_sessions, accounts, comments, sign_ins

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

a, i, s, si = accounts.c, account_identities.c, account_sessions.c, sign_ins.c


@dataclass(frozen=True)
class Account:
    id: int
    site: str
    name: str
    email: str  # an address the reader proved; "" for none
    picture: str  # the provider's https picture; "" for none
    avatar: str  # identicon | picture
    roles: tuple[str, ...]  # staff, moderator: granted by the publisher's own login
    notify: str  # none | replies | all: what a new comment follows by default
    digest: str  # instant | daily
    created: datetime
    last_seen: datetime | None


@dataclass(frozen=True)
class Identity:
    kind: str  # email | oidc:<provider> | sso
    subject: str
    created: datetime
    last_used: datetime


@dataclass(frozen=True)
class Session:
    token_hash: str
    account_id: int
    via: str
    created: datetime
    last_seen: datetime
    expires: datetime


@dataclass(frozen=True)
class SignIn:
    id: str
    site: str
    kind: str  # email | oidc:<provider>
    email: str
    return_url: str
    secret: str
    account_id: int | None  # an address being added to this account
    used: bool
    created: datetime
    expires: datetime


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        site=row.site,
        name=row.name,
        email=row.email,
        picture=row.picture,
        avatar=row.avatar,
        roles=tuple(r for r in row.roles.split(",") if r),
        notify=row.notify,
        digest=row.digest,
        created=row.created,
        last_seen=row.last_seen,
    )


class AccountRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    # -- accounts ----------------------------------------------------------------------------------

    async def get(self, account_id: int) -> Account | None:
        row = (await self.tx.conn.execute(select(accounts).where(a.id == account_id))).first()
        return _account(row) if row else None

    async def create(
        self, site: str, name: str, email: str, picture: str, roles: tuple[str, ...], now: datetime
    ) -> Account:
        row = (
            await self.tx.conn.execute(
                accounts.insert()
                .values(
                    site=site, name=name, email=email, picture=picture, roles=",".join(roles), created=now
                )
                .returning(*accounts.c)
            )
        ).one()
        return _account(row)

    async def change(self, account_id: int, **values: Any) -> Account | None:
        """Set the given columns (name, email, picture, avatar, roles, notify, digest, last_seen)."""
        if "roles" in values:
            values["roles"] = ",".join(values["roles"])
        if values:
            await self.tx.conn.execute(update(accounts).where(a.id == account_id).values(**values))
        return await self.get(account_id)

    async def by_identity(self, site: str, kind: str, subject: str) -> Account | None:
        stmt = (
            select(accounts)
            .join(account_identities, i.account_id == a.id)
            .where(i.site == site, i.kind == kind, i.subject == subject)
        )
        row = (await self.tx.conn.execute(stmt)).first()
        return _account(row) if row else None

    async def identities(self, account_id: int) -> list[Identity]:
        stmt = select(account_identities).where(i.account_id == account_id).order_by(i.id)
        return [Identity(r.kind, r.subject, r.created, r.last_used) for r in await self.tx.conn.execute(stmt)]

    async def add_identity(self, account_id: int, site: str, kind: str, subject: str, now: datetime) -> None:
        await self.tx.conn.execute(
            account_identities.insert().values(
                account_id=account_id, site=site, kind=kind, subject=subject, created=now, last_used=now
            )
        )

    async def identity_used(self, site: str, kind: str, subject: str, now: datetime) -> None:
        await self.tx.conn.execute(
            update(account_identities)
            .where(i.site == site, i.kind == kind, i.subject == subject)
            .values(last_used=now)
        )

    async def join_guest_comments(self, account: Account, email: str) -> int:
        """Give the account the guest comments posted on its site under ``email`` (a proven address)."""
        stmt = (
            update(comments)
            .where(
                comments.c.site == account.site,
                comments.c.author_email == email,
                comments.c.account_id.is_(None),
            )
            .values(account_id=account.id)
        )
        return (await self.tx.conn.execute(stmt)).rowcount or 0

    # -- sessions ----------------------------------------------------------------------------------

    async def open_session(
        self, token_hash: str, account_id: int, via: str, now: datetime, expires: datetime
    ) -> None:
        await self.tx.conn.execute(
            account_sessions.insert().values(
                token_hash=token_hash,
                account_id=account_id,
                via=via,
                created=now,
                last_seen=now,
                expires=expires,
            )
        )

    async def session(self, token_hash: str) -> Session | None:
        row = (await self.tx.conn.execute(select(account_sessions).where(s.token_hash == token_hash))).first()
        if row is None:
            return None
        return Session(row.token_hash, row.account_id, row.via, row.created, row.last_seen, row.expires)

    async def touch_session(self, token_hash: str, now: datetime) -> None:
        await self.tx.conn.execute(
            update(account_sessions).where(s.token_hash == token_hash).values(last_seen=now)
        )

    async def end_session(self, token_hash: str) -> bool:
        result = await self.tx.conn.execute(delete(account_sessions).where(s.token_hash == token_hash))
        return bool(result.rowcount)

    async def end_sessions(self, account_id: int) -> int:
        result = await self.tx.conn.execute(delete(account_sessions).where(s.account_id == account_id))
        return result.rowcount or 0

    async def forget_expired(self, now: datetime) -> None:
        await self.tx.conn.execute(delete(account_sessions).where(s.expires < now))
        await self.tx.conn.execute(delete(sign_ins).where(si.expires < now))

    # -- sign-ins under way ------------------------------------------------------------------------

    async def start_sign_in(self, sign_in: SignIn) -> None:
        await self.tx.conn.execute(
            sign_ins.insert().values(
                id=sign_in.id,
                site=sign_in.site,
                kind=sign_in.kind,
                email=sign_in.email,
                return_url=sign_in.return_url,
                secret=sign_in.secret,
                account_id=sign_in.account_id,
                used=False,
                created=sign_in.created,
                expires=sign_in.expires,
            )
        )

    async def sign_in(self, sign_in_id: str) -> SignIn | None:
        row = (await self.tx.conn.execute(select(sign_ins).where(si.id == sign_in_id))).first()
        if row is None:
            return None
        return SignIn(
            row.id,
            row.site,
            row.kind,
            row.email,
            row.return_url,
            row.secret,
            row.account_id,
            bool(row.used),
            row.created,
            row.expires,
        )

    async def use_sign_in(self, sign_in_id: str) -> bool:
        """Mark a sign-in used; False when it was used already (a concurrent twin won)."""
        stmt = update(sign_ins).where(and_(si.id == sign_in_id, si.used == false())).values(used=True)
        return bool((await self.tx.conn.execute(stmt)).rowcount)

    # -- privacy (kibitz/privacy.py) -----------------------------------------------------------------

    async def of_person(self, site: str, email: str) -> list[int]:
        """The accounts on ``site`` whose proven address is ``email``."""
        if not email:
            return []
        stmt = select(a.id).where(a.site == site, a.email == email).order_by(a.id)
        return [int(i) for i in (await self.tx.conn.execute(stmt)).scalars()]

    async def export(self, account_ids: Sequence[int]) -> list[dict[str, Any]]:
        """The accounts as their owner may see them: the account, how it signs in, its sessions (when
        and how, never a token) and the sign-ins under way."""
        out: list[dict[str, Any]] = []
        for account_id in account_ids:
            account = (await self.tx.conn.execute(select(accounts).where(a.id == account_id))).first()
            if account is None:
                continue
            ways = await self.tx.conn.execute(
                select(account_identities).where(account_identities.c.account_id == account_id)
            )
            sessions = await self.tx.conn.execute(
                select(account_sessions).where(account_sessions.c.account_id == account_id)
            )
            pending = await self.tx.conn.execute(select(sign_ins).where(sign_ins.c.account_id == account_id))
            out.append({
                **{key: account._mapping[key] for key in ("id", "name", "email", "picture", "avatar", "roles",
                                                          "notify", "digest", "created", "last_seen")},
                "sign_in_ways": [
                    {"kind": w.kind, "subject": w.subject, "created": w.created, "last_used": w.last_used}
                    for w in ways
                ],
                "sessions": [
                    {"via": x.via, "created": x.created, "last_seen": x.last_seen, "expires": x.expires}
                    for x in sessions
                ],
                "sign_ins": [{"kind": x.kind, "created": x.created, "used": bool(x.used)} for x in pending],
            })  # fmt: skip
        return out

    async def erase(self, site: str, account_ids: Sequence[int], email: str) -> int:
        """Delete the accounts (their ways to sign in, sessions and sign-ins go with them) and every
        sign-in link mailed to ``email`` on ``site``; the number of accounts deleted."""
        if email:
            await self.tx.conn.execute(delete(sign_ins).where(si.site == site, si.email == email))
        if not account_ids:
            return 0
        ids = list(account_ids)
        # Explicitly, not only by the foreign keys' cascade: a connection without foreign keys on
        # (SQLite's default) must not leave sessions that still sign in.
        await self.tx.conn.execute(delete(account_sessions).where(account_sessions.c.account_id.in_(ids)))
        await self.tx.conn.execute(delete(account_identities).where(account_identities.c.account_id.in_(ids)))
        await self.tx.conn.execute(delete(sign_ins).where(sign_ins.c.account_id.in_(ids)))
        result = await self.tx.conn.execute(delete(accounts).where(a.site == site, a.id.in_(ids)))
        return int(result.rowcount or 0)
