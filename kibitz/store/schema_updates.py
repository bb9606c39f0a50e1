"""The tables of story updates (kibitz/story_updates.py): what the publisher said about a story since
it ran, and the updates waiting for a follower's daily digest; on kibitz/store/schema.py's metadata."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text

from kibitz.store.schema_base import Id, UTCDateTime, metadata

# A correction, update or follow-up to a story, written by staff. ``html`` is ``text`` rendered by
# markup.py when it was posted (what the widget, the feed and the mails show).
story_updates = Table(
    "story_updates",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("thread_id", Id, ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # correction | update | follow-up
    Column("title", String(300), nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("url", String(2048), nullable=False, server_default=""),
    Column("created", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False, server_default=""),  # the actor, as audited
    Index("ix_story_updates_thread", "thread_id", "created"),
)

# Updates waiting for a subscription's daily digest (digest.py), as digest_items holds comments.
update_digest_items = Table(
    "update_digest_items",
    metadata,
    Column("subscription_id", Id, ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True),
    Column("update_id", Id, ForeignKey("story_updates.id", ondelete="CASCADE"), primary_key=True),
    Column("created", UTCDateTime, nullable=False),
)
