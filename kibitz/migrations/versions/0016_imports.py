"""imports: source ids and the log of import runs

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-07 10:00:00

``import_ids`` maps each imported source record (site, source format, kind, source id) to the thread
or comment it became, so a second run of an import creates nothing; ``import_runs`` logs every run
with its report.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.store.schema

revision = "0016"
# Becomes "0015" when the migrations written beside this one land.
down_revision = "0015"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = kibitz.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "import_ids",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column("target_id", Id, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created", When, nullable=False),
        sa.Column("updated", When, nullable=True),
        sa.PrimaryKeyConstraint("site", "source", "kind", "source_id", name=op.f("pk_import_ids")),
    )
    with op.batch_alter_table("import_ids", schema=None) as batch_op:
        batch_op.create_index("ix_import_ids_target", ["kind", "target_id"], unique=False)
    op.create_table(
        "import_runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=500), nullable=False),
        sa.Column("actor", sa.String(length=200), server_default="", nullable=False),
        sa.Column("dry_run", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("started", When, nullable=False),
        sa.Column("finished", When, nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.create_index("ix_import_runs_site", ["site", "started"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_import_runs_site")
    op.drop_table("import_runs")
    with op.batch_alter_table("import_ids", schema=None) as batch_op:
        batch_op.drop_index("ix_import_ids_target")
    op.drop_table("import_ids")
