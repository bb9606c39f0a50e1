"""votes per address, and revocable manage links

The voter's address hash on each vote, counted per comment; when a subscriber last voided every
manage link issued to them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 02:00:00

Existing votes get "" (no address known): they stay counted in the tallies and count against no
address. Comments keep their stored avatar_key (see docs/api.md, "Avatars").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_hash", sa.String(length=64), server_default="", nullable=False))
        batch_op.create_index("ix_votes_comment_client", ["comment_id", "client_hash"], unique=False)
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("manage_links_revoked", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("manage_links_revoked")
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.drop_index("ix_votes_comment_client")
        batch_op.drop_column("client_hash")
