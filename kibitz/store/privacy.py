"""The SQL of "Download my data" and "Erase me" (kibitz/privacy.py): one reader's rows, read out or
taken away table by table, and the retention job's dropping of old address hashes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, delete, false, func, or_, select, update

from kibitz.models import Thread
from kibitz.store.schema import (
    akismet_checks,
    audit_log,
    bounces,
    comments,
    digest_items,
    flags,
    idempotency_keys,
    moderator_digest_items,
    outbox,
    subscribers,
    subscriptions,
    suppressions,
    thread_events,
    threads,
    trust,
    votes,
    webhook_deliveries,
)
from kibitz.store.schema_base import in_lists
from kibitz.store.threads import _thread

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

EVERY_SITE = ""
c, t, v = comments.c, threads.c, votes.c


def _plain(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


class PrivacyRepo:
    """One person's rows on one site, by address, reader ids and comment ids (never by name)."""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    # -- who --------------------------------------------------------------------------------------

    async def comment_ids(
        self, site: str, email: str, reader_ids: Sequence[str], account_ids: Sequence[int] = ()
    ) -> list[int]:
        """Every comment the person posted on ``site`` (any status, tombstones too): by address, by
        the reader ids the identity names, and by their accounts."""
        matches: list[ColumnElement[bool]] = []
        if email:
            matches.append(c.author_email == email)
        if reader_ids:
            matches.append(c.reader_id.in_(list(reader_ids)))
        if account_ids:
            matches.append(c.account_id.in_(list(account_ids)))
        if not matches:
            return []
        stmt = select(c.id).where(c.site == site, or_(*matches)).order_by(c.id)
        return [int(i) for i in (await self.tx.conn.execute(stmt)).scalars()]

    async def reader_ids_of(self, site: str, email: str) -> list[str]:
        """The reader ids the person's comments on ``site`` were posted under."""
        if not email:
            return []
        stmt = (
            select(c.reader_id).where(c.site == site, c.author_email == email, c.reader_id != "").distinct()
        )
        return sorted(str(r) for r in (await self.tx.conn.execute(stmt)).scalars())

    async def subscriber_id(self, site: str, email: str) -> int | None:
        if not email:
            return None
        s = subscribers.c
        stmt = select(s.id).where(s.site == site, s.email == email)
        found: int | None = (await self.tx.conn.execute(stmt)).scalar_one_or_none()
        return found

    # -- reads for the export ---------------------------------------------------------------------

    async def comments(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for chunk in in_lists(ids):
            stmt = (
                select(
                    c.id,
                    c.parent_id,
                    c.status,
                    c.deleted,
                    c.text,
                    c.author_name,
                    c.author_url,
                    c.created,
                    c.edited,
                    c.score,
                    c.up,
                    c.down,
                    c.anchor,
                    t.page,
                    t.page_url,
                    t.url,
                    t.page_title,
                    t.title,
                )
                .join(threads, t.id == c.thread_id)
                .where(c.id.in_(chunk))
                .order_by(c.created, c.id)
            )
            out.extend(_plain(row) for row in await self.tx.conn.execute(stmt))
        return out

    async def votes(self, site: str, reader_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not reader_ids:
            return []
        stmt = (
            select(v.comment_id, v.value, v.created, t.page, t.page_url)
            .join(comments, c.id == v.comment_id)
            .join(threads, t.id == c.thread_id)
            .where(v.reader_id.in_(list(reader_ids)), c.site == site)
            .order_by(v.created, v.comment_id)
        )
        return [_plain(row) for row in await self.tx.conn.execute(stmt)]

    async def flags(self, site: str, reader_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not reader_ids:
            return []
        f = flags.c
        stmt = (
            select(f.comment_id, f.reason, f.created)
            .join(comments, c.id == f.comment_id)
            .where(f.reader_id.in_(list(reader_ids)), c.site == site)
            .order_by(f.created, f.id)
        )
        return [_plain(row) for row in await self.tx.conn.execute(stmt)]

    async def subscriber(self, subscriber_id: int) -> dict[str, Any] | None:
        s = subscribers.c
        stmt = select(s.email, s.status, s.created, s.confirmed, s.paused_until, s.name).where(
            s.id == subscriber_id
        )
        row = (await self.tx.conn.execute(stmt)).one_or_none()
        return None if row is None else _plain(row)

    async def subscriptions(self, subscriber_id: int) -> list[dict[str, Any]]:
        s = subscriptions.c
        stmt = (
            select(
                s.id,
                s.topic,
                s.list,
                s.digest,
                s.active,
                s.pending,
                s.created,
                s.requested,
                s.consent_at,
                s.consent_source,
                s.consent_via,
                t.page,
                t.page_url,
            )
            .outerjoin(threads, t.id == s.thread_id)
            .where(s.subscriber_id == subscriber_id)
            .order_by(s.id)
        )
        return [_plain(row) for row in await self.tx.conn.execute(stmt)]

    async def mails(self, site: str, email: str) -> list[dict[str, Any]]:
        """The mail sent or waiting for the address (what, when; not the bodies)."""
        if not email:
            return []
        o = outbox.c
        stmt = (
            select(o.kind, o.subject, o.status, o.created, o.sent)
            .where(o.site == site, o.recipient == email)
            .order_by(o.id)
        )
        return [_plain(row) for row in await self.tx.conn.execute(stmt)]

    # -- erasure ----------------------------------------------------------------------------------

    async def placement(self, ids: Sequence[int]) -> list[tuple[int, int, str, bool]]:
        """(id, thread id, path, shown to readers) of each of ``ids``, in id order."""
        out: list[tuple[int, int, str, bool]] = []
        for chunk in in_lists(ids):
            shown = (c.status == "approved") & (c.deleted == false())
            stmt = (
                select(c.id, c.thread_id, c.path, shown.label("shown")).where(c.id.in_(chunk)).order_by(c.id)
            )
            out.extend(
                (int(r.id), int(r.thread_id), str(r.path), bool(r.shown))
                for r in await self.tx.conn.execute(stmt)
            )
        return out

    async def mark_deleted(self, ids: Sequence[int]) -> None:
        """CommentRepo.mark_deleted for many comments: the rows stay, their words and author go."""
        for chunk in in_lists(ids):
            await self.tx.conn.execute(
                update(comments)
                .where(c.id.in_(chunk))
                .values(
                    deleted=True,
                    text="",
                    html="",
                    author_name="",
                    author_email="",
                    author_url="",
                    anchor=None,
                )
            )

    async def bump(self, thread_id: int, changes: Sequence[tuple[str, int]], count_delta: int = 0) -> Thread:
        """ThreadRepo.bump for several changes of one thread at once: the version moves by one per
        change, each logged with its own version (live replay); the thread as it is now."""
        stmt = (
            update(threads)
            .where(t.id == thread_id)
            .values(version=t.version + len(changes), count=t.count + count_delta)
            .returning(*threads.c)
        )
        thread = _thread((await self.tx.conn.execute(stmt)).one())
        first = thread.version - len(changes) + 1
        await self.tx.conn.execute(
            thread_events.insert(),
            [
                {"thread_id": thread_id, "version": first + i, "kind": kind, "comment_id": comment_id}
                for i, (kind, comment_id) in enumerate(changes)
            ],
        )
        return thread

    async def anonymise_comments(self, ids: Sequence[int], name: str, avatar_key: str) -> None:
        """The words stay; who wrote them goes: the name becomes ``name``, the address, link, reader
        id and address hash are emptied, the avatar is everyone's erased one."""
        for chunk in in_lists(ids):
            await self.tx.conn.execute(
                update(comments)
                .where(c.id.in_(chunk), c.deleted == false())
                .values(
                    author_name=name,
                    author_email="",
                    author_url="",
                    avatar_key=avatar_key,
                    reader_id="",
                    client_hash="",
                    account_id=None,
                    badges="",
                    avatar_url="",
                )
            )
            # Tombstones already hold no words nor name; they lose what ties them to the person.
            await self.tx.conn.execute(
                update(comments)
                .where(c.id.in_(chunk), c.deleted)
                .values(
                    author_name="",
                    author_email="",
                    author_url="",
                    avatar_key=avatar_key,
                    reader_id="",
                    client_hash="",
                    account_id=None,
                    badges="",
                    avatar_url="",
                )
            )

    async def visible_ids(self, ids: Sequence[int]) -> list[int]:
        """Of ``ids``, the comments readers see now (approved, not deleted)."""
        out: list[int] = []
        for chunk in in_lists(ids):
            stmt = select(c.id).where(c.id.in_(chunk), c.status == "approved", c.deleted == false())
            out.extend(int(i) for i in (await self.tx.conn.execute(stmt)).scalars())
        return out

    async def delete_votes(self, site: str, reader_ids: Sequence[str]) -> list[tuple[int, int]]:
        """Take away the person's votes on ``site``; (comment id, value) of each, for the tallies."""
        if not reader_ids:
            return []
        on_site = select(c.id).where(c.site == site).scalar_subquery()
        where = v.reader_id.in_(list(reader_ids)) & v.comment_id.in_(on_site)
        found = [
            (int(r.comment_id), int(r.value))
            for r in await self.tx.conn.execute(select(v.comment_id, v.value).where(where))
        ]
        await self.tx.conn.execute(delete(votes).where(where))
        return found

    async def take_votes(self, tallies: dict[int, tuple[int, int]]) -> None:
        """Adjust the tallies of many comments by (up, down) deltas: one statement per distinct delta."""
        by_delta: dict[tuple[int, int], list[int]] = {}
        for comment_id, delta in tallies.items():
            by_delta.setdefault(delta, []).append(comment_id)
        for (up, down), ids in sorted(by_delta.items()):
            for chunk in in_lists(sorted(ids)):
                await self.tx.conn.execute(
                    update(comments)
                    .where(c.id.in_(chunk))
                    .values(up=c.up + up, down=c.down + down, score=c.score + up - down)
                )

    async def delete_flags(self, site: str, reader_ids: Sequence[str]) -> int:
        if not reader_ids:
            return 0
        on_site = select(c.id).where(c.site == site).scalar_subquery()
        stmt = delete(flags).where(flags.c.reader_id.in_(list(reader_ids)), flags.c.comment_id.in_(on_site))
        return int((await self.tx.conn.execute(stmt)).rowcount)

    async def delete_subscriber(self, subscriber_id: int) -> None:
        """The subscriber row and everything hanging on it (subscriptions, their digest items, mail)."""
        s = subscriptions.c
        ids = select(s.id).where(s.subscriber_id == subscriber_id).scalar_subquery()
        await self.tx.conn.execute(delete(digest_items).where(digest_items.c.subscription_id.in_(ids)))
        await self.tx.conn.execute(
            delete(outbox).where(
                or_(outbox.c.subscriber_id == subscriber_id, outbox.c.subscription_id.in_(ids))
            )
        )
        await self.tx.conn.execute(delete(subscriptions).where(s.subscriber_id == subscriber_id))
        await self.tx.conn.execute(delete(subscribers).where(subscribers.c.id == subscriber_id))

    async def delete_mail_to(self, site: str, email: str) -> int:
        """Every outbox row to the address from ``site``, whatever its state."""
        stmt = delete(outbox).where(outbox.c.site == site, outbox.c.recipient == email)
        return int((await self.tx.conn.execute(stmt)).rowcount)

    async def delete_mail_about(self, comment_ids: Sequence[int]) -> int:
        """Mail to others that quotes the person's comments (a reply notice, a held-comment mail)."""
        n = 0
        for chunk in in_lists(comment_ids):
            await self.tx.conn.execute(delete(digest_items).where(digest_items.c.comment_id.in_(chunk)))
            await self.tx.conn.execute(
                delete(moderator_digest_items).where(moderator_digest_items.c.comment_id.in_(chunk))
            )
            result = await self.tx.conn.execute(delete(outbox).where(outbox.c.comment_id.in_(chunk)))
            n += int(result.rowcount)
        return n

    async def scrub_mail_text(self, site: str, said: Sequence[str], instead: str) -> int:
        """Mail not tied to one comment (a digest) that names the person: each of ``said`` (the name
        as text and as HTML) becomes ``instead`` in its subject and bodies."""
        o = outbox.c
        n = 0
        for text in said:
            if not text:
                continue
            has = or_(
                o.subject.contains(text, autoescape=True),
                o.text_body.contains(text, autoescape=True),
                o.html_body.contains(text, autoescape=True),
            )
            stmt = (
                update(outbox)
                .where(o.site == site, has)
                .values(
                    subject=func.replace(o.subject, text, instead),
                    text_body=func.replace(o.text_body, text, instead),
                    html_body=func.replace(o.html_body, text, instead),
                )
            )
            n += int((await self.tx.conn.execute(stmt)).rowcount)
        return n

    async def delete_bounces(self, site: str, email: str) -> int:
        stmt = delete(bounces).where(bounces.c.email == email, bounces.c.site.in_((site, EVERY_SITE)))
        return int((await self.tx.conn.execute(stmt)).rowcount)

    async def hash_suppressions(self, site: str, email: str, hashed: str, now: datetime) -> None:
        """The address's suppressions of ``site`` and of every site keep their effect under the
        keyed hash only; and the address is suppressed on ``site`` as erased."""
        s = suppressions.c
        where = (s.email == email) & s.site.in_((site, EVERY_SITE))
        kept = [
            (r.site, r.reason, r.created)
            for r in await self.tx.conn.execute(select(s.site, s.reason, s.created).where(where))
        ]
        await self.tx.conn.execute(delete(suppressions).where(where))
        rows = {(site, "erased", now)}
        rows.update(kept)
        for row_site, reason, created in sorted(rows, key=lambda r: (r[0], r[1] != "erased")):
            stmt = (
                self.tx.upsert(suppressions)
                .values(site=row_site, email=hashed, reason=reason, detail="", created=created)
                .on_conflict_do_nothing(index_elements=["site", "email"])
            )
            await self.tx.conn.execute(stmt)

    async def delete_trust(self, site: str, authors: Sequence[str]) -> None:
        if authors:
            await self.tx.conn.execute(
                delete(trust).where(trust.c.site == site, trust.c.author.in_(list(authors)))
            )

    async def delete_records_of(
        self, site: str, comment_ids: Sequence[int], reader_ids: Sequence[str]
    ) -> None:
        """What was kept about the person's requests: replayable answers (they hold the comment),
        what Akismet was sent (name, address, client address), webhook bodies with the comment."""
        i = idempotency_keys.c
        for chunk in in_lists(comment_ids):
            await self.tx.conn.execute(delete(idempotency_keys).where(i.comment_id.in_(chunk)))
            await self.tx.conn.execute(delete(akismet_checks).where(akismet_checks.c.comment_id.in_(chunk)))
        if reader_ids:
            await self.tx.conn.execute(
                delete(idempotency_keys).where(i.site == site, i.principal.in_(list(reader_ids)))
            )
        w = webhook_deliveries.c
        if (await self.tx.conn.execute(select(w.id).limit(1))).first() is None:
            return  # (the usual case: no webhook has ever been called)
        for start in range(0, len(comment_ids), 100):
            # The payload's comment (web/shapes.py) opens with its id (webhooks.py: compact JSON).
            markers = [f'"comment":{{"id":"{i}",' for i in comment_ids[start : start + 100]]
            has = or_(*(w.payload.contains(marker, autoescape=True) for marker in markers))
            await self.tx.conn.execute(delete(webhook_deliveries).where(has))

    async def scrub_audit(self, site: str, email: str, instead: str) -> None:
        """The audit log keeps what staff did, not the address they did it about."""
        a = audit_log.c
        await self.tx.conn.execute(
            update(audit_log)
            .where(a.site.in_((site, EVERY_SITE)), a.detail.contains(email, autoescape=True))
            .values(detail=func.replace(a.detail, email, instead))
        )

    # -- retention --------------------------------------------------------------------------------

    async def drop_address_hashes(self, before: datetime) -> int:
        """Forget the client address hashes recorded before ``before``: on comments and votes, and
        Akismet's records (which hold the address itself); how many rows changed."""
        n = 0
        for stmt in (
            update(comments).where(c.created < before, c.client_hash != "").values(client_hash=""),
            update(votes).where(v.created < before, v.client_hash != "").values(client_hash=""),
            delete(akismet_checks).where(akismet_checks.c.created < before),
            delete(idempotency_keys).where(idempotency_keys.c.created < before),
        ):
            n += int((await self.tx.conn.execute(stmt)).rowcount)
        return n
