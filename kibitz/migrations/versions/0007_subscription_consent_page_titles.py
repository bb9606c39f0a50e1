"""consent per subscription; page titles the publisher owns

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 04:00:00

Subscriptions gain ``pending`` (asked for without proof of holding the address: nothing is sent until
a confirmation mail that listed it is confirmed) and ``requested``. Active subscriptions of addresses
that never confirmed become pending, as they were in effect before. Threads gain the publisher's
title and URL of the page (``page_*``); every existing thread is due for a read of its page.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.store.schema

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("requested", kibitz.store.schema.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute(
        "UPDATE subscriptions SET pending = TRUE WHERE subscriber_id IN "
        "(SELECT id FROM subscribers WHERE status <> 'confirmed')"
    )
    op.execute("UPDATE subscriptions SET requested = created")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("page_title", sa.String(length=300), server_default="", nullable=False))
        batch_op.add_column(sa.Column("page_url", sa.String(length=2048), server_default="", nullable=False))
        batch_op.add_column(sa.Column("page_source", sa.String(length=8), nullable=True))
        batch_op.add_column(
            sa.Column("page_checked", kibitz.store.schema.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("page_due", kibitz.store.schema.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_threads_page_due", ["page_due"], unique=False)
    op.execute("UPDATE threads SET page_due = created")


def downgrade() -> None:
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_index("ix_threads_page_due")
        for column in ("page_due", "page_checked", "page_source", "page_url", "page_title"):
            batch_op.drop_column(column)
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("requested")
        batch_op.drop_column("pending")
