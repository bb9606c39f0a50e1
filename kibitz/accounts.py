"""Reader accounts (DESIGN.md §3b): signing in by any of the three paths ends here, in an account of
the site and a session; every request that carries a session reads it again, so ending one (signing
out, an owner's erasure) holds at once on every worker. The site's ``authors`` policy is checked
here for every write.

Guests stay the default. ``authors = "verified"``: only signed-in readers write (a mailed link proves
an address; a provider or the publisher's login proves an identity). ``authors = "accounts"``: only
readers signed in with an account (an OpenID Connect provider or the publisher's own login).

Paths: a mailed link (accounts_email.py), OpenID Connect (oidc.py), the publisher's login (sso.py).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kibitz import errors, inputs
from kibitz.avatar import avatar_key
from kibitz.config import AuthorPolicy, SiteConfig
from kibitz.models import AccountAuthor
from kibitz.policy import Policies
from kibitz.security import TokenError, Tokens
from kibitz.store.accounts import Account
from kibitz.store.db import Database
from kibitz.store.tx import Tx

SESSION = "session"  # the token purpose
SESSION_TTL = timedelta(days=30)
TOUCH_EVERY = timedelta(minutes=5)  # write a session's last_seen at most this often
MAX_SESSION = 300  # characters of a session header worth reading
EMAIL, SSO = "email", "sso"  # identity kinds; a provider's is "oidc:<id>"
AVATARS = ("identicon", "picture")
NOTIFY = ("none", "replies", "all")
DIGESTS = ("instant", "daily")
# What the publisher's login may grant: badges, and moderator rights where the site allows it
# (reader_moderation.py).
ROLES = ("staff", "moderator")


def session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def https_picture(value: str | None) -> str:
    """A provider's picture URL if it is https (shown as is, never proxied), else ""."""
    if not value or not isinstance(value, str) or len(value) > inputs.MAX_URL:
        return ""
    try:
        url = inputs.web_url(value, "picture")
    except errors.InvalidInput:
        return ""
    return url if url.startswith("https://") else ""


@dataclass(frozen=True)
class Profile:
    """What a sign-in path knows of the reader: the identity and what its source vouches for."""

    kind: str  # email | sso | oidc:<provider>
    subject: str
    name: str = ""
    email: str = ""  # proven by the source, or ""
    picture: str = ""  # https only
    roles: tuple[str, ...] | None = None  # the publisher's login says which (None: keep as is)
    author_of: tuple[str, ...] = ()  # page keys the publisher's login says this person wrote


@dataclass(frozen=True)
class Reader:
    """A signed-in reader: the account and the session the request carried."""

    account: Account
    token_hash: str
    via: str  # how this session signed in
    kinds: tuple[str, ...] = ()  # every way the account signs in (email, sso, oidc:<provider>)

    @property
    def badges(self) -> tuple[str, ...]:
        """Shown beside the reader's name: staff and moderator (the publisher's login), verified."""
        found = [role for role in ROLES if role in self.account.roles]
        if self.account.email or self.has_account_login:
            found.append("verified")
        return tuple(found)

    @property
    def has_account_login(self) -> bool:
        """The account signs in through a provider or the publisher's login, not a mailed link alone."""
        return any(kind != EMAIL for kind in (*self.kinds, self.via))

    def with_account(self, account: Account) -> Reader:
        return Reader(account, self.token_hash, self.via, self.kinds)


@dataclass(frozen=True)
class SignedIn:
    session: str  # the token the widget keeps and sends in X-Kibitz-Session
    reader: Reader
    return_url: str = ""


class Accounts:
    """Accounts and sessions of every site; each method is one transaction."""

    def __init__(
        self, db: Database, tokens: Tokens, clock: Callable[[], datetime], policies: Policies, secret: bytes
    ) -> None:
        self.db = db
        self.tokens = tokens
        self.clock = clock
        self.policies = policies
        self._secret = secret

    # -- signing in ----------------------------------------------------------------------------------

    async def sign_in(
        self, tx: Tx, site: SiteConfig, profile: Profile, now: datetime, account_id: int | None = None
    ) -> SignedIn:
        """The account ``profile`` names (made on its first sign-in) and a new session, in ``tx``.
        With ``account_id``, the identity joins that (signed-in) account instead."""
        account = await tx.accounts.by_identity(site.id, profile.kind, profile.subject)
        if account is None and account_id is not None:
            account = await tx.accounts.get(account_id)
            if account is not None:
                await tx.accounts.add_identity(account.id, site.id, profile.kind, profile.subject, now)
        if account is None:
            name = profile.name or (profile.email.partition("@")[0] if profile.email else "Reader")
            account = await tx.accounts.create(
                site.id, _display_name(name), profile.email, profile.picture, profile.roles or (), now
            )
            await tx.accounts.add_identity(account.id, site.id, profile.kind, profile.subject, now)
        else:
            await tx.accounts.identity_used(site.id, profile.kind, profile.subject, now)
            changes: dict[str, object] = {"last_seen": now}
            if profile.email and not account.email:
                changes["email"] = profile.email
            if profile.kind == SSO:
                # The publisher's login is the source of truth for its own readers.
                changes.update(name=_display_name(profile.name or account.name), picture=profile.picture)
                if profile.email:
                    changes["email"] = profile.email
                if profile.roles is not None:
                    changes["roles"] = profile.roles
            elif profile.picture and not account.picture:
                changes["picture"] = profile.picture
            account = await tx.accounts.change(account.id, **changes) or account
        token = secrets.token_urlsafe(32)
        await tx.accounts.forget_expired(now)
        await tx.accounts.open_session(session_hash(token), account.id, profile.kind, now, now + SESSION_TTL)
        signed = self.tokens.issue(SESSION, token, now=now, ttl=SESSION_TTL)
        kinds = tuple(identity.kind for identity in await tx.accounts.identities(account.id))
        return SignedIn(signed, Reader(account, session_hash(token), profile.kind, kinds))

    # -- sessions --------------------------------------------------------------------------------

    async def reader(self, header: str | None, site: SiteConfig | None = None) -> Reader | None:
        """The signed-in reader of a request, or None when it carried no session. A session that is
        forged, expired, ended, or of another site raises SessionInvalid: the widget signs out."""
        if header is None or header == "":
            return None
        now = self.clock()
        try:
            if len(header) > MAX_SESSION:
                raise TokenError("too long")
            token = self.tokens.verify(SESSION, header, now=now)
        except TokenError:
            raise errors.SessionInvalid() from None
        token_hash = session_hash(token)
        async with self.db.read() as tx:
            session = await tx.accounts.session(token_hash)
            account = await tx.accounts.get(session.account_id) if session is not None else None
            kinds = tuple(i.kind for i in await tx.accounts.identities(account.id)) if account else ()
        if session is None or account is None or session.expires <= now:
            raise errors.SessionInvalid()
        if site is not None and account.site != site.id:
            raise errors.SessionInvalid("This sign-in is for another site")
        if now - session.last_seen >= TOUCH_EVERY:
            async with self.db.write() as tx:
                await tx.accounts.touch_session(token_hash, now)
        return Reader(account, token_hash, session.via, kinds)

    async def sign_out(self, reader: Reader, *, everywhere: bool = False) -> int:
        async with self.db.write() as tx:
            if everywhere:
                return await tx.accounts.end_sessions(reader.account.id)
            return int(await tx.accounts.end_session(reader.token_hash))

    # -- the site's policy -------------------------------------------------------------------------

    async def check_writer(self, site: SiteConfig, reader: Reader | None) -> SiteConfig:
        """Refuse a write the site's ``authors`` policy (as in force now) does not allow; the site."""
        current = await self.policies.current(site)
        check_policy(current.authors, reader)
        return current

    def author(self, reader: Reader) -> AccountAuthor:
        """What the reader's comments carry: the account's name, proven address, badges, and its
        identicon (the same on every device) or the provider's picture when chosen."""
        account = reader.account
        return AccountAuthor(
            id=account.id,
            name=account.name,
            email=account.email,
            avatar_key=avatar_key(self._secret, account.site, f"account:{account.id}"),
            picture=account.picture if account.avatar == "picture" else "",
            badges=reader.badges,
        )

    # -- the account page --------------------------------------------------------------------------

    def me(self, reader: Reader, *, moderates: bool = False) -> dict[str, object]:
        return shape(reader, moderates=moderates)

    async def update(self, reader: Reader, changes: dict[str, object]) -> Reader:
        """Change the name, the avatar choice or the notification preferences."""
        values: dict[str, object] = {}
        if "name" in changes:
            values["name"] = inputs.author_name(_text(changes["name"], "name"), "name")
        if "avatar" in changes:
            avatar = _choice(changes["avatar"], "avatar", AVATARS)
            if avatar == "picture" and not reader.account.picture:
                raise errors.InvalidInput.field("avatar", "this account has no picture from its provider")
            values["avatar"] = avatar
        if "notify" in changes:
            values["notify"] = _choice(changes["notify"], "notify", NOTIFY)
        if "digest" in changes:
            values["digest"] = _choice(changes["digest"], "digest", DIGESTS)
        async with self.db.write() as tx:
            account = await tx.accounts.change(reader.account.id, **values)
        if account is None:
            raise errors.SessionInvalid()
        return reader.with_account(account)

    async def join_guest_history(self, reader: Reader) -> int:
        """Give the account the guest comments posted on its site under its proven address."""
        if not reader.account.email:
            raise errors.InvalidInput.field("email", "prove an address first (sign in with a mailed link)")
        async with self.db.write() as tx:
            return await tx.accounts.join_guest_comments(reader.account, reader.account.email)


def check_policy(policy: AuthorPolicy, reader: Reader | None) -> None:
    if policy is AuthorPolicy.GUESTS:
        return
    if reader is None:
        raise errors.SignInRequired()
    if policy is AuthorPolicy.ACCOUNTS and not reader.has_account_login:
        raise errors.AccountRequired()


def shape(reader: Reader, *, moderates: bool = False) -> dict[str, object]:
    """GET /api/v1/me: the account as its owner sees it (its address included); ``moderates``: it
    may moderate the site's comments from the widget now (reader_moderation.py)."""
    account = reader.account
    return {
        "id": str(account.id),
        "site": account.site,
        "name": account.name,
        "email": account.email or None,
        "picture": account.picture or None,
        "avatar": account.avatar,
        "badges": list(reader.badges),
        "notify": account.notify,
        "digest": account.digest,
        "signed_in_with": reader.via,
        "identities": list(reader.kinds),
        "moderates": moderates,
    }


def _display_name(value: str) -> str:
    """A name from a provider or an address: cleaned to what a comment's name may be."""
    cleaned = " ".join("".join(ch for ch in value if ch.isprintable()).split())[: inputs.MAX_NAME]
    try:
        return inputs.author_name(cleaned or "Reader", "name", guest=False)
    except errors.InvalidInput:
        return "Reader"


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise errors.InvalidInput.field(field, "must be a string")
    return value


def _choice(value: object, field: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise errors.InvalidInput.field(field, "must be one of " + ", ".join(allowed))
    return str(value)
