"""The Approve / Reject / Spam links of moderation mails (kibitz/moderator_mail.py makes them): what a
link may still do, and doing it.

A link acts only while its staff member is active and still sees the comment's site, and while the
comment is still what the mail said (held: pending; reported: shown, with open reports). Otherwise it
says why not: the member lost the site (LinkRevoked), the comment is gone (CommentGone), or the link or
someone else did the work already (AlreadyDone, saying who did what and when). Acting goes through
Moderation.act, exactly as the desk does, with the member as actor and ``"via": "mail"`` in the audit
entry; the link's nonce is spent in that same transaction, under the comment's row lock, so two
presses at once act once, and the three links of one comment in one mail are spent together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kibitz import errors
from kibitz.config import SiteConfig
from kibitz.models import QueueItem, Thread
from kibitz.moderation import Moderation
from kibitz.moderator_mail import LINK_PURPOSE, LinkSubject, still_open
from kibitz.security import TokenError, Tokens
from kibitz.staff import member_actor
from kibitz.store.audit import AuditFilter
from kibitz.store.db import Database
from kibitz.store.staff import StaffMember
from kibitz.store.tx import Tx

Clock = Callable[[], datetime]
MAX_TOKEN = 300
DECISIONS = ("comment.approve", "comment.reject", "comment.spam", "comment.restore")


class LinkRevoked(errors.Forbidden):
    """The link's staff member was removed, made inactive, or no longer sees the comment's site."""

    title = "This link's account no longer moderates this site"

    def __init__(self, detail: str, site: str = "") -> None:
        super().__init__(detail)
        self.site = site  # the comment's site, when it is known


class CommentGone(errors.Gone):
    """The comment was deleted, or its site is no longer configured."""

    title = "This comment is gone"


class AlreadyDone(errors.Gone):
    """The link was used, or the comment was dealt with since the mail: nothing more to do here."""

    title = "This was done already"

    def __init__(
        self, site: str, state: str, used: datetime | None, last: tuple[str, str, datetime] | None
    ) -> None:
        super().__init__()
        self.site = site  # the comment's site
        self.state = state  # the comment's status now
        self.used = used  # when this link was used, if it was
        self.last = last  # the last decision on it: (action, actor, at)


@dataclass(frozen=True)
class LinkView:
    link: LinkSubject
    member: StaffMember
    site: SiteConfig
    item: QueueItem
    thread: Thread | None


def who(actor: str) -> str:
    """An audit actor as people read it: a staff member's email, else the actor as it is."""
    kind, _, rest = actor.partition(" ")
    return rest if kind.startswith("staff:") and rest else actor


class ModLinks:
    def __init__(
        self,
        db: Database,
        moderation: Moderation,
        tokens: Tokens,
        clock: Clock,
        sites: Callable[[str], SiteConfig | None],
    ) -> None:
        self.db = db
        self.moderation = moderation
        self.tokens = tokens
        self.clock = clock
        self.sites = sites

    def read(self, token: str) -> LinkSubject:
        """The link a token is: NotFound when forged or foreign, Gone when expired."""
        try:
            subject = self.tokens.verify(LINK_PURPOSE, token[:MAX_TOKEN], now=self.clock())
        except TokenError as exc:
            if str(exc) == "expired":
                raise errors.Gone("This link has expired") from None
            raise errors.NotFound("No such link") from None
        try:
            return LinkSubject.decode(subject)
        except ValueError:
            raise errors.NotFound("No such link") from None

    async def view(self, token: str) -> LinkView:
        """What the link would do now; refuses (see the module) when it may do nothing."""
        link = self.read(token)
        async with self.db.read() as tx:
            return await self._check(tx, link)

    async def use(self, token: str) -> tuple[LinkView, QueueItem]:
        """Act as the link says, once: through Moderation.act, as the desk does."""
        view = await self.view(token)
        link = view.link

        async def check(tx: Tx) -> dict[str, Any]:
            await self._check(tx, link, lock=True)  # again, under the comment's lock
            if not await tx.staff.spend_link(link.nonce, self.clock()):
                raise await self._done(tx, link.comment_id, self.clock())
            return {"via": "mail", "event": link.event}

        actor = member_actor(view.member)
        item = await self.moderation.act(view.site, link.comment_id, link.action, actor, check=check)
        return view, item

    async def _check(self, tx: Tx, link: LinkSubject, *, lock: bool = False) -> LinkView:
        member = await tx.staff.get(link.staff_id)
        if member is None or not member.active:
            raise LinkRevoked("The account this link was sent to is no longer on the staff")
        comment = await tx.comments.get(link.comment_id, for_update=lock)
        site = self.sites(comment.site) if comment is not None else None
        if comment is None or site is None:
            raise CommentGone()
        if not member.may_see(site.id):
            raise LinkRevoked(f"{member.email} no longer moderates {site.name}", site.id)
        item = await tx.moderation.item(comment.id)
        if item is None or comment.deleted:
            raise CommentGone()
        used = await tx.staff.link_used(link.nonce)
        if used is not None or not still_open(item.comment, link.event, item.flags):
            raise await self._done(tx, comment.id, used)
        return LinkView(link, member, site, item, await tx.threads.get(site.id, item.page))

    @staticmethod
    async def _done(tx: Tx, comment_id: int, used: datetime | None) -> AlreadyDone:
        comment = await tx.comments.get(comment_id)
        history = await tx.audit.listing(AuditFilter(target=f"comment:{comment_id}"), None, 50)
        last = next((e for e in history if e.action in DECISIONS), None)
        return AlreadyDone(
            comment.site if comment is not None else "",
            comment.status.value if comment is not None else "gone",
            used,
            (last.action.removeprefix("comment."), who(last.actor), last.at) if last is not None else None,
        )
