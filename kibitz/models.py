"""Domain records returned by the store and used by the rules: frozen dataclasses and StrEnums."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class CommentStatus(StrEnum):
    APPROVED = "approved"
    PENDING = "pending"
    REJECTED = "rejected"
    SPAM = "spam"


class Sort(StrEnum):
    NEWEST = "newest"
    OLDEST = "oldest"
    VOTES = "votes"


class NotifyMode(StrEnum):
    NONE = "none"
    REPLIES = "replies"
    ALL = "all"


class Digest(StrEnum):
    INSTANT = "instant"
    DAILY = "daily"


@dataclass(frozen=True)
class Anchor:
    """A W3C Web Annotation text-quote selector plus optional character positions."""

    exact: str
    prefix: str = ""
    suffix: str = ""
    start: int | None = None
    end: int | None = None
    # A hash of the article's text when the passage was chosen (the widget's own, hex): the widget
    # trusts start/end as they are while the article's text still has this hash.
    hash: str = ""


@dataclass(frozen=True)
class Thread:
    id: int
    site: str
    page: str
    title: str
    url: str
    closed: bool
    count: int
    version: int
    created: datetime
    moderation: str | None = None  # the story's own moderation mode, overriding its site's
    # The publisher's title and URL of the page (titles.py); "" until learned. ``title`` and ``url``
    # are what the first poster's widget sent: placeholders, never named in mail.
    page_title: str = ""
    page_url: str = ""
    page_checked: datetime | None = None
    page_source: str | None = None  # page | api; None: not learned yet

    @property
    def shown_title(self) -> str:
        """The title to show on screens: the publisher's once known, else the widget's."""
        return self.page_title or self.title

    @property
    def shown_url(self) -> str:
        return self.page_url or self.url


@dataclass(frozen=True)
class Author:
    name: str
    email: str  # normalised; never leaves the server through the public API
    url: str
    avatar_key: str
    # A signed-in author's (accounts.py): the provider's https picture they chose, and their badges.
    picture: str = ""
    badges: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccountAuthor:
    """A signed-in poster (accounts.py): what their comment carries instead of what a guest types."""

    id: int
    name: str
    email: str  # the proven address, or ""
    avatar_key: str  # the account's identicon
    picture: str  # the provider's https picture when chosen, else ""
    badges: tuple[str, ...]


@dataclass(frozen=True)
class Comment:
    id: int
    thread_id: int
    parent_id: int | None
    root_id: int | None  # None for a top-level comment
    path: str  # ancestor ids from the root down, "/"-separated; "" for a top-level comment
    depth: int
    status: CommentStatus
    deleted: bool
    text: str
    html: str
    renderer_version: int
    author: Author
    reader_id: str
    account_id: int | None
    created: datetime
    edited: datetime | None
    score: int
    up: int
    down: int
    pinned: bool
    anchor: Anchor | None
    visible_descendants: int
    site: str = ""
    client_hash: str = ""  # keyed hash of the client's address (IPv6 by /64); bans match on it
    featured: bool = False
    mod_edited: bool = False  # the text was last changed by a moderator
    spam_score: float = 0.0
    reasons: tuple[str, ...] = ()  # why it was held or marked spam (reason codes)

    @property
    def visible(self) -> bool:
        """Shown as a full comment (not a tombstone) to every reader."""
        return self.status is CommentStatus.APPROVED and not self.deleted

    @property
    def ancestor_ids(self) -> list[int]:
        return [int(part) for part in self.path.split("/")] if self.path else []


@dataclass(frozen=True)
class VoteTally:
    score: int
    up: int
    down: int
    value: int  # this reader's vote now


@dataclass
class CommentNode:
    """A comment placed in a reply tree for display."""

    comment: Comment
    replies: list[CommentNode] = field(default_factory=list)
    reply_count: int = 0  # direct replies shown, including those held back


@dataclass(frozen=True)
class ThreadPage:
    thread: Thread
    comments: list[CommentNode]
    next_cursor: str | None


class BanKind(StrEnum):
    EMAIL = "email"
    READER = "reader"
    ADDRESS = "address"
    NETWORK = "network"
    NAME = "name"


@dataclass(frozen=True)
class Ban:
    id: int
    site: str
    kind: BanKind
    value: str  # canonical; for an address, a keyed hash nobody can read back
    label: str  # what moderators see
    shadow: bool
    reason: str
    created: datetime
    created_by: str
    expires: datetime | None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    site: str
    actor: str
    action: str
    target: str
    detail: dict[str, object]


@dataclass(frozen=True)
class FlagCount:
    reason: str
    count: int


@dataclass(frozen=True)
class QueueItem:
    """A comment as moderators see it, with its thread and open reader reports."""

    comment: Comment
    page: str
    title: str
    url: str
    flags: tuple[FlagCount, ...]
