"""Consent per subscription: nothing is mailed for a subscription its address did not ask for.

Anyone can type anyone's address into a form, so a subscription asked for without proof that the
asker holds the address (a session verified for it, or a link from a mail sent to it) is created
*pending*. A pending subscription gets nothing but one confirmation mail that lists it; confirming
that mail puts in force exactly what it listed (what was asked for by the time it was sent), and
confirms the address. Confirmation mails go out at most once an hour per address, whatever is asked
for meanwhile; what arrives after a mail waits for the next one, or for the address's own manage
page (a link from a mail to it), where it can be confirmed. A subscription already in force is never
changed by an unproven request.

What the mails and pages name is the site and the publisher's title of the page (titles.py): never
a title, page key, name or link that whoever typed the address chose.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from kibitz.links import CONFIRM, TTL, Links, one_line
from kibitz.models import Thread
from kibitz.store.outbox import NewMail
from kibitz.store.subscribers import Subscriber, Subscription
from kibitz.store.tx import Tx
from kibitz.templating import render_template

CONFIRM_QUIET = timedelta(hours=1)  # at most one confirmation mail per address in this time
LISTED = 10  # subscriptions named one by one in a confirmation mail; the rest are counted


def label(links: Links, site: str, subscription: Subscription, thread: Thread | None) -> str:
    """What a subscription follows, in words only the publisher chose."""
    site_name = links.site_name(site)
    if subscription.topic == "newsletter":
        found = links.newsletter_list(site, subscription.list_id)
        return f"the newsletter “{found.name}”" if found is not None else f"the newsletter of {site_name}"
    if thread is None:
        return f"the newsletter of {site_name}"
    story = f"“{thread.page_title}”" if thread.page_title else f"a story on {site_name}"
    if subscription.topic == "replies":
        return f"replies to your comments on {story}"
    if subscription.topic == "updates":
        return f"updates to {story}"
    return f"new comments on {story}"


async def request_subscription(
    tx: Tx,
    links: Links,
    site: str,
    email: str,
    topic: str,
    thread_id: int | None,
    digest: str,
    now: datetime,
    *,
    proven: bool = False,
    list_id: str = "",
) -> Subscription:
    """Record what the address wants to follow (``list_id``: which newsletter list). ``proven``: the
    asker showed they hold the address (a verified session), so it is in force at once; otherwise it
    waits, pending, for the address to confirm a mail that lists it."""
    subscriber = await tx.subscribers.get_or_create(site, email, now)
    lists = links.lists(site)
    first = bool(lists) and lists[0].id == list_id  # what a subscription from before lists meant
    subscription = await tx.subscribers.subscribe(
        subscriber.id,
        topic,
        thread_id,
        digest,
        now,
        pending=not proven,
        list_id=list_id,
        adopt_unlisted=first,
    )
    if proven:
        if subscriber.status in ("unconfirmed", "unsubscribed"):
            await tx.subscribers.confirm_held(subscriber.id, now)
        return subscription
    if not subscription.pending or subscriber.status == "bounced":
        return subscription  # already in force, or the address takes no mail at all
    if subscriber.status == "unsubscribed":
        # Asking again after leaving: a fresh double opt-in, never a silent return.
        await tx.subscribers.set_status(subscriber.id, "unconfirmed")
    await send_confirmation(tx, links, subscriber, now)
    return subscription


async def send_confirmation(tx: Tx, links: Links, subscriber: Subscriber, now: datetime) -> bool:
    """Enqueue a confirmation mail listing the address's pending subscriptions, unless one went out
    within the hour; True when enqueued."""
    nonce = secrets.token_urlsafe(18)
    if not await tx.subscribers.start_confirmation(subscriber.id, nonce, now, now - CONFIRM_QUIET):
        return False
    pending = await tx.subscribers.pending_of(subscriber.id, until=now)
    items = [label(links, subscriber.site, s, thread) for s, thread in pending[:LISTED]]
    values = {
        "site_name": links.site_name(subscriber.site),
        "items": items,
        "more": max(0, len(pending) - LISTED),
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
            subject=one_line(f"Confirm your subscription to {values['site_name']}"),
            text_body=render_template("email/confirm.txt", **values),
            html_body=render_template("email/confirm.html", **values),
            list_unsubscribe=str(values["unsubscribe_url"]),
            subscriber_id=subscriber.id,
        ),
        now,
    )
    return True
