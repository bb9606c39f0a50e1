"""A transaction with its repositories: ``tx.threads``, ``tx.comments``, ``tx.votes``, ..."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
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


class Tx:
    """Repositories bound to one open transaction; they hold SQL only, never rules."""

    def __init__(self, conn: AsyncConnection, *, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect

    # Each repository is made on first use: a post touches a handful of the thirty.
    @cached_property
    def threads(self) -> ThreadRepo:
        from kibitz.store.threads import ThreadRepo

        return ThreadRepo(self)

    @cached_property
    def comments(self) -> CommentRepo:
        from kibitz.store.comments import CommentRepo

        return CommentRepo(self)

    @cached_property
    def votes(self) -> VoteRepo:
        from kibitz.store.votes import VoteRepo

        return VoteRepo(self)

    @cached_property
    def flags(self) -> FlagRepo:
        from kibitz.store.votes import FlagRepo

        return FlagRepo(self)

    @cached_property
    def rates(self) -> RateRepo:
        from kibitz.store.limits import RateRepo

        return RateRepo(self)

    @cached_property
    def idempotency(self) -> IdempotencyRepo:
        from kibitz.store.limits import IdempotencyRepo

        return IdempotencyRepo(self)

    @cached_property
    def meta(self) -> MetaRepo:
        from kibitz.store.meta import MetaRepo

        return MetaRepo(self)

    @cached_property
    def outbox(self) -> OutboxRepo:
        from kibitz.store.outbox import OutboxRepo

        return OutboxRepo(self)

    @cached_property
    def subscribers(self) -> SubscriberRepo:
        from kibitz.store.subscribers import SubscriberRepo

        return SubscriberRepo(self)

    @cached_property
    def subscriber_io(self) -> SubscriberIoRepo:
        from kibitz.store.subscriber_io import SubscriberIoRepo

        return SubscriberIoRepo(self)

    @cached_property
    def jobs(self) -> JobRepo:
        from kibitz.store.jobs import JobRepo

        return JobRepo(self)

    @cached_property
    def moderation(self) -> ModerationRepo:
        from kibitz.store.moderation import ModerationRepo

        return ModerationRepo(self)

    @cached_property
    def bans(self) -> BanRepo:
        from kibitz.store.bans import BanRepo

        return BanRepo(self)

    @cached_property
    def audit(self) -> AuditRepo:
        from kibitz.store.audit import AuditRepo

        return AuditRepo(self)

    @cached_property
    def site_settings(self) -> SiteSettingsRepo:
        from kibitz.store.site_settings import SiteSettingsRepo

        return SiteSettingsRepo(self)

    @cached_property
    def trust(self) -> TrustRepo:
        from kibitz.store.site_settings import TrustRepo

        return TrustRepo(self)

    @cached_property
    def staff(self) -> StaffRepo:
        from kibitz.store.staff import StaffRepo

        return StaffRepo(self)

    @cached_property
    def sessions(self) -> SessionRepo:
        from kibitz.store.staff import SessionRepo

        return SessionRepo(self)

    @cached_property
    def api_keys(self) -> ApiKeyRepo:
        from kibitz.store.staff import ApiKeyRepo

        return ApiKeyRepo(self)

    @cached_property
    def spam(self) -> SpamRepo:
        from kibitz.store.spam import SpamRepo

        return SpamRepo(self)

    @cached_property
    def webhooks(self) -> WebhookRepo:
        from kibitz.store.webhooks import WebhookRepo

        return WebhookRepo(self)

    @cached_property
    def suppressions(self) -> SuppressionRepo:
        from kibitz.store.suppressions import SuppressionRepo

        return SuppressionRepo(self)

    @cached_property
    def bounces(self) -> BounceRepo:
        from kibitz.store.suppressions import BounceRepo

        return BounceRepo(self)

    @cached_property
    def campaigns(self) -> CampaignRepo:
        from kibitz.store.campaigns import CampaignRepo

        return CampaignRepo(self)

    @cached_property
    def feeds(self) -> FeedRepo:
        from kibitz.store.feeds import FeedRepo

        return FeedRepo(self)

    @cached_property
    def imports(self) -> ImportRepo:
        from kibitz.store.imports import ImportRepo

        return ImportRepo(self)

    @cached_property
    def story_authors(self) -> StoryAuthorRepo:
        from kibitz.store.story_authors import StoryAuthorRepo

        return StoryAuthorRepo(self)

    @cached_property
    def story_updates(self) -> StoryUpdateRepo:
        from kibitz.store.story_updates import StoryUpdateRepo

        return StoryUpdateRepo(self)

    @cached_property
    def accounts(self) -> AccountRepo:
        from kibitz.store.accounts import AccountRepo

        return AccountRepo(self)

    @cached_property
    def privacy(self) -> PrivacyRepo:
        from kibitz.store.privacy import PrivacyRepo

        return PrivacyRepo(self)

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
        names = list(rows[0])
        take = itemgetter(*names)
        params = [take(row) for row in rows] if len(names) > 1 else [(row[names[0]],) for row in rows]
        await self.insert_tuples(table, names, params)

    async def insert_tuples(self, table: Table, names: Sequence[str], params: list[tuple[Any, ...]]) -> None:
        """``insert_rows`` of rows given as tuples of the columns ``names`` (in that order)."""
        if not params:
            return
        dialect = self.conn.dialect
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
        converted = [(at, process) for at, process in enumerate(processors) if process is not None]
        if converted:
            for index, values in enumerate(params):
                listed = list(values)
                for at, process in converted:
                    listed[at] = process(listed[at])
                params[index] = tuple(listed)
        await self.conn.exec_driver_sql(sql, params)
