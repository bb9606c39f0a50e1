"""Every table, once, for both engines; Alembic migrations are checked against this metadata."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from kibitz.store.schema_accounts import account_identities as account_identities
from kibitz.store.schema_accounts import account_sessions as account_sessions
from kibitz.store.schema_accounts import accounts as accounts
from kibitz.store.schema_accounts import sign_ins as sign_ins
from kibitz.store.schema_accounts import story_authors as story_authors
from kibitz.store.schema_base import Id as Id
from kibitz.store.schema_base import UTCDateTime as UTCDateTime
from kibitz.store.schema_base import metadata as metadata

# The tables of later concepts live in modules of their own, on the same metadata (which Alembic
# checks); every table stays importable from here.
from kibitz.store.schema_imports import import_ids as import_ids
from kibitz.store.schema_imports import import_runs as import_runs
from kibitz.store.schema_newsletter import bounces as bounces
from kibitz.store.schema_newsletter import campaigns as campaigns
from kibitz.store.schema_newsletter import feed_articles as feed_articles
from kibitz.store.schema_newsletter import feed_states as feed_states
from kibitz.store.schema_newsletter import suppressions as suppressions
from kibitz.store.schema_spam import akismet_checks as akismet_checks
from kibitz.store.schema_spam import spam_domains as spam_domains
from kibitz.store.schema_spam import spam_features as spam_features
from kibitz.store.schema_spam import spam_labels as spam_labels
from kibitz.store.schema_spam import spam_model as spam_model
from kibitz.store.schema_updates import story_updates as story_updates
from kibitz.store.schema_updates import update_digest_items as update_digest_items

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

threads = Table(
    "threads",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("page", String(1024), nullable=False),
    Column("title", String(300), nullable=False, server_default=""),
    Column("url", String(2048), nullable=False, server_default=""),
    Column("closed", Boolean, nullable=False, server_default="0"),
    Column("count", Integer, nullable=False, server_default="0"),
    # Bumped by every change a reader could see; caches and event replay key on it.
    Column("version", BigInteger, nullable=False, server_default="0"),
    Column("created", UTCDateTime, nullable=False),
    # A story's own moderation mode (none | first | all), overriding its site's; NULL: the site's.
    Column("moderation", String(16), nullable=True),
    # What the publisher says the page is (titles.py): its title and URL as read from the article
    # page on the site's own origins, or set through the publisher API (page_source "api", never
    # overwritten by a fetch). Mail names a thread only by these, never by a reader's title or url.
    Column("page_title", String(300), nullable=False, server_default=""),
    Column("page_url", String(2048), nullable=False, server_default=""),
    Column("page_source", String(8), nullable=True),  # page | api; NULL: not learned yet
    Column("page_checked", UTCDateTime, nullable=True),
    # When the page should be read (again); NULL: not due. The title job takes due threads in order.
    Column("page_due", UTCDateTime, nullable=True),
    UniqueConstraint("site", "page", name="uq_threads_site_page"),
    Index("ix_threads_page_due", "page_due"),
)

# What changed in a thread, in the order the changes committed: the thread's version is assigned under
# its row lock, so replaying "everything after version N" can never skip a late commit (live updates).
thread_events = Table(
    "thread_events",
    metadata,
    Column("thread_id", Id, ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True),
    Column("version", BigInteger, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("comment_id", Id, nullable=True),
)

comments = Table(
    "comments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("thread_id", Id, ForeignKey("threads.id", ondelete="CASCADE"), nullable=False),
    Column("parent_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), nullable=True),
    Column("root_id", Id, nullable=True),
    Column("path", Text, nullable=False, server_default=""),
    Column("depth", Integer, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),
    Column("deleted", Boolean, nullable=False, server_default="0"),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("renderer_version", Integer, nullable=False),
    Column("author_name", String(64), nullable=False),
    Column("author_email", String(320), nullable=False, server_default=""),
    Column("author_url", String(2048), nullable=False, server_default=""),
    Column("avatar_key", String(64), nullable=False),
    Column("reader_id", String(64), nullable=False),
    Column("account_id", Id, nullable=True),
    # No longer written (migration 0005 emptied it): addresses are kept only as client_hash.
    Column("client_net", String(64), nullable=False, server_default=""),
    Column("created", UTCDateTime, nullable=False),
    Column("edited", UTCDateTime, nullable=True),
    Column("score", Integer, nullable=False, server_default="0"),
    Column("up", Integer, nullable=False, server_default="0"),
    Column("down", Integer, nullable=False, server_default="0"),
    Column("pinned", Boolean, nullable=False, server_default="0"),
    Column("anchor", Text, nullable=True),
    Column("visible_descendants", Integer, nullable=False, server_default="0"),
    # Moderation (migration 0005): the thread's site, copied so a site's queue reads off one index;
    # a keyed hash of the client's address (an IPv6 /64) that bans match without storing it.
    Column("site", String(64), nullable=False, server_default=""),
    Column("client_hash", String(64), nullable=False, server_default=""),
    Column("featured", Boolean, nullable=False, server_default="0"),
    Column("mod_edited", Boolean, nullable=False, server_default="0"),
    Column("spam_score", Float, nullable=False, server_default="0"),
    Column("reasons", Text, nullable=False, server_default=""),  # why it was held: comma-separated codes
    # A signed-in author's badges when posted (staff, moderator, verified: comma-separated) and the
    # provider's picture they chose (https, shown as is, never proxied); "" for guests (0018).
    Column("badges", String(200), nullable=False, server_default=""),
    Column("avatar_url", String(2048), nullable=False, server_default=""),
    CheckConstraint("status IN ('approved','pending','rejected','spam')", name="status"),
    Index("ix_comments_thread_top", "thread_id", "parent_id", "created"),
    Index("ix_comments_root", "root_id"),
    Index("ix_comments_thread_created", "thread_id", "created"),
    Index("ix_comments_site_status_created", "site", "status", "created", "id"),
    Index("ix_comments_site_email", "site", "author_email"),
    Index("ix_comments_site_reader", "site", "reader_id", "created"),  # a guest's repeats (0024)
    Index("ix_comments_account", "account_id"),  # an account's comments: its export, erasure (0018)
    # Top-level pages in "newest" and "votes" order read straight off these (scanned backwards),
    # however many comments a thread holds (migration 0004).
    Index(
        "ix_comments_top_newest",
        "thread_id",
        "pinned",
        "created",
        "id",
        postgresql_where=text("parent_id IS NULL"),
        sqlite_where=text("parent_id IS NULL"),
    ),
    Index(
        "ix_comments_top_votes",
        "thread_id",
        "pinned",
        "score",
        "created",
        "id",
        postgresql_where=text("parent_id IS NULL"),
        sqlite_where=text("parent_id IS NULL"),
    ),
)

# Top-level pages in "oldest" order (pinned first, then oldest) read straight off this one, scanned
# forwards from the page's key, however many comments a thread holds (migration 0025).
Index(
    "ix_comments_top_oldest",
    comments.c.thread_id,
    comments.c.pinned.desc(),
    comments.c.created,
    comments.c.id,
    postgresql_where=text("parent_id IS NULL"),
    sqlite_where=text("parent_id IS NULL"),
)

votes = Table(
    "votes",
    metadata,
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True),
    Column("reader_id", String(64), primary_key=True),
    Column("value", SmallInteger, nullable=False),
    Column("created", UTCDateTime, nullable=False),
    # The keyed hash of the voter's address (an IPv6 address by its /64; Policies.address_hash):
    # votes_per_address counts rows per (comment, address), whatever reader ids they carry.
    # "" for votes cast before migration 0006, which count against no address.
    Column("client_hash", String(64), nullable=False, server_default=""),
    CheckConstraint("value IN (-1, 1)", name="value"),
    Index("ix_votes_comment_client", "comment_id", "client_hash"),
)

flags = Table(
    "flags",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
    Column("reader_id", String(64), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("created", UTCDateTime, nullable=False),
    # A report stays open until a moderator acts on its comment (migration 0005).
    Column("resolved", Boolean, nullable=False, server_default="0"),
    UniqueConstraint("comment_id", "reader_id", name="uq_flags_comment_reader"),
    Index("ix_flags_open", "resolved", "comment_id"),
)

# Fixed-window counters shared by every worker and instance.
rate_counters = Table(
    "rate_counters",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("window", BigInteger, primary_key=True),
    Column("count", Integer, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("site", String(64), primary_key=True),
    # Who may replay: the reader id the request carried, else the client's address (rate key);
    # another reader's identical key and body is a new request, never someone else's answer.
    Column("principal", String(80), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), nullable=False),
    Column("response", Text, nullable=False),
    Column("created", UTCDateTime, nullable=False),
)

# One record per (site, address) serves comment notifications and the newsletter.
subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("email", String(320), nullable=False),
    # unconfirmed | confirmed | unsubscribed | bounced
    Column("status", String(16), nullable=False, server_default="unconfirmed"),
    Column("created", UTCDateTime, nullable=False),
    Column("confirmed", UTCDateTime, nullable=True),
    # The live confirmation link's nonce: cleared when used, so a link works once.
    Column("confirm_nonce", String(64), nullable=True),
    Column("confirm_sent", UTCDateTime, nullable=True),
    # Every manage link issued at or before this moment (ms since the epoch) is void (migration 0006).
    Column("manage_links_revoked", BigInteger, nullable=True),
    # The preference centre's pause: no newsletter mail before this moment (migration 0012).
    Column("paused_until", UTCDateTime, nullable=True),
    # The name a publisher's subscriber list gave (CSV import, subscriber_io.py; migration 0015).
    Column("name", String(200), nullable=False, server_default=""),
    UniqueConstraint("site", "email", name="uq_subscribers_site_email"),
)

# What a subscriber follows: the newsletter, a whole thread, or replies to their comments in a thread.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("topic", String(16), nullable=False),  # newsletter | thread | replies | updates
    Column("thread_id", Id, ForeignKey("threads.id", ondelete="CASCADE"), nullable=True),
    Column("digest", String(16), nullable=False, server_default="instant"),  # instant | daily
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created", UTCDateTime, nullable=False),
    # Asked for without proof that the asker holds the address: nothing is sent for it until the
    # address confirms a mail that listed it (subscriptions.py). ``requested``: when last asked for.
    Column("pending", Boolean, nullable=False, server_default="0"),
    Column("requested", UTCDateTime, nullable=True),
    # Which of the site's newsletter lists ([[sites.lists]] id); "" for comment mail, and for the
    # site's first list (subscriptions made before lists existed).
    Column("list", String(64), nullable=False, server_default=""),
    # Consent the publisher holds a record of (CSV import, subscriber_io.py; migration 0015): when the
    # person consented, where (their words, e.g. "print form 2024"), and how it came here
    # ("import by <who>"). Empty for sign-ups: their proof is the confirmation (subscribers.confirmed).
    Column("consent_at", UTCDateTime, nullable=True),
    Column("consent_source", String(200), nullable=False, server_default=""),
    Column("consent_via", String(200), nullable=False, server_default=""),
    UniqueConstraint("subscriber_id", "topic", "thread_id", name="uq_subscriptions_subscriber_topic_thread"),
    Index("ix_subscriptions_thread", "thread_id", "topic"),
)

# Mail to send, written in the transaction of the change that caused it; the worker sends it.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # confirm | reply | thread | digest | manage | newsletter
    # What caused the mail (e.g. "comment:42"); with the recipient, unique: one mail per cause.
    Column("dedupe_key", String(200), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("subscriber_id", Id, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=True),
    Column("subscription_id", Id, ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=True),
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), nullable=True),
    Column("subject", String(300), nullable=False),
    Column("text_body", Text, nullable=False),
    Column("html_body", Text, nullable=False),
    Column("list_unsubscribe", String(2048), nullable=False, server_default=""),
    Column(
        "status", String(16), nullable=False, server_default="pending"
    ),  # pending|sending|sent|failed|dropped
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("created", UTCDateTime, nullable=False),
    Column("sent", UTCDateTime, nullable=True),
    # Who holds a ``sending`` row's lease (a worker's random token, migration 0020): the worker marks
    # only the rows it still holds, so one whose lease was taken over cannot record or resend them.
    Column("lease_owner", String(32), nullable=True),
    # The newsletter campaign a mail belongs to (migration 0013): the worker holds the rows of a
    # paused campaign and drops those of a cancelled one.
    Column("campaign_id", Id, nullable=True),
    UniqueConstraint("dedupe_key", "recipient", name="uq_outbox_dedupe_key_recipient"),
    Index("ix_outbox_due", "status", "next_attempt"),
    Index("ix_outbox_campaign_id", "campaign_id", "status"),
)

# Comments waiting for a subscriber's daily digest.
digest_items = Table(
    "digest_items",
    metadata,
    Column("subscription_id", Id, ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True),
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True),
    Column("created", UTCDateTime, nullable=False),
)

# Periodic jobs that must run once across every worker and instance (a lease per job).
jobs = Table(
    "jobs",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("last_run", UTCDateTime, nullable=True),
)

# -- the newsroom's side (migration 0005) ----------------------------------------------------------

# Staff who sign in to the admin: owners see every site, moderators the sites in staff_sites.
staff = Table(
    "staff",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False),
    Column("role", String(16), nullable=False),  # owner | moderator
    Column("password_hash", String(200), nullable=True),  # None until a password is set
    Column("totp_secret", String(64), nullable=True),
    Column("active", Boolean, nullable=False, server_default="1"),
    # The live set-password link's nonce: cleared when used, so a link works once.
    Column("reset_nonce", String(64), nullable=True),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("created", UTCDateTime, nullable=False),
    Column("last_login", UTCDateTime, nullable=True),
    # How held and reported comments reach this member by mail: instant | digest | off (0008).
    Column("moderation_mail", String(8), nullable=False, server_default="instant"),
    UniqueConstraint("email", name="uq_staff_email"),
    CheckConstraint("role IN ('owner','moderator')", name="role"),
)

staff_sites = Table(
    "staff_sites",
    metadata,
    Column("staff_id", Id, ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
    Column("site", String(64), primary_key=True),
)

# Signed-in admin sessions; the cookie holds a random token, the table only its hash, so deleting
# rows signs out at once on every worker and instance.
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("staff_id", Id, ForeignKey("staff.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("user_agent", String(200), nullable=False, server_default=""),
    Index("ix_staff_sessions_staff", "staff_id"),
)

# Held and reported comments waiting for a staff member's hourly digest (kibitz/moderator_mail.py).
moderator_digest_items = Table(
    "moderator_digest_items",
    metadata,
    Column("staff_id", Id, ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
    Column("comment_id", Id, ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True),
    Column("event", String(8), primary_key=True),  # held | reported
    Column("created", UTCDateTime, nullable=False),
)

# Moderation mail links used already (their nonce): each works once. Kept past the links' expiry.
moderator_links_used = Table(
    "moderator_links_used",
    metadata,
    Column("nonce", String(32), primary_key=True),
    Column("used", UTCDateTime, nullable=False),
    Index("ix_moderator_links_used_used", "used"),
)

# Machine credentials: `kbz_...` keys, kept only as hashes; revoking one stops it at once.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("scope", String(16), nullable=False),  # moderate | publish
    Column("name", String(100), nullable=False, server_default=""),
    Column("prefix", String(16), nullable=False),  # shown in lists, to tell keys apart
    Column("key_hash", String(64), nullable=False),
    Column("created", UTCDateTime, nullable=False),
    Column("last_used", UTCDateTime, nullable=True),
    Column("revoked", UTCDateTime, nullable=True),
    UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    CheckConstraint("scope IN ('moderate','publish')", name="scope"),
)

# Every staff act: who, what, on what, when. Also the per-comment history (target "comment:<id>").
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("site", String(64), nullable=False, server_default=""),  # "" for acts on no one site
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=False, server_default=""),
    Column("detail", Text, nullable=False, server_default=""),  # JSON
    Index("ix_audit_log_site_id", "site", "id"),
    Index("ix_audit_log_target", "target"),
)

# Bans per site. ``value`` is canonical: a normalised email, a raw reader id, the keyed hash of an
# address (IPv6 by its /64), a CIDR, or a folded display name; ``label`` is what moderators see.
bans = Table(
    "bans",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # email | reader | address | network | name
    Column("value", String(320), nullable=False),
    Column("label", String(320), nullable=False, server_default=""),
    Column("shadow", Boolean, nullable=False, server_default="0"),
    Column("reason", String(500), nullable=False, server_default=""),
    Column("created", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False, server_default=""),
    Column("expires", UTCDateTime, nullable=True),
    Index("ix_bans_site_kind_value", "site", "kind", "value"),
    CheckConstraint("kind IN ('email','reader','address','network','name')", name="kind"),
)

# A site's settings changed in the admin; they override kibitz.toml key by key. ``meta`` holds
# "settings_version", bumped with every change, so every worker notices at once.
site_settings = Table(
    "site_settings",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("updated", UTCDateTime, nullable=False),
    Column("updated_by", String(200), nullable=False, server_default=""),
)

# How far a site trusts an author (an email when given, else "r:<reader id>"): approved comments
# lift them out of pre-moderation, rejections put them back.
trust = Table(
    "trust",
    metadata,
    Column("site", String(64), primary_key=True),
    Column("author", String(320), primary_key=True),
    Column("approved", Integer, nullable=False, server_default="0"),
    Column("rejected", Integer, nullable=False, server_default="0"),
    Column("updated", UTCDateTime, nullable=False),
)

# -- webhooks (kibitz/webhooks.py) -------------------------------------------------------------------

# A site's webhook: where its events go. The secret signs every call, so it is kept (shown once).
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("site", String(64), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("events", String(500), nullable=False),  # space-separated event types
    Column("secret", String(100), nullable=False),  # whsec_<base64>
    Column("created", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False, server_default=""),
    Index("ix_webhooks_site", "site"),
)

# The webhooks' outbox: one row per event and webhook, written in the transaction that caused the
# event, delivered (and retried) by kibitz/webhook_worker.py; ``event_id`` is the webhook-id header.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # NULL for the calls that go to no webhook: reports to Akismet (akismet.py), event "akismet.*".
    Column("webhook_id", Id, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=True),
    Column("event_id", String(64), nullable=False),
    Column("event", String(32), nullable=False),
    Column("dedupe_key", String(200), nullable=False),  # one delivery per cause and webhook
    Column("payload", Text, nullable=False),  # the exact body sent, every time
    # pending | sending | delivered | failed
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("last_code", Integer, nullable=True),  # the receiver's last HTTP status
    Column("last_error", String(500), nullable=False, server_default=""),
    Column("last_body", Text, nullable=False, server_default=""),  # at most 1 KB of its last answer
    Column("last_attempt", UTCDateTime, nullable=True),
    Column("delivered", UTCDateTime, nullable=True),
    Column("created", UTCDateTime, nullable=False),
    # Who holds a ``sending`` delivery's lease (a delivery loop's random token, migration 0023): the
    # loop marks only the deliveries it still holds (the fence, as for mail).
    Column("lease_owner", String(32), nullable=True),
    UniqueConstraint("webhook_id", "dedupe_key", name="uq_webhook_deliveries_webhook_id_dedupe_key"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt"),
    Index("ix_webhook_deliveries_created", "created"),
)
