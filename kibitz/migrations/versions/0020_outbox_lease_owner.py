"""outbox lease owner: the token of the worker holding a row's lease

Revision ID: 0020
Revises: 0017
Create Date: 2026-12-07 13:10:00

Leases are short and renewed by a heartbeat while a batch is sent (worker.py); ``lease_owner`` is
the fence: a worker marks, renews and gives back only the rows whose lease it still holds.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("lease_owner", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("lease_owner")
