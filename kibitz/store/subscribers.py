"""Subscribers (one per site and address), what they follow, and the comments waiting for their digest."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, false, or_, select, true, update

from kibitz.models import Comment, CommentStatus, Thread
from kibitz.store import fast
from kibitz.store.comments import to_comment
from kibitz.store.fast import Fast
from kibitz.store.schema import comments, digest_items, subscribers, subscriptions, threads

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

s = subscribers.c
sub = subscriptions.c


# What consent given by confirming an address is recorded as (and what an export says of it).
SIGNED_UP = "sign-up, address confirmed"


@dataclass(frozen=True)
class Subscriber:
    id: int
    site: str
    email: str
    status: str  # unconfirmed | confirmed | unsubscribed | bounced
    created: datetime
    confirmed: datetime | None
    confirm_nonce: str | None
    confirm_sent: datetime | None
    paused_until: datetime | None = None  # no newsletter mail before this moment (the preference centre)


@dataclass(frozen=True)
class Subscription:
    id: int
    subscriber_id: int
    topic: str  # newsletter | thread | replies | updates
    thread_id: int | None
    digest: str  # instant | daily
    active: bool
    created: datetime
    pending: bool = False  # asked for without proof of the address: nothing is sent until confirmed
    requested: datetime | None = None
    list_id: str = ""  # the newsletter list ("": comment mail, or the site's first list from before lists)


@dataclass(frozen=True)
class Follower:
    """A confirmed subscriber with one of their active subscriptions: someone to notify."""

    subscriber: Subscriber
    subscription: Subscription


def to_subscriber(row: Any) -> Subscriber:
    return Subscriber(
        id=row.id,
        site=row.site,
        email=row.email,
        status=row.status,
        created=row.created,
        confirmed=row.confirmed,
        confirm_nonce=row.confirm_nonce,
        confirm_sent=row.confirm_sent,
        paused_until=row.paused_until,
    )


def to_subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id,
        subscriber_id=row.subscriber_id,
        topic=row.topic,
        thread_id=row.thread_id,
        digest=row.digest,
        active=bool(row.active),
        created=row.created,
        pending=bool(row.pending),
        requested=row.requested,
        list_id=row.list,
    )


_SUB_COLUMNS = [col.label(f"sub_{col.key}") for col in subscriptions.c]


def _subscription_of(row: Any) -> Subscription:
    return Subscription(
        id=row.sub_id,
        subscriber_id=row.sub_subscriber_id,
        topic=row.sub_topic,
        thread_id=row.sub_thread_id,
        digest=row.sub_digest,
        active=bool(row.sub_active),
        created=row.sub_created,
        pending=bool(row.sub_pending),
        requested=row.sub_requested,
        list_id=row.sub_list,
    )


_SUBSCRIBER_LIST, _SUBSCRIBER_FIELDS, _SUBSCRIBER_TYPES = fast.columns_of(subscribers)
_SUB_LIST = ", ".join(f'subscriptions."{col.name}" AS "sub_{col.key}"' for col in subscriptions.c)
_FOLLOWERS = (
    f"SELECT {_SUBSCRIBER_LIST}, {_SUB_LIST} FROM subscribers "  # noqa: S608
    "JOIN subscriptions ON subscriptions.subscriber_id = subscribers.id "
    "WHERE subscriptions.thread_id = :thread AND subscriptions.topic = :topic "
    "AND subscriptions.active = :yes AND subscriptions.pending = :no AND subscribers.status = 'confirmed' {} "
    "ORDER BY subscriptions.id"
)
_FOLLOWER_FIELDS = (*_SUBSCRIBER_FIELDS, *(f"sub_{col.key}" for col in subscriptions.c))
_FOLLOWER_TYPES = (*_SUBSCRIBER_TYPES, *(col.type for col in subscriptions.c))
# Every post asks who follows its thread (notify.py).
_FOLLOWERS_ALL, _FOLLOWERS_ONE = (
    Fast(
        _FOLLOWERS.format(extra),
        binds={"yes": subscriptions.c.active.type, "no": subscriptions.c.pending.type},
        columns=_FOLLOWER_TYPES,
        fields=_FOLLOWER_FIELDS,
    )
    for extra in ("", "AND subscribers.email = :email")
)


_T_COLUMNS = [col.label(f"t_{col.key}") for col in threads.c]


def _labelled_thread(row: Any) -> Thread:
    return Thread(
        id=row.t_id,
        site=row.t_site,
        page=row.t_page,
        title=row.t_title,
        url=row.t_url,
        closed=bool(row.t_closed),
        count=row.t_count,
        version=row.t_version,
        created=row.t_created,
        page_title=row.t_page_title,
        page_url=row.t_page_url,
        page_checked=row.t_page_checked,
        page_source=row.t_page_source,
    )


class SubscriberRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    # -- subscribers ------------------------------------------------------------------------------

    async def get_or_create(self, site: str, email: str, now: datetime) -> Subscriber:
        """The subscriber record of (site, address), created unconfirmed when new (race-safe).

        The address is compared exactly (``=``, never LIKE): ``%``, ``_`` and ``*`` are literal.
        """
        stmt = (
            self.tx.upsert(subscribers)
            .values(site=site, email=email, created=now)
            .on_conflict_do_nothing(index_elements=["site", "email"])
        )
        await self.tx.conn.execute(stmt)
        row = (await self.tx.conn.execute(select(subscribers).where(s.site == site, s.email == email))).one()
        return to_subscriber(row)

    async def get(self, subscriber_id: int) -> Subscriber | None:
        row = (await self.tx.conn.execute(select(subscribers).where(s.id == subscriber_id))).first()
        return to_subscriber(row) if row else None

    async def start_confirmation(
        self, subscriber_id: int, nonce: str, now: datetime, quiet_since: datetime
    ) -> bool:
        """Set a new confirmation nonce unless a confirmation went out after ``quiet_since``; True
        when set. One conditional UPDATE, so concurrent requests cannot both send a mail."""
        stmt = (
            update(subscribers)
            .where(s.id == subscriber_id, or_(s.confirm_sent.is_(None), s.confirm_sent <= quiet_since))
            .values(confirm_nonce=nonce, confirm_sent=now)
        )
        result = await self.tx.conn.execute(stmt)
        return bool(result.rowcount)

    async def confirm(self, subscriber_id: int, nonce: str, now: datetime) -> bool:
        """Confirm the address with the live nonce (then cleared: a link works once); True if done."""
        stmt = (
            update(subscribers)
            .where(s.id == subscriber_id, s.confirm_nonce == nonce)
            .values(status="confirmed", confirmed=now, confirm_nonce=None)
        )
        result = await self.tx.conn.execute(stmt)
        return bool(result.rowcount)

    async def confirm_held(self, subscriber_id: int, now: datetime) -> None:
        """The address is proven held (a verified session, a fresh link from a mail to it): confirmed,
        unless it bounces; a pending confirmation link stays valid."""
        await self.tx.conn.execute(
            update(subscribers)
            .where(s.id == subscriber_id, s.status.in_(("unconfirmed", "unsubscribed")))
            .values(status="confirmed", confirmed=now)
        )

    async def set_status(self, subscriber_id: int, status: str) -> None:
        """Change the status; leaving "confirmed" also voids a pending confirmation link."""
        values: dict[str, Any] = {"status": status}
        if status != "confirmed":
            values["confirm_nonce"] = None
        await self.tx.conn.execute(update(subscribers).where(s.id == subscriber_id).values(**values))

    async def pause(self, subscriber_id: int, until: datetime | None) -> None:
        """Hold newsletter mail to this subscriber until ``until`` (None: resume now)."""
        stmt = update(subscribers).where(s.id == subscriber_id).values(paused_until=until)
        await self.tx.conn.execute(stmt)

    # -- manage links -----------------------------------------------------------------------------

    async def manage_links_revoked(self, subscriber_id: int) -> int | None:
        """When (ms since the epoch) every manage link of this subscriber issued until then was
        voided, or None."""
        stmt = select(s.manage_links_revoked).where(s.id == subscriber_id)
        value = (await self.tx.conn.execute(stmt)).scalar()
        return None if value is None else int(value)

    async def revoke_manage_links(self, subscriber_id: int, until_ms: int) -> None:
        """Void every manage link of this subscriber issued at or before ``until_ms``."""
        await self.tx.conn.execute(
            update(subscribers).where(s.id == subscriber_id).values(manage_links_revoked=until_ms)
        )

    # -- subscriptions ----------------------------------------------------------------------------

    async def subscribe(
        self,
        subscriber_id: int,
        topic: str,
        thread_id: int | None,
        digest: str,
        now: datetime,
        *,
        pending: bool,
        list_id: str = "",
        adopt_unlisted: bool = False,
    ) -> Subscription:
        """Create the subscription or make it active again with this digest choice; ``pending`` when
        asked for without proof of the address. An unproven request leaves a subscription that is
        already in force as it is (nobody but the address may change it). ``list_id``: the
        newsletter list; ``adopt_unlisted``: a newsletter subscription stored before lists existed
        (list "") is this one, and takes ``list_id`` (the rules say so for the site's first list)."""
        where = [sub.subscriber_id == subscriber_id, sub.topic == topic]
        where.append(sub.thread_id.is_(None) if thread_id is None else sub.thread_id == thread_id)
        lists = [list_id, ""] if adopt_unlisted and list_id else [list_id]
        where.append(sub.list.in_(lists))
        stmt = select(subscriptions).where(*where).order_by(sub.list.desc(), sub.id)
        existing = (await self.tx.conn.execute(stmt)).first()
        if existing is not None and pending and existing.active and not existing.pending:
            if existing.list != list_id:  # adopted: it names its list from now on
                await self.tx.conn.execute(
                    update(subscriptions).where(sub.id == existing.id).values(list=list_id)
                )
                return dataclasses.replace(to_subscription(existing), list_id=list_id)
            return to_subscription(existing)
        values = {"active": True, "digest": digest, "pending": pending, "requested": now, "list": list_id}
        if existing is not None:
            await self.tx.conn.execute(update(subscriptions).where(sub.id == existing.id).values(**values))
        elif thread_id is not None:
            # NULLs never conflict in a unique constraint, so only thread subscriptions can upsert.
            stmt = (
                self.tx.upsert(subscriptions)
                .values(subscriber_id=subscriber_id, topic=topic, thread_id=thread_id, created=now, **values)
                .on_conflict_do_update(index_elements=["subscriber_id", "topic", "thread_id"], set_=values)
            )
            await self.tx.conn.execute(stmt)
        else:
            await self.tx.conn.execute(
                subscriptions.insert().values(
                    subscriber_id=subscriber_id, topic=topic, thread_id=None, created=now, **values
                )
            )
        found = existing.id if existing is not None else None
        stmt = select(subscriptions).where(*where).order_by(sub.id)
        if found is not None:
            stmt = stmt.where(sub.id == found)
        row = (await self.tx.conn.execute(stmt)).first()
        assert row is not None
        return to_subscription(row)

    async def pending_of(
        self, subscriber_id: int, until: datetime | None = None
    ) -> list[tuple[Subscription, Thread | None]]:
        """The subscriber's pending subscriptions (asked for by ``until``), oldest first."""
        return await self.subscriptions_of(subscriber_id, pending=True, until=until)

    async def activate_pending(
        self, subscriber_id: int, until: datetime, ids: Sequence[int] | None = None, *,
        consented: datetime, via: str,
    ) -> int:  # fmt: skip
        """Put in force the pending subscriptions asked for by ``until`` (only ``ids`` when given):
        the ones a confirmation mail or page listed. How many. The person's consent is recorded on
        each (``consented``, by confirming ``via`` a mail's link or the manage page), unless one is
        on record already (an import's)."""
        which = select(sub.id).where(
            sub.subscriber_id == subscriber_id,
            sub.pending == true(),
            sub.active == true(),
            sub.requested <= until,
        )
        if ids is not None:
            which = which.where(sub.id.in_(ids))
        chosen = [int(i) for i in (await self.tx.conn.execute(which)).scalars()]
        if not chosen:
            return 0
        await self.tx.conn.execute(update(subscriptions).where(sub.id.in_(chosen)).values(pending=False))
        await self.tx.conn.execute(
            update(subscriptions)
            .where(sub.id.in_(chosen), sub.consent_at.is_(None))
            .values(consent_at=consented, consent_source=SIGNED_UP, consent_via=via)
        )
        return len(chosen)

    async def subscription(self, subscription_id: int) -> Subscription | None:
        row = (await self.tx.conn.execute(select(subscriptions).where(sub.id == subscription_id))).first()
        return to_subscription(row) if row else None

    async def subscriptions_of(
        self, subscriber_id: int, *, pending: bool | None = None, until: datetime | None = None
    ) -> list[tuple[Subscription, Thread | None]]:
        """A subscriber's active subscriptions (only pending or only confirmed ones when ``pending``
        says; only those asked for by ``until``), each with its thread (None for the newsletter)."""
        stmt = (
            select(subscriptions, *_T_COLUMNS)
            .select_from(subscriptions.outerjoin(threads, threads.c.id == sub.thread_id))
            .where(sub.subscriber_id == subscriber_id, sub.active == true())
            .order_by(sub.created, sub.id)
        )
        if pending is not None:
            stmt = stmt.where(sub.pending == (true() if pending else false()))
        if until is not None:
            stmt = stmt.where(sub.requested <= until)
        rows = await self.tx.conn.execute(stmt)
        return [
            (to_subscription(row), _labelled_thread(row) if row.t_id is not None else None) for row in rows
        ]

    async def deactivate(self, subscription_id: int) -> None:
        await self.tx.conn.execute(
            update(subscriptions).where(sub.id == subscription_id).values(active=False)
        )

    async def deactivate_all(self, subscriber_id: int) -> None:
        await self.tx.conn.execute(
            update(subscriptions).where(sub.subscriber_id == subscriber_id).values(active=False)
        )

    async def followers(self, thread_id: int, topic: str, email: str | None = None) -> list[Follower]:
        """Confirmed subscribers with an active ``topic`` subscription in force (not pending) on the
        thread (only the one with ``email`` when given)."""
        params: dict[str, Any] = {"thread": thread_id, "topic": topic, "yes": True, "no": False}
        if email is not None:
            params["email"] = email
        stmt = _FOLLOWERS_ONE if email is not None else _FOLLOWERS_ALL
        rows = await fast.rows(self.tx, stmt, params)
        return [Follower(to_subscriber(row), _subscription_of(row)) for row in rows]

    # -- the guest's own comments -----------------------------------------------------------------

    async def comments_by(self, site: str, email: str, limit: int = 100) -> list[tuple[Comment, Thread]]:
        """The visible comments posted on a site with this address, newest first."""
        stmt = (
            select(comments, *_T_COLUMNS)
            .join(threads, threads.c.id == comments.c.thread_id)
            .where(
                threads.c.site == site,
                comments.c.author_email == email,
                comments.c.status == CommentStatus.APPROVED.value,
                comments.c.deleted == false(),
            )
            .order_by(comments.c.created.desc(), comments.c.id.desc())
            .limit(limit)
        )
        out: list[tuple[Comment, Thread]] = []
        for row in await self.tx.conn.execute(stmt):
            out.append((to_comment(row), _labelled_thread(row)))
        return out

    # -- digests ----------------------------------------------------------------------------------

    async def add_digest_item(self, subscription_id: int, comment_id: int, now: datetime) -> None:
        stmt = (
            self.tx.upsert(digest_items)
            .values(subscription_id=subscription_id, comment_id=comment_id, created=now)
            .on_conflict_do_nothing(index_elements=["subscription_id", "comment_id"])
        )
        await self.tx.conn.execute(stmt)

    async def digest_subscription_ids(self) -> list[int]:
        """Subscriptions that have comments waiting for their digest."""
        stmt = select(digest_items.c.subscription_id).distinct().order_by(digest_items.c.subscription_id)
        return [int(value) for value in (await self.tx.conn.execute(stmt)).scalars()]

    async def digest_items(self, subscription_id: int) -> list[tuple[Comment, Thread]]:
        """The comments waiting for one subscription's digest, oldest first, with their thread."""
        stmt = (
            select(comments, *_T_COLUMNS)
            .join(digest_items, digest_items.c.comment_id == comments.c.id)
            .join(threads, threads.c.id == comments.c.thread_id)
            .where(digest_items.c.subscription_id == subscription_id)
            .order_by(comments.c.created, comments.c.id)
        )
        out: list[tuple[Comment, Thread]] = []
        for row in await self.tx.conn.execute(stmt):
            out.append((to_comment(row), _labelled_thread(row)))
        return out

    async def clear_digest(self, subscription_id: int, comment_ids: Sequence[int] | None = None) -> None:
        """Forget waiting items: the given ones, or all of the subscription's."""
        stmt = delete(digest_items).where(digest_items.c.subscription_id == subscription_id)
        if comment_ids is not None:
            stmt = stmt.where(digest_items.c.comment_id.in_(comment_ids))
        await self.tx.conn.execute(stmt)
