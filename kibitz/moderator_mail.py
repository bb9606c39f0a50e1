"""Moderators told in time: held and reported comments mailed to the staff who see their site (owners
every site, moderators their own), at once or in an hourly digest, as each member chose
(``moderation_mail``: instant | digest | off), with signed, single-use Approve / Reject / Spam links
(kibitz/moderator_links.py checks and uses them).

A mail, or a digest item, is written in the transaction of the change that caused it (a post held, a
reader's report), so nothing is told of a change that did not commit. Dedupe keys make it one mail
per comment, event and member: ``mod:held:<comment>``, and for reports ``mod:reported:<comment>:<n>``,
``n`` counting the comment's reports when the first open one came in: more reports before a moderator
acts add to the same event; a report after a moderator closed the earlier ones is a new one.

What a mail names is the site, the story in the publisher's words (notify.thread_name: never a title
a reader sent), the author's name, the comment as escaped plain text, and why it was held or reported.
Subjects carry nothing any reader wrote.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kibitz import errors
from kibitz.config import Settings
from kibitz.links import Links, links_for, ms, one_line
from kibitz.models import Comment, CommentStatus, FlagCount
from kibitz.notify import excerpt, thread_name
from kibitz.security import Tokens
from kibitz.staff import member_of
from kibitz.store.db import Database
from kibitz.store.outbox import NewMail
from kibitz.store.staff import StaffMember
from kibitz.store.tx import Tx
from kibitz.templating import render_template

Clock = Callable[[], datetime]
PREFERENCES = ("instant", "digest", "off")
HELD, REPORTED = "held", "reported"
ACTS = ("approve", "reject", "spam")
LINK_PURPOSE = "moderate"  # the Tokens purpose of an action link
LINK_TTL = timedelta(days=7)
DIGEST_EVERY = timedelta(hours=1)  # the worker's "moderator-digest" job
DIGEST_MAX = 50  # comments shown in one digest; the rest are counted, and wait in the queue
REASON_SHOWN = 200  # characters of a reader's report reason


@dataclass(frozen=True)
class LinkSubject:
    """What an action link's token says: whose link, which comment, the event its mail was about,
    the act, and the nonce the three links of one comment in one mail share (one use spends all)."""

    staff_id: int
    comment_id: int
    event: str
    action: str
    nonce: str

    def encode(self) -> str:
        return f"{self.staff_id}.{self.comment_id}.{self.event}.{self.action}.{self.nonce}"

    @classmethod
    def decode(cls, subject: str) -> LinkSubject:
        """ValueError when ``subject`` is no link subject this module made."""
        staff_id, comment_id, event, action, nonce = subject.split(".")
        if event not in (HELD, REPORTED) or action not in ACTS or not 8 <= len(nonce) <= 32:
            raise ValueError(subject)
        return cls(int(staff_id), int(comment_id), event, action, nonce)


def action_urls(links: Links, staff_id: int, comment_id: int, event: str, now: datetime) -> dict[str, str]:
    """``{act}_url`` for each act: signed, expiring in 7 days, one nonce for the three."""
    nonce = secrets.token_urlsafe(12)
    base = links.base_url.rstrip("/")
    urls = {}
    for action in ACTS:
        subject = LinkSubject(staff_id, comment_id, event, action, nonce).encode()
        token = links.tokens.issue(LINK_PURPOSE, subject, now=now, ttl=LINK_TTL)
        urls[f"{action}_url"] = f"{base}/moderate/{token}"
    return urls


def queue_url(links: Links, site: str, event: str) -> str:
    tab = "flagged" if event == REPORTED else "pending"
    return f"{links.base_url.rstrip('/')}/admin/sites/{site}/queue?status={tab}"


def reasons(comment: Comment, event: str, reports: Sequence[FlagCount]) -> list[str]:
    """Why the comment needs a moderator, in words: the hold's reasons, or the readers' reports (their
    own words, quoted, with how many readers gave each)."""
    if event == REPORTED:
        return [
            f"“{one_line(r.reason, REASON_SHOWN)}” ({r.count} {'reader' if r.count == 1 else 'readers'})"
            for r in reports
        ]
    # The desk's words for each code. Imported here: kibitz.web.admin imports what imports this.
    from kibitz.web.admin import reason_text

    return [reason_text(code) for code in comment.reasons] or ["held for a moderator"]


def still_open(comment: Comment, event: str, reports: Sequence[FlagCount]) -> bool:
    """The comment still is what its mail said: held and pending, or shown with open reports."""
    if event == HELD:
        return comment.status is CommentStatus.PENDING and not comment.deleted
    return comment.visible and bool(reports)


async def about(tx: Tx, links: Links, comment: Comment, event: str) -> dict[str, Any] | None:
    """What a mail or page says of a comment (without its action links); None when it still needs
    nobody (acted on already, or its thread is gone)."""
    item = await tx.moderation.item(comment.id)
    thread = await tx.threads.get(comment.site, item.page) if item is not None else None
    if item is None or thread is None or not still_open(item.comment, event, item.flags):
        return None
    text = excerpt(item.comment)
    return {
        "site": comment.site,
        "site_name": links.site_name(comment.site),
        "story": thread_name(links, thread, quoted=True),
        "author": one_line(item.comment.author.name, 64),
        "text": text,
        "quoted": "\n".join(f"> {line}" for line in text.splitlines() or [""]),
        "event": event,
        "why": reasons(item.comment, event, item.flags),
        "queue_url": queue_url(links, comment.site, event),
    }


# -- telling the moderators, in the transaction of the change -----------------------------------------


async def on_held(tx: Tx, links: Links, comment: Comment, now: datetime) -> int:
    """A post was held for a moderator: mail or keep it for each member who sees its site."""
    if comment.status is not CommentStatus.PENDING:
        return 0
    return await _tell(tx, links, comment, HELD, f"mod:held:{comment.id}", now)


async def on_reported(tx: Tx, links: Links, comment: Comment, now: datetime) -> int:
    """A reader reported a comment: the first open report tells the moderators; later ones before
    a moderator acts join it (the queue shows their counts)."""
    open_reports = (await tx.moderation.open_flags([comment.id])).get(comment.id, ())
    if sum(report.count for report in open_reports) != 1:
        return 0
    reports = await tx.flags.count(comment.id)
    return await _tell(tx, links, comment, REPORTED, f"mod:reported:{comment.id}:{reports}", now)


async def _tell(tx: Tx, links: Links, comment: Comment, event: str, key: str, now: datetime) -> int:
    members = await tx.staff.mailed_about(comment.site)
    if not members:
        return 0
    values = await about(tx, links, comment, event)
    if values is None:
        return 0
    made = 0
    for member in members:
        if member.moderation_mail == "digest":
            await tx.staff.add_digest_item(member.id, comment.id, event, now)
            made += 1
            continue
        entry = {**values, **action_urls(links, member.id, comment.id, event, now)}
        made += int(await tx.outbox.enqueue(_mail(links, member, [entry], key), now))
    return made


def _mail(
    links: Links, member: StaffMember, entries: list[dict[str, Any]], key: str, *, digest: bool = False,
    more: int = 0,
) -> NewMail:  # fmt: skip
    """One mail to ``member``: a single comment, or a digest of several."""
    count = len(entries) + more
    site_names = list(dict.fromkeys(str(entry["site_name"]) for entry in entries))
    first = entries[0]
    if digest:
        noun = "comment needs" if count == 1 else "comments need"
        if len(site_names) == 1:
            subject = f"{site_names[0]}: {count} {noun} a moderator"
        else:
            subject = f"{count} {noun} a moderator on {len(site_names)} sites"
        lead = f"{count} {noun} a moderator."
    elif first["event"] == HELD:
        subject = f"{first['site_name']}: a comment waits for moderation on {first['story']}"
        lead = f"A comment by {first['author']} on {first['story']} waits for moderation."
    else:
        subject = f"{first['site_name']}: a comment was reported on {first['story']}"
        lead = f"Readers reported a comment by {first['author']} on {first['story']}."
    values = {
        "lead": lead,
        "entries": entries,
        "more": more,
        "digest": digest,
        "sites": ", ".join(site_names),
        "email": member.email,
        "days": LINK_TTL.days,
        "account_url": f"{links.base_url.rstrip('/')}/admin/account",
    }
    return NewMail(
        site=str(first["site"]),
        kind="moderation",
        dedupe_key=key,
        recipient=member.email,
        subject=one_line(subject),
        text_body=render_template("email/moderator.txt", **values),
        html_body=render_template("email/moderator.html", **values),
    )


# -- the hourly digest (kibitz.worker runs it on one worker of all) -----------------------------------


async def send_moderator_digests(db: Database, tokens: Tokens, settings: Settings, clock: Clock) -> int:
    """One mail per member with comments waiting that still need a moderator; how many mails.
    Also forgets used links that have long expired."""
    links = links_for(tokens, settings)
    async with db.read() as tx:
        waiting = await tx.staff.digest_waiting()
    sent = 0
    for staff_id in waiting:
        sent += await _one_digest(db, links, staff_id, clock())
    async with db.write() as tx:
        await tx.staff.forget_links(clock() - LINK_TTL - timedelta(days=1))
    return sent


async def _one_digest(db: Database, links: Links, staff_id: int, now: datetime) -> int:
    """The items are cleared in the transaction that enqueues their mail: none lost, none sent twice."""
    async with db.write() as tx:
        items = await tx.staff.digest_items(staff_id)
        await tx.staff.clear_digest_items(staff_id, items)
        member = await tx.staff.get(staff_id)
        if member is None or not member.active or member.moderation_mail == "off":
            return 0
        shown: list[dict[str, Any]] = []
        more = 0  # still needing a moderator, beyond what one mail shows
        for comment_id, event in items:
            comment = await tx.comments.get(comment_id)
            if comment is None or not member.may_see(comment.site):
                continue
            values = await about(tx, links, comment, event)
            if values is None:
                continue  # dealt with since: the digest leaves it out
            if len(shown) < DIGEST_MAX:
                shown.append({**values, **action_urls(links, member.id, comment.id, event, now)})
            else:
                more += 1
        if not shown:
            return 0
        mail = _mail(links, member, shown, f"mod:digest:{staff_id}:{ms(now)}", digest=True, more=more)
        await tx.outbox.enqueue(mail, now)
        return 1


# -- each member's choice -------------------------------------------------------------------------------


def check_preference(value: str) -> str:
    if value not in PREFERENCES:
        raise errors.InvalidInput.field("moderation_mail", "must be instant, digest or off")
    return value


async def set_preference(db: Database, clock: Clock, email: str, value: str, actor: str) -> StaffMember:
    """How held and reported comments reach a member (audited as ``staff.moderation_mail``)."""
    value = check_preference(value)
    now = clock()
    async with db.write() as tx:
        member = await member_of(tx, email)
        if member.moderation_mail == value:
            return member
        await tx.staff.update(member.id, moderation_mail=value)
        await tx.audit.record(
            at=now, site="", actor=actor, action="staff.moderation_mail", target=f"staff:{member.id}",
            detail={"from": member.moderation_mail, "to": value},
        )  # fmt: skip
        return await tx.staff.get(member.id) or member
