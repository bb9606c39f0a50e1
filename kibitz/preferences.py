"""The preference centre of the manage page: which of the site's newsletter lists an address gets,
and a pause of newsletter mail (a week, a month, or until resumed). "Unsubscribe from everything" is
the manage page's cancel-all (subscriptions.py).

A manage link comes from a mail to the address, so a list added with a link from the last hour is in
force at once (and welcomed); with an older link (a forwarded mail's, say) it waits for the address
to confirm, like any sign-up (consent.py). Leaving a list or pausing takes any live link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from kibitz import errors, newsletter
from kibitz.consent import request_subscription
from kibitz.subscriptions import ManageView, Subscriptions

PAUSES: dict[str, timedelta] = {"week": timedelta(days=7), "month": timedelta(days=30)}
UNTIL_RESUMED = "resumed"  # the pause that lasts until the reader resumes
RESUME = "resume"
# How "until resumed" is stored: later than any mail will be sent.
INDEFINITELY = datetime(9999, 1, 1, tzinfo=UTC)
MAX_CHOSEN = 100


@dataclass(frozen=True)
class Saved:
    """The page after a change of lists, and what changed (the publisher's list names)."""

    view: ManageView
    started: list[str] = field(default_factory=list)  # in force from now
    waiting: list[str] = field(default_factory=list)  # waiting for the address to confirm
    stopped: list[str] = field(default_factory=list)


def paused(view: ManageView, now: datetime) -> datetime | None:
    """Until when the subscriber's newsletters are paused (INDEFINITELY: until resumed), or None."""
    until = view.subscriber.paused_until
    return until if until is not None and until > now else None


class Preferences:
    """The preference centre's rules, on a manage link; each method is one transaction."""

    def __init__(self, subscriptions: Subscriptions) -> None:
        self.subscriptions = subscriptions
        self.db = subscriptions.db
        self.links = subscriptions.links
        self.clock = subscriptions.clock

    async def set_lists(self, token: str, chosen: Sequence[str]) -> Saved:
        """Get exactly the ``chosen`` lists of the site (by id): the others stop; UnknownList (and
        nothing changed) for an id the site does not have."""
        if len(chosen) > MAX_CHOSEN:
            raise errors.MalformedRequest("Too many lists")
        now = self.clock()
        started: list[str] = []
        waiting: list[str] = []
        stopped: list[str] = []
        async with self.db.write() as tx:
            subscriber_id, fresh = await self.subscriptions.live_link(tx, token)
            view = await self.subscriptions.view(tx, subscriber_id, fresh=fresh)
            site = view.subscriber.site
            if set(chosen) - {item.id for item in self.links.lists(site)}:
                raise errors.UnknownList.field("list", "is not one of the site's lists")
            for state in newsletter.list_states(self.links, site, view.subscriptions):
                wanted = state.list.id in chosen
                if not wanted and state.subscription is not None:
                    await tx.subscribers.deactivate(state.subscription.id)
                    stopped.append(state.list.name)
                elif wanted and not state.subscribed and (fresh or state.subscription is None):
                    subscription = await request_subscription(
                        tx,
                        self.links,
                        site,
                        view.subscriber.email,
                        newsletter.TOPIC,
                        None,
                        "instant",
                        now,
                        proven=fresh,
                        list_id=state.list.id,
                    )
                    if subscription.pending:
                        waiting.append(state.list.name)
                        continue
                    started.append(state.list.name)
                    holder = await tx.subscribers.get(subscriber_id)
                    assert holder is not None
                    await newsletter.welcome(tx, self.links, holder, subscription, now)
                    if self.subscriptions.webhooks is not None:
                        await self.subscriptions.webhooks.confirmed(tx, site, [(subscription, None)], now)
                elif wanted and state.waiting:
                    waiting.append(state.list.name)
            view = await self.subscriptions.view(tx, subscriber_id, fresh=fresh)
        return Saved(view, started, waiting, stopped)

    async def pause(self, token: str, how: str) -> ManageView:
        """Pause newsletter mail for a ``week`` or a ``month``, until ``resumed``, or ``resume`` it."""
        now = self.clock()
        if how in PAUSES:
            until: datetime | None = now + PAUSES[how]
        elif how == UNTIL_RESUMED:
            until = INDEFINITELY
        elif how == RESUME:
            until = None
        else:
            raise errors.MalformedRequest("Say how long to pause")
        async with self.db.write() as tx:
            subscriber_id, fresh = await self.subscriptions.live_link(tx, token)
            await tx.subscribers.pause(subscriber_id, until)
            return await self.subscriptions.view(tx, subscriber_id, fresh=fresh)
