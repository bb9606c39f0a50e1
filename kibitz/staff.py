"""Staff accounts and how they sign in: owners and moderators, single-use set-password links,
authenticator codes, admin sessions, and the Principal an admin request acts as (keys: apikeys.py)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from kibitz import errors, inputs, signin
from kibitz.apikeys import SCOPES, ApiKeys, check_site, digest, key_actor
from kibitz.security import TokenError, Tokens
from kibitz.store.db import Database
from kibitz.store.staff import ApiKey, StaffMember
from kibitz.store.tx import Tx

Clock = Callable[[], datetime]
ROLES = ("owner", "moderator")
LINK_PURPOSE = "staff.set_password"
LINK_TTL = timedelta(hours=24)
IDLE = timedelta(hours=12)  # a session unused this long is over
TOUCH_EVERY = timedelta(minutes=1)  # write a session's last_seen at most this often
MAX_TOKEN = 200


def member_actor(member: StaffMember) -> str:
    """How the audit log names a staff member."""
    return f"staff:{member.id} {member.email}"


@dataclass(frozen=True)
class Principal:
    """Who an admin request acts as: a signed-in staff member or an API key."""

    actor: str  # for the audit log: "staff:<id> <email>" or "key:<id> <name or prefix>"
    member: StaffMember | None
    key: ApiKey | None
    session_hash: str | None  # the session's row, for a cookie session
    csrf: str  # the session's CSRF token; "" for keys

    @property
    def is_owner(self) -> bool:
        return self.member is not None and self.member.active and self.member.is_owner

    def can(self, site: str, scope: str = "moderate") -> bool:
        """Owners: every site, both scopes; moderators: their sites, ``moderate`` only; a key: its
        own site and scope only; an inactive member: nothing."""
        if scope not in SCOPES:
            return False
        if self.key is not None:
            return self.key.revoked is None and self.key.site == site and self.key.scope == scope
        member = self.member
        if member is None or not member.active:
            return False
        if member.is_owner:
            return True
        return scope == "moderate" and site in member.sites

    def visible_sites(self, all_sites: Sequence[str]) -> list[str]:
        """The sites of ``all_sites`` this principal may see, in their order."""
        return [site for site in all_sites if any(self.can(site, scope) for scope in SCOPES)]


@dataclass(frozen=True)
class SignedIn:
    token: str  # the session cookie's value (only its hash is kept)
    csrf: str  # to send back with every write
    member: StaffMember


def normal_email(value: str) -> str:
    """A staff email as stored and looked up: the canonical form, lowercased."""
    address = inputs.email(value, "email").lower()
    if not address:
        raise errors.InvalidInput.field("email", "is required")
    return address


def check_role(role: str) -> str:
    if role not in ROLES:
        raise errors.InvalidInput.field("role", "must be owner or moderator")
    return role


def check_sites(role: str, sites: Sequence[str]) -> tuple[str, ...]:
    ids = tuple(dict.fromkeys(check_site(site, "sites") for site in sites))
    if role == "moderator" and not ids:
        raise errors.InvalidInput.field("sites", "a moderator needs at least one site")
    return ids


async def member_of(tx: Tx, email: str) -> StaffMember:
    member = await tx.staff.by_email(normal_email(email))
    if member is None:
        raise errors.NotFound(f"No staff member {email}")
    return member


class Staff:
    def __init__(self, db: Database, tokens: Tokens, clock: Clock, base_url: str) -> None:
        self.db = db
        self.tokens = tokens
        self.clock = clock
        self.base_url = base_url.rstrip("/")
        self._keys = ApiKeys(db, clock)

    # -- accounts -----------------------------------------------------------------------------------

    async def add(
        self, email: str, role: str, sites: Sequence[str], password: str | None, actor: str
    ) -> tuple[StaffMember, str | None]:
        """A new account, and without a password a set-password link (single use, valid 24 h)."""
        address, role = normal_email(email), check_role(role)
        site_ids = check_sites(role, sites)
        hashed = (
            await signin.hash_in_thread(signin.password_rules(password)) if password is not None else None
        )
        nonce = None if password is not None else secrets.token_urlsafe(16)
        now = self.clock()
        try:
            async with self.db.write() as tx:
                if await tx.staff.by_email(address) is not None:
                    raise errors.Conflict(f"{address} is a staff member already")
                member = await tx.staff.add(address, role, site_ids, now)
                await tx.staff.update(member.id, password_hash=hashed, reset_nonce=nonce)
                await tx.audit.record(
                    at=now,
                    site="",
                    actor=actor,
                    action="staff.add",
                    target=f"staff:{member.id}",
                    detail={"email": address, "role": role, "sites": list(site_ids)},
                )
                member = await tx.staff.get(member.id) or member
        except IntegrityError:  # the same email added at the same moment by someone else
            raise errors.Conflict(f"{address} is a staff member already") from None
        return member, self._link(member.id, nonce, now) if nonce else None

    async def listing(self) -> list[StaffMember]:
        async with self.db.read() as tx:
            return await tx.staff.listing()

    async def remove(self, email: str, actor: str) -> None:
        """Delete an account; its sessions end with it. The last active owner stays."""
        now = self.clock()
        async with self.db.write() as tx:
            member = await member_of(tx, email)
            if member.is_owner and member.active and await tx.staff.count_owners() <= 1:
                raise errors.Conflict("This is the last owner; add another owner first")
            await tx.sessions.remove_all(member.id)
            await tx.staff.remove(member.id)
            await self._audit(tx, now, actor, "staff.remove", member, {"email": member.email})

    async def reset(self, email: str, actor: str) -> str:
        """A new set-password link (any earlier one stops working); signs the member out everywhere.
        The password stays valid until the link is used."""
        now = self.clock()
        nonce = secrets.token_urlsafe(16)
        async with self.db.write() as tx:
            member = await member_of(tx, email)
            await tx.staff.update(member.id, reset_nonce=nonce)
            ended = await tx.sessions.remove_all(member.id)
            await self._audit(tx, now, actor, "staff.reset", member, {"sessions_ended": ended})
        return self._link(member.id, nonce, now)

    async def set_sites(self, email: str, sites: Sequence[str], actor: str) -> StaffMember:
        now = self.clock()
        async with self.db.write() as tx:
            member = await member_of(tx, email)
            site_ids = check_sites(member.role, sites)
            await tx.staff.set_sites(member.id, site_ids)
            await self._audit(tx, now, actor, "staff.set_sites", member, {"sites": list(site_ids)})
            return await tx.staff.get(member.id) or member

    async def set_role(self, email: str, role: str, actor: str) -> StaffMember:
        role = check_role(role)
        now = self.clock()
        async with self.db.write() as tx:
            member = await member_of(tx, email)
            if member.role == role:
                return member
            if member.is_owner and member.active and await tx.staff.count_owners() <= 1:
                raise errors.Conflict("This is the last owner; make another owner first")
            check_sites(role, member.sites)
            await tx.staff.update(member.id, role=role)
            await self._audit(tx, now, actor, "staff.set_role", member, {"from": member.role, "to": role})
            return await tx.staff.get(member.id) or member

    # -- set-password links -------------------------------------------------------------------------

    def _link(self, staff_id: int, nonce: str, now: datetime) -> str:
        token = self.tokens.issue(LINK_PURPOSE, f"{staff_id}.{nonce}", now=now, ttl=LINK_TTL)
        return f"{self.base_url}/admin/set-password/{token}"

    def _link_subject(self, token: str) -> tuple[int, str]:
        """(staff id, nonce) of a link's token: NotFound when forged, Gone when expired."""
        try:
            subject = self.tokens.verify(LINK_PURPOSE, token[:MAX_TOKEN], now=self.clock())
            staff_id, _, nonce = subject.partition(".")
            return int(staff_id), nonce
        except TokenError as exc:
            if str(exc) == "expired":
                raise errors.Gone("This link has expired; ask an owner for a new one") from None
            raise errors.NotFound("No such link") from None
        except ValueError:
            raise errors.NotFound("No such link") from None

    @staticmethod
    async def _link_member(tx: Tx, staff_id: int, nonce: str) -> StaffMember:
        member = await tx.staff.get(staff_id)
        if (
            member is None
            or not member.active
            or member.reset_nonce is None
            or not hmac.compare_digest(member.reset_nonce.encode(), nonce.encode())
        ):
            raise errors.Gone("This link was used already or replaced by a newer one")
        return member

    async def check_set_password(self, token: str) -> StaffMember:
        """The member a set-password link is for, while it is unused and unexpired."""
        staff_id, nonce = self._link_subject(token)
        async with self.db.read() as tx:
            return await self._link_member(tx, staff_id, nonce)

    async def set_password(self, token: str, password: str) -> StaffMember:
        """Use a set-password link (once): the new password replaces any old one, and every session
        of the member ends."""
        signin.password_rules(password)
        await self.check_set_password(token)  # refuse a dead link before spending time on a hash
        hashed = await signin.hash_in_thread(password)
        staff_id, nonce = self._link_subject(token)
        now = self.clock()
        async with self.db.write() as tx:
            # Claim the nonce before reading it: a second use at the same moment waits, then fails.
            if not await signin.claim(tx, f"link:{nonce}"):
                raise errors.Gone("This link was used already")
            member = await self._link_member(tx, staff_id, nonce)
            await tx.staff.update(
                member.id, password_hash=hashed, reset_nonce=None, failed_logins=0, locked_until=None
            )
            await tx.sessions.remove_all(member.id)
            await self._audit(tx, now, member_actor(member), "staff.set_password", member, {})
            return await tx.staff.get(member.id) or member

    # -- authenticator codes ------------------------------------------------------------------------

    async def totp_enable(self, email: str, actor: str) -> tuple[str, str]:
        """A new authenticator secret for the member (replacing any): (secret, otpauth:// URI)."""
        secret = signin.new_totp_secret()
        now = self.clock()
        async with self.db.write() as tx:
            member = await member_of(tx, email)
            await tx.staff.update(member.id, totp_secret=secret)
            await self._audit(tx, now, actor, "staff.totp_enable", member, {})
        return secret, signin.totp_uri(secret, member.email)

    async def totp_disable(self, email: str, actor: str) -> None:
        now = self.clock()
        async with self.db.write() as tx:
            member = await member_of(tx, email)
            await tx.staff.update(member.id, totp_secret=None)
            await self._audit(tx, now, actor, "staff.totp_disable", member, {})

    # -- signing in and sessions ---------------------------------------------------------------------

    async def sign_in(
        self, email: str, password: str, totp: str | None, client: str, user_agent: str
    ) -> SignedIn:
        """A new session, or InvalidCredentials (one answer for an unknown email, a wrong password and
        a wrong code), TotpRequired (right password, code missing), RateLimited (locked out).

        ``client`` is the client's rate-limit key (the keyed hash of its address: web/api.py client_of).
        """
        now = self.clock()
        try:
            address = normal_email(email)
        except errors.InvalidInput:
            address = ""
        account = self.tokens.keyed_hash("staff.account", address or email[:400])
        keys = [f"address:{client[:64]}", f"account:{account}"]
        async with self.db.write() as tx:
            failures = await signin.admit(tx, keys, now)
            member = await tx.staff.by_email(address) if address else None
            if member is not None and member.locked_until is not None and member.locked_until > now:
                retry = (member.locked_until - now).total_seconds()
                raise errors.RateLimited(
                    "Too many failed sign-ins; try again later", retry_after=int(retry) + 1
                )
        usable = member is not None and member.active
        ok = await signin.verify_in_thread(member.password_hash if member and usable else None, password)
        step: int | None = None
        if ok and member is not None and member.totp_secret:
            if not (totp or "").strip():
                raise errors.TotpRequired()  # the password was right: this tells an attacker nothing new
            step = signin.totp_step(member.totp_secret, totp, now)
            ok = step is not None
        async with self.db.write() as tx:
            if ok and member is not None:
                session = await self._open_session(tx, member, step, client, user_agent, now)
                if session is not None:
                    return session
            await signin.fail(tx, keys, now)
            await tx.audit.record(
                at=now,
                site="",
                actor=f"address:{client[:64]}",
                action="staff.sign_in_failed",
                target=f"staff:{member.id}" if member else "",
                detail={"email": address or email[:320]},
            )
            if member is not None:
                locked = signin.lock_end(now) if failures[1] + 1 >= signin.LOCK_AFTER else member.locked_until
                await tx.staff.update(member.id, failed_logins=member.failed_logins + 1, locked_until=locked)
        raise errors.InvalidCredentials()

    async def _open_session(
        self, tx: Tx, member: StaffMember, step: int | None, client: str, user_agent: str, now: datetime
    ) -> SignedIn | None:
        """The new session, or None when the member went away meanwhile or the code was used before."""
        current = await tx.staff.get(member.id)
        if current is None or not current.active:
            return None
        if step is not None and not await signin.claim(tx, f"totp:{member.id}", step):
            return None  # a code seen once already: someone replays what they watched being typed
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        await tx.sessions.forget_idle(now - IDLE)
        await tx.sessions.add(digest(token), member.id, csrf, now, user_agent)
        await tx.staff.update(member.id, failed_logins=0, locked_until=None, last_login=now)
        await self._audit(tx, now, member_actor(current), "staff.sign_in", current, {"client": client[:64]})
        return SignedIn(token, csrf, await tx.staff.get(member.id) or current)

    async def session(self, token: str) -> Principal | None:
        """The principal of a session cookie, or None (unknown, idle for 12 h, member gone or inactive)."""
        if not token or len(token) > MAX_TOKEN:
            return None
        token_hash = digest(token)
        now = self.clock()
        async with self.db.read() as tx:
            session = await tx.sessions.get(token_hash)
            member = await tx.staff.get(session.staff_id) if session is not None else None
        if session is None:
            return None
        if member is None or not member.active or now - session.last_seen >= IDLE:
            async with self.db.write() as tx:
                await tx.sessions.remove(token_hash)
            return None
        if now - session.last_seen >= TOUCH_EVERY:
            async with self.db.write() as tx:
                await tx.sessions.touch(token_hash, now)
        return Principal(member_actor(member), member, None, token_hash, session.csrf)

    async def sign_out(self, token: str) -> None:
        if not token or len(token) > MAX_TOKEN:
            return
        now = self.clock()
        async with self.db.write() as tx:
            session = await tx.sessions.get(digest(token))
            if session is None:
                return
            await tx.sessions.remove(session.token_hash)
            member = await tx.staff.get(session.staff_id)
            if member is not None:
                await self._audit(tx, now, member_actor(member), "staff.sign_out", member, {})

    async def sign_out_everywhere(self, staff_id: int, actor: str) -> int:
        """End every session of a member at once; the number ended."""
        now = self.clock()
        async with self.db.write() as tx:
            member = await tx.staff.get(staff_id)
            if member is None:
                raise errors.NotFound(f"No staff member {staff_id}")
            ended = await tx.sessions.remove_all(staff_id)
            await self._audit(tx, now, actor, "staff.sign_out_everywhere", member, {"sessions_ended": ended})
        return ended

    # -- API keys -----------------------------------------------------------------------------------

    async def create_key(self, site: str, scope: str, name: str, actor: str) -> tuple[ApiKey, str]:
        """A new key and its ``kbz_…`` secret, shown this once."""
        return await self._keys.create(site, scope, name, actor)

    async def keys(self, site: str | None = None) -> list[ApiKey]:
        return await self._keys.listing(site)

    async def revoke_key(self, key_id: int, actor: str) -> bool:
        """True when revoked now, False when it was already; NotFound when there is no such key."""
        return await self._keys.revoke(key_id, actor)

    async def key_principal(self, secret: str) -> Principal | None:
        key = await self._keys.verify(secret)
        return None if key is None else Principal(key_actor(key), None, key, None, "")

    @staticmethod
    async def _audit(
        tx: Tx, now: datetime, actor: str, action: str, member: StaffMember, detail: dict[str, object]
    ) -> None:
        await tx.audit.record(
            at=now, site="", actor=actor, action=action, target=f"staff:{member.id}", detail=detail
        )
