"""reader accounts: accounts, their sign-in identities and sessions, sign-ins under way

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 13:00:00

A reader may sign in (a mailed link, OpenID Connect, the publisher's own login): ``accounts`` per
site, ``account_identities`` (how each signs in), ``account_sessions`` (hashes only; a deleted row
ends the session everywhere), ``sign_ins`` (a mailed link or an OIDC round trip, used once). A
comment keeps its signed-in author's badges and chosen picture as posted (``comments.badges``,
``comments.avatar_url``), and an index on ``comments.account_id`` finds an account's comments.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kibitz.store.schema

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = kibitz.store.schema.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), server_default="", nullable=False),
        sa.Column("picture", sa.String(length=2048), server_default="", nullable=False),
        sa.Column("avatar", sa.String(length=16), server_default="identicon", nullable=False),
        sa.Column("roles", sa.String(length=200), server_default="", nullable=False),
        sa.Column("notify", sa.String(length=16), server_default="none", nullable=False),
        sa.Column("digest", sa.String(length=16), server_default="instant", nullable=False),
        sa.Column("created", When, nullable=False),
        sa.Column("last_seen", When, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index("ix_accounts_site_email", ["site", "email"], unique=False)
    op.create_table(
        "account_identities",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=80), nullable=False),
        sa.Column("subject", sa.String(length=320), nullable=False),
        sa.Column("created", When, nullable=False),
        sa.Column("last_used", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_identities_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_identities")),
        sa.UniqueConstraint("site", "kind", "subject", name="uq_account_identities_site"),
    )
    with op.batch_alter_table("account_identities", schema=None) as batch_op:
        batch_op.create_index("ix_account_identities_account", ["account_id"], unique=False)
    op.create_table(
        "account_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("via", sa.String(length=80), nullable=False),
        sa.Column("created", When, nullable=False),
        sa.Column("last_seen", When, nullable=False),
        sa.Column("expires", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_sessions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_account_sessions")),
    )
    with op.batch_alter_table("account_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_account_sessions_account", ["account_id"], unique=False)
    op.create_table(
        "sign_ins",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=80), nullable=False),
        sa.Column("email", sa.String(length=320), server_default="", nullable=False),
        sa.Column("return_url", sa.String(length=2048), server_default="", nullable=False),
        sa.Column("secret", sa.Text(), server_default="", nullable=False),
        sa.Column("account_id", Id, nullable=True),
        sa.Column("used", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created", When, nullable=False),
        sa.Column("expires", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_sign_ins_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_ins")),
    )
    with op.batch_alter_table("sign_ins", schema=None) as batch_op:
        batch_op.create_index("ix_sign_ins_expires", ["expires"], unique=False)
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("badges", sa.String(length=200), server_default="", nullable=False))
        batch_op.add_column(
            sa.Column("avatar_url", sa.String(length=2048), server_default="", nullable=False)
        )
        batch_op.create_index("ix_comments_account", ["account_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index("ix_comments_account")
        batch_op.drop_column("avatar_url")
        batch_op.drop_column("badges")
    # Comments keep their text; without accounts they are a guest's.
    op.execute("UPDATE comments SET account_id = NULL WHERE account_id IS NOT NULL")
    with op.batch_alter_table("sign_ins", schema=None) as batch_op:
        batch_op.drop_index("ix_sign_ins_expires")
    op.drop_table("sign_ins")
    with op.batch_alter_table("account_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_account_sessions_account")
    op.drop_table("account_sessions")
    with op.batch_alter_table("account_identities", schema=None) as batch_op:
        batch_op.drop_index("ix_account_identities_account")
    op.drop_table("account_identities")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_accounts_site_email")
    op.drop_table("accounts")
