"""Moderation rules: the queue, a moderator's acts on a comment (approve, reject, spam, restore,
pin, feature, edit), closing threads, per-comment history, and the dashboard's figures.

Every act is one transaction with its audit entry; what readers see changes through the thread's
version and event, exactly as a reader's own write does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from kibitz import akismet, errors, guard, inputs, markup, notify
from kibitz.config import ModerationMode, SiteConfig
from kibitz.events import EventKind, Events, ThreadEvent
from kibitz.models import AuditEntry, Comment, CommentStatus, QueueItem, Thread
from kibitz.policy import Policies, as_dict
from kibitz.security import Tokens
from kibitz.spam import engine as spam
from kibitz.store.audit import AuditFilter
from kibitz.store.db import Database
from kibitz.store.moderation import QUEUE_STATUSES, DayCounts, QueueFilter, decode_cursor, encode_cursor
from kibitz.store.tx import Tx
from kibitz.subscriptions import Links

if TYPE_CHECKING:
    from kibitz.webhooks import Webhooks

Clock = Callable[[], datetime]
ACTIONS = ("approve", "reject", "spam", "restore", "pin", "unpin", "feature", "unfeature")
STATUS_OF = {
    "approve": CommentStatus.APPROVED,
    "reject": CommentStatus.REJECTED,
    "spam": CommentStatus.SPAM,
    "restore": CommentStatus.PENDING,
}
MARKS = {"pin": ("pinned", True), "unpin": ("pinned", False), "feature": ("featured", True),
         "unfeature": ("featured", False)}  # fmt: skip
MAX_BULK = 500
ARRIVALS = 50  # at most this many new comments per look of an open queue
ARRIVAL_GRACE = timedelta(seconds=2)  # longer than any write transaction (statement_timeout aside)


@dataclass(frozen=True)
class Stats:
    days: list[DayCounts]
    pending: int
    oldest_pending: datetime | None
    flagged: int
    most_discussed: list[tuple[str, str, int]]


class Moderation:
    webhooks: Webhooks | None = None  # set by the Context: the acts' webhook deliveries

    def __init__(
        self,
        db: Database,
        events: Events,
        tokens: Tokens,
        policies: Policies,
        clock: Clock,
        sites: Callable[[str], SiteConfig | None],
        links: Links | None = None,
    ) -> None:
        self.sites = sites
        self.db = db
        self.events = events
        self.tokens = tokens
        self.policies = policies
        self.clock = clock
        self.links = links

    # -- reads ------------------------------------------------------------------------------------

    async def queue(
        self, site: str, f: QueueFilter, cursor: str | None, limit: int
    ) -> tuple[list[QueueItem], str | None]:
        after = None
        if cursor:
            after = decode_cursor(cursor)
            if after is None:
                raise errors.InvalidInput.field("cursor", "is not a cursor this server gave")
        limit = max(1, min(limit, 100))
        async with self.db.read() as tx:
            items = await tx.moderation.queue(site, f, after, limit + 1)
        more = len(items) > limit
        items = items[:limit]
        last = items[-1].comment if items else None
        return items, (encode_cursor(last.created, last.id) if more and last else None)

    async def tab_counts(self, site: str) -> dict[str, int]:
        """Comments in each queue tab of ``site`` (pending, flagged, spam, rejected, approved, all)."""
        async with self.db.read() as tx:
            return {status: await tx.moderation.count(site, status) for status in QUEUE_STATUSES}

    async def arrivals(self, site: str, status: str, after: int) -> list[QueueItem]:
        """What to add on top of an open queue whose newest comment is ``after``: the newer ones, and
        those begun up to two seconds before it (on PostgreSQL a comment can commit after one with
        a larger id; the page skips any it shows already)."""
        items, _ = await self.queue(site, QueueFilter(status=status), None, ARRIVALS)
        shown = await self.item(after) if after else None
        since = shown.comment.created - ARRIVAL_GRACE if shown else None
        return [
            item
            for item in items
            if item.comment.id > after
            or (since is not None and item.comment.id != after and item.comment.created >= since)
        ]

    async def item(self, comment_id: int) -> QueueItem | None:
        async with self.db.read() as tx:
            return await tx.moderation.item(comment_id)

    async def site_of(self, comment_id: int) -> str | None:
        async with self.db.read() as tx:
            return await tx.comments.site_of(comment_id)

    async def history(self, comment_id: int) -> list[AuditEntry]:
        async with self.db.read() as tx:
            return await tx.audit.listing(AuditFilter(target=f"comment:{comment_id}"), None, 200)

    async def stats(self, site: str, days: int) -> Stats:
        days = max(1, min(days, 365))
        now = self.clock()
        since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
        async with self.db.read() as tx:
            per_day = await tx.moderation.per_day(site, since)
            pending = await tx.moderation.count(site, "pending")
            oldest = await tx.moderation.oldest_pending(site)
            flagged = await tx.moderation.count(site, "flagged")
            busiest = await tx.moderation.most_discussed(site, since)
        by_day = {d.day: d for d in per_day}
        first = since.date()
        filled = [
            by_day.get(first + timedelta(days=i), DayCounts(first + timedelta(days=i))) for i in range(days)
        ]
        return Stats(filled, pending, oldest, flagged, busiest)

    async def spam_check(
        self, site: SiteConfig, page: str, text: str, name: str, email: str | None, addr: str,
        url: str | None = None,
    ) -> guard.Screened:  # fmt: skip
        """What posting this now would become (the moderators' spam check); writes nothing. The
        author's ``url`` is screened as a post's is (a name that is an advert, a spam domain)."""
        text = inputs.text(text)
        key = inputs.page_key(page)
        poster = guard.Poster(
            inputs.email(email), "", inputs.author_name(name), addr, self.policies.address_hash(addr),
            inputs.web_url(url),
        )  # fmt: skip
        async with self.db.read() as tx:
            effective = await self.policies.effective(tx, site)
            thread = await tx.threads.get(site.id, key)
            if thread is not None and thread.moderation:
                effective = replace(effective, moderation=ModerationMode(thread.moderation))
            try:
                return await guard.screen(tx, effective, self.policies, poster, text, self.clock())
            except errors.Banned:
                return guard.Screened(CommentStatus.SPAM, ("banned",), 1.0)

    # -- acts ---------------------------------------------------------------------------------------

    async def act(
        self, site: SiteConfig, comment_id: int, action: str, actor: str, reason: str = "",
        *, check: Callable[[Tx], Awaitable[dict[str, Any]]] | None = None,
    ) -> QueueItem:  # fmt: skip
        """One moderator's act on one comment of ``site``; NotFound when it is not there. ``check``
        runs first in the act's transaction (it may refuse by raising) and gives more detail for the
        audit entry: a moderation mail's link (moderator_links.py) spends itself there."""
        if action not in ACTIONS:
            raise errors.InvalidInput.field("action", "must be one of " + ", ".join(ACTIONS))
        reason = " ".join(reason.split())[:500]
        async with self.db.write() as tx:
            extra = await check(tx) if check is not None else {}
            event = await self._act(tx, site, comment_id, action, actor, reason, extra)
            item = await tx.moderation.item(comment_id)
        if event is not None:
            await self.events.dispatch(event)
        assert item is not None
        return item

    async def bulk(
        self, site: SiteConfig, ids: list[int], action: str, actor: str
    ) -> tuple[list[int], list[tuple[int, str]]]:
        """The same act on many comments, each in its own transaction: (done, failed with code)."""
        if action not in ACTIONS:
            raise errors.InvalidInput.field("action", "must be one of " + ", ".join(ACTIONS))
        if not 1 <= len(ids) <= MAX_BULK:
            raise errors.InvalidInput.field("ids", f"must list 1 to {MAX_BULK} comments")
        done: list[int] = []
        failed: list[tuple[int, str]] = []
        for comment_id in dict.fromkeys(ids):
            try:
                await self.act(site, comment_id, action, actor)
            except errors.KibitzError as exc:
                failed.append((comment_id, exc.code))
            else:
                done.append(comment_id)
        return done, failed

    async def _comment(self, tx: Tx, site: SiteConfig, comment_id: int) -> Comment:
        comment = await tx.comments.get(comment_id, for_update=True)
        if comment is None or comment.site != site.id:
            raise errors.NotFound("No such comment")
        return comment

    async def _act(
        self, tx: Tx, site: SiteConfig, comment_id: int, action: str, actor: str, reason: str,
        extra: dict[str, Any] | None = None,
    ) -> ThreadEvent | None:  # fmt: skip
        comment = await self._comment(tx, site, comment_id)
        now = self.clock()
        detail: dict[str, Any] = {**(extra or {}), **({"reason": reason} if reason else {})}
        event: ThreadEvent | None = None
        if action in MARKS:
            column, value = MARKS[action]
            if getattr(comment, column) != value:
                await tx.moderation.set_marks(comment.id, **{column: value})
                if comment.visible:
                    thread = await tx.threads.bump(
                        comment.thread_id, kind=EventKind.COMMENT_UPDATED, comment_id=comment.id
                    )
                    event = ThreadEvent.of(EventKind.COMMENT_UPDATED, thread, comment.id)
        else:
            target = STATUS_OF[action]
            if comment.status is not target:
                event = await self._set_status(tx, comment, target, now)
                detail["from"] = comment.status.value
                await self._trust(tx, comment, comment.status, target, now)
                if self.webhooks is not None:
                    await self.webhooks.moderated(tx, site.id, comment.id, action, reason, now)
            await tx.moderation.resolve_flags(comment.id)
            if action in spam.LABELS:  # the site's classifier learns the desk's verdict
                label = spam.LABELS[action]
                # ... and Akismet hears of a decision contrary to its own.
                learned = await spam.learn(tx, comment, label, now)
                if learned and await akismet.feedback(tx, comment, label, now) and self.webhooks:
                    self.webhooks.wakeup.set()
        await tx.audit.record(
            at=now, site=site.id, actor=actor, action=f"comment.{action}", target=f"comment:{comment.id}",
            detail=detail,
        )  # fmt: skip
        return event

    async def _set_status(
        self, tx: Tx, comment: Comment, target: CommentStatus, now: datetime
    ) -> ThreadEvent | None:
        """Move a comment to ``target``; when that shows or hides it, counts, event and (the
        first time it is shown) notifications follow, as for a reader's post."""
        await tx.comments.set_status(comment.id, target)
        was_visible = comment.visible
        now_visible = target is CommentStatus.APPROVED and not comment.deleted
        delta = int(now_visible) - int(was_visible)
        if not delta:
            return None
        await tx.comments.add_visible_descendants(comment.ancestor_ids, delta)
        kind = EventKind.COMMENT_CREATED if delta > 0 else EventKind.COMMENT_DELETED
        thread = await tx.threads.bump(comment.thread_id, count_delta=delta, kind=kind, comment_id=comment.id)
        if delta > 0:
            await self._notify_approved(tx, thread, comment, now)
        return ThreadEvent.of(kind, thread, comment.id)

    async def _notify_approved(self, tx: Tx, thread: Thread, comment: Comment, now: datetime) -> None:
        if self.links is None:
            return
        shown = await tx.comments.get(comment.id)
        parent = await tx.comments.get(comment.parent_id) if comment.parent_id else None
        if shown is not None:
            # Mails are keyed by comment and recipient: approving again never mails twice.
            await notify.on_comment(tx, self.links, thread, shown, parent, now)

    async def _trust(
        self, tx: Tx, comment: Comment, before: CommentStatus, after: CommentStatus, now: datetime
    ) -> None:
        key = guard.trust_key(comment.author.email, comment.reader_id)
        bad = (CommentStatus.REJECTED, CommentStatus.SPAM)
        approved = int(after is CommentStatus.APPROVED) - int(before is CommentStatus.APPROVED)
        rejected = int(after in bad) - int(before in bad)
        if approved or rejected:
            await tx.trust.add(comment.site, key, approved=approved, rejected=rejected, now=now)

    async def edit(self, site: SiteConfig, comment_id: int, text: str, actor: str) -> QueueItem:
        """A moderator's edit: rendered as a post would be; readers see it was edited by a moderator."""
        text = inputs.text(text)
        html = markup.render(text, allow_images=site.allow_images)
        now = self.clock()
        event = None
        async with self.db.write() as tx:
            comment = await self._comment(tx, site, comment_id)
            if comment.deleted:
                raise errors.NotFound("No such comment")
            await tx.moderation.set_moderated_text(comment.id, text, html, markup.RENDERER_VERSION, now)
            if comment.visible:
                thread = await tx.threads.bump(
                    comment.thread_id, kind=EventKind.COMMENT_UPDATED, comment_id=comment.id
                )
                event = ThreadEvent.of(EventKind.COMMENT_UPDATED, thread, comment.id)
            await tx.audit.record(
                at=now, site=site.id, actor=actor, action="comment.edit", target=f"comment:{comment.id}",
                detail={"before": comment.text[:2000]},
            )  # fmt: skip
            item = await tx.moderation.item(comment.id)
        if event is not None:
            await self.events.dispatch(event)
        assert item is not None
        return item

    async def settings(self, site: SiteConfig) -> dict[str, Any]:
        """The §3b settings object of a site as in force now."""
        return as_dict(await self.policies.current(site))

    async def update_settings(self, site: SiteConfig, changes: dict[str, Any], actor: str) -> dict[str, Any]:
        """Store some settings of a site (audited); in force at once on every worker."""
        now = self.clock()
        async with self.db.write() as tx:
            after, stored = await self.policies.update(tx, site, changes, now=now, by=actor)
            await tx.audit.record(
                at=now, site=site.id, actor=actor, action="settings.update", target=f"site:{site.id}",
                detail={"changes": stored},
            )  # fmt: skip
        return as_dict(after)

    async def audit(self, f: AuditFilter, before: int | None, limit: int) -> list[AuditEntry]:
        async with self.db.read() as tx:
            return await tx.audit.listing(f, before, max(1, min(limit, 200)))

    async def set_story_moderation(self, site_id: str, page: str, mode: str | None, actor: str) -> bool:
        """A story's own moderation mode (none | first | all), or None for its site's. False when
        nothing changed."""
        if mode is not None and mode not in ("none", "first", "all"):
            raise errors.InvalidInput.field("moderation", "must be none, first, all or null")
        site = self.site(site_id)
        key = inputs.page_key(page)
        now = self.clock()
        async with self.db.write() as tx:
            thread = await tx.threads.get_or_create(site.id, key, "", "", now)
            if thread.moderation == mode:
                return False
            await tx.threads.set_moderation(thread.id, mode)
            await tx.audit.record(
                at=now, site=site.id, actor=actor, action="thread.moderation", target=f"thread:{key}",
                detail={"moderation": mode},
            )  # fmt: skip
        return True

    async def story(self, site_id: str, page: str) -> Thread | None:
        async with self.db.read() as tx:
            return await tx.threads.get(site_id, inputs.page_key(page))

    def site(self, site_id: str | None) -> SiteConfig:
        site = self.sites(site_id) if site_id else None
        if site is None:
            raise errors.NotFound(f"No site {site_id!r}")
        return site

    async def set_closed(self, site_id: str, page: str, closed: bool, actor: str = "cli") -> bool:
        """Close a thread to new comments, or reopen it; a page nobody commented on yet gets its
        thread now, so it can be closed before the first comment. False when nothing changed."""
        site = self.site(site_id)
        key = inputs.page_key(page)
        now = self.clock()
        async with self.db.write() as tx:
            thread = await tx.threads.get_or_create(site.id, key, "", "", now)
            if thread.closed == closed:
                return False
            thread = await tx.threads.set_closed(thread.id, closed, kind=EventKind.THREAD_CHANGED)
            await tx.audit.record(
                at=now, site=site.id, actor=actor, action="thread.close" if closed else "thread.reopen",
                target=f"thread:{key}", detail={},
            )  # fmt: skip
        await self.events.dispatch(ThreadEvent.of(EventKind.THREAD_CHANGED, thread))
        return True

    async def set_hidden(self, comment_id: int, hidden: bool, actor: str = "cli") -> bool:
        """The command line's hide / restore: reject, or approve again. False when nothing changed."""
        item = await self.item(comment_id)
        if item is None:
            raise errors.NotFound(f"No comment {comment_id}")
        site = self.site(item.comment.site)
        target = CommentStatus.REJECTED if hidden else CommentStatus.APPROVED
        if item.comment.status is target:
            return False
        await self.act(site, comment_id, "reject" if hidden else "approve", actor)
        return True
