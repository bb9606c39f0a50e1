"""comments: an index for top-level pages in oldest-first order

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 17:30:00

"oldest" sorts pinned comments first (pinned DESC) and then by age (created, id ascending): neither
index of 0004 has that order in either direction, so a page of a thread with a million top-level
comments was sorted whole. This one has it, for the first page and every page after a key.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

TOP = sa.text("parent_id IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_comments_top_oldest",
        "comments",
        ["thread_id", sa.text("pinned DESC"), "created", "id"],
        postgresql_where=TOP,
        sqlite_where=TOP,
    )


def downgrade() -> None:
    op.drop_index("ix_comments_top_oldest", table_name="comments")
