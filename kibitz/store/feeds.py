"""Feed digests: each list's following of the publisher's feed, and the articles seen in it."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from kibitz.store.schema import feed_articles, feed_states

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

fs = feed_states.c
fa = feed_articles.c


@dataclass(frozen=True)
class FeedState:
    site: str
    list_id: str
    url: str
    etag: str
    last_modified: str
    following_since: datetime | None  # None until the first good read
    checked: datetime | None
    failures: int
    last_error: str
    last_slot: datetime | None  # the last digest time dealt with (a digest made, or nothing to send)
    last_sent: datetime | None


@dataclass(frozen=True)
class NewArticle:
    key: str  # a hash of the item's guid (else its link)
    title: str
    url: str
    summary: str  # plain text
    published: datetime | None


@dataclass(frozen=True)
class Article:
    id: int
    title: str
    url: str
    summary: str
    published: datetime | None
    first_seen: datetime


def _state(row: Any) -> FeedState:
    return FeedState(
        site=row.site,
        list_id=row.list,
        url=row.url,
        etag=row.etag,
        last_modified=row.last_modified,
        following_since=row.following_since,
        checked=row.checked,
        failures=row.failures,
        last_error=row.last_error,
        last_slot=row.last_slot,
        last_sent=row.last_sent,
    )


class FeedRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def state(self, site: str, list_id: str, *, for_update: bool = False) -> FeedState | None:
        stmt = select(feed_states).where(fs.site == site, fs.list == list_id)
        if for_update and self.tx.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.tx.conn.execute(stmt)).first()
        return _state(row) if row else None

    async def follow(self, site: str, list_id: str, url: str) -> FeedState:
        """The list's state, made when new; a list that now follows another URL starts afresh (no
        validators, a new baseline), its articles seen so far still seen."""
        await self.tx.conn.execute(
            self.tx.upsert(feed_states)
            .values(site=site, list=list_id, url=url)
            .on_conflict_do_nothing(index_elements=["site", "list"])
        )
        await self.tx.conn.execute(
            update(feed_states)
            .where(fs.site == site, fs.list == list_id, fs.url != url)
            .values(url=url, etag="", last_modified="", following_since=None, failures=0, last_error="")
        )
        found = await self.state(site, list_id)
        assert found is not None
        return found

    async def read_ok(
        self, site: str, list_id: str, now: datetime, *, etag: str | None, last_modified: str | None
    ) -> None:
        """A good read (a 200 or a 304): new validators when the answer gave them; the baseline set."""
        values: dict[str, Any] = {"checked": now, "failures": 0, "last_error": ""}
        if etag is not None:
            values["etag"] = etag
        if last_modified is not None:
            values["last_modified"] = last_modified
        await self.tx.conn.execute(
            update(feed_states).where(fs.site == site, fs.list == list_id).values(**values)
        )
        await self.tx.conn.execute(
            update(feed_states)
            .where(fs.site == site, fs.list == list_id, fs.following_since.is_(None))
            .values(following_since=now)
        )

    async def read_failed(self, site: str, list_id: str, now: datetime, error: str) -> None:
        await self.tx.conn.execute(
            update(feed_states)
            .where(fs.site == site, fs.list == list_id)
            .values(checked=now, failures=fs.failures + 1, last_error=error[:500])
        )

    async def add_articles(
        self, site: str, list_id: str, articles: Sequence[NewArticle], status: str, now: datetime
    ) -> int:
        """Record the articles not seen before (by key) with ``status``; how many were new."""
        added = 0
        for item in articles:
            stmt = (
                self.tx.upsert(feed_articles)
                .values(
                    site=site, list=list_id, key=item.key, title=item.title, url=item.url,
                    summary=item.summary, published=item.published, first_seen=now, status=status,
                )
                .on_conflict_do_nothing(index_elements=["site", "list", "key"])
            )  # fmt: skip
            added += (await self.tx.conn.execute(stmt)).rowcount or 0
        return added

    async def waiting(self, site: str, list_id: str) -> builtins.list[Article]:
        """The articles no digest has carried yet, newest first (by date, else by when first seen)."""
        stmt = (
            select(fa.id, fa.title, fa.url, fa.summary, fa.published, fa.first_seen)
            .where(fa.site == site, fa.list == list_id, fa.status == "waiting")
            .order_by(fa.first_seen.desc(), fa.published.desc(), fa.id.desc())
        )
        return [
            Article(int(r.id), r.title, r.url, r.summary, r.published, r.first_seen)
            for r in await self.tx.conn.execute(stmt)
        ]

    async def mark_sent(self, ids: Sequence[int], campaign_id: int) -> None:
        await self.tx.conn.execute(
            update(feed_articles)
            .where(fa.id.in_(list(ids)), fa.status == "waiting")
            .values(status="sent", campaign_id=campaign_id)
        )

    async def slot_done(self, site: str, list_id: str, slot: datetime, *, sent: datetime | None) -> None:
        """A digest time dealt with: a digest made at ``sent``, or (None) nothing new to send."""
        values: dict[str, Any] = {"last_slot": slot}
        if sent is not None:
            values["last_sent"] = sent
        await self.tx.conn.execute(
            update(feed_states).where(fs.site == site, fs.list == list_id).values(**values)
        )
