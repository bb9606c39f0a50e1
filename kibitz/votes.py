"""Vote and flag rules: one vote per reader per comment, a bounded number per client address,
never on one's own comment; readers' reports to the moderators."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from kibitz import errors, guard, inputs, moderator_mail
from kibitz.config import SiteConfig
from kibitz.events import EventKind, Events, ThreadEvent
from kibitz.links import Links
from kibitz.models import VoteTally
from kibitz.policy import Policies
from kibitz.store.db import Database

if TYPE_CHECKING:
    from kibitz.webhooks import Webhooks

Clock = Callable[[], datetime]


class Votes:
    """Each method is one transaction; events go out after commit."""

    webhooks: Webhooks | None = None  # set by the Context: reports' webhook deliveries

    def __init__(
        self, db: Database, events: Events, clock: Clock, policies: Policies, links: Links | None = None
    ) -> None:
        self.links = links  # for the moderators' mail about reports; None sends none
        self.db = db
        self.events = events
        self.clock = clock
        self.policies = policies

    async def vote(
        self,
        site: SiteConfig,
        comment_id: int,
        reader_id: str,
        value: int,
        client: str,
        client_addr: str = "",
    ) -> VoteTally:
        """Set this reader's vote to +1, 0 or -1; one vote per reader, never on their own comment,
        and at most the site's ``votes_per_address`` per comment from one client address (an IPv6
        address by its /64), whatever reader ids it sends. ``client_addr`` "" (the demo's seed)
        counts against no address."""
        now = self.clock()
        address_hash = self.policies.address_hash(client_addr)
        async with self.db.write() as tx:
            await guard.check_rate(
                tx, site=site.id, action="votes", limit=site.rate_limits.votes, client=client, now=now
            )
            # The comment's row lock (PostgreSQL) or the write lock (SQLite) orders every vote on
            # it, so the count below is exact across workers and instances.
            comment = await tx.comments.get(comment_id, for_update=True)
            if comment is None or not comment.visible:
                raise errors.NotFound("No such comment")
            if comment.reader_id == reader_id:
                raise errors.OwnComment()
            before = await tx.votes.value(comment_id, reader_id)
            if before == value:
                return VoteTally(comment.score, comment.up, comment.down, value)
            if before == 0 and address_hash:
                # A new vote row; changing or withdrawing one's vote never counts again.
                limit = (await self.policies.effective(tx, site)).votes_per_address
                if await tx.votes.from_address(comment_id, address_hash) >= limit:
                    raise errors.VoteLimit()
            await tx.votes.set(comment_id, reader_id, value, now, address_hash)
            up = (value == 1) - (before == 1)
            down = (value == -1) - (before == -1)
            score, ups, downs = await tx.comments.add_votes(comment_id, up, down)
            thread = await tx.threads.bump(
                comment.thread_id, kind=EventKind.COMMENT_VOTED, comment_id=comment_id
            )
        await self.events.dispatch(ThreadEvent.of(EventKind.COMMENT_VOTED, thread, comment_id))
        return VoteTally(score, ups, downs, value)

    async def flag(self, site: SiteConfig, comment_id: int, reader_id: str, reason: str, client: str) -> None:
        reason = " ".join(reason.split())
        inputs.check_string("reason", reason)
        if not reason or len(reason) > 500:
            raise errors.InvalidInput.field("reason", "must be 1 to 500 characters")
        now = self.clock()
        async with self.db.write() as tx:
            await guard.check_rate(
                tx, site=site.id, action="flags", limit=site.rate_limits.flags, client=client, now=now
            )
            comment = await tx.comments.get(comment_id)
            if comment is None or not comment.visible:
                raise errors.NotFound("No such comment")
            await tx.flags.add(comment_id, reader_id, reason, now)
            if self.webhooks is not None:
                await self.webhooks.flagged(tx, comment, reader_id, reason, now)
            if self.links is not None:
                await moderator_mail.on_reported(tx, self.links, comment, now)
