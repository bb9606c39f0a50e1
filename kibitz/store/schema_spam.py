"""The spam pipeline's tables (kibitz/spam, kibitz/akismet.py), on kibitz/store/schema.py's metadata."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Index, Integer, String, Table, Text

from kibitz.store.schema_base import Id, UTCDateTime, metadata

# -- spam scoring (migration 0008) -----------------------------------------------------------------

# One row per site whose moderators taught the classifier (kibitz/spam): its counts' totals, and a
# version bumped with every decision (``stamp`` is new each time, so a worker also notices a version
# number it read in a transaction that was rolled back).
spam_model = Table(
    "spam_model",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False, server_default="0"),
    Column("stamp", String(16), nullable=False, server_default=""),
    Column("spam_docs", Integer, nullable=False, server_default="0"),
    Column("ham_docs", Integer, nullable=False, server_default="0"),
    Column("spam_total", BigInteger, nullable=False, server_default="0"),
    Column("ham_total", BigInteger, nullable=False, server_default="0"),
    Column("updated", UTCDateTime, nullable=False),
)

# A site's learned counts per hashed feature: how many comments moderators called spam, or not
# spam, held it; ``version``: the spam_model version that last changed the row (workers read the
# rows changed since the version they hold).
spam_features = Table(
    "spam_features",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("bucket", Integer, primary_key=True, autoincrement=False),
    Column("spam", Integer, nullable=False, server_default="0"),
    Column("ham", Integer, nullable=False, server_default="0"),
    Column("version", BigInteger, nullable=False),
    Index("ix_spam_features_site_version", "site", "version"),
)

# Link domains (registrable part) in comments moderators called spam, or not spam.
spam_domains = Table(
    "spam_domains",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("domain", String(253), primary_key=True),
    Column("spam", Integer, nullable=False, server_default="0"),
    Column("ham", Integer, nullable=False, server_default="0"),
    Column("version", BigInteger, nullable=False),
    Index("ix_spam_domains_site_version", "site", "version"),
)

# What the classifier learned from each decided comment, so that a reversed decision is unlearned
# exactly (the text may have been edited since): its feature buckets and link domains.
spam_labels = Table(
    "spam_labels",
    metadata,
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True),
    Column("site", String(64), nullable=False),
    Column("label", String(8), nullable=False),  # spam | ham
    Column("features", Text, nullable=False, server_default=""),  # comma-separated buckets
    Column("domains", Text, nullable=False, server_default=""),  # space-separated
    Column("updated", UTCDateTime, nullable=False),
    CheckConstraint("label IN ('spam','ham')", name="label"),
)


# What Akismet was asked about a comment (akismet.py), for sites that turned it on: kept KEEP, to report
# a moderator's contrary decision. ``params`` is the form sent (the poster's address among it), JSON.
akismet_checks = Table(
    "akismet_checks",
    metadata,
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True),
    Column("site", String(64), nullable=False),
    Column("verdict", String(16), nullable=False),  # spam | ham | unavailable
    Column("params", Text, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Index("ix_akismet_checks_created", "created"),
)
