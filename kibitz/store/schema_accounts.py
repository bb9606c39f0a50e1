"""The tables of reader accounts (kibitz/accounts.py): an account per site, the ways it signs in, its
sessions, and sign-ins under way (a mailed link, an OpenID Connect round trip); on
kibitz/store/schema.py's metadata.

Personal data lives in ``accounts`` (name, email, picture), ``account_identities`` (the subject a
provider or the publisher gave, an address) and ``sign_ins`` (the address a link was mailed to);
``account_sessions`` holds only hashes. Erasing an account is deleting its row: the rest cascades.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, String, Table, Text, UniqueConstraint

from kibitz.store.schema_base import Id, UTCDateTime, metadata

# A reader's account on one site. ``email`` is an address the reader proved (a mailed link, a
# provider's verified claim, the publisher's own login), "" for none. ``roles``: comma-separated
# badges the publisher's login granted (staff, moderator).
accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("email", String(320), nullable=False, server_default=""),
    Column("picture", String(2048), nullable=False, server_default=""),  # https only, never proxied
    Column("avatar", String(16), nullable=False, server_default="identicon"),  # identicon | picture
    Column("roles", String(200), nullable=False, server_default=""),
    Column("notify", String(16), nullable=False, server_default="none"),  # a new comment's default
    Column("digest", String(16), nullable=False, server_default="instant"),
    Column("created", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=True),
    Index("ix_accounts_site_email", "site", "email"),
)

# How an account signs in: kind "email" (subject: the address), "oidc:<provider>" or "sso" (subject:
# the provider's or the publisher's ``sub``). One subject signs in to one account of a site.
account_identities = Table(
    "account_identities",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("site", String(64), nullable=False),
    Column("kind", String(80), nullable=False),
    Column("subject", String(320), nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("last_used", UTCDateTime, nullable=False),
    UniqueConstraint("site", "kind", "subject", name="uq_account_identities_site"),
    Index("ix_account_identities_account", "account_id"),
)

# Signed-in sessions: the widget holds a signed random token, the table only its hash, so deleting a
# row ends the session at once on every worker and instance (every request reads it).
account_sessions = Table(
    "account_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("via", String(80), nullable=False),  # the identity kind it signed in with
    Column("created", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("expires", UTCDateTime, nullable=False),
    Index("ix_account_sessions_account", "account_id"),
)

# Sign-ins under way, each used once: a mailed link (kind "email": ``email``, ``return_url``) or an
# OpenID Connect round trip (kind "oidc:<provider>": PKCE verifier, nonce, the browser binding's hash).
# ``id`` is the random nonce the link or the ``state`` parameter carries. Rows go once expired.
sign_ins = Table(
    "sign_ins",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("site", String(64), nullable=False),
    Column("kind", String(80), nullable=False),
    Column("email", String(320), nullable=False, server_default=""),
    Column("return_url", String(2048), nullable=False, server_default=""),
    Column("secret", Text, nullable=False, server_default=""),  # PKCE verifier, nonce, binding (JSON)
    Column("account_id", Id, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    Column("used", Boolean, nullable=False, server_default="0"),
    Column("created", UTCDateTime, nullable=False),
    Column("expires", UTCDateTime, nullable=False),
    Index("ix_sign_ins_expires", "expires"),
)

# Who wrote a story (kibitz/story_authors.py): the publisher names them by the ``sub`` its own login
# gives them, through the SSO token's ``author_of`` claim or the ``publish`` API. A comment on that
# page by the account that signs in with that subject carries the ``author`` badge. Keyed by page,
# not thread: a story may name its authors before anyone comments (0021).
story_authors = Table(
    "story_authors",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("page", String(1024), primary_key=True),
    Column("subject", String(320), primary_key=True),
    Column("created", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False, server_default=""),
)
