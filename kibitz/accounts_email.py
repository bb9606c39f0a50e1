"""Signing in with a mailed link (DESIGN.md §3b): an address asks, the mail goes through the outbox,
and the link (single use, 15 minutes) opens a page whose button signs in and returns to the story.

The answer to asking is the same for every address (202): whether it has an account, was asked for
a minute ago or is over its own limit never shows. Asking is limited per client address (429) and
per address (quietly: no more mail that hour). A GET of the link changes nothing (mail scanners
open links); the POST from its page signs in. A signed-in reader may ask for a link to add an
address to their account: using it proves the address, and their guest comments may then join.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from kibitz import errors, guard, inputs
from kibitz.accounts import EMAIL, Accounts, Profile, Reader, SignedIn
from kibitz.config import RateLimit, SiteConfig
from kibitz.links import Links, one_line
from kibitz.origins import origin_of
from kibitz.security import TokenError, Tokens
from kibitz.store.accounts import SignIn
from kibitz.store.outbox import NewMail
from kibitz.templating import render_template

LINK = "signin"  # the token purpose
LINK_TTL = timedelta(minutes=15)
PER_ADDRESS = RateLimit(3, 3600)  # links mailed to one address an hour; more are quietly not sent


@dataclass(frozen=True)
class LinkView:
    site: str
    email: str


def safe_return(site: SiteConfig, value: str | None) -> str:
    """Where to go after signing in: a URL on one of the site's own origins, else its first origin
    (never another site: QUALITY T48)."""
    fallback = site.origins[0] + "/" if site.origins else ""
    if not value or not isinstance(value, str) or len(value) > inputs.MAX_URL:
        return fallback
    text = value.strip()
    if (
        not text.lower().startswith(("https://", "http://"))
        or "\\" in text
        or any(ch.isspace() for ch in text)
    ):
        return fallback
    origin = origin_of(text)
    if origin is None or not site.allows_origin(origin):
        return fallback
    return text.partition("#")[0]


class EmailSignIn:
    def __init__(self, accounts: Accounts, tokens: Tokens, links: Links) -> None:
        self.accounts = accounts
        self.db = accounts.db
        self.tokens = tokens
        self.links = links

    def url(self, nonce: str, now: datetime) -> str:
        token = self.tokens.issue(LINK, nonce, now=now, ttl=LINK_TTL)
        return f"{self.links.base_url.rstrip('/')}/auth/email/{token}"

    async def request(
        self, site: SiteConfig, email: str, return_url: str | None, client: str, reader: Reader | None = None
    ) -> None:
        """Mail a sign-in link to ``email`` (or, for a signed-in reader, a link that adds it)."""
        address = inputs.email(email, "email").lower()
        if not address:
            raise errors.InvalidInput.field("email", "is required")
        now = self.accounts.clock()
        back = safe_return(site, return_url)
        async with self.db.write() as tx:
            limits = site.rate_limits
            await guard.check_rate(
                tx, site=site.id, action="sign_ins", limit=limits.sign_ins, client=client, now=now
            )
            try:
                who = self.tokens.keyed_hash("sign-in-address", site.id, address)[:32]
                await guard.check_rate(
                    tx, site=site.id, action="sign_in_mail", limit=PER_ADDRESS, client=who, now=now
                )
            except errors.RateLimited:
                return  # the same answer; the address just gets no more mail this hour
            await tx.accounts.forget_expired(now)
            nonce = secrets.token_urlsafe(24)
            await tx.accounts.start_sign_in(
                SignIn(
                    id=nonce,
                    site=site.id,
                    kind=EMAIL,
                    email=address,
                    return_url=back,
                    secret="",
                    account_id=reader.account.id if reader is not None else None,
                    used=False,
                    created=now,
                    expires=now + LINK_TTL,
                )
            )
            values = {
                "site_name": self.links.site_name(site.id),
                "sign_in_url": self.url(nonce, now),
                "minutes": int(LINK_TTL.total_seconds() // 60),
            }
            await tx.outbox.enqueue(
                NewMail(
                    site=site.id,
                    kind="sign_in",
                    dedupe_key=f"sign_in:{nonce}",
                    recipient=address,
                    subject=one_line(f"Sign in to the comments on {values['site_name']}"),
                    text_body=render_template("email/sign_in.txt", **values),
                    html_body=render_template("email/sign_in.html", **values),
                ),
                now,
            )

    async def _live(self, token: str, now: datetime) -> SignIn:
        """The link's sign-in, or NotFound (not a link of ours) / Gone (used, expired, or its account
        or address went away meanwhile)."""
        if len(token) > 300:
            raise errors.NotFound()
        try:
            nonce = self.tokens.verify(LINK, token, now=now)
        except TokenError as exc:
            if str(exc) == "expired":
                raise errors.Gone() from None
            raise errors.NotFound() from None
        async with self.db.read() as tx:
            found = await tx.accounts.sign_in(nonce)
            account = await tx.accounts.get(found.account_id) if found and found.account_id else None
        if found is None or found.used or found.expires <= now or found.kind != EMAIL:
            raise errors.Gone()
        if found.account_id is not None and account is None:
            raise errors.Gone()  # the account it was to join was erased
        return found

    async def view(self, token: str) -> LinkView:
        """What the link's page shows; changes nothing."""
        found = await self._live(token, self.accounts.clock())
        return LinkView(found.site, found.email)

    async def use(self, site_of: dict[str, SiteConfig], token: str) -> SignedIn:
        """Sign in with the link (once), joining the address to the account that asked, if one did."""
        now = self.accounts.clock()
        found = await self._live(token, now)
        site = site_of.get(found.site)
        if site is None:
            raise errors.Gone()
        async with self.db.write() as tx:
            if not await tx.accounts.use_sign_in(found.id):
                raise errors.Gone()
            profile = Profile(kind=EMAIL, subject=found.email, email=found.email)
            signed = await self.accounts.sign_in(tx, site, profile, now, account_id=found.account_id)
            if found.account_id is not None and signed.reader.account.id == found.account_id:
                # The address is proven for this account now (it may have had another before).
                account = await tx.accounts.change(found.account_id, email=found.email)
                if account is not None:
                    signed = SignedIn(signed.session, signed.reader.with_account(account))
        return SignedIn(signed.session, signed.reader, found.return_url)
