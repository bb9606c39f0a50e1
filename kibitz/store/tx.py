"""A transaction with its repositories: ``tx.threads``, ``tx.comments``, ``tx.votes``, ..."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


class Tx:
    """Repositories bound to one open transaction; they hold SQL only, never rules."""

    def __init__(self, conn: AsyncConnection, *, dialect: str) -> None:
        from kibitz.store.accounts import AccountRepo
        from kibitz.store.audit import AuditRepo
        from kibitz.store.bans import BanRepo
        from kibitz.store.campaigns import CampaignRepo
        from kibitz.store.comments import CommentRepo
        from kibitz.store.feeds import FeedRepo
        from kibitz.store.imports import ImportRepo
        from kibitz.store.jobs import JobRepo
        from kibitz.store.limits import IdempotencyRepo, RateRepo
        from kibitz.store.meta import MetaRepo
        from kibitz.store.moderation import ModerationRepo
        from kibitz.store.outbox import OutboxRepo
        from kibitz.store.privacy import PrivacyRepo
        from kibitz.store.site_settings import SiteSettingsRepo, TrustRepo
        from kibitz.store.spam import SpamRepo
        from kibitz.store.staff import ApiKeyRepo, SessionRepo, StaffRepo
        from kibitz.store.story_authors import StoryAuthorRepo
        from kibitz.store.story_updates import StoryUpdateRepo
        from kibitz.store.subscriber_io import SubscriberIoRepo
        from kibitz.store.subscribers import SubscriberRepo
        from kibitz.store.suppressions import BounceRepo, SuppressionRepo
        from kibitz.store.threads import ThreadRepo
        from kibitz.store.votes import FlagRepo, VoteRepo
        from kibitz.store.webhooks import WebhookRepo

        self.conn = conn
        self.dialect = dialect
        self.threads = ThreadRepo(self)
        self.comments = CommentRepo(self)
        self.votes = VoteRepo(self)
        self.flags = FlagRepo(self)
        self.rates = RateRepo(self)
        self.idempotency = IdempotencyRepo(self)
        self.meta = MetaRepo(self)
        self.outbox = OutboxRepo(self)
        self.subscribers = SubscriberRepo(self)
        self.subscriber_io = SubscriberIoRepo(self)
        self.jobs = JobRepo(self)
        self.moderation = ModerationRepo(self)
        self.bans = BanRepo(self)
        self.audit = AuditRepo(self)
        self.site_settings = SiteSettingsRepo(self)
        self.trust = TrustRepo(self)
        self.staff = StaffRepo(self)
        self.sessions = SessionRepo(self)
        self.api_keys = ApiKeyRepo(self)
        self.spam = SpamRepo(self)
        self.webhooks = WebhookRepo(self)
        self.suppressions = SuppressionRepo(self)
        self.bounces = BounceRepo(self)
        self.campaigns = CampaignRepo(self)
        self.feeds = FeedRepo(self)
        self.imports = ImportRepo(self)
        self.story_updates = StoryUpdateRepo(self)
        self.accounts = AccountRepo(self)
        self.story_authors = StoryAuthorRepo(self)
        self.privacy = PrivacyRepo(self)

    def upsert(self, table: Table) -> Any:
        """An INSERT that understands ON CONFLICT on both engines (same API on each)."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def insert_rows(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """INSERT many rows in one executemany straight to the driver: each column's own bind
        processing (UTC times, booleans) applied here, but no statement built or compiled per row.
        For the bulk writers (imports), where SQLAlchemy's per-row work costs more than the driver's;
        every row must have the keys the first one has."""
        if not rows:
            return
        dialect = self.conn.dialect
        names = list(rows[0])
        processors = [table.c[name].type.bind_processor(dialect) for name in names]
        quote = dialect.identifier_preparer.quote
        if dialect.paramstyle == "numeric_dollar":
            marks = ", ".join(f"${n}" for n in range(1, len(names) + 1))
        elif dialect.paramstyle == "qmark":
            marks = ", ".join("?" for _ in names)
        else:
            marks = ", ".join("%s" for _ in names)
        columns = ", ".join(quote(table.c[name].name) for name in names)  # only the table's own columns
        sql = f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})"  # noqa: S608 values are bound
        take = itemgetter(*names)
        params = [take(row) for row in rows] if len(names) > 1 else [(row[names[0]],) for row in rows]
        converted = [(at, process) for at, process in enumerate(processors) if process is not None]
        if converted:
            for index, values in enumerate(params):
                listed = list(values)
                for at, process in converted:
                    listed[at] = process(listed[at])
                params[index] = tuple(listed)
        await self.conn.exec_driver_sql(sql, params)
