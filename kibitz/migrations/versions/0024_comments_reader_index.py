"""comments by reader: an index on (site, reader_id, created)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 16:30:00

The repeat check of every post (guard.screen: "has this reader posted this very text in the last
ten minutes?") found a guest's comments only by scanning the whole site's; with this index it reads
that reader's recent ones.
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_comments_site_reader", "comments", ["site", "reader_id", "created"])


def downgrade() -> None:
    op.drop_index("ix_comments_site_reader", table_name="comments")
