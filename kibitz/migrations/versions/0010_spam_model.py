"""spam scoring: each site's learned classifier counts, spam domains and decided comments

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-13 10:00:00

``spam_model`` holds a site's version and totals (a version per moderator's decision);
``spam_features`` and ``spam_domains`` the learned counts per hashed feature and per link domain,
each stamped with the version that last changed it; ``spam_labels`` what was learned from each
decided comment, to unlearn it exactly when a decision is reversed (kibitz/spam).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.store.schema

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = kibitz.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "spam_model",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("stamp", sa.String(length=16), server_default="", nullable=False),
        sa.Column("spam_docs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("ham_docs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("spam_total", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("ham_total", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated", When, nullable=False),
        sa.PrimaryKeyConstraint("site", name=op.f("pk_spam_model")),
    )
    op.create_table(
        "spam_features",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("bucket", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("spam", sa.Integer(), server_default="0", nullable=False),
        sa.Column("ham", sa.Integer(), server_default="0", nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("site", "bucket", name=op.f("pk_spam_features")),
    )
    with op.batch_alter_table("spam_features", schema=None) as batch_op:
        batch_op.create_index("ix_spam_features_site_version", ["site", "version"], unique=False)
    op.create_table(
        "spam_domains",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("spam", sa.Integer(), server_default="0", nullable=False),
        sa.Column("ham", sa.Integer(), server_default="0", nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("site", "domain", name=op.f("pk_spam_domains")),
    )
    with op.batch_alter_table("spam_domains", schema=None) as batch_op:
        batch_op.create_index("ix_spam_domains_site_version", ["site", "version"], unique=False)
    op.create_table(
        "spam_labels",
        sa.Column("comment_id", Id, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=8), nullable=False),
        sa.Column("features", sa.Text(), server_default="", nullable=False),
        sa.Column("domains", sa.Text(), server_default="", nullable=False),
        sa.Column("updated", When, nullable=False),
        sa.CheckConstraint("label IN ('spam','ham')", name=op.f("ck_spam_labels_label")),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_spam_labels_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("comment_id", name=op.f("pk_spam_labels")),
    )


def downgrade() -> None:
    op.drop_table("spam_labels")
    with op.batch_alter_table("spam_domains", schema=None) as batch_op:
        batch_op.drop_index("ix_spam_domains_site_version")
    op.drop_table("spam_domains")
    with op.batch_alter_table("spam_features", schema=None) as batch_op:
        batch_op.drop_index("ix_spam_features_site_version")
    op.drop_table("spam_features")
    op.drop_table("spam_model")
