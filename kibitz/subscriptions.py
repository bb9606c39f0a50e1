"""Subscription rules: subscribe (consent.py decides what waits for a confirmation), confirm,
one-click unsubscribe, and the manage page a mail's link opens.

Links are signed (links.py); a manage link is revocable ("sign out everywhere") and fresh for
destructive acts, and for confirming what waits, within the hour it was issued.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from kibitz import errors, guard, inputs, newsletter
from kibitz.config import SiteConfig
from kibitz.consent import request_subscription
from kibitz.links import CONFIRM, MANAGE, UNSUBSCRIBE, Links, links_for, ms, one_line
from kibitz.models import Comment, Thread
from kibitz.security import TokenError
from kibitz.store.db import Database
from kibitz.store.outbox import NewMail
from kibitz.store.subscribers import Subscriber, Subscription
from kibitz.store.tx import Tx
from kibitz.templating import render_template

if TYPE_CHECKING:
    from kibitz.webhooks import Webhooks

__all__ = ["Links", "Subscriptions", "links_for", "one_line"]

Clock = Callable[[], datetime]

MANAGE_FRESH = timedelta(hours=1)  # a manage link this young may delete comments and cancel all
TOPICS = ("newsletter", "thread", "replies", "updates")
DIGESTS = ("instant", "daily")
SUBSCRIBE_ANSWER = {"status": "check your inbox"}
_EPOCH = datetime.fromtimestamp(0, UTC)
_MAX_TOKEN = 300


class FreshLinkNeeded(errors.Forbidden):
    """A destructive act (delete a comment, cancel all) from a manage link issued over an hour ago:
    a forwarded or old mail's link may look, edit and cancel one subscription, not more."""

    title = "This needs a manage link from the last hour"


class AlreadyConfirmed(errors.Gone):
    """A spent confirmation link of an address that is confirmed, with no newer link waiting: this
    link (or a later one) did its work. Its page says so and hands out nothing else; a link replaced
    by a newer one while something waits stays plain Gone."""

    title = "This address is already confirmed"

    def __init__(self, site: str) -> None:
        super().__init__()
        self.site = site


@dataclass(frozen=True)
class ManageView:
    subscriber: Subscriber
    subscriptions: list[tuple[Subscription, Thread | None]]
    comments: list[tuple[Comment, Thread]]
    fresh: bool = False  # the link may delete comments and cancel all (MANAGE_FRESH)


@dataclass(frozen=True)
class ConfirmView:
    """A confirmation link's address and the pending subscriptions confirming it puts in force."""

    subscriber: Subscriber
    subscriptions: list[tuple[Subscription, Thread | None]]


@dataclass(frozen=True)
class UnsubscribeView:
    """What an unsubscribe link stops: one subscription (with its thread while it is in force), or
    every mail to the address (``subscription`` None)."""

    subscriber: Subscriber
    subscription: Subscription | None
    thread: Thread | None = None


@dataclass(frozen=True)
class ManageLink:
    """What a manage link says: whose it is and when it was issued (0 for links from before issue
    times were recorded: valid until revoked, never fresh)."""

    subscriber_id: int
    issued_ms: int


async def _reload(tx: Tx, subscriber_id: int) -> Subscriber:
    found = await tx.subscribers.get(subscriber_id)
    assert found is not None
    return found


async def send_manage_link(tx: Tx, links: Links, subscriber: Subscriber, now: datetime) -> bool:
    """Mail the address a fresh manage link, at most once per hour; True when enqueued. It goes only
    to the address itself and holds nothing anyone else chose."""
    values = {
        "site_name": links.site_name(subscriber.site),
        "manage_url": links.manage(subscriber.id, now),
        "hours": int(MANAGE_FRESH.total_seconds() // 3600),
    }
    bucket = ms(now) // int(MANAGE_FRESH.total_seconds() * 1000)
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

    webhooks: Webhooks | None = None  # set where made (web/subscribe.py): confirmations' webhook deliveries

    def __init__(self, db: Database, links: Links, clock: Clock) -> None:
        self.db = db
        self.links = links
        self.tokens = links.tokens
        self.clock = clock

    async def subscribe(
        self,
        site: SiteConfig,
        email: str,
        topic: str,
        page: str | None,
        digest: str | None,
        client: str,
        *,
        list_id: str | None = None,
        honeypot: str = "",
        form: str | None = None,
    ) -> dict[str, str]:
        """The same answer whatever the address (new, known, confirmed or unsubscribed), and whether
        or not it looks like a script's (the hidden field ``honeypot`` filled, a ``form`` token that
        is forged, used again or sent back too fast: then nothing is stored or sent)."""
        address = inputs.email(email, "email")
        if not address:
            raise errors.InvalidInput.field("email", "is required")
        if topic not in TOPICS:
            raise errors.InvalidInput.field("topic", "must be newsletter, thread, replies or updates")
        if list_id is not None and topic != newsletter.TOPIC:
            raise errors.InvalidInput.field("list", "is only for the newsletter")
        chosen = newsletter.choose_list(site, list_id) if topic == newsletter.TOPIC else None
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
            signals = await guard.automation_signals(tx, self.tokens, site.id, honeypot, form, now)
            if any(signal != guard.NO_FORM for signal in signals):
                return dict(SUBSCRIBE_ANSWER)  # a script's: the same answer, nothing stored or sent
            thread_id = None
            if topic != "newsletter":
                assert key is not None
                thread_id = (await tx.threads.get_or_create(site.id, key, "", "", now)).id
            list_id = chosen.id if chosen is not None else ""
            args = (tx, self.links, site.id, address, topic, thread_id, digest, now)
            await request_subscription(*args, list_id=list_id)
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

    async def _confirmable(self, tx: Tx, token: str) -> ConfirmView:
        subscriber_id, nonce = self._confirm_subject(token)
        subscriber = await tx.subscribers.get(subscriber_id)
        if subscriber is None:
            raise errors.NotFound()
        if subscriber.confirm_nonce is None or not secrets.compare_digest(subscriber.confirm_nonce, nonce):
            if subscriber.status == "confirmed" and subscriber.confirm_nonce is None:
                raise AlreadyConfirmed(subscriber.site)
            raise errors.Gone()
        # What the mail listed: asked for by the time it was sent (later requests wait).
        sent = subscriber.confirm_sent or _EPOCH
        return ConfirmView(subscriber, await tx.subscribers.pending_of(subscriber_id, until=sent))

    async def confirmable(self, token: str) -> ConfirmView:
        """GET of a confirmation link: checks it and tells what confirming would put in force;
        changes nothing (mail scanners fetch links)."""
        async with self.db.read() as tx:
            return await self._confirmable(tx, token)

    async def confirm(self, token: str) -> ConfirmView:
        """POST of a confirmation link: the address is confirmed and what its mail listed is in
        force; the link is spent."""
        async with self.db.write() as tx:
            view = await self._confirmable(tx, token)
            subscriber = view.subscriber
            _, nonce = self._confirm_subject(token)
            if not await tx.subscribers.confirm(subscriber.id, nonce, self.clock()):
                raise errors.Gone()
            ids = [s.id for s, _ in view.subscriptions]
            await tx.subscribers.activate_pending(
                subscriber.id, subscriber.confirm_sent or _EPOCH, ids, consented=self.clock(),
                via="confirmation link",
            )  # fmt: skip
            if self.webhooks is not None:
                await self.webhooks.confirmed(tx, subscriber.site, view.subscriptions, self.clock())
            confirmed = await _reload(tx, subscriber.id)
            await newsletter.welcome_confirmed(tx, self.links, confirmed, view.subscriptions, self.clock())
            return ConfirmView(confirmed, view.subscriptions)

    async def confirm_waiting(self, token: str, what: str) -> ManageView:
        """Confirm from the manage page what waits for a confirmation: one subscription (by id) or
        "all"; a fresh link only (a link from a mail to the address, issued within the hour)."""
        async with self.db.write() as tx:
            link = await self._live_link(tx, token)
            if not self._fresh(link):
                raise FreshLinkNeeded()
            now = self.clock()
            if what == "all":
                ids = None
            elif what.isdigit() and len(what) < 19:
                ids = [int(what)]
            else:
                raise errors.MalformedRequest("Say which subscription to confirm")
            waiting = await tx.subscribers.pending_of(link.subscriber_id, until=now)
            put = await tx.subscribers.activate_pending(
                link.subscriber_id, now, ids, consented=now, via="manage page"
            )
            if not put and ids:
                subscription = await tx.subscribers.subscription(ids[0])
                if subscription is None or subscription.subscriber_id != link.subscriber_id:
                    raise errors.NotFound()
            await tx.subscribers.confirm_held(link.subscriber_id, now)
            view = await self.view(tx, link.subscriber_id, fresh=True)
            chosen = [(s, thread) for s, thread in waiting if ids is None or s.id in ids]
            if self.webhooks is not None:
                await self.webhooks.confirmed(tx, view.subscriber.site, chosen, now)
            await newsletter.welcome_confirmed(tx, self.links, view.subscriber, chosen, now)
            return view

    async def _unsubscribe_target(self, tx: Tx, token: str) -> UnsubscribeView:
        subject = self._subject(UNSUBSCRIBE, token)
        if subject.startswith("s") and subject[1:].isdigit():
            subscriber = await tx.subscribers.get(int(subject[1:]))
            if subscriber is None:
                raise errors.NotFound()
            return UnsubscribeView(subscriber, None)
        if not subject.isdigit():
            raise errors.NotFound()
        subscription = await tx.subscribers.subscription(int(subject))
        subscriber = await tx.subscribers.get(subscription.subscriber_id) if subscription else None
        if subscription is None or subscriber is None:
            raise errors.NotFound()
        # The thread, for the page's link back to the story (known while the subscription is in force).
        in_force = await tx.subscribers.subscriptions_of(subscriber.id)
        thread = next((t for s, t in in_force if s.id == subscription.id), None)
        return UnsubscribeView(subscriber, subscription, thread)

    async def unsubscribable(self, token: str) -> UnsubscribeView:
        """GET of an unsubscribe link: what it would cancel; changes nothing."""
        async with self.db.read() as tx:
            return await self._unsubscribe_target(tx, token)

    async def unsubscribe(self, token: str) -> UnsubscribeView:
        """POST of an unsubscribe link (RFC 8058 one-click): idempotent."""
        async with self.db.write() as tx:
            target = await self._unsubscribe_target(tx, token)
            if target.subscription is None:
                await tx.subscribers.deactivate_all(target.subscriber.id)
                if target.subscriber.status != "bounced":
                    await tx.subscribers.set_status(target.subscriber.id, "unsubscribed")
            else:
                await tx.subscribers.deactivate(target.subscription.id)
        return target

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
        return link.issued_ms >= ms(self.clock() - MANAGE_FRESH)

    async def manage(self, token: str) -> ManageView:
        """The guest's page: their active subscriptions and their comments on the site."""
        async with self.db.read() as tx:
            link = await self._live_link(tx, token)
            return await self.view(tx, link.subscriber_id, fresh=self._fresh(link))

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

    async def own_comment(self, token: str, comment_id: int) -> tuple[Comment, Thread]:
        """One of the link holder's own comments as the manage page lists it, for the step that asks
        before deleting it: a fresh link only (FreshLinkNeeded), NotFound for anyone else's."""
        async with self.db.read() as tx:
            link = await self._live_link(tx, token)
            subscriber = await tx.subscribers.get(link.subscriber_id)
            if subscriber is None:
                raise errors.NotFound()
            if not self._fresh(link):
                raise FreshLinkNeeded()
            if not subscriber.email:
                raise errors.NotFound()
            own = await tx.subscribers.comments_by(subscriber.site, subscriber.email)
        found = next(((c, t) for c, t in own if c.id == comment_id), None)
        if found is None:
            raise errors.NotFound()
        return found

    async def sign_out_everywhere(self, token: str) -> Subscriber:
        """Void every manage link issued for this address so far (this one too); mails sent later
        carry working links again."""
        now = self.clock()
        async with self.db.write() as tx:
            link = await self._live_link(tx, token)
            subscriber = await tx.subscribers.get(link.subscriber_id)
            if subscriber is None:
                raise errors.NotFound()
            await tx.subscribers.revoke_manage_links(subscriber.id, max(ms(now), link.issued_ms))
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
            return await self.view(tx, subscriber_id, fresh=fresh)

    async def live_link(self, tx: Tx, token: str) -> tuple[int, bool]:
        """Whose live manage link this is and whether it is fresh: for rules built on the manage page."""
        link = await self._live_link(tx, token)
        return link.subscriber_id, self._fresh(link)

    async def view(self, tx: Tx, subscriber_id: int, *, fresh: bool = False) -> ManageView:
        """The manage page's view of a subscriber, in ``tx``."""
        subscriber = await tx.subscribers.get(subscriber_id)
        if subscriber is None:
            raise errors.NotFound()
        subs = await tx.subscribers.subscriptions_of(subscriber_id)
        own = await tx.subscribers.comments_by(subscriber.site, subscriber.email) if subscriber.email else []
        return ManageView(subscriber, subs, own, fresh)
