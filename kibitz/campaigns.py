"""Newsletter campaigns (DESIGN.md §3b "Newsletter"): a draft written by staff, a test mail to one
address, then sending: now, or at ``send_at`` (scheduled); pause, resume and cancel.

Sending never happens in the request: the worker's periodic job (worker.py ``default_jobs``) starts
a scheduled campaign when due and writes one outbox row per recipient, a chunk per transaction,
resuming from the last subscriber reached; the dedupe key ``campaign:{id}`` makes a second pass
(a restart, two workers) mail nobody twice. Recipients: confirmed subscribers of the list with the
subscription in force, not pausing newsletters, not suppressed; each row carries the recipient's
own one-click unsubscribe (List-Unsubscribe) like other mail. A paused campaign's rows wait (the
outbox's claim skips them); a cancelled one's are dropped. Every staff act is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kibitz import errors
from kibitz.campaign_render import mail_html, mail_text, personal, render
from kibitz.config import NewsletterList, Settings, SiteConfig
from kibitz.links import Links, ms, one_line
from kibitz.store.campaigns import Campaign
from kibitz.store.db import Database
from kibitz.store.outbox import NewMail
from kibitz.store.tx import Tx

Clock = Callable[[], datetime]
CHUNK = 1000  # recipients enqueued per transaction
MAX_SUBJECT = 200
MAX_MARKDOWN = 200 * 1024  # bytes of UTF-8
STATUSES = ("draft", "scheduled", "sending", "paused", "sent", "cancelled")


def dedupe_key(campaign_id: int) -> str:
    """The outbox's dedupe key of a campaign's mail: with the recipient, one mail per person."""
    return f"campaign:{campaign_id}"


@dataclass(frozen=True)
class Stats:
    """A campaign with the fate of its mail so far."""

    campaign: Campaign
    sent: int
    failed: int
    bounced: int
    unsubscribed: int
    dropped: int = 0  # not sent after all: unsubscribed, suppressed or cancelled meanwhile
    waiting: int = 0  # queued, not sent yet

    @property
    def done(self) -> int:
        """The mails that have had their fate: sent, given up or dropped."""
        return self.sent + self.failed + self.dropped


@dataclass(frozen=True)
class Audience:
    """One of a site's lists with its subscribers counted."""

    list: NewsletterList
    confirmed: int  # would get the next issue
    pending: int  # asked for it, not confirmed yet
    paused: int  # confirmed, pausing newsletters now


class Campaigns:
    def __init__(self, db: Database, settings: Settings, links: Links, clock: Clock) -> None:
        self.db = db
        self.settings = settings
        self.links = links
        self.clock = clock

    # -- staff acts --------------------------------------------------------------------------------

    async def create(
        self,
        site: SiteConfig,
        list_id: str,
        subject: str,
        markdown: str,
        send_at: datetime | None,
        actor: str,
    ) -> Campaign:
        """A draft for one of the site's lists; ``send_at`` is used when it is sent."""
        chosen, subject = self._checked(site, list_id, subject, markdown, send_at)
        rendered = render(markdown)
        now = self.clock()
        async with self.db.write() as tx:
            campaign = await tx.campaigns.add(
                site=site.id, list_id=chosen.id, subject=subject, markdown=markdown, html=rendered.html,
                text=rendered.text, send_at=send_at, created_by=actor, now=now,
            )  # fmt: skip
            await self._audit(tx, campaign, "campaign.create", actor, {"list": chosen.id, "subject": subject})
        return campaign

    async def update(
        self,
        site: SiteConfig,
        campaign_id: int,
        list_id: str,
        subject: str,
        markdown: str,
        send_at: datetime | None,
        actor: str,
    ) -> Campaign:
        """Rewrite a draft (every field; ``send_at`` None: no time set); Conflict once it is sent."""
        chosen, subject = self._checked(site, list_id, subject, markdown, send_at)
        rendered = render(markdown)
        async with self.db.write() as tx:
            campaign = await self._of_site(tx, site, campaign_id)
            changed = await tx.campaigns.update_draft(
                campaign.id, list_id=chosen.id, subject=subject, markdown=markdown, html=rendered.html,
                text=rendered.text, send_at=send_at,
            )  # fmt: skip
            if not changed:
                raise errors.Conflict(f"A {campaign.status} campaign cannot be changed")
            await self._audit(tx, campaign, "campaign.update", actor, {"list": chosen.id, "subject": subject})
            return await self._of_site(tx, site, campaign_id)

    def _checked(
        self, site: SiteConfig, list_id: str, subject: str, markdown: str, send_at: datetime | None
    ) -> tuple[NewsletterList, str]:
        """The list and the stripped subject of a draft's fields; InvalidInput naming a bad one."""
        chosen = self._list(site, list_id)
        subject = subject.strip()
        if not 1 <= len(subject) <= MAX_SUBJECT:
            raise errors.InvalidInput.field("subject", f"must be 1 to {MAX_SUBJECT} characters")
        if len(markdown.encode()) > MAX_MARKDOWN:
            raise errors.InvalidInput.field("markdown", f"must be at most {MAX_MARKDOWN} bytes")
        if send_at is not None and send_at.tzinfo is None:
            raise errors.InvalidInput.field("send_at", "must carry a time zone")
        return chosen, subject

    async def get(self, site: SiteConfig, campaign_id: int) -> Campaign:
        async with self.db.read() as tx:
            return await self._of_site(tx, site, campaign_id)

    async def of_site(self, site: SiteConfig) -> list[Campaign]:
        async with self.db.read() as tx:
            return await tx.campaigns.of_site(site.id)

    async def stats(self, campaign: Campaign) -> Stats:
        async with self.db.read() as tx:
            counts = await tx.campaigns.counts(campaign.id)
            bounces = await tx.bounces.counts_for_campaign(campaign.id)
            unsubscribed = await tx.campaigns.unsubscribed(campaign.id)
        return Stats(
            campaign,
            sent=counts.get("sent", 0),
            failed=counts.get("failed", 0),
            bounced=bounces.get("hard", 0) + bounces.get("soft", 0),
            unsubscribed=unsubscribed,
            dropped=counts.get("dropped", 0),
            waiting=counts.get("pending", 0) + counts.get("sending", 0),
        )

    async def preview(self, site: SiteConfig, campaign_id: int) -> str:
        """The issue's HTML mail as a recipient gets it, its own links leading to the sign-up page."""
        async with self.db.read() as tx:
            campaign = await self._of_site(tx, site, campaign_id)
        html_body, _ = self._bodies(site, campaign)
        signup = f"{self.settings.base_url.rstrip('/')}/newsletter/{site.id}"
        return personal(html_body, signup, signup, is_html=True)

    async def audience(self, site: SiteConfig) -> list[Audience]:
        """Each of the site's lists with its subscribers counted: confirmed, pending, pausing."""
        async with self.db.read() as tx:
            counts = await tx.campaigns.audience(site.id, self.clock())
        lists = self.links.lists(site.id) or site.lists
        found: dict[str, dict[str, int]] = {item.id: {} for item in lists}
        for (list_id, state), n in counts.items():
            name = list_id or lists[0].id  # "": stored before lists, the site's first
            if name in found:
                found[name][state] = found[name].get(state, 0) + n
        return [
            Audience(item, by.get("confirmed", 0), by.get("pending", 0), by.get("paused", 0))
            for item, by in ((item, found[item.id]) for item in lists)
        ]

    async def send_test(self, site: SiteConfig, campaign_id: int, address: str, actor: str) -> None:
        """Mail the issue to one address (a staff member's), not to the list; any number of times.
        Its links lead to the list's sign-up page: the address subscribes to nothing."""
        now = self.clock()
        async with self.db.write() as tx:
            campaign = await self._of_site(tx, site, campaign_id)
            html_body, text_body = self._bodies(site, campaign)
            signup = f"{self.settings.base_url.rstrip('/')}/newsletter/{site.id}"
            await tx.outbox.enqueue(
                NewMail(
                    site=site.id, kind="campaign_test", dedupe_key=f"campaign-test:{campaign.id}:{ms(now)}",
                    recipient=address, subject=one_line(f"[Test] {campaign.subject}"),
                    text_body=personal(text_body, signup, signup, is_html=False),
                    html_body=personal(html_body, signup, signup, is_html=True),
                ),
                now,
            )  # fmt: skip
            await self._audit(tx, campaign, "campaign.test", actor, {"to": address})

    async def send(self, site: SiteConfig, campaign_id: int, actor: str) -> Campaign:
        """Send a draft: now, or at its ``send_at`` when that is still ahead (scheduled)."""
        now = self.clock()
        async with self.db.write() as tx:
            campaign = await self._of_site(tx, site, campaign_id)
            if campaign.send_at is not None and campaign.send_at > now:
                moved = await tx.campaigns.set_status(campaign.id, "scheduled", ("draft",))
            else:
                moved = await tx.campaigns.set_status(campaign.id, "sending", ("draft",), started=now)
            if not moved:
                raise errors.Conflict(f"A {campaign.status} campaign cannot be sent")
            await self._audit(tx, campaign, "campaign.send", actor, {})
            return await self._of_site(tx, site, campaign_id)

    async def pause(self, site: SiteConfig, campaign_id: int, actor: str) -> Campaign:
        return await self._move(
            site, campaign_id, "paused", ("scheduled", "sending"), "campaign.pause", actor
        )

    async def resume(self, site: SiteConfig, campaign_id: int, actor: str) -> Campaign:
        async with self.db.read() as tx:
            campaign = await self._of_site(tx, site, campaign_id)
        target = "scheduled" if campaign.started is None else "sending"
        return await self._move(site, campaign_id, target, ("paused",), "campaign.resume", actor)

    async def cancel(self, site: SiteConfig, campaign_id: int, actor: str) -> Campaign:
        """Stop for good: the mail not sent yet is dropped."""
        now = self.clock()
        async with self.db.write() as tx:
            campaign = await self._of_site(tx, site, campaign_id)
            expected = ("draft", "scheduled", "sending", "paused")
            if not await tx.campaigns.set_status(campaign.id, "cancelled", expected, finished=now):
                raise errors.Conflict(f"A {campaign.status} campaign cannot be cancelled")
            dropped = await tx.campaigns.drop_unsent(campaign.id, "campaign cancelled")
            await self._audit(tx, campaign, "campaign.cancel", actor, {"dropped": dropped})
            return await self._of_site(tx, site, campaign_id)

    # -- the public archive ------------------------------------------------------------------------

    async def archive(self, site: SiteConfig, list_id: str) -> tuple[NewsletterList, list[Campaign]]:
        """A list's sent issues, newest first; NotFound for a list the site lacks."""
        chosen = self._archived_list(site, list_id)
        async with self.db.read() as tx:
            return chosen, await tx.campaigns.of_site(site.id, chosen.id, "sent", limit=500)

    async def issue(
        self, site: SiteConfig, list_id: str, campaign_id: int
    ) -> tuple[NewsletterList, Campaign]:
        """One sent issue of a list; NotFound for any other (a draft, another list's, none)."""
        chosen = self._archived_list(site, list_id)
        async with self.db.read() as tx:
            campaign = await tx.campaigns.get(campaign_id)
        if campaign is None or (campaign.site, campaign.list_id, campaign.status) != (
            site.id,
            chosen.id,
            "sent",
        ):
            raise errors.NotFound("No such issue")
        return chosen, campaign

    # -- the worker's job ----------------------------------------------------------------------------

    async def run_due(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Start the scheduled campaigns that are due, enqueue the recipients of every campaign being
        sent (a chunk per transaction), and mark those whose mail is all out as sent; how many rows
        were enqueued. ``progress(campaign id, rows enqueued so far)`` after each chunk."""
        now = self.clock()
        async with self.db.write() as tx:
            for campaign_id in await tx.campaigns.due(now):
                await tx.campaigns.set_status(campaign_id, "sending", ("scheduled",), started=now)
            sending = await tx.campaigns.sending()
        added = 0
        for campaign_id in sending:
            added += await self.enqueue_all(campaign_id, progress)
        return added

    async def enqueue_all(self, campaign_id: int, progress: Callable[[int, int], None] | None = None) -> int:
        """Every remaining recipient of a campaign being sent, a chunk per transaction; stops early
        when the campaign is paused or cancelled meanwhile. Marks it sent once its mail is all out."""
        added = 0
        while True:
            async with self.db.write() as tx:
                campaign = await tx.campaigns.get(campaign_id)
                if campaign is None or campaign.status != "sending":
                    return added
                if campaign.queued:
                    if not await tx.campaigns.unsent(campaign_id):
                        await tx.campaigns.set_status(
                            campaign_id, "sent", ("sending",), finished=self.clock()
                        )
                    return added
                added += await self._chunk(tx, campaign)
            if progress is not None:
                progress(campaign_id, added)

    async def _chunk(self, tx: Tx, campaign: Campaign) -> int:
        site = self.settings.site(campaign.site)
        chosen = self.links.newsletter_list(campaign.site, campaign.list_id)
        if site is None or chosen is None:  # the list left the configuration: nobody to mail
            await tx.campaigns.advance(campaign.id, campaign.cursor, 0, True)
            return 0
        now = self.clock()
        first = self.links.lists(campaign.site)[0].id
        names = (chosen.id, "") if chosen.id == first else (chosen.id,)
        people = await tx.campaigns.recipients(campaign.site, names, campaign.cursor, now, CHUNK)
        html_body, text_body = self._bodies(site, campaign)
        mails = []
        for person in people:
            unsubscribe = self.links.unsubscribe(person.subscription_id, now)
            manage = self.links.manage(person.subscriber_id, now)
            mails.append(
                NewMail(
                    site=campaign.site, kind="newsletter", dedupe_key=dedupe_key(campaign.id),
                    recipient=person.email, subject=one_line(campaign.subject),
                    text_body=personal(text_body, unsubscribe, manage, is_html=False),
                    html_body=personal(html_body, unsubscribe, manage, is_html=True),
                    list_unsubscribe=unsubscribe, subscriber_id=person.subscriber_id,
                    subscription_id=person.subscription_id, campaign_id=campaign.id,
                )
            )  # fmt: skip
        added = await tx.outbox.enqueue_many(mails, now)
        cursor = people[-1].subscriber_id if people else campaign.cursor
        await tx.campaigns.advance(campaign.id, cursor, added, len(people) < CHUNK)
        return added

    # -- helpers -------------------------------------------------------------------------------------

    def _bodies(self, site: SiteConfig, campaign: Campaign) -> tuple[str, str]:
        chosen = self.links.newsletter_list(site.id, campaign.list_id)
        list_name = chosen.name if chosen else campaign.list_id
        return (
            mail_html(campaign.subject, campaign.html, list_name, site.name),
            mail_text(campaign.text, list_name, site.name),
        )

    @staticmethod
    def _list(site: SiteConfig, list_id: str) -> NewsletterList:
        found = next((item for item in site.lists if item.id == list_id), None)
        if found is None:
            raise errors.UnknownList.field("list", "is not one of the site's lists")
        return found

    @staticmethod
    def _archived_list(site: SiteConfig, list_id: str) -> NewsletterList:
        found = next((item for item in site.lists if item.id == list_id), None)
        if found is None:
            raise errors.NotFound("No such newsletter")
        return found

    @staticmethod
    async def _of_site(tx: Tx, site: SiteConfig, campaign_id: int) -> Campaign:
        campaign = await tx.campaigns.get(campaign_id)
        if campaign is None or campaign.site != site.id:
            raise errors.NotFound("No such campaign")
        return campaign

    async def _move(
        self,
        site: SiteConfig,
        campaign_id: int,
        status: str,
        expected: tuple[str, ...],
        action: str,
        actor: str,
    ) -> Campaign:
        async with self.db.write() as tx:
            campaign = await self._of_site(tx, site, campaign_id)
            if not await tx.campaigns.set_status(campaign.id, status, expected):
                raise errors.Conflict(f"A {campaign.status} campaign cannot be {status}")
            await self._audit(tx, campaign, action, actor, {"from": campaign.status})
            return await self._of_site(tx, site, campaign_id)

    async def _audit(
        self, tx: Tx, campaign: Campaign, action: str, actor: str, detail: dict[str, Any]
    ) -> None:
        await tx.audit.record(
            at=self.clock(), site=campaign.site, actor=actor, action=action,
            target=f"campaign:{campaign.id}", detail=detail,
        )  # fmt: skip
