"""moderators told by mail: each staff member's preference, digest items, used action links

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 09:00:00

Staff gain ``moderation_mail`` (instant | digest | off; every existing member starts with instant).
``moderator_digest_items`` holds held and reported comments waiting for a member's hourly digest;
``moderator_links_used`` the nonces of the Approve / Reject / Spam links used already.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.store.schema

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # A plain ADD COLUMN on both engines: no table rebuild, so rows that reference staff stay put.
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("moderation_mail", sa.String(length=8), server_default="instant", nullable=False)
        )
    op.create_table(
        "moderator_digest_items",
        sa.Column("staff_id", Id, nullable=False),
        sa.Column("comment_id", Id, nullable=False),
        sa.Column("event", sa.String(length=8), nullable=False),
        sa.Column("created", kibitz.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_moderator_digest_items_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_moderator_digest_items_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("staff_id", "comment_id", "event", name=op.f("pk_moderator_digest_items")),
    )
    op.create_table(
        "moderator_links_used",
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("used", kibitz.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_moderator_links_used")),
    )
    with op.batch_alter_table("moderator_links_used", schema=None) as batch_op:
        batch_op.create_index("ix_moderator_links_used_used", ["used"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("moderator_links_used", schema=None) as batch_op:
        batch_op.drop_index("ix_moderator_links_used_used")
    op.drop_table("moderator_links_used")
    op.drop_table("moderator_digest_items")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("moderation_mail")
