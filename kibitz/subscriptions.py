"""Subscription rules: subscribe with double opt-in, confirm, one-click unsubscribe, the manage page.

Tokens (kibitz.security.Tokens) carry the subject of each link: "confirm" → "{subscriber}.{nonce}"
(7 days, single use), "unsubscribe" → "{subscription}" or "s{subscriber}" (every subscription),
"manage" → "{subscriber}.{issued, ms}" (30 days; revocable; fresh for destructive acts within the hour).
Tokens are signed, expiring and never derived from the address.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kibitz import errors, guard, inputs
from kibitz.config import Settings, SiteConfig
from kibitz.models import Comment, Thread
from kibitz.security import TokenError, Tokens
from kibitz.store.db import Database
from kibitz.store.outbox import NewMail
from kibitz.store.subscribers import Subscriber, Subscription
from kibitz.store.tx import Tx
from kibitz.templating import render_template

Clock = Callable[[], datetime]

CONFIRM, UNSUBSCRIBE, MANAGE = "confirm", "unsubscribe", "manage"
TTL = {CONFIRM: timedelta(days=7), UNSUBSCRIBE: timedelta(days=400), MANAGE: timedelta(days=30)}
CONFIRM_QUIET = timedelta(hours=1)  # at most one confirmation mail per address in this time
MANAGE_FRESH = timedelta(hours=1)  # a manage link this young may delete comments and cancel all
TOPICS = ("newsletter", "thread", "replies")
DIGESTS = ("instant", "daily")
SUBSCRIBE_ANSWER = {"status": "check your inbox"}
_EPOCH = datetime.fromtimestamp(0, UTC)
_MAX_TOKEN = 300


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


class FreshLinkNeeded(errors.Forbidden):
    """A destructive act (delete a comment, cancel all) from a manage link issued over an hour ago:
    a forwarded or old mail's link may look, edit and cancel one subscription, not more."""

    title = "This needs a manage link from the last hour"


def one_line(value: str, limit: int = 250) -> str:
    """Header text on one line (inputs are validated already; this holds whatever comes)."""
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Links:
    """Signed links for mails and pages, all under ``base_url``."""

    tokens: Tokens
    base_url: str
    site_names: dict[str, str]

    def _url(self, kind: str, subject: str, now: datetime) -> str:
        token = self.tokens.issue(kind, subject, now=now, ttl=TTL[kind])
        return f"{self.base_url.rstrip('/')}/{kind}/{token}"

    def confirm(self, subscriber_id: int, nonce: str, now: datetime) -> str:
        return self._url(CONFIRM, f"{subscriber_id}.{nonce}", now)

    def unsubscribe(self, subscription_id: int, now: datetime) -> str:
        return self._url(UNSUBSCRIBE, str(subscription_id), now)

    def unsubscribe_all(self, subscriber_id: int, now: datetime) -> str:
        return self._url(UNSUBSCRIBE, f"s{subscriber_id}", now)

    def manage(self, subscriber_id: int, now: datetime) -> str:
        # The issue time rides in the subject: "sign out everywhere" voids every link issued before it.
        return self._url(MANAGE, f"{subscriber_id}.{_ms(now)}", now)

    def comment(self, thread: Thread, comment_id: int) -> str:
        """Kibitz's own "view comment" link: the article's URL, else the server's base URL."""
        return f"{thread.url or self.base_url.rstrip('/') + '/'}#comment-{comment_id}"

    def site_name(self, site: str) -> str:
        return self.site_names.get(site, site)


def links_for(tokens: Tokens, settings: Settings) -> Links:
    return Links(tokens, settings.base_url, {site.id: site.name for site in settings.sites})


async def request_subscription(
    tx: Tx, links: Links, site: str, email: str, topic: str, thread_id: int | None, digest: str, now: datetime
) -> Subscription:
    """Record what the address wants to follow; an address not yet confirmed gets (at most hourly)
    a confirmation mail, and nothing else until it confirms."""
    subscriber = await tx.subscribers.get_or_create(site, email, now)
    subscription = await tx.subscribers.subscribe(subscriber.id, topic, thread_id, digest, now)
    if subscriber.status == "unsubscribed":
        # Asking again after leaving: a fresh double opt-in, never a silent return.
        await tx.subscribers.set_status(subscriber.id, "unconfirmed")
        subscriber = await _reload(tx, subscriber.id)
    if subscriber.status == "unconfirmed":
        await send_confirmation(tx, links, subscriber, now)
    return subscription


async def _reload(tx: Tx, subscriber_id: int) -> Subscriber:
    found = await tx.subscribers.get(subscriber_id)
    assert found is not None
    return found


async def send_confirmation(tx: Tx, links: Links, subscriber: Subscriber, now: datetime) -> bool:
    """Enqueue the confirmation mail unless one went out within the hour; True when enqueued."""
    nonce = secrets.token_urlsafe(18)
    if not await tx.subscribers.start_confirmation(subscriber.id, nonce, now, now - CONFIRM_QUIET):
        return False
    # Only the site's own name goes in: anyone can type someone's address, so nothing they chose
    # (a page title, a name) may reach that inbox.
    values = {
        "site_name": links.site_name(subscriber.site),
        "confirm_url": links.confirm(subscriber.id, nonce, now),
        "unsubscribe_url": links.unsubscribe_all(subscriber.id, now),
        "days": TTL[CONFIRM].days,
    }
    await tx.outbox.enqueue(
        NewMail(
            site=subscriber.site,
            kind="confirm",
            dedupe_key=f"confirm:{subscriber.id}:{nonce}",
            recipient=subscriber.email,
            subject=one_line(f"Confirm your subscription to comments on {values['site_name']}"),
            text_body=render_template("email/confirm.txt", **values),
            html_body=render_template("email/confirm.html", **values),
            list_unsubscribe=str(values["unsubscribe_url"]),
            subscriber_id=subscriber.id,
        ),
        now,
    )
    return True


@dataclass(frozen=True)
class ManageView:
    subscriber: Subscriber
    subscriptions: list[tuple[Subscription, Thread | None]]
    comments: list[tuple[Comment, Thread]]
    fresh: bool = False  # the link may delete comments and cancel all (MANAGE_FRESH)


@dataclass(frozen=True)
class ManageLink:
    """What a manage link says: whose it is and when it was issued (0 for links from before issue
    times were recorded: valid until revoked, never fresh)."""

    subscriber_id: int
    issued_ms: int


async def send_manage_link(tx: Tx, links: Links, subscriber: Subscriber, now: datetime) -> bool:
    """Mail the address a fresh manage link, at most once per hour; True when enqueued. It goes only
    to the address itself and holds nothing anyone else chose."""
    values = {
        "site_name": links.site_name(subscriber.site),
        "manage_url": links.manage(subscriber.id, now),
        "hours": int(MANAGE_FRESH.total_seconds() // 3600),
    }
    bucket = _ms(now) // int(MANAGE_FRESH.total_seconds() * 1000)
    return await tx.outbox.enqueue(
        NewMail(
            site=subscriber.site,
            kind="manage",
            dedupe_key=f"manage:{subscriber.id}:{bucket}",
            recipient=subscriber.email,
            subject=one_line(f"Your link to manage comments on {values['site_name']}"),
            text_body=render_template("email/manage.txt", **values),
            html_body=render_template("email/manage.html", **values),
            list_unsubscribe=links.unsubscribe_all(subscriber.id, now),
            subscriber_id=subscriber.id,
        ),
        now,
    )


class Subscriptions:
    """The reader-facing subscription rules; each method is one transaction."""

    def __init__(self, db: Database, links: Links, clock: Clock) -> None:
        self.db = db
        self.links = links
        self.tokens = links.tokens
        self.clock = clock

    async def subscribe(
        self, site: SiteConfig, email: str, topic: str, page: str | None, digest: str | None, client: str
    ) -> dict[str, str]:
        """The same answer whatever the address (new, known, confirmed or unsubscribed)."""
        address = inputs.email(email, "email")
        if not address:
            raise errors.InvalidInput.field("email", "is required")
        if topic not in TOPICS:
            raise errors.InvalidInput.field("topic", "must be newsletter, thread or replies")
        digest = digest or "instant"
        if digest not in DIGESTS:
            raise errors.InvalidInput.field("digest", "must be instant or daily")
        key = inputs.page_key(page) if page is not None else None
        if topic != "newsletter" and key is None:
            raise errors.InvalidInput.field("page", "is required for this topic")
        now = self.clock()
        async with self.db.write() as tx:
            await guard.check_rate(
                tx,
                site=site.id,
                action="subscriptions",
                limit=site.rate_limits.subscriptions,
                client=client,
                now=now,
            )
            thread_id = None
            if topic != "newsletter":
                assert key is not None
                thread_id = (await tx.threads.get_or_create(site.id, key, "", "", now)).id
            await request_subscription(tx, self.links, site.id, address, topic, thread_id, digest, now)
        return dict(SUBSCRIBE_ANSWER)

    def _subject(self, purpose: str, token: str) -> str:
        """The token's subject; NotFound for anything not signed by us for this purpose (no hint
        why), Gone for a genuine link that has expired."""
        if not token or len(token) > _MAX_TOKEN:
            raise errors.NotFound()
        try:
            self.tokens.verify(purpose, token, now=_EPOCH)
        except TokenError:
            raise errors.NotFound() from None
        try:
            return self.tokens.verify(purpose, token, now=self.clock())
        except TokenError:
            raise errors.Gone() from None

    def _confirm_subject(self, token: str) -> tuple[int, str]:
        subscriber_id, _, nonce = self._subject(CONFIRM, token).partition(".")
        if not subscriber_id.isdigit() or not nonce:
            raise errors.NotFound()
        return int(subscriber_id), nonce

    async def confirmable(self, token: str) -> Subscriber:
        """GET of a confirmation link: checks it, changes nothing (mail scanners fetch links)."""
        subscriber_id, nonce = self._confirm_subject(token)
        async with self.db.read() as tx:
            subscriber = await tx.subscribers.get(subscriber_id)
        if subscriber is None:
            raise errors.NotFound()
        if subscriber.confirm_nonce is None or not secrets.compare_digest(subscriber.confirm_nonce, nonce):
            raise errors.Gone()
        return subscriber

    async def confirm(self, token: str) -> Subscriber:
        """POST of a confirmation link: the address is confirmed; the link is spent."""
        subscriber_id, nonce = self._confirm_subject(token)
        async with self.db.write() as tx:
            subscriber = await tx.subscribers.get(subscriber_id)
            if subscriber is None:
                raise errors.NotFound()
            if not await tx.subscribers.confirm(subscriber_id, nonce, self.clock()):
                raise errors.Gone()
            return await _reload(tx, subscriber_id)

    async def _unsubscribe_target(self, tx: Tx, token: str) -> tuple[Subscriber, Subscription | None]:
        subject = self._subject(UNSUBSCRIBE, token)
        if subject.startswith("s") and subject[1:].isdigit():
            subscriber = await tx.subscribers.get(int(subject[1:]))
            if subscriber is None:
                raise errors.NotFound()
            return subscriber, None
        if not subject.isdigit():
            raise errors.NotFound()
        subscription = await tx.subscribers.subscription(int(subject))
        subscriber = await tx.subscribers.get(subscription.subscriber_id) if subscription else None
        if subscription is None or subscriber is None:
            raise errors.NotFound()
        return subscriber, subscription

    async def unsubscribable(self, token: str) -> tuple[Subscriber, Subscription | None]:
        """GET of an unsubscribe link: what it would cancel; changes nothing."""
        async with self.db.read() as tx:
            return await self._unsubscribe_target(tx, token)

    async def unsubscribe(self, token: str) -> tuple[Subscriber, Subscription | None]:
        """POST of an unsubscribe link (RFC 8058 one-click): idempotent."""
        async with self.db.write() as tx:
            subscriber, subscription = await self._unsubscribe_target(tx, token)
            if subscription is None:
                await tx.subscribers.deactivate_all(subscriber.id)
                if subscriber.status != "bounced":
                    await tx.subscribers.set_status(subscriber.id, "unsubscribed")
            else:
                await tx.subscribers.deactivate(subscription.id)
        return subscriber, subscription

    def _manage_subject(self, token: str) -> ManageLink:
        subject = self._subject(MANAGE, token)
        subscriber_id, _, issued = subject.partition(".")
        if not subscriber_id.isdigit() or len(subscriber_id) > 18 or not (issued or "0").isdigit():
            raise errors.NotFound()
        return ManageLink(int(subscriber_id), int(issued or "0"))

    async def _live_link(self, tx: Tx, token: str) -> ManageLink:
        """The link's subject, unless "sign out everywhere" voided it since it was issued (Gone)."""
        link = self._manage_subject(token)
        revoked = await tx.subscribers.manage_links_revoked(link.subscriber_id)
        if revoked is not None and link.issued_ms <= revoked:
            raise errors.Gone()
        return link

    def _fresh(self, link: ManageLink) -> bool:
        return link.issued_ms >= _ms(self.clock() - MANAGE_FRESH)

    async def manage(self, token: str) -> ManageView:
        """The guest's page: their active subscriptions and their comments on the site."""
        async with self.db.read() as tx:
            link = await self._live_link(tx, token)
            return await self._view(tx, link.subscriber_id, fresh=self._fresh(link))

    async def holder(self, token: str, *, destructive: bool = False) -> Subscriber:
        """Whom a manage link speaks for (NotFound/Gone like the page): the credential for changing
        their own comments from the manage page; a destructive act needs a fresh link."""
        async with self.db.read() as tx:
            link = await self._live_link(tx, token)
            subscriber = await tx.subscribers.get(link.subscriber_id)
        if subscriber is None:
            raise errors.NotFound()
        if destructive and not self._fresh(link):
            raise FreshLinkNeeded()
        return subscriber

    async def sign_out_everywhere(self, token: str) -> Subscriber:
        """Void every manage link issued for this address so far (this one too); mails sent later
        carry working links again."""
        now = self.clock()
        async with self.db.write() as tx:
            link = await self._live_link(tx, token)
            subscriber = await tx.subscribers.get(link.subscriber_id)
            if subscriber is None:
                raise errors.NotFound()
            await tx.subscribers.revoke_manage_links(subscriber.id, max(_ms(now), link.issued_ms))
        return subscriber

    async def mail_fresh_link(self, token: str) -> Subscriber:
        """Mail a fresh manage link to the link's own address (at most hourly)."""
        now = self.clock()
        async with self.db.write() as tx:
            link = await self._live_link(tx, token)
            subscriber = await tx.subscribers.get(link.subscriber_id)
            if subscriber is None:
                raise errors.NotFound()
            if subscriber.status == "confirmed":  # never a first mail to an address from here
                await send_manage_link(tx, self.links, subscriber, now)
        return subscriber

    async def cancel(self, token: str, what: str) -> ManageView:
        """Cancel one subscription (by id) or "all" of them (a fresh link only) from the manage page."""
        async with self.db.write() as tx:
            link = await self._live_link(tx, token)
            subscriber_id = link.subscriber_id
            fresh = self._fresh(link)
            if what == "all":
                if not fresh:
                    raise FreshLinkNeeded()
                await tx.subscribers.deactivate_all(subscriber_id)
            elif what.isdigit() and len(what) < 19:
                subscription = await tx.subscribers.subscription(int(what))
                if subscription is None or subscription.subscriber_id != subscriber_id:
                    raise errors.NotFound()
                await tx.subscribers.deactivate(subscription.id)
            else:
                raise errors.MalformedRequest("Say which subscription to cancel")
            return await self._view(tx, subscriber_id, fresh=fresh)

    async def _view(self, tx: Tx, subscriber_id: int, *, fresh: bool = False) -> ManageView:
        subscriber = await tx.subscribers.get(subscriber_id)
        if subscriber is None:
            raise errors.NotFound()
        subs = await tx.subscribers.subscriptions_of(subscriber_id)
        own = await tx.subscribers.comments_by(subscriber.site, subscriber.email) if subscriber.email else []
        return ManageView(subscriber, subs, own, fresh)
