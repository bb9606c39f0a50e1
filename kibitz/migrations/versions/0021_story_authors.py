"""story authors: who wrote a story, by the subject the publisher's own login gives them

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 16:30:00

The publisher names a story's authors (the SSO token's ``author_of`` claim, or the ``publish`` API's
``authors`` of a page); a comment there by the account of that subject carries the ``author`` badge,
decided by the server and stored with the comment as the other badges are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.store.schema

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

When = kibitz.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "story_authors",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("page", sa.String(length=1024), nullable=False),
        sa.Column("subject", sa.String(length=320), nullable=False),
        sa.Column("created", When, nullable=False),
        sa.Column("created_by", sa.String(length=200), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("site", "page", "subject", name=op.f("pk_story_authors")),
    )


def downgrade() -> None:
    op.drop_table("story_authors")
