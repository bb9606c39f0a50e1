"""top-level page indexes: pages of huge threads without sorting them

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 11:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TOP = sa.text("parent_id IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_comments_top_newest",
        "comments",
        ["thread_id", "pinned", "created", "id"],
        postgresql_where=TOP,
        sqlite_where=TOP,
    )
    op.create_index(
        "ix_comments_top_votes",
        "comments",
        ["thread_id", "pinned", "score", "created", "id"],
        postgresql_where=TOP,
        sqlite_where=TOP,
    )


def downgrade() -> None:
    op.drop_index("ix_comments_top_votes", table_name="comments")
    op.drop_index("ix_comments_top_newest", table_name="comments")
