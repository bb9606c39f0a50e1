"""Subscription rules: subscribe with double opt-in, confirm, one-click unsubscribe, the manage page.

Tokens (kibitz.security.Tokens) carry the subject of each link: "confirm" → "{subscriber}.{nonce}"
(7 days, single use), "unsubscribe" → "{subscription}" or "s{subscriber}" (every subscription),
"manage" → "{subscriber}" (30 days). Tokens are signed, expiring and never derived from the address.
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
TOPICS = ("newsletter", "thread", "replies")
DIGESTS = ("instant", "daily")
SUBSCRIBE_ANSWER = {"status": "check your inbox"}
_EPOCH = datetime.fromtimestamp(0, UTC)
_MAX_TOKEN = 300


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
        return self._url(MANAGE, str(subscriber_id), now)

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

    def _manage_subject(self, token: str) -> int:
        subject = self._subject(MANAGE, token)
        if not subject.isdigit():
            raise errors.NotFound()
        return int(subject)

    async def manage(self, token: str) -> ManageView:
        """The guest's page: their active subscriptions and their comments on the site."""
        subscriber_id = self._manage_subject(token)
        async with self.db.read() as tx:
            return await self._view(tx, subscriber_id)

    async def holder(self, token: str) -> Subscriber:
        """Whom a manage link speaks for (NotFound/Gone like the page): the credential for changing
        their own comments from the manage page."""
        subscriber_id = self._manage_subject(token)
        async with self.db.read() as tx:
            subscriber = await tx.subscribers.get(subscriber_id)
        if subscriber is None:
            raise errors.NotFound()
        return subscriber

    async def cancel(self, token: str, what: str) -> ManageView:
        """Cancel one subscription (by id) or "all" of them from the manage page."""
        subscriber_id = self._manage_subject(token)
        async with self.db.write() as tx:
            if what == "all":
                await tx.subscribers.deactivate_all(subscriber_id)
            elif what.isdigit() and len(what) < 19:
                subscription = await tx.subscribers.subscription(int(what))
                if subscription is None or subscription.subscriber_id != subscriber_id:
                    raise errors.NotFound()
                await tx.subscribers.deactivate(subscription.id)
            else:
                raise errors.MalformedRequest("Say which subscription to cancel")
            return await self._view(tx, subscriber_id)

    async def _view(self, tx: Tx, subscriber_id: int) -> ManageView:
        subscriber = await tx.subscribers.get(subscriber_id)
        if subscriber is None:
            raise errors.NotFound()
        subs = await tx.subscribers.subscriptions_of(subscriber_id)
        own = await tx.subscribers.comments_by(subscriber.site, subscriber.email) if subscriber.email else []
        return ManageView(subscriber, subs, own)
