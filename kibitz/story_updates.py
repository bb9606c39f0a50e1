"""Story updates (DESIGN.md §3b): a correction, update or follow-up to a story, mailed to its followers
(at once, or in their daily digest), shown in the widget live and on every read, and in its Atom feed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kibitz import errors, inputs, markup
from kibitz.config import SiteConfig
from kibitz.events import EventKind, Events, ThreadEvent
from kibitz.links import Links, one_line
from kibitz.models import Thread
from kibitz.notify import thread_name
from kibitz.origins import origin_of
from kibitz.store.db import Database
from kibitz.store.outbox import NewMail
from kibitz.store.story_updates import NewUpdate, StoryUpdate
from kibitz.store.subscribers import Follower
from kibitz.store.tx import Tx
from kibitz.templating import render_template

Clock = Callable[[], datetime]

KINDS = {"correction": "Correction", "update": "Update", "follow-up": "Follow-up"}
TOPICS = ("thread", "updates")  # who hears of updates: every comment follower, and updates-only ones
MAX_TITLE = 300
LATEST = 5  # updates a thread read carries (the widget shows the newest not dismissed)
SHOWN = 50  # updates the admin's story page lists
EXCERPT = 4000  # characters of an update's text in a mail


@dataclass(frozen=True)
class Posted:
    update: StoryUpdate
    created: bool  # False: the same update was posted before (a retry); nothing was sent again
    notified: int  # mails and digest items queued for it


def _title(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise errors.InvalidInput.field("title", "must be one line")
    found = inputs.title(value)
    if not found:
        raise errors.InvalidInput.field("title", "is required")
    return found


def _url(site: SiteConfig, value: str | None) -> str:
    """An optional link for "read more": an http(s) URL on one of the site's origins, or ""."""
    url = inputs.web_url(value, "url")
    if url and not site.allows_origin(origin_of(url) or ""):
        raise errors.InvalidInput.field("url", "must be on one of the site's origins")
    return url


def values_of(links: Links, thread: Thread, update: StoryUpdate) -> dict[str, Any]:
    """What a mail (instant or digest) says of an update: only words staff or the publisher chose."""
    text = markup.plain_text(update.html)
    return {
        "label": KINDS.get(update.kind, "Update"),
        "title": update.title,
        "text": text if len(text) <= EXCERPT else text[: EXCERPT - 1].rstrip() + "…",
        "story": thread_name(links, thread, quoted=True),
        "thread_name": thread_name(links, thread),
        "view_url": update.url or thread.page_url or links.base_url.rstrip("/") + "/",
    }


class StoryUpdates:
    """Staff's story updates; each method is one transaction, events after commit."""

    def __init__(self, db: Database, events: Events, links: Links, clock: Clock) -> None:
        self.db = db
        self.events = events
        self.links = links
        self.clock = clock

    async def post(
        self, site: SiteConfig, page: str, kind: str, title: str, text: str, url: str | None, actor: str
    ) -> Posted:
        """Record the update, queue its mail, audit it, then tell open widgets (``story.update``).
        The same words posted again on the story answer the first update and send nothing."""
        key = inputs.page_key(page)
        if kind not in KINDS:
            raise errors.InvalidInput.field("kind", "must be correction, update or follow-up")
        source = inputs.text(text)
        new = NewUpdate(
            site=site.id, thread_id=0, kind=kind, title=_title(title), text=source,
            html=markup.render(source, allow_images=False), url=_url(site, url), created_by=actor[:200],
        )  # fmt: skip
        now = self.clock()
        async with self.db.write() as tx:
            thread = await tx.threads.get_or_create(site.id, key, "", "", now)
            new = dataclasses.replace(new, thread_id=thread.id)
            before = await tx.story_updates.same(new)
            if before is not None:
                return Posted(before, False, 0)
            update = await tx.story_updates.insert(new, now)
            notified = await self._notify(tx, thread, update, now)
            thread = await tx.threads.bump(thread.id, kind=EventKind.STORY_UPDATE, comment_id=update.id)
            await tx.audit.record(
                at=now, site=site.id, actor=actor, action="story.update", target=f"thread:{key}",
                detail={"update": str(update.id), "kind": kind, "title": update.title, "notified": notified},
            )  # fmt: skip
        await self.events.dispatch(ThreadEvent.of(EventKind.STORY_UPDATE, thread, update.id))
        return Posted(update, True, notified)

    async def latest(self, thread: Thread | None, limit: int = LATEST) -> list[StoryUpdate]:
        """The story's newest updates first (none for a page without a thread)."""
        if thread is None or not thread.id:
            return []
        async with self.db.read() as tx:
            return await tx.story_updates.of_thread(thread.id, limit)

    async def of_story(self, site_id: str, page: str, limit: int = SHOWN) -> list[StoryUpdate]:
        """A story's updates, newest first, for the admin's story page."""
        async with self.db.read() as tx:
            thread = await tx.threads.get(site_id, inputs.page_key(page))
            return await tx.story_updates.of_thread(thread.id, limit) if thread is not None else []

    async def _notify(self, tx: Tx, thread: Thread, update: StoryUpdate, now: datetime) -> int:
        """One mail (or digest item) per follower of the story, whichever of their subscriptions to
        it came first; replies-only followers are not told."""
        told: set[int] = set()
        made = 0
        for topic in TOPICS:
            for follower in await tx.subscribers.followers(thread.id, topic):
                if follower.subscriber.id in told:
                    continue
                told.add(follower.subscriber.id)
                made += await self._deliver(tx, follower, thread, update, now)
        return made

    async def _deliver(
        self, tx: Tx, follower: Follower, thread: Thread, update: StoryUpdate, now: datetime
    ) -> int:
        subscription = follower.subscription
        if subscription.digest == "daily":
            await tx.story_updates.add_digest_item(subscription.id, update.id, now)
            return 1
        values = values_of(self.links, thread, update)
        unsubscribe = self.links.unsubscribe(subscription.id, now)
        values.update(
            topic=subscription.topic,
            site_name=self.links.site_name(thread.site),
            unsubscribe_url=unsubscribe,
            manage_url=self.links.manage(follower.subscriber.id, now),
        )
        subject = f"{values['label']}: {values['thread_name']} — {update.title}"
        added = await tx.outbox.enqueue(
            NewMail(
                site=thread.site,
                kind="update",
                dedupe_key=f"update:{update.id}",
                recipient=follower.subscriber.email,
                subject=one_line(subject),
                text_body=render_template("email/update.txt", **values),
                html_body=render_template("email/update.html", **values),
                list_unsubscribe=unsubscribe,
                subscriber_id=follower.subscriber.id,
                subscription_id=subscription.id,
            ),
            now,
        )
        return int(added)
