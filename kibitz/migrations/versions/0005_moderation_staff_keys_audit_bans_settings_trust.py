"""moderation: staff, sessions, API keys, audit log, bans, site settings, trust; comment columns

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 00:46:00.016655
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.store.schema

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), server_default="", nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created", kibitz.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used", kibitz.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked", kibitz.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("scope IN ('moderate','publish')", name=op.f("ck_api_keys_scope")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_table(
        "audit_log",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at", kibitz.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("site", sa.String(length=64), server_default="", nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), server_default="", nullable=False),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_site_id", ["site", "id"], unique=False)
        batch_op.create_index("ix_audit_log_target", ["target"], unique=False)

    op.create_table(
        "bans",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("label", sa.String(length=320), server_default="", nullable=False),
        sa.Column("shadow", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("reason", sa.String(length=500), server_default="", nullable=False),
        sa.Column("created", kibitz.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), server_default="", nullable=False),
        sa.Column("expires", kibitz.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('email','reader','address','network','name')", name=op.f("ck_bans_kind")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bans")),
    )
    with op.batch_alter_table("bans", schema=None) as batch_op:
        batch_op.create_index("ix_bans_site_kind_value", ["site", "kind", "value"], unique=False)

    op.create_table(
        "site_settings",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated", kibitz.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("site", "key", name=op.f("pk_site_settings")),
    )
    op.create_table(
        "staff",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("reset_nonce", sa.String(length=64), nullable=True),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", kibitz.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created", kibitz.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_login", kibitz.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('owner','moderator')", name=op.f("ck_staff_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("email", name="uq_staff_email"),
    )
    op.create_table(
        "trust",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("approved", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rejected", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated", kibitz.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site", "author", name=op.f("pk_trust")),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created", kibitz.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", kibitz.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_agent", sa.String(length=200), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_staff_sessions_staff_id_staff"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_staff_sessions")),
    )
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_staff_sessions_staff", ["staff_id"], unique=False)

    op.create_table(
        "staff_sites",
        sa.Column("staff_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_staff_sites_staff_id_staff"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("staff_id", "site", name=op.f("pk_staff_sites")),
    )
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("site", sa.String(length=64), server_default="", nullable=False))
        batch_op.add_column(sa.Column("client_hash", sa.String(length=64), server_default="", nullable=False))
        batch_op.add_column(sa.Column("featured", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("mod_edited", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("spam_score", sa.Float(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("reasons", sa.Text(), server_default="", nullable=False))
        batch_op.create_index("ix_comments_site_email", ["site", "author_email"], unique=False)
        batch_op.create_index(
            "ix_comments_site_status_created", ["site", "status", "created", "id"], unique=False
        )

    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("moderation", sa.String(length=16), nullable=True))

    # Addresses are kept only as keyed hashes from now on (comments.client_hash): forget the
    # partial addresses stored before.
    op.execute("UPDATE comments SET client_net = ''")
    # Copy each comment's site from its thread, so a site's moderation queue reads off one index.
    op.execute(
        "UPDATE comments SET site = (SELECT threads.site FROM threads WHERE threads.id = comments.thread_id)"
    )
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolved", sa.Boolean(), server_default="0", nullable=False))
        batch_op.create_index("ix_flags_open", ["resolved", "comment_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_column("moderation")

    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_index("ix_flags_open")
        batch_op.drop_column("resolved")

    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index("ix_comments_site_status_created")
        batch_op.drop_index("ix_comments_site_email")
        batch_op.drop_column("reasons")
        batch_op.drop_column("spam_score")
        batch_op.drop_column("mod_edited")
        batch_op.drop_column("featured")
        batch_op.drop_column("client_hash")
        batch_op.drop_column("site")

    op.drop_table("staff_sites")
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_sessions_staff")

    op.drop_table("staff_sessions")
    op.drop_table("trust")
    op.drop_table("staff")
    op.drop_table("site_settings")
    with op.batch_alter_table("bans", schema=None) as batch_op:
        batch_op.drop_index("ix_bans_site_kind_value")

    op.drop_table("bans")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_target")
        batch_op.drop_index("ix_audit_log_site_id")

    op.drop_table("audit_log")
    op.drop_table("api_keys")
