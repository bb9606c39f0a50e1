"""Bounces, complaints and suppression: the rules.

A hard bounce or a complaint suppresses the address on every site (kibitz/store/suppressions.py) and
marks its subscriber rows "bounced"; a soft bounce is logged, and ``soft_bounce_limit`` of them (one
per message) within 30 days suppress the address as a hard bounce would. The outbox worker checks
suppression when it sends (kibitz/store/outbox.py ``still_deliverable``).

Reports arrive by SMTP (`kibitz bounces`, kibitz/bounce_inbox.py) at signed return paths (VERP):
with ``bounce_address = "bounces@news.example.org"`` the mail of outbox row 42 leaves with the
envelope sender ``bounces+42-<signature>@news.example.org``, so a bounce names its row, and a forged
bounce address (no valid signature) is refused. They also arrive from a mail provider's webhook
(kibitz/web/bounces.py).
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from kibitz import errors, inputs
from kibitz.bounce_parse import Found, outbox_id_of
from kibitz.security import Tokens
from kibitz.store.suppressions import EVERY_SITE, Suppression

if TYPE_CHECKING:
    from kibitz.store.db import Database
    from kibitz.store.tx import Tx

log = logging.getLogger(__name__)

KINDS = ("hard", "soft", "complaint")
SOURCES = ("smtp", "webhook")
SOFT_WINDOW = timedelta(days=30)
DEFAULT_SOFT_LIMIT = 3
SIGNATURE_LENGTH = 12  # hex digits of HMAC-SHA256: 48 bits
EVENTS_PER_TRANSACTION = 100
_SEVERITY = {"soft": 1, "hard": 2, "complaint": 3}


class Verp:
    """Signed return paths: ``{local}+{outbox_id}-{signature}@{domain}`` of ``bounce_address``."""

    def __init__(self, address: str, tokens: Tokens) -> None:
        local, at, domain = address.strip().rpartition("@")
        if not at or not local or not domain:
            raise ValueError("bounce_address must be an address like bounces@news.example.org")
        self.local = local
        self.domain = domain.lower()
        self._tokens = tokens
        self._pattern = re.compile(
            rf"{re.escape(local)}\+([1-9][0-9]{{0,17}})-([0-9a-f]{{{SIGNATURE_LENGTH}}})@{re.escape(domain)}\.?",
            re.IGNORECASE,
        )

    def _signature(self, outbox_id: int) -> str:
        return self._tokens.keyed_hash("verp", str(outbox_id))[:SIGNATURE_LENGTH]

    def address_for(self, outbox_id: int) -> str:
        """The envelope sender of outbox row ``outbox_id``'s mail."""
        return f"{self.local}+{outbox_id}-{self._signature(outbox_id)}@{self.domain}"

    def outbox_id(self, address: str) -> int | None:
        """The outbox id a return path names, or None when it is not one of ours or is forged. Letter
        case does not matter (some servers change it)."""
        text = address.strip().strip("<>").strip()
        found = self._pattern.fullmatch(text) if len(text) <= 320 else None
        if found is None:
            return None
        outbox_id = int(found.group(1))
        if not hmac.compare_digest(self._signature(outbox_id), found.group(2).lower()):
            return None
        return outbox_id


@dataclass(frozen=True)
class Recorded:
    email: str
    kind: str
    site: str  # of the outbox row it answers; "" when unknown
    outbox_id: int | None
    suppressed: bool  # the address is suppressed now, by this report or an earlier one


def canonical(address: str, field: str = "email") -> str:
    """The address as the outbox and the suppression list hold it; InvalidInput when it is none."""
    found = inputs.email(address, field)
    if not found:
        raise errors.InvalidInput.field(field, "is required")
    return found


async def record(
    tx: Tx,
    email: str,
    kind: str,
    source: str,
    outbox_id: int | None,
    detail: str,
    now: datetime,
    *,
    soft_limit: int = DEFAULT_SOFT_LIMIT,
) -> Recorded:
    """Log one bounce or complaint of ``email`` (about outbox row ``outbox_id``, when known) and apply
    it: a hard bounce or complaint suppresses the address on every site and marks its subscriber
    rows "bounced" (the row's site's, or every site's when no row is known); the ``soft_limit``-th
    soft bounce within 30 days does the same, as a hard bounce."""
    if kind not in KINDS or source not in SOURCES:
        raise ValueError(f"kind {kind!r} or source {source!r} is unknown")
    address = canonical(email)
    row = await tx.outbox.get(outbox_id) if outbox_id is not None else None
    site = row.site if row is not None else ""
    known_id = row.id if row is not None else None
    detail = " ".join(detail.split())[:500]
    await tx.bounces.add(
        site=site, email=address, kind=kind, source=source, outbox_id=known_id, detail=detail, now=now
    )
    if kind == "soft":
        count = await tx.bounces.count_soft(address, now - SOFT_WINDOW)
        if count < soft_limit:
            log.info("soft bounce %d of %d for %s (outbox %s)", count, soft_limit, address, known_id)
            suppressed = await tx.suppressions.is_suppressed(site, address)
            return Recorded(address, kind, site, known_id, suppressed)
        reason, why = "hard_bounce", f"{count} soft bounces within {SOFT_WINDOW.days} days; last: {detail}"
    else:
        reason, why = ("complaint" if kind == "complaint" else "hard_bounce"), detail
    if await tx.suppressions.add(EVERY_SITE, address, reason, why, now):
        log.info("suppressed %s on every site: %s (%s, outbox %s)", address, reason, source, known_id)
    await tx.suppressions.mark_subscribers_bounced(address, site or None)
    return Recorded(address, kind, site, known_id, True)


def _most_severe(found: Sequence[Found], recipient: str) -> Found | None:
    """The entry about ``recipient`` (any entry when none names it) that weighs most."""
    named = [item for item in found if item.email.lower() == recipient.lower()]
    pool = named or list(found)
    return max(pool, key=lambda item: _SEVERITY[item.kind], default=None)


async def record_report(
    db: Database, found: Sequence[Found], outbox_id: int, now: datetime, *, soft_limit: int
) -> Recorded | None:
    """A report that arrived at the signed return path of outbox row ``outbox_id``: it is about that
    row's recipient, whatever address the report names (the signature vouches for the row, not for
    the report's contents). None when it states no bounce or the row is gone."""
    if not found:
        return None
    async with db.write() as tx:
        row = await tx.outbox.get(outbox_id)
        chosen = _most_severe(found, row.recipient) if row is not None else None
        if row is None or chosen is None:
            return None
        if chosen.email and chosen.email.lower() != row.recipient.lower():
            log.info("outbox %s: the report names %s, the row %s", outbox_id, chosen.email, row.recipient)
        return await record(
            tx, row.recipient, chosen.kind, "smtp", outbox_id, chosen.detail, now, soft_limit=soft_limit
        )


@dataclass(frozen=True)
class Event:
    """One event of a provider's webhook, as received."""

    email: str
    kind: str
    message_id: str | None = None
    detail: str | None = None


async def record_events(
    db: Database, events: Sequence[Event], *, host: str | None, now: datetime, soft_limit: int
) -> int:
    """Record a webhook's events, all or none when one is invalid (InvalidInput names each bad one);
    their outbox rows found by their Message-IDs. How many were recorded."""
    problems: list[errors.FieldError] = []
    checked: list[tuple[str, Event]] = []
    for index, event in enumerate(events):
        field = f"events[{index}].email"
        try:
            checked.append((canonical(event.email, field), event))
        except errors.InvalidInput as exc:
            problems += exc.errors
        if event.kind not in KINDS:
            problems.append(errors.FieldError(f"events[{index}].kind", "must be hard, soft or complaint"))
    if problems:
        detail = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
        raise errors.InvalidInput(detail, errors=problems)
    for start in range(0, len(checked), EVENTS_PER_TRANSACTION):
        async with db.write() as tx:
            for address, event in checked[start : start + EVENTS_PER_TRANSACTION]:
                outbox_id = outbox_id_of(event.message_id, host) if event.message_id else None
                await record(
                    tx,
                    address,
                    event.kind,
                    "webhook",
                    outbox_id,
                    event.detail or "",
                    now,
                    soft_limit=soft_limit,
                )
    return len(checked)


async def lift(db: Database, email: str, site: str | None, actor: str, now: datetime) -> int:
    """Lift the suppressions of ``email`` (of one site, "" being the every-site row, or all of them
    when ``site`` is None); its "bounced" subscriber rows become "unconfirmed", so the address
    confirms again before any mail goes to it. Audited; how many suppressions went."""
    address = canonical(email)
    async with db.write() as tx:
        removed = await tx.suppressions.remove(address, site)
        if removed:
            reopened = await tx.suppressions.unmark_subscribers_bounced(address)
            await tx.audit.record(
                at=now,
                site=site or "",
                actor=actor,
                action="suppression.lift",
                target=f"email:{address}",
                detail={"removed": removed, "subscribers_reopened": reopened},
            )
    return removed


async def suppressed_on(db: Database, site: str, contains: str = "", limit: int = 100) -> list[Suppression]:
    """The addresses not mailed from ``site``: its own suppressions and every site's, newest first;
    only addresses containing ``contains`` (any case) when given."""
    async with db.read() as tx:
        return await tx.suppressions.list(sites=(site, EVERY_SITE), contains=contains or None, limit=limit)
