"""Domain records shaped into the public JSON of DESIGN.md §3 (never an email, address or token)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kibitz.models import Comment, CommentNode, Thread
from kibitz.store.story_updates import StoryUpdate


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# A tombstone's author: nothing of who wrote it.
TOMBSTONE_AUTHOR: dict[str, Any] = {"name": "", "avatar": None, "url": None}


class Shaper:
    """Turns comments into public dictionaries; knows the public base URL for avatar links."""

    def __init__(self, base_url: str) -> None:
        self.avatar_base = f"{base_url}/api/v1/avatars/"

    def comment(
        self, comment: Comment, replies: list[dict[str, Any]] | None = None, reply_count: int = 0
    ) -> dict[str, Any]:
        shown = comment.visible
        # A tombstone carries nothing of what was said, nor whether a moderator removed it.
        anchor = comment.anchor if shown else None
        return {
            "id": str(comment.id),
            "parent": str(comment.parent_id) if comment.parent_id is not None else None,
            "author": self.author(comment)
            if shown
            else {"name": "", "avatar": None, "url": None, "badges": []},
            "html": comment.html if shown else "",
            "created": rfc3339(comment.created),
            "edited": rfc3339(comment.edited) if comment.edited else None,
            "score": comment.score,
            "up": comment.up,
            "down": comment.down,
            "replies": replies or [],
            "reply_count": reply_count,
            "anchor": self._anchor(comment) if anchor is not None else None,
            "pinned": comment.pinned,
            "featured": comment.featured and shown,
            "edited_by_moderator": comment.mod_edited and shown,
            "deleted": not shown,
            "status": comment.status.value if shown else "deleted",
        }

    def author(self, comment: Comment) -> dict[str, Any]:
        """A shown comment's author: a signed-in author's badges, and the provider's https picture
        when they chose it (linked as is, never proxied), else the identicon."""
        author = comment.author
        return {
            "name": author.name,
            "avatar": author.picture or f"{self.avatar_base}{author.avatar_key}.svg",
            "url": author.url or None,
            "badges": list(author.badges),
        }

    def own(self, comment: Comment, status: str) -> dict[str, Any]:
        """What a comment's own author sees of it, whatever its status: the whole comment, marked
        with the status its author may know (a held comment is "pending")."""
        shaped = self.comment(comment)
        shaped.update(
            author=self.author(comment),
            html=comment.html,
            deleted=comment.deleted,
            status=status,
            anchor=self._anchor(comment),
        )
        return shaped

    @staticmethod
    def _anchor(comment: Comment) -> dict[str, Any] | None:
        anchor = comment.anchor
        if anchor is None:
            return None
        return {
            "exact": anchor.exact,
            "prefix": anchor.prefix,
            "suffix": anchor.suffix,
            "start": anchor.start,
            "end": anchor.end,
            "hash": anchor.hash or None,
        }

    def nodes(self, nodes: list[CommentNode]) -> list[dict[str, Any]]:
        """Nested comment dictionaries, built without recursion (threads can be deep)."""
        out: list[dict[str, Any]] = []
        stack: list[tuple[CommentNode, list[dict[str, Any]]]] = [(n, out) for n in reversed(nodes)]
        while stack:
            node, into = stack.pop()
            shaped = self.comment(node.comment, [], node.reply_count)
            into.append(shaped)
            stack.extend((child, shaped["replies"]) for child in reversed(node.replies))
        return out

    @staticmethod
    def thread(thread: Thread) -> dict[str, Any]:
        return {
            "site": thread.site,
            "page": thread.page,
            "title": thread.shown_title,
            "url": thread.shown_url or None,
            "count": thread.count,
            "closed": thread.closed,
        }

    @staticmethod
    def update(update: StoryUpdate) -> dict[str, Any]:
        """A story update as the read answer, the live event and the admin API give it."""
        return {
            "id": str(update.id),
            "kind": update.kind,
            "title": update.title,
            "html": update.html,
            "url": update.url or None,
            "created": rfc3339(update.created),
        }
