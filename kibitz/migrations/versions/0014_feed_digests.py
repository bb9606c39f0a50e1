"""feed digests

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-21 09:00:00

``feed_states`` holds each newsletter list's following of the publisher's feed (conditional-GET
validators, the last read and its error, the last digest); ``feed_articles`` every article seen in
it, once, with the digest (a campaign) it went out in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.store.schema

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = kibitz.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feed_states",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("list", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("etag", sa.String(length=500), server_default="", nullable=False),
        sa.Column("last_modified", sa.String(length=100), server_default="", nullable=False),
        sa.Column("following_since", When, nullable=True),
        sa.Column("checked", When, nullable=True),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=500), server_default="", nullable=False),
        sa.Column("last_slot", When, nullable=True),
        sa.Column("last_sent", When, nullable=True),
        sa.PrimaryKeyConstraint("site", "list", name=op.f("pk_feed_states")),
    )
    op.create_table(
        "feed_articles",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("list", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("published", When, nullable=True),
        sa.Column("first_seen", When, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", Id, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_articles")),
        sa.UniqueConstraint("site", "list", "key", name="uq_feed_articles_key"),
    )
    with op.batch_alter_table("feed_articles", schema=None) as batch_op:
        batch_op.create_index("ix_feed_articles_waiting", ["site", "list", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feed_articles", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_articles_waiting")
    op.drop_table("feed_articles")
    op.drop_table("feed_states")
