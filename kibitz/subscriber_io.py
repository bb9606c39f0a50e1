"""Subscribers in and out of a newsletter list: CSV import with the consent each person gave (or a
confirmation mail to ask for it), and CSV export; both audited (DESIGN.md §3b "Newsletter").

Consent is the point of the import. A row with ``consent_at`` (when the person consented; with
``consent_source``, where) is in force at once, and that consent is recorded with who imported it.
A row without one is imported *pending*, as a sign-up is: it gets nothing but, when asked for, the
usual confirmation mail (consent.py), never a newsletter. An address that is suppressed, that left
everything or that left this list is never subscribed again: the row is skipped, with the reason.
Importing a file twice changes nothing the second time; a dry run writes nothing and reports the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kibitz import consent, errors, newsletter
from kibitz.config import SiteConfig
from kibitz.links import Links
from kibitz.store.db import Database
from kibitz.store.subscriber_io import Exported, Held, NewSubscription
from kibitz.store.subscribers import SIGNED_UP
from kibitz.store.tx import Tx
from kibitz.subscriber_csv import EXPORT_COLUMNS, Row, Skip, Source, check, consent_source, rows, write_line

Clock = Callable[[], datetime]
Progress = Callable[[int, int], None]  # (records done, records in the file)
CHUNK = 1000  # records per transaction
LISTED_SKIPS = 1000  # skipped records named one by one in a report; the rest are counted


@dataclass
class Report:
    """What an import did (or, in a dry run, would do)."""

    dry_run: bool
    ignored_columns: tuple[str, ...] = ()
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    confirmations: int = 0  # confirmation mails queued
    skipped: list[tuple[int, str]] = field(default_factory=list)
    skipped_total: int = 0

    def skip(self, line: int, reason: str) -> None:
        self.skipped_total += 1
        if len(self.skipped) < LISTED_SKIPS:
            self.skipped.append((line, reason))

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
            "skipped": [{"line": line, "reason": reason} for line, reason in self.skipped],
            "skipped_total": self.skipped_total, "confirmations": self.confirmations,
            "ignored_columns": list(self.ignored_columns), "dry_run": self.dry_run,
        }  # fmt: skip


@dataclass(frozen=True)
class _Plan:
    """One row's fate: "skip" (``reason``), "unchanged", "created" or "updated", and what to write."""

    row: Row
    outcome: str
    reason: str = ""
    subscriber: dict[str, Any] = field(default_factory=dict)  # columns of the subscriber to change
    subscription: dict[str, Any] = field(default_factory=dict)  # columns of the subscription to change
    subscribe: bool = False  # a new subscription to the list
    confirm_mail: bool = False


def list_names(links: Links, site: str, list_id: str) -> tuple[str, ...]:
    """The names a list's subscriptions use: its id, and "" (stored before lists) for the first."""
    lists = links.lists(site)
    return (list_id, "") if lists and lists[0].id == list_id else (list_id,)


def _plan(row: Row, held: Held | None, suppressed: str | None, via: str, send: bool) -> _Plan:
    if suppressed is not None:
        return _Plan(row, "skip", f"suppressed ({suppressed})")
    if held is not None and held.status == "bounced":
        return _Plan(row, "skip", "suppressed (bounced)")
    if held is not None and held.status == "unsubscribed":
        return _Plan(row, "skip", "unsubscribed from everything")
    if held is not None and held.subscription_id is not None and not held.active:
        return _Plan(row, "skip", "unsubscribed from this list")
    proven = row.consent_at is not None
    consent_values = {"consent_at": row.consent_at, "consent_source": row.consent_source, "consent_via": via}
    person: dict[str, Any] = {}
    if held is not None and row.name and row.name != held.name:
        person["name"] = row.name
    if held is not None and proven and held.status == "unconfirmed":
        person.update(status="confirmed", confirmed=row.consent_at)
    if held is None or held.subscription_id is None:
        return _Plan(row, "created", subscriber=person, subscribe=True, confirm_mail=send and not proven)
    changes: dict[str, Any] = {}
    if proven and (held.pending or held.consent_at is None):
        # A consent on record is never rewritten: the first one stays.
        changes = {"pending": False, **consent_values} if held.consent_at is None else {"pending": False}
    outcome = "updated" if changes or person else "unchanged"
    return _Plan(row, outcome, subscriber=person, subscription=changes)


class SubscriberIo:
    def __init__(self, db: Database, links: Links, clock: Clock) -> None:
        self.db = db
        self.links = links
        self.clock = clock

    async def import_csv(
        self,
        site: SiteConfig,
        list_id: str,
        source: Source,
        actor: str,
        *,
        dry_run: bool = False,
        default_source: str = "",
        send_confirmation: bool = False,
        progress: Progress | None = None,
    ) -> Report:
        """Import a file into one of the site's lists, ``CHUNK`` records per transaction. The file is
        checked whole first (InvalidCsv: nothing written); a bad record only skips itself."""
        chosen = newsletter.choose_list(site, list_id)
        default_source = consent_source(default_source, "source")
        header, total = check(source)
        report = Report(dry_run, header.ignored)
        now = self.clock()
        via = f"import by {actor}"[:200]
        batch: list[Row | Skip] = []  # in file order, so the report lists skips by line
        done = 0
        for item in rows(source, header, now, chosen.id, default_source):
            batch.append(item)
            if len(batch) >= CHUNK:
                await self._chunk(site.id, chosen.id, batch, report, via, send_confirmation, now)
                done += len(batch)
                batch = []
                if progress is not None:
                    progress(done, total)
        if batch or not done:
            await self._chunk(site.id, chosen.id, batch, report, via, send_confirmation, now)
            done += len(batch)
            if progress is not None:
                progress(done, total)
        if not dry_run:
            counts = report.as_dict()
            detail = {key: counts[key] for key in ("created", "updated", "unchanged", "confirmations")}
            async with self.db.write() as tx:
                await tx.audit.record(
                    at=now, site=site.id, actor=actor, action="newsletter.import", target=f"list:{chosen.id}",
                    detail={**detail, "skipped": report.skipped_total, "source": default_source},
                )  # fmt: skip
        return report

    async def _chunk(
        self,
        site: str,
        list_id: str,
        batch: Sequence[Row | Skip],
        report: Report,
        via: str,
        send: bool,
        now: datetime,
    ) -> None:
        if not batch:
            return
        names = list_names(self.links, site, list_id)
        emails = [row.email for row in batch if isinstance(row, Row)]
        opener = self.db.read() if report.dry_run else self.db.write()
        async with opener as tx:
            held = await tx.subscriber_io.held(site, emails, names)
            suppressed = await tx.subscriber_io.suppressed(site, emails)
            plans: list[_Plan] = []
            for row in batch:
                if isinstance(row, Skip):
                    report.skip(row.line, row.reason)
                    continue
                plan = _plan(row, held.get(row.email), suppressed.get(row.email), via, send)
                plans.append(plan)
                if plan.outcome == "skip":
                    report.skip(plan.row.line, plan.reason)
                elif plan.outcome == "unchanged":
                    report.unchanged += 1
                elif plan.outcome == "created":
                    report.created += 1
                else:
                    report.updated += 1
                report.confirmations += plan.confirm_mail
            plans = [plan for plan in plans if plan.outcome != "skip"]
            if not report.dry_run:
                await self._apply(tx, site, list_id, plans, held, via, now)

    async def _apply(
        self,
        tx: Tx,
        site: str,
        list_id: str,
        plans: list[_Plan],
        held: dict[str, Held],
        via: str,
        now: datetime,
    ) -> None:
        new_people = [
            (p.row.email, p.row.name, "confirmed" if p.row.consent_at else "unconfirmed", p.row.consent_at)
            for p in plans
            if p.outcome == "created" and p.row.email not in held
        ]
        ids = {email: h.subscriber_id for email, h in held.items()}
        ids.update(await tx.subscriber_io.add_subscribers(site, new_people, now))
        made: list[NewSubscription] = []
        for plan in plans:
            row = plan.row
            if plan.subscriber:
                await tx.subscriber_io.update_subscriber(ids[row.email], **plan.subscriber)
            if plan.subscription:
                found = held[row.email]
                assert found.subscription_id is not None
                changes = dict(plan.subscription)
                if found.list_id != list_id:
                    changes["list"] = list_id  # a subscription from before lists names its list now
                await tx.subscriber_io.update_subscription(found.subscription_id, **changes)
            if plan.subscribe:
                proven = row.consent_at is not None
                made.append(
                    NewSubscription(
                        ids[row.email], list_id, not proven, row.consent_at, row.consent_source,
                        via if proven else "",
                    )
                )  # fmt: skip
        await tx.subscriber_io.add_subscriptions(made, now)
        for plan in plans:
            if plan.confirm_mail:
                subscriber = await tx.subscribers.get(ids[plan.row.email])
                assert subscriber is not None
                await consent.send_confirmation(tx, self.links, subscriber, now)

    # -- export --------------------------------------------------------------------------------------

    async def export_csv(self, site: SiteConfig, list_id: str | None, actor: str) -> AsyncIterator[str]:
        """The CSV of one list's subscribers (or, ``list_id`` None, every list's), a page at a time:
        the header line first. The export is audited before the first line is made."""
        lists = [newsletter.choose_list(site, list_id)] if list_id is not None else list(site.lists)
        if not lists:
            raise errors.UnknownList.field("list", "the site has no newsletter lists")
        names = sorted({name for item in lists for name in list_names(self.links, site.id, item.id)})
        now = self.clock()
        async with self.db.write() as tx:
            count = await tx.subscriber_io.count(site.id, names)
            target = f"list:{list_id}" if list_id is not None else f"site:{site.id}"
            await tx.audit.record(
                at=now, site=site.id, actor=actor, action="newsletter.export", target=target,
                detail={"rows": count},
            )  # fmt: skip
        return self._lines(site.id, names, now)

    async def _lines(self, site: str, names: Sequence[str], now: datetime) -> AsyncIterator[str]:
        yield write_line(EXPORT_COLUMNS)
        after = 0
        while True:
            # A short read per page: no transaction stays open while the lines travel.
            async with self.db.read() as tx:
                page = await tx.subscriber_io.page(site, names, after, CHUNK)
            if not page:
                return
            yield "".join(write_line(self._cells(site, item, now)) for item in page)
            after = page[-1].subscription_id

    def _cells(self, site: str, item: Exported, now: datetime) -> list[str]:
        found = self.links.newsletter_list(site, item.list_id)
        status = export_status(item, now)
        consent_at, source = item.consent_at, item.consent_source
        if consent_at is None and status in ("confirmed", "paused") and item.confirmed is not None:
            consent_at, source = item.confirmed, SIGNED_UP  # confirmed before consent was recorded
        suppressed = item.suppressed or ("bounced" if item.subscriber_status == "bounced" else "")
        return [
            item.email, item.name, found.id if found else item.list_id, status, _iso(item.subscribed),
            _iso(item.confirmed), _iso(consent_at), source, suppressed,
        ]  # fmt: skip


def export_status(item: Exported, now: datetime) -> str:
    """pending, confirmed, paused or unsubscribed: the subscription as its subscriber has it."""
    if not item.active or item.subscriber_status == "unsubscribed":
        return "unsubscribed"
    if item.pending or item.subscriber_status == "unconfirmed":
        return "pending"
    if item.paused_until is not None and item.paused_until > now:
        return "paused"
    return "confirmed"


def _iso(when: datetime | None) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z") if when is not None else ""
