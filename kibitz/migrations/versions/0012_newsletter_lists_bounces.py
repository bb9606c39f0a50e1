"""newsletter lists, pauses, suppressions and bounces

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-15 09:00:00

Subscriptions gain ``list`` (which of a site's newsletter lists; "" for comment mail and for the
site's first list); subscribers gain ``paused_until`` (the preference centre's pause).
``suppressions`` holds the addresses never to be mailed again (a hard bounce, a complaint, an
unsubscribe from everything, an erasure), for one site or for every site (``site`` ""), checked when
each mail is sent; ``bounces`` logs every bounce and complaint received (soft bounces are counted
there before an address is suppressed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.store.schema

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = kibitz.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("list", sa.String(length=64), server_default="", nullable=False))
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_until", When, nullable=True))
    op.create_table(
        "suppressions",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=500), server_default="", nullable=False),
        sa.Column("created", When, nullable=False),
        sa.PrimaryKeyConstraint("site", "email", name=op.f("pk_suppressions")),
    )
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.create_index("ix_suppressions_email", ["email"], unique=False)
    op.create_table(
        "bounces",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), server_default="", nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("outbox_id", Id, nullable=True),
        sa.Column("detail", sa.String(length=500), server_default="", nullable=False),
        sa.Column("created", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bounces")),
    )
    with op.batch_alter_table("bounces", schema=None) as batch_op:
        batch_op.create_index("ix_bounces_email_created", ["email", "created"], unique=False)
        batch_op.create_index("ix_bounces_outbox_id", ["outbox_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bounces", schema=None) as batch_op:
        batch_op.drop_index("ix_bounces_outbox_id")
        batch_op.drop_index("ix_bounces_email_created")
    op.drop_table("bounces")
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_index("ix_suppressions_email")
    op.drop_table("suppressions")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("paused_until")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("list")
