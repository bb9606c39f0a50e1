"""Privacy, self-service: "Download my data" and "Erase me" for one person on one site, and the
retention of client address hashes.

A person is an ``Identity``: the site, the canonical address (and its keyed hash, how the suppression
list holds it), the reader ids their comments were posted under, and a signed-in reader's account id.
Export and erase walk ``PARTS``, one entry per kind of record (reader accounts, with their ways to
sign in and their sessions, are one); a new table of personal data is one more ``Part``. Erasing is
one transaction; the thread events go out after it commits, so caches and live readers see the
change at once.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markupsafe import escape

from kibitz import errors, guard, inputs
from kibitz.avatar import avatar_key
from kibitz.config import ErasePolicy, SiteConfig
from kibitz.events import EventKind, Events, ThreadEvent
from kibitz.security import Tokens, suppression_key
from kibitz.store.db import Database
from kibitz.store.tx import Tx
from kibitz.subscriptions import Links, send_manage_link
from kibitz.web.shapes import rfc3339

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]

ERASED_NAME = "deleted"  # what readers see where an erased person's name was
ERASED = "[erased]"  # what an audit entry shows where the address was
FORMAT = 1  # the export's "format"; raised when its shape changes incompatibly


@dataclass(frozen=True)
class Identity:
    """Whom a request speaks for, on one site. ``email`` is canonical (inputs.email) or ""."""

    site: str
    email: str
    email_hash: str = ""  # suppression_key(email): how the suppression list holds it
    reader_ids: tuple[str, ...] = ()
    account_id: int | None = None  # a signed-in reader's account (accounts.py)


@dataclass
class Subject:
    """An identity resolved in the transaction: the rows that are the person's."""

    who: Identity
    comment_ids: list[int]
    subscriber_id: int | None
    account_ids: list[int] = field(default_factory=list)  # their reader accounts on the site
    names: set[str] = field(default_factory=set)  # the names they posted under (for mail scrubbing)


@dataclass
class Erasure:
    """What an erasure did, and the thread events to send after it commits."""

    mode: ErasePolicy
    comments: int = 0
    votes: int = 0
    subscriptions: bool = False
    mails: int = 0
    accounts: int = 0
    events: list[ThreadEvent] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "comments": self.comments,
            "votes": self.votes,
            "subscriber": self.subscriptions,
            "mails": self.mails,
            "accounts": self.accounts,
        }


Exporter = Callable[[Tx, Subject], Awaitable[Any]]
Eraser = Callable[["Privacy", Tx, Subject, Erasure, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Part:
    """One kind of personal record: its key in the export, how it is read out, how it is erased."""

    name: str
    export: Exporter | None
    erase: Eraser | None


def _when(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


# -- exporters ------------------------------------------------------------------------------------


async def _export_comments(tx: Tx, subject: Subject) -> list[dict[str, Any]]:
    out = []
    for row in await tx.privacy.comments(subject.comment_ids):
        out.append(
            {
                "id": str(row["id"]),
                "parent": str(row["parent_id"]) if row["parent_id"] is not None else None,
                "page": row["page"],
                "url": row["page_url"] or row["url"] or None,
                "title": row["page_title"] or row["title"] or None,
                "created": _when(row["created"]),
                "edited": _when(row["edited"]),
                "status": "deleted" if row["deleted"] else row["status"],
                "name": row["author_name"],
                "website": row["author_url"] or None,
                "text": row["text"],
                "score": row["score"],
                "up": row["up"],
                "down": row["down"],
            }
        )
    return out


async def _export_votes(tx: Tx, subject: Subject) -> list[dict[str, Any]]:
    rows = await tx.privacy.votes(subject.who.site, subject.who.reader_ids)
    return [
        {
            "comment": str(r["comment_id"]),
            "value": r["value"],
            "created": _when(r["created"]),
            "page": r["page"],
            "url": r["page_url"] or None,
        }
        for r in rows
    ]


async def _export_flags(tx: Tx, subject: Subject) -> list[dict[str, Any]]:
    rows = await tx.privacy.flags(subject.who.site, subject.who.reader_ids)
    return [
        {"comment": str(r["comment_id"]), "reason": r["reason"], "created": _when(r["created"])} for r in rows
    ]


def _subscription(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "topic": row["topic"],
        "list": row["list"] or None,
        "page": row["page"],
        "url": row["page_url"] or None,
        "digest": row["digest"],
        "active": bool(row["active"]) and not row["pending"],
        "waiting_for_confirmation": bool(row["pending"]),
        "created": _when(row["created"]),
        "consent": {
            "at": _when(row["consent_at"]),
            "source": row["consent_source"] or None,
            "via": row["consent_via"] or None,
        },
    }


async def _subscriptions(tx: Tx, subject: Subject, newsletter: bool) -> list[dict[str, Any]]:
    if subject.subscriber_id is None:
        return []
    rows = await tx.privacy.subscriptions(subject.subscriber_id)
    return [_subscription(r) for r in rows if (r["topic"] == "newsletter") == newsletter]


async def _export_subscriptions(tx: Tx, subject: Subject) -> list[dict[str, Any]]:
    return await _subscriptions(tx, subject, newsletter=False)


async def _export_newsletter(tx: Tx, subject: Subject) -> list[dict[str, Any]]:
    return await _subscriptions(tx, subject, newsletter=True)


async def _export_subscriber(tx: Tx, subject: Subject) -> dict[str, Any] | None:
    if subject.subscriber_id is None:
        return None
    row = await tx.privacy.subscriber(subject.subscriber_id)
    if row is None:
        return None
    return {
        "email": row["email"],
        "name": row["name"] or None,
        "status": row["status"],
        "created": _when(row["created"]),
        "confirmed": _when(row["confirmed"]),
        "paused_until": _when(row["paused_until"]),
    }


async def _export_mails(tx: Tx, subject: Subject) -> list[dict[str, Any]]:
    rows = await tx.privacy.mails(subject.who.site, subject.who.email)
    return [
        {
            "kind": r["kind"],
            "subject": r["subject"],
            "status": r["status"],
            "created": _when(r["created"]),
            "sent": _when(r["sent"]),
        }
        for r in rows
    ]


# -- erasers --------------------------------------------------------------------------------------


async def _bump(
    tx: Tx, changes: dict[int, list[tuple[EventKind, int]]], counts: dict[int, int], done: Erasure
) -> None:
    """One version step and thread event per changed comment, one statement pair per thread."""
    for thread_id, items in sorted(changes.items()):
        thread = await tx.privacy.bump(thread_id, items, counts.get(thread_id, 0))
        first = thread.version - len(items) + 1
        done.events.extend(
            ThreadEvent(kind, thread.site, thread.page, thread.id, first + i, comment_id)
            for i, (kind, comment_id) in enumerate(items)
        )


async def _erase_comments(privacy: Privacy, tx: Tx, subject: Subject, done: Erasure, now: datetime) -> None:
    ids = subject.comment_ids
    if not ids:
        return
    subject.names.update(str(r["author_name"]) for r in await tx.privacy.comments(ids) if r["author_name"])
    placed = await tx.privacy.placement(ids)
    key = avatar_key(privacy.avatar_secret, subject.who.site, "")
    changes: dict[int, list[tuple[EventKind, int]]] = {}
    counts: dict[int, int] = {}
    if done.mode is ErasePolicy.REMOVE:
        # The rules a reader's own delete follows (comments.py): a tombstone stays while replies hang
        # on it, the thread's visible count and every ancestor's visible descendants drop.
        deltas: dict[int, int] = {}
        for comment_id, thread_id, path, shown in placed:
            if not shown:
                continue  # held, rejected, spam, deleted: nobody sees it, its words go all the same
            for ancestor in [int(part) for part in path.split("/")] if path else []:
                deltas[ancestor] = deltas.get(ancestor, 0) - 1
            counts[thread_id] = counts.get(thread_id, 0) - 1
            changes.setdefault(thread_id, []).append((EventKind.COMMENT_DELETED, comment_id))
        await tx.privacy.mark_deleted(ids)
        await tx.comments.add_visible_descendants_many(deltas)
        await tx.privacy.anonymise_comments(ids, "", key)
    else:
        await tx.privacy.anonymise_comments(ids, ERASED_NAME, key)
        for comment_id, thread_id, _, shown in placed:
            if shown:
                changes.setdefault(thread_id, []).append((EventKind.COMMENT_UPDATED, comment_id))
    await _bump(tx, changes, counts, done)
    done.comments = len(ids)
    # Mail to others that quotes them (sent or not) goes; digests that name them are scrubbed.
    done.mails += await tx.privacy.delete_mail_about(ids)
    names = sorted(subject.names, key=len, reverse=True)
    # As written in plain text, as Jinja escapes it in HTML bodies, and as the standard library does.
    said = [form for name in names for form in dict.fromkeys((name, str(escape(name)), html.escape(name)))]
    done.mails += await tx.privacy.scrub_mail_text(subject.who.site, said, ERASED_NAME)


async def _erase_votes(privacy: Privacy, tx: Tx, subject: Subject, done: Erasure, now: datetime) -> None:
    taken = await tx.privacy.delete_votes(subject.who.site, subject.who.reader_ids)
    tallies: dict[int, tuple[int, int]] = {}
    for comment_id, value in taken:
        up, down = tallies.get(comment_id, (0, 0))
        tallies[comment_id] = (up - (value > 0), down - (value < 0))
    changes: dict[int, list[tuple[EventKind, int]]] = {}
    await tx.privacy.take_votes(tallies)
    for comment_id, thread_id, _, _ in await tx.privacy.placement(sorted(tallies)):
        changes.setdefault(thread_id, []).append((EventKind.COMMENT_VOTED, comment_id))
    await _bump(tx, changes, {}, done)
    done.votes = len(taken)
    await tx.privacy.delete_flags(subject.who.site, subject.who.reader_ids)


async def _erase_subscriptions(
    privacy: Privacy, tx: Tx, subject: Subject, done: Erasure, now: datetime
) -> None:
    if subject.subscriber_id is not None:
        await tx.privacy.delete_subscriber(subject.subscriber_id)
        done.subscriptions = True


async def _erase_mail(privacy: Privacy, tx: Tx, subject: Subject, done: Erasure, now: datetime) -> None:
    who = subject.who
    if not who.email:
        return
    done.mails += await tx.privacy.delete_mail_to(who.site, who.email)
    await tx.privacy.delete_bounces(who.site, who.email)
    # From now on the address is known only by its keyed hash, and never mailed from this site.
    await tx.privacy.hash_suppressions(who.site, who.email, who.email_hash, now)


async def _erase_records(privacy: Privacy, tx: Tx, subject: Subject, done: Erasure, now: datetime) -> None:
    who = subject.who
    authors = [f"r:{r}" for r in who.reader_ids] + ([who.email] if who.email else [])
    await tx.privacy.delete_trust(who.site, authors)
    await tx.privacy.delete_records_of(who.site, subject.comment_ids, who.reader_ids)
    if who.email:
        await tx.privacy.scrub_audit(who.site, who.email, ERASED)


async def _export_accounts(tx: Tx, subject: Subject) -> list[dict[str, Any]]:
    rows = await tx.accounts.export(subject.account_ids)
    return [_times(row) for row in rows]


def _times(value: Any) -> Any:
    """A record with every time in it as RFC 3339 text, however deep."""
    if isinstance(value, datetime):
        return _when(value)
    if isinstance(value, dict):
        return {key: _times(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_times(item) for item in value]
    return value


async def _erase_accounts(privacy: Privacy, tx: Tx, subject: Subject, done: Erasure, now: datetime) -> None:
    # After the comments (which let go of the accounts): the accounts, their ways to sign in, their
    # sessions (signed out at once everywhere: every request reads them) and links mailed to them.
    done.accounts = await tx.accounts.erase(subject.who.site, subject.account_ids, subject.who.email)


# The declared walk: a table of personal data is one entry here.
PARTS: tuple[Part, ...] = (
    Part("subscriber", _export_subscriber, None),
    Part("comments", _export_comments, _erase_comments),
    Part("votes", _export_votes, _erase_votes),
    Part("reports", _export_flags, None),  # erased with the votes (same reader ids)
    Part("subscriptions", _export_subscriptions, _erase_subscriptions),
    Part("newsletter", _export_newsletter, None),  # the same subscriber row
    Part("mails", _export_mails, _erase_mail),
    Part("records", None, _erase_records),
    Part("accounts", _export_accounts, _erase_accounts),  # sign-ins: ways, sessions, links
)


class Privacy:
    """Export and erase for one identity; each call is one transaction."""

    def __init__(
        self, db: Database, tokens: Tokens, events: Events, clock: Clock, avatar_secret: bytes
    ) -> None:
        self.db = db
        self.tokens = tokens
        self.events = events
        self.clock = clock
        self.avatar_secret = avatar_secret
        self.parts = PARTS

    def of_address(self, site_id: str, address: str) -> Identity:
        """The identity of a canonical address already checked (a manage link's holder)."""
        return Identity(site_id, address, suppression_key(self.tokens, address))

    def of_account(self, site_id: str, account_id: int, email: str, reader_ids: Sequence[str]) -> Identity:
        """The identity of a signed-in reader: their account, its proven address ("" for none) and
        the reader ids their browser holds."""
        email_hash = suppression_key(self.tokens, email) if email else ""
        return Identity(site_id, email, email_hash, tuple(reader_ids), account_id)

    def identity(self, site: SiteConfig, email: str, reader_ids: Sequence[str] = ()) -> Identity:
        """The identity of an address on ``site`` (InvalidInput when it is none)."""
        address = inputs.email(email, "email")
        if not address:
            raise errors.InvalidInput.field("email", "is required")
        return Identity(site.id, address, suppression_key(self.tokens, address), tuple(reader_ids))

    async def _resolve(self, tx: Tx, who: Identity) -> Subject:
        # Comments: by address, and by the reader ids the identity itself names (an account's). Votes
        # and reports: by those and by the reader ids the address's comments were posted under.
        # Accounts: the one the identity names (a signed-in reader's), and any whose proven address
        # is the identity's.
        accounts = set(await tx.accounts.of_person(who.site, who.email))
        if who.account_id is not None:
            accounts.add(who.account_id)
        ids = await tx.privacy.comment_ids(who.site, who.email, who.reader_ids, sorted(accounts))
        readers = set(who.reader_ids) | set(await tx.privacy.reader_ids_of(who.site, who.email))
        who = Identity(who.site, who.email, who.email_hash, tuple(sorted(readers)), who.account_id)
        subscriber = await tx.privacy.subscriber_id(who.site, who.email)
        return Subject(who, ids, subscriber, sorted(accounts))

    async def export(self, who: Identity, *, actor: str = "") -> dict[str, Any]:
        """Everything kept about the person on the site, as a JSON-ready dictionary. ``actor``: the
        staff member running it for the person (audited, without the address)."""
        if actor:
            async with self.db.write() as tx:
                await self._audit(tx, who, actor, "privacy.export", {})
        async with self.db.read() as tx:
            subject = await self._resolve(tx, who)
            data: dict[str, Any] = {
                "format": FORMAT,
                "site": who.site,
                "email": who.email,
                "exported": rfc3339(self.clock()),
            }
            for part in self.parts:
                if part.export is not None:
                    data[part.name] = await part.export(tx, subject)
        return data

    async def erase(self, who: Identity, mode: ErasePolicy, *, actor: str = "") -> Erasure:
        """Erase the person from the site under ``mode``; the thread events go out after commit.
        ``actor``: the staff member running it for the person (audited, without the address)."""
        done = Erasure(mode)
        now = self.clock()
        async with self.db.write() as tx:
            subject = await self._resolve(tx, who)
            for part in self.parts:
                if part.erase is not None:
                    await part.erase(self, tx, subject, done, now)
            if actor:
                await self._audit(tx, who, actor, "privacy.erase", done.counts())
        for event in done.events:
            await self.events.dispatch(event)
        log.info("erased a reader on %s: %s", who.site, done.counts())
        return done

    async def request_link(self, site: SiteConfig, email: str, client: str, links: Links) -> None:
        """Mail a manage link to an address that has comments or subscriptions on the site (at most
        one an hour); the caller answers the same whatever the address. Counted against the client's
        subscriptions limit, so nobody can mail many addresses from one place."""
        address = inputs.email(email, "email")
        if not address:
            raise errors.InvalidInput.field("email", "is required")
        now = self.clock()
        async with self.db.write() as tx:
            await guard.check_rate(
                tx,
                site=site.id,
                action="privacy",
                limit=site.rate_limits.subscriptions,
                client=client,
                now=now,
            )
            known = await tx.privacy.subscriber_id(site.id, address) is not None
            if not known and not await tx.privacy.comment_ids(site.id, address, ()):
                return  # nothing of theirs here: no mail to an address that never wrote
            subscriber = await tx.subscribers.get_or_create(site.id, address, now)
            await send_manage_link(tx, links, subscriber, now)

    async def _audit(self, tx: Tx, who: Identity, actor: str, action: str, detail: dict[str, Any]) -> None:
        # The target names the person by the suppression list's keyed hash: never the address.
        target = f"person:{who.email_hash[len('hmac:') : len('hmac:') + 16]}"
        await tx.audit.record(
            at=self.clock(), site=who.site, actor=actor, action=action, target=target, detail=detail
        )

    async def retain(self, keep: Any) -> int:
        """The retention job: drop client address hashes older than ``keep`` (a timedelta)."""
        async with self.db.write() as tx:
            return await tx.privacy.drop_address_hashes(self.clock() - keep)
