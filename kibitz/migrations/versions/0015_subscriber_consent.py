"""subscriber names and recorded consent

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-28 09:00:00

Subscribers gain ``name`` (as a publisher's imported list gave it); subscriptions gain the consent a
publisher holds a record of: ``consent_at``, ``consent_source`` and ``consent_via`` (CSV import,
kibitz/subscriber_io.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.store.schema

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

When = kibitz.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=200), server_default="", nullable=False))
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_at", When, nullable=True))
        batch_op.add_column(
            sa.Column("consent_source", sa.String(length=200), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("consent_via", sa.String(length=200), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("consent_via")
        batch_op.drop_column("consent_source")
        batch_op.drop_column("consent_at")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("name")
