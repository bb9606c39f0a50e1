"""Moderation acts available to operators before the admin UI exists: hide and restore a comment,
close and reopen a thread."""

from __future__ import annotations

from kibitz import errors, inputs
from kibitz.events import EventKind, Events, ThreadEvent
from kibitz.models import CommentStatus
from kibitz.store.db import Database


class Moderation:
    def __init__(self, db: Database, events: Events) -> None:
        self.db = db
        self.events = events

    async def set_hidden(self, comment_id: int, hidden: bool) -> bool:
        """Hide (reject) or restore a comment; counts follow. False when nothing changed."""
        async with self.db.write() as tx:
            comment = await tx.comments.get(comment_id, for_update=True)
            if comment is None:
                raise errors.NotFound(f"No comment {comment_id}")
            target = CommentStatus.REJECTED if hidden else CommentStatus.APPROVED
            if comment.status is target:
                return False
            was_visible = comment.visible
            await tx.comments.set_status(comment_id, target)
            now_visible = target is CommentStatus.APPROVED and not comment.deleted
            delta = int(now_visible) - int(was_visible)
            await tx.comments.add_visible_descendants(comment.ancestor_ids, delta)
            kind = EventKind.COMMENT_DELETED if hidden else EventKind.COMMENT_UPDATED
            thread = await tx.threads.bump(
                comment.thread_id, count_delta=delta, kind=kind, comment_id=comment_id
            )
        await self.events.dispatch(ThreadEvent.of(kind, thread, comment_id))
        return True

    async def set_closed(self, site: str, page: str, closed: bool) -> bool:
        """Close a thread to new comments, or reopen it. False when nothing changed."""
        key = inputs.page_key(page)
        async with self.db.write() as tx:
            thread = await tx.threads.get(site, key)
            if thread is None:
                raise errors.NotFound(f"No thread for page {key!r} on site {site!r}")
            if thread.closed == closed:
                return False
            thread = await tx.threads.set_closed(thread.id, closed, kind=EventKind.THREAD_CHANGED)
        await self.events.dispatch(ThreadEvent.of(EventKind.THREAD_CHANGED, thread))
        return True
