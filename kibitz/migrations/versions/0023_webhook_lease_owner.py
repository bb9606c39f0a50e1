"""webhook delivery lease owner: the token of the delivery loop holding a delivery's lease

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-07 16:40:00

Webhook deliveries get the mail outbox's short leases, renewed by a heartbeat (leased.py);
``lease_owner`` is the fence: a loop marks, renews and gives back only the deliveries whose lease
it still holds.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("webhook_deliveries", sa.Column("lease_owner", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("lease_owner")
