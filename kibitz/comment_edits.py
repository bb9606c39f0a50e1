"""A reader's own changes to their comment: preview, edit and delete, with the comment's token or
from the manage page (the mixin of kibitz.comments.Comments that holds them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from kibitz import errors, guard, inputs, markup
from kibitz.config import SiteConfig
from kibitz.events import EventKind, Events, ThreadEvent
from kibitz.models import Comment, CommentStatus, Thread
from kibitz.policy import Policies
from kibitz.security import TokenError, Tokens
from kibitz.store.db import Database
from kibitz.store.tx import Tx

EDIT_TOKEN = "edit"  # noqa: S105 - a token purpose, not a secret


class CommentEdits:
    """Edits and deletions by the comment's author; each method is one transaction, and the event
    goes out after commit."""

    db: Database
    tokens: Tokens
    events: Events
    policies: Policies
    clock: Callable[[], datetime]

    def _check_token(self, comment_id: int, token: str | None) -> None:
        """Raise unless ``token`` is a valid edit token of this comment (401 when absent)."""
        if not token:
            raise errors.Unauthorized("Send the comment's token as 'Authorization: Bearer <token>'")
        try:
            subject = self.tokens.verify(EDIT_TOKEN, token, now=self.clock())
        except TokenError:
            raise errors.Forbidden("The token is not valid for this comment") from None
        if subject != str(comment_id):
            raise errors.Forbidden("The token is not valid for this comment")

    async def _owned(
        self, tx: Tx, site: SiteConfig, comment_id: int, token: str | None, client: str
    ) -> Comment:
        """The comment the token may change, within the edit window; raises otherwise. Counts the
        attempt against the client's limit on edits and deletions."""
        await guard.check_rate(
            tx, site=site.id, action="edits", limit=site.rate_limits.edits, client=client, now=self.clock()
        )
        site = await self.policies.effective(tx, site)
        self._check_token(comment_id, token)
        comment = await tx.comments.get(comment_id, for_update=True)
        if comment is None or comment.status is not CommentStatus.APPROVED:
            raise errors.NotFound("No such comment")
        if not comment.reader_id:
            # Its author was erased (privacy.py empties the reader id): the words stay, and nothing
            # that ties them to a person, the token the browser kept included, may change them.
            raise errors.Forbidden("The token is not valid for this comment")
        if self.clock() - comment.created > site.edit_window:
            raise errors.EditWindowClosed()
        return comment

    async def preview(self, site: SiteConfig, text: str, client: str) -> str:
        """The exact HTML a post of ``text`` would get (blank text previews as nothing)."""
        text = inputs.text(text) if text.strip() else ""
        async with self.db.write() as tx:
            await guard.check_rate(
                tx,
                site=site.id,
                action="previews",
                limit=site.rate_limits.previews,
                client=client,
                now=self.clock(),
            )
        return markup.render(text, allow_images=site.allow_images) if text else ""

    async def _by_author(
        self, tx: Tx, site: SiteConfig, comment_id: int, email: str, client: str, *, editing: bool
    ) -> Comment:
        """The comment the holder of a manage link for ``email`` may change (NotFound otherwise,
        with no hint why); an edit also needs the edit window open. Counts the attempt against the
        client's limit on edits and deletions."""
        await guard.check_rate(
            tx, site=site.id, action="edits", limit=site.rate_limits.edits, client=client, now=self.clock()
        )
        comment = await tx.comments.get(comment_id, for_update=True)
        if (
            comment is None
            or comment.status is not CommentStatus.APPROVED
            or not email
            or comment.author.email != email
            or await tx.comments.site_of(comment.id) != site.id
        ):
            raise errors.NotFound("No such comment")
        if editing and self.clock() - comment.created > site.edit_window:
            raise errors.EditWindowClosed()
        return comment

    async def edit(
        self, site: SiteConfig, comment_id: int, token: str | None, text: str, client: str
    ) -> Comment:
        """Edit with the comment's token, within the edit window."""
        return await self._edit(site, text, lambda tx: self._owned(tx, site, comment_id, token, client))

    async def edit_own(
        self, site: SiteConfig, comment_id: int, email: str, text: str, client: str
    ) -> Comment:
        """Edit from the manage page: the comment must be this address's, on this site, within the
        edit window."""
        return await self._edit(
            site, text, lambda tx: self._by_author(tx, site, comment_id, email, client, editing=True)
        )

    async def _edit(self, site: SiteConfig, text: str, owned: Callable[[Tx], Awaitable[Comment]]) -> Comment:
        """The edit step: render as a post would, store, bump the thread; the event after commit."""
        text = inputs.text(text)
        html = markup.render(text, allow_images=site.allow_images)
        async with self.db.write() as tx:
            comment = await owned(tx)
            if comment.deleted:
                raise errors.NotFound("No such comment")
            await tx.comments.set_text(comment.id, text, html, markup.RENDERER_VERSION, self.clock())
            thread = await tx.threads.bump(
                comment.thread_id, kind=EventKind.COMMENT_UPDATED, comment_id=comment.id
            )
            updated = await tx.comments.get(comment.id)
        assert updated is not None
        await self.events.dispatch(ThreadEvent.of(EventKind.COMMENT_UPDATED, thread, comment.id))
        return updated

    async def delete(self, site: SiteConfig, comment_id: int, token: str | None, client: str) -> None:
        """Soft delete with the comment's token, within the edit window."""
        await self._delete(lambda tx: self._owned(tx, site, comment_id, token, client))

    async def delete_own(self, site: SiteConfig, comment_id: int, email: str, client: str) -> None:
        """Soft delete from the manage page: the comment must be this address's, on this site; at any
        time (a reader may always erase their own words)."""
        await self._delete(lambda tx: self._by_author(tx, site, comment_id, email, client, editing=False))

    async def _delete(self, owned: Callable[[Tx], Awaitable[Comment]]) -> None:
        """Soft delete (idempotent); the event goes out after commit."""
        async with self.db.write() as tx:
            comment = await owned(tx)
            if comment.deleted:
                return
            thread = await self._soft_delete(tx, comment)
        await self.events.dispatch(ThreadEvent.of(EventKind.COMMENT_DELETED, thread, comment.id))

    async def _soft_delete(self, tx: Tx, comment: Comment) -> Thread:
        """The comment stays as a tombstone while it has visible replies; counters follow."""
        await tx.comments.mark_deleted(comment.id)
        await tx.comments.add_visible_descendants(comment.ancestor_ids, -1)
        return await tx.threads.bump(
            comment.thread_id, count_delta=-1, kind=EventKind.COMMENT_DELETED, comment_id=comment.id
        )
