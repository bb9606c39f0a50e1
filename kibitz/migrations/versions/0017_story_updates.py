"""story updates: corrections, updates and follow-ups to a story, and their digest items

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 11:00:00

``story_updates`` holds what staff said about a story (mailed to its followers, shown in the widget,
in the thread's feed); ``update_digest_items`` the updates waiting for a daily digest. A subscription
may now have the topic ``updates`` (the story's updates only): the column is free text, so that
needs no change here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.store.schema

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = kibitz.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "story_updates",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("thread_id", Id, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=2048), server_default="", nullable=False),
        sa.Column("created", When, nullable=False),
        sa.Column("created_by", sa.String(length=200), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["threads.id"], name=op.f("fk_story_updates_thread_id_threads"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_updates")),
    )
    with op.batch_alter_table("story_updates", schema=None) as batch_op:
        batch_op.create_index("ix_story_updates_thread", ["thread_id", "created"], unique=False)
    op.create_table(
        "update_digest_items",
        sa.Column("subscription_id", Id, nullable=False),
        sa.Column("update_id", Id, nullable=False),
        sa.Column("created", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_update_digest_items_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["update_id"],
            ["story_updates.id"],
            name=op.f("fk_update_digest_items_update_id_story_updates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", "update_id", name=op.f("pk_update_digest_items")),
    )


def downgrade() -> None:
    op.drop_table("update_digest_items")
    with op.batch_alter_table("story_updates", schema=None) as batch_op:
        batch_op.drop_index("ix_story_updates_thread")
    op.drop_table("story_updates")
    # Subscriptions to a story's updates only have nothing to follow without the table.
    op.execute("DELETE FROM subscriptions WHERE topic = 'updates'")
