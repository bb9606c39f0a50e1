"""Newsletter lists: which list a sign-up names, what each list's subscription of an address is, and
the welcome mail a list sends once its subscription is in force (DESIGN.md §3b, "Newsletter").

Signing up is a subscription like any other (subscriptions.py, consent.py: double opt-in, one
confirmation mail an hour per address); the preference centre's changes are in preferences.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kibitz import errors
from kibitz.config import NewsletterList, SiteConfig
from kibitz.links import Links, one_line
from kibitz.models import Thread
from kibitz.store.outbox import NewMail
from kibitz.store.subscribers import Subscriber, Subscription
from kibitz.store.tx import Tx
from kibitz.templating import render_template

TOPIC = "newsletter"


def choose_list(site: SiteConfig, list_id: str | None) -> NewsletterList:
    """The list a sign-up names (none: the site's first); UnknownList for one the site lacks."""
    if list_id is None:
        return site.lists[0]
    found = next((item for item in site.lists if item.id == list_id), None)
    if found is None:
        raise errors.UnknownList.field("list", "is not one of the site's lists")
    return found


@dataclass(frozen=True)
class ListState:
    """One of a site's lists as an address has it: its subscription in force or waiting (None: not
    subscribed)."""

    list: NewsletterList
    subscription: Subscription | None

    @property
    def subscribed(self) -> bool:
        return self.subscription is not None and not self.subscription.pending

    @property
    def waiting(self) -> bool:
        return self.subscription is not None and self.subscription.pending


def list_states(
    links: Links, site: str, subscriptions: Sequence[tuple[Subscription, Thread | None]]
) -> list[ListState]:
    """Every list of the site, in the publisher's order, with the address's active subscription to it."""
    held: dict[str, Subscription] = {}
    for subscription, _ in subscriptions:
        if subscription.topic != TOPIC:
            continue
        found = links.newsletter_list(site, subscription.list_id)
        if found is not None and (found.id not in held or held[found.id].pending):
            held[found.id] = subscription  # one in force wins over one that waits
    return [ListState(item, held.get(item.id)) for item in links.lists(site)]


def welcome_key(subscriber_id: int, list_id: str) -> str:
    """The outbox's dedupe key of a welcome: one per subscriber and list, ever."""
    return f"welcome:{subscriber_id}:{list_id}"


async def welcome(
    tx: Tx, links: Links, subscriber: Subscriber, subscription: Subscription, now: datetime
) -> bool:
    """Enqueue the welcome mail of the subscription's list, in force from now: only for a list with
    ``welcome = true``, once per subscriber and list, not while the subscriber pauses newsletters.
    Worded by the publisher's names only; it carries the list's one-click unsubscribe. True when
    enqueued."""
    if subscription.topic != TOPIC:
        return False
    chosen = links.newsletter_list(subscriber.site, subscription.list_id)
    if chosen is None or not chosen.welcome:
        return False
    if subscriber.paused_until is not None and subscriber.paused_until > now:
        return False
    values = {
        "site_name": links.site_name(subscriber.site),
        "list_name": chosen.name,
        "description": chosen.description,
        "unsubscribe_url": links.unsubscribe(subscription.id, now),
        "manage_url": links.manage(subscriber.id, now),
    }
    return await tx.outbox.enqueue(
        NewMail(
            site=subscriber.site,
            kind="welcome",
            dedupe_key=welcome_key(subscriber.id, chosen.id),
            recipient=subscriber.email,
            subject=one_line(f"Welcome to {chosen.name}"),
            text_body=render_template("email/welcome.txt", **values),
            html_body=render_template("email/welcome.html", **values),
            list_unsubscribe=str(values["unsubscribe_url"]),
            subscriber_id=subscriber.id,
            subscription_id=subscription.id,
        ),
        now,
    )


async def welcome_confirmed(
    tx: Tx,
    links: Links,
    subscriber: Subscriber,
    confirmed: Sequence[tuple[Subscription, Thread | None]],
    now: datetime,
) -> int:
    """The welcomes of the newsletter subscriptions a confirmation has just put in force; how many."""
    made = 0
    for subscription, _ in confirmed:
        made += await welcome(tx, links, subscriber, subscription, now)
    return made
