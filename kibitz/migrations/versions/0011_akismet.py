"""akismet: what Akismet was asked about each comment of a site that turned it on

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-14 09:00:00

``akismet_checks`` keeps, for 30 days, the form sent to Akismet's comment-check and its verdict, so
that a moderator's contrary decision can be reported with the same fields (kibitz/akismet.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.store.schema

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = kibitz.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "akismet_checks",
        sa.Column("comment_id", Id, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("created", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_akismet_checks_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("comment_id", name=op.f("pk_akismet_checks")),
    )
    with op.batch_alter_table("akismet_checks", schema=None) as batch_op:
        batch_op.create_index("ix_akismet_checks_created", ["created"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("akismet_checks", schema=None) as batch_op:
        batch_op.drop_index("ix_akismet_checks_created")
    op.drop_table("akismet_checks")
