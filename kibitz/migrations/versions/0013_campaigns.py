"""newsletter campaigns

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-20 09:00:00

``campaigns`` holds each newsletter issue of a list (Markdown and its rendering, status, schedule,
progress of enqueuing); outbox rows gain ``campaign_id`` so the worker can hold the mail of a paused
campaign and drop that of a cancelled one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.store.schema

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = kibitz.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("list", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("markdown", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column("send_at", When, nullable=True),
        sa.Column("created", When, nullable=False),
        sa.Column("created_by", sa.String(length=200), server_default="", nullable=False),
        sa.Column("started", When, nullable=True),
        sa.Column("finished", When, nullable=True),
        sa.Column("total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cursor", Id, server_default="0", nullable=False),
        sa.Column("queued", sa.Boolean(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index("ix_campaigns_site_list", ["site", "list", "status"], unique=False)
        batch_op.create_index("ix_campaigns_status", ["status"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", Id, nullable=True))
        batch_op.create_index("ix_outbox_campaign_id", ["campaign_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_campaign_id")
        batch_op.drop_column("campaign_id")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_campaigns_status")
        batch_op.drop_index("ix_campaigns_site_list")
    op.drop_table("campaigns")
