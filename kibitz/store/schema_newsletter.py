"""The newsletter's sending tables: suppressions, bounces, campaigns, feed digests (kibitz/bounces.py,
kibitz/campaigns.py, kibitz/feed_digests.py), on kibitz/store/schema.py's metadata."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text, UniqueConstraint

from kibitz.store.schema_base import Id, UTCDateTime, metadata

# Addresses never to be mailed again, for one site or (``site`` "") for every site: a hard bounce, a
# complaint, an unsubscribe from everything, an erasure. Checked when each mail is sent.
suppressions = Table(
    "suppressions",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("email", String(320), primary_key=True),
    Column("reason", String(16), nullable=False),  # hard_bounce | complaint | unsubscribed | erased
    Column("detail", String(500), nullable=False, server_default=""),
    Column("created", UTCDateTime, nullable=False),
    Index("ix_suppressions_email", "email"),
)

# Every bounce and complaint received (DSN, ARF, a provider's webhook): soft bounces are counted here
# before an address is suppressed; campaign statistics count them per outbox row.
bounces = Table(
    "bounces",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False, server_default=""),
    Column("email", String(320), nullable=False),
    Column("kind", String(16), nullable=False),  # hard | soft | complaint
    Column("source", String(16), nullable=False),  # smtp | webhook
    Column("outbox_id", Id, nullable=True),  # the message it answers, when its VERP address says so
    Column("detail", String(500), nullable=False, server_default=""),
    Column("created", UTCDateTime, nullable=False),
    Index("ix_bounces_email_created", "email", "created"),
    Index("ix_bounces_outbox_id", "outbox_id"),
)

# A newsletter issue of one list (campaigns.py): written by staff in Markdown, rendered once, sent to
# the list's subscribers by the worker's periodic job in chunks (``cursor``: the last subscriber
# enqueued; ``queued``: every recipient has a row in the outbox).
campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("list", String(64), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("markdown", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    # draft | scheduled | sending | paused | sent | cancelled
    Column("status", String(16), nullable=False, server_default="draft"),
    Column("send_at", UTCDateTime, nullable=True),
    Column("created", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False, server_default=""),
    Column("started", UTCDateTime, nullable=True),
    Column("finished", UTCDateTime, nullable=True),
    Column("total", Integer, nullable=False, server_default="0"),
    Column("cursor", Id, nullable=False, server_default="0"),
    Column("queued", Boolean, nullable=False, server_default="0"),
    Index("ix_campaigns_site_list", "site", "list", "status"),
    Index("ix_campaigns_status", "status"),
)

# A list's following of the publisher's feed (feed_digests.py): the validators of the last answer
# (a conditional GET's ETag and Last-Modified), when it was last read, why it last failed, and when
# its last digest went out. ``url`` is the feed read: another URL in the configuration starts afresh.
feed_states = Table(
    "feed_states",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("list", String(64), primary_key=True),
    Column("url", String(2048), nullable=False),
    Column("etag", String(500), nullable=False, server_default=""),
    Column("last_modified", String(100), nullable=False, server_default=""),
    Column("following_since", UTCDateTime, nullable=True),  # the first good read (the baseline)
    Column("checked", UTCDateTime, nullable=True),  # the last attempt, good or not
    Column("failures", Integer, nullable=False, server_default="0"),  # in a row
    Column("last_error", String(500), nullable=False, server_default=""),
    Column("last_slot", UTCDateTime, nullable=True),  # the last digest time dealt with, sent or empty
    Column("last_sent", UTCDateTime, nullable=True),  # when the last digest was made
)

# Every article seen in a list's feed, once (``key``: a hash of its guid, else its link): ``waiting``
# for the next digest, ``sent`` in the digest ``campaign_id``, or ``baseline``: already in the feed when
# the list began to follow it, so never sent.
feed_articles = Table(
    "feed_articles",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("list", String(64), nullable=False),
    Column("key", String(64), nullable=False),
    Column("title", String(300), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("summary", Text, nullable=False),
    Column("published", UTCDateTime, nullable=True),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # waiting | sent | baseline
    Column("campaign_id", Id, nullable=True),
    UniqueConstraint("site", "list", "key", name="uq_feed_articles_key"),
    Index("ix_feed_articles_waiting", "site", "list", "status"),
)
