"""The Context: everything a request handler, a command or the outbox worker may reach, built once
per process (settings, store, tokens, events, rules). It knows nothing of HTTP routing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from kibitz.accounts import Accounts
from kibitz.accounts_email import EmailSignIn
from kibitz.akismet import Akismet
from kibitz.bans import Bans
from kibitz.broker import LocalBroker, make_broker
from kibitz.campaigns import Campaigns
from kibitz.comments import Comments
from kibitz.config import Settings
from kibitz.events import Events, ThreadEvent
from kibitz.feed_digests import FeedDigests
from kibitz.metrics import Metrics
from kibitz.migrate import upgrade
from kibitz.moderation import Moderation
from kibitz.oidc import Oidc
from kibitz.outbound import OutboundPolicy
from kibitz.policy import Policies
from kibitz.privacy import Privacy
from kibitz.reader_moderation import ReaderModeration
from kibitz.security import Tokens
from kibitz.staff import Staff
from kibitz.store.db import Database
from kibitz.store.meta import load_secret
from kibitz.story_authors import StoryAuthors
from kibitz.story_updates import StoryUpdates
from kibitz.subscriber_io import SubscriberIo
from kibitz.subscriptions import links_for
from kibitz.titles import Titles
from kibitz.votes import Votes
from kibitz.web.shapes import Shaper
from kibitz.webhooks import Webhooks

if TYPE_CHECKING:
    from kibitz.web.cached import ReadCache

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """Everything a request handler may reach, built once per process."""

    settings: Settings
    db: Database
    tokens: Tokens
    events: Events
    comments: Comments
    shaper: Shaper
    metrics: Metrics
    clock: Clock
    broker: LocalBroker = field(default_factory=LocalBroker)
    policies: Policies = field(init=False)
    moderation: Moderation = field(init=False)
    staff: Staff = field(init=False)
    bans: Bans = field(init=False)
    votes: Votes = field(init=False)
    titles: Titles = field(init=False)
    webhooks: Webhooks = field(init=False)
    akismet: Akismet = field(init=False)
    campaigns: Campaigns = field(init=False)
    feed_digests: FeedDigests = field(init=False)
    subscriber_io: SubscriberIo = field(init=False)
    story_updates: StoryUpdates = field(init=False)
    accounts: Accounts = field(init=False)
    email_sign_in: EmailSignIn = field(init=False)
    oidc: Oidc = field(init=False)
    privacy: Privacy = field(init=False)

    def __post_init__(self) -> None:
        self.policies = self.comments.policies
        self.bans = Bans(self.db, self.policies, self.clock)
        self.votes = Votes(self.db, self.events, self.clock, self.policies, self.comments.links)
        self.moderation = Moderation(
            self.db,
            self.events,
            self.tokens,
            self.policies,
            self.clock,
            self.settings.site,
            links=self.comments.links,
        )
        self.staff = Staff(self.db, self.tokens, self.clock, self.settings.base_url)
        policy = OutboundPolicy(allow_networks=self.settings.outbound_allow)
        self.titles = Titles(self.db, self.settings.site, self.clock, policy)
        # Events become webhook deliveries in the transaction of the change (webhooks.py).
        self.webhooks = Webhooks(self.db, self.settings, self.clock, self.shaper)
        self.comments.webhooks = self.moderation.webhooks = self.votes.webhooks = self.webhooks
        # Asked about each post of the sites that set an akismet_key; its reports go with webhooks.
        self.akismet = self.comments.akismet = Akismet(self.settings)
        self.campaigns = Campaigns(self.db, self.settings, links_for(self.tokens, self.settings), self.clock)
        # Lists that follow the publisher's feed: their digests are campaigns too.
        self.feed_digests = FeedDigests(self.db, self.settings, self.campaigns, self.clock)
        self.subscriber_io = SubscriberIo(self.db, self.campaigns.links, self.clock)
        self.story_updates = StoryUpdates(self.db, self.events, self.campaigns.links, self.clock)
        # Reader accounts: sessions, the site's ``authors`` policy, and the mailed sign-in link.
        self.accounts = Accounts(self.db, self.tokens, self.clock, self.policies, self.comments.avatar_secret)
        self.email_sign_in = EmailSignIn(self.accounts, self.tokens, self.campaigns.links)
        self.oidc = Oidc(self.accounts, self.settings)
        self.privacy = Privacy(self.db, self.tokens, self.events, self.clock, self.comments.avatar_secret)
        # Moderators from the publisher's login (sso_moderators), and who wrote a story (author badge).
        self.reader_moderation = ReaderModeration(self.moderation, self.policies)
        self.story_authors = StoryAuthors(self.db, self.events, self.clock)

    @cached_property
    def reads(self) -> ReadCache:
        """The read cache (HTTP answers); made on first use, so the outbox worker never builds it."""
        from kibitz.readcache import Versions
        from kibitz.web.cached import ReadCache

        versions = Versions(
            self.db, self.metrics, sqlite_file=self.db.sqlite_file, generation=self.db.generation
        )
        return ReadCache(self.settings, versions, self.metrics, self.clock, self.policies)


async def open_context(settings: Settings, *, clock: Clock = utcnow, migrate: bool = True) -> Context:
    db = Database(settings.sqlalchemy_url)
    if migrate:
        await upgrade(db, settings)
    secret = await load_secret(db, settings.secret_key)
    tokens = Tokens(secret)
    events = Events()
    metrics = Metrics()
    events.listen(metrics.on_event)
    broker = make_broker(settings.redis_url, metrics)

    async def publish(event: ThreadEvent) -> None:  # after commit: wake the thread's live streams
        await broker.publish(event.thread_id, event.version)

    events.listen(publish)
    policies = Policies(db, secret.encode())
    comments = Comments(
        db,
        tokens,
        events,
        clock,
        avatar_secret=secret.encode(),
        links=links_for(tokens, settings),
        policies=policies,
    )
    return Context(settings, db, tokens, events, comments, Shaper(settings.base_url), metrics, clock, broker)


async def close_context(ctx: Context) -> None:
    if "reads" in ctx.__dict__:
        await ctx.reads.close()
    await ctx.broker.close()
    await ctx.db.dispose()
