"""Daily digests: one mail per subscription with comments or story updates waiting, written in the same
transaction that clears them (so a digest is neither lost nor sent twice). Running it once a day across
all workers is the scheduler's job (kibitz.worker)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from kibitz import story_updates
from kibitz.config import Settings
from kibitz.models import Comment, Thread
from kibitz.notify import comment_values, thread_name
from kibitz.security import Tokens
from kibitz.store.db import Database
from kibitz.store.outbox import NewMail
from kibitz.store.story_updates import StoryUpdate
from kibitz.subscriptions import Links, links_for, one_line
from kibitz.templating import render_template

Clock = Callable[[], datetime]
MAX_ITEMS = 100  # comments shown in one digest; the rest are counted and linked


async def send_digests(db: Database, tokens: Tokens, settings: Settings, clock: Clock) -> int:
    """Enqueue every waiting digest; returns how many digest mails were enqueued."""
    links = links_for(tokens, settings)
    async with db.read() as tx:
        waiting = await tx.subscribers.digest_subscription_ids()
        waiting += await tx.story_updates.digest_subscription_ids()
    pending = sorted(set(waiting))
    sent = 0
    for subscription_id in pending:
        sent += await _one_digest(db, links, subscription_id, clock())
    return sent


async def _one_digest(db: Database, links: Links, subscription_id: int, now: datetime) -> int:
    async with db.write() as tx:
        items = await tx.subscribers.digest_items(subscription_id)
        updates = await tx.story_updates.digest_items(subscription_id)
        subscription = await tx.subscribers.subscription(subscription_id)
        subscriber = await tx.subscribers.get(subscription.subscriber_id) if subscription else None
        await tx.subscribers.clear_digest(subscription_id, [comment.id for comment, _ in items])
        await tx.story_updates.clear_digest(subscription_id, [update.id for update, _ in updates])
        shown = [(comment, thread) for comment, thread in items if comment.visible]
        if (
            not (shown or updates)
            or subscription is None
            or subscriber is None
            or not subscription.active
            or subscription.pending
            or subscriber.status != "confirmed"
        ):
            return 0  # nothing left to say, or nobody to say it to: the items are dropped
        entries = [comment_values(links, thread, comment) for comment, thread in shown[:MAX_ITEMS]]
        told = [story_updates.values_of(links, thread, update) for update, thread in updates[:MAX_ITEMS]]
        threads = sorted({thread_name(links, thread) for _, thread in [*shown, *updates]})
        site_name = links.site_name(subscriber.site)
        count = len(shown)
        noun = "comment" if count == 1 else "comments"
        about = threads[0] if len(threads) == 1 else f"{len(threads)} discussions"
        lead = f"{count} new {noun} on {about}"
        if updates:  # a story's correction or update leads: it is what the publisher wants known
            first = told[0]
            lead = f"{first['label']}: {first['title']}" if len(told) == 1 else f"{len(told)} story updates"
            lead += f" and {count} new {noun}" if count else ""
            lead += f" on {about}"
        values = {
            "site_name": site_name,
            "entries": entries,
            "updates": told,
            "more": max(0, count - MAX_ITEMS),
            "lead": lead,
            "unsubscribe_url": links.unsubscribe(subscription_id, now),
            "manage_url": links.manage(subscriber.id, now),
        }
        await tx.outbox.enqueue(
            NewMail(
                site=subscriber.site,
                kind="digest",
                dedupe_key=_dedupe_key(subscription_id, items, updates),
                recipient=subscriber.email,
                subject=one_line(f"{site_name}: {lead}"),
                text_body=render_template("email/digest.txt", **values),
                html_body=render_template("email/digest.html", **values),
                list_unsubscribe=str(values["unsubscribe_url"]),
                subscriber_id=subscriber.id,
                subscription_id=subscription_id,
            ),
            now,
        )
        return 1


def _dedupe_key(
    subscription_id: int, items: list[tuple[Comment, Thread]], updates: list[tuple[StoryUpdate, Thread]]
) -> str:
    """What this digest covers, so that running the digest job twice sends it once: the newest comment
    (as before updates existed) and the newest update it holds."""
    key = f"digest:{subscription_id}:{max((comment.id for comment, _ in items), default=0)}"
    return key + (f":u{max(update.id for update, _ in updates)}" if updates else "")
