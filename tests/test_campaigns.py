"""Newsletter campaigns (DESIGN.md §3b "Newsletter"; QUALITY T45): write, test, send to a list over a
real SMTP server with the worker's job enqueuing, one-click unsubscribe, skipped addresses, schedules
that survive a restart, pause, resume, cancel, who may act, and the public archive (HTML and Atom)."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
from sqlalchemy import update

from kibitz.bounce_inbox import BounceInbox
from kibitz.bounces import Verp
from kibitz.context import Context
from kibitz.mailer import message_id
from kibitz.store.audit import AuditFilter
from kibitz.store.schema import campaigns, outbox
from kibitz.worker import Worker
from tests.bounce_samples import postfix_dsn
from tests.conftest import ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, site_table
from tests.mailserver import MailServer
from tests.test_bounces import deliver
from tests.test_mail_flow import body as mail_body
from tests.test_subscriptions import one_click, rows
from tests.test_webhooks import key, staff_cookie

pytestmark = pytest.mark.anyio

BASE = "https://news.example"
LISTS: list[dict[str, Any]] = [
    {"id": "daily", "name": "Daily briefing", "welcome": False},
    {"id": "weekly", "name": "The week", "welcome": False},
]
CAMPAIGNS = "/api/v1/admin/sites/a/campaigns"
ISSUE = """# Morning news

Hello! Read [the story](https://news.example/story).

<script>window.__xss = 1</script> [bad](javascript:alert(1))

[Leave this list]({{ unsubscribe_url }})
"""


def sites() -> list[dict[str, Any]]:
    return [
        site_table("a", ORIGIN_A, lists=LISTS),
        site_table("b", ORIGIN_B, lists=[{"id": "news", "name": "News"}]),
    ]


def ctx_of(api: Api) -> Context:
    ctx: Context = api.app.state.ctx
    return ctx


async def member(
    api: Api,
    address: str,
    list_id: str = "daily",
    *,
    status: str = "confirmed",
    pending: bool = False,
    paused_until: datetime | None = None,
    site: str = "a",
) -> None:
    """A subscriber of a list, as sign-up and confirmation leave one (or not quite, as told)."""
    now = api.clock()
    async with ctx_of(api).db.write() as tx:
        found = await tx.subscribers.get_or_create(site, address, now)
        await tx.subscribers.set_status(found.id, status)
        await tx.subscribers.subscribe(
            found.id, "newsletter", None, "instant", now, pending=pending, list_id=list_id
        )
        if paused_until is not None:
            await tx.subscribers.pause(found.id, paused_until)


async def create(api: Api, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    payload = {"list": "daily", "subject": "Morning news", "markdown": ISSUE, **body}
    r = await api.client.post(CAMPAIGNS, json=payload, headers=headers)
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()
    return made


async def act(api: Api, headers: dict[str, str], campaign: str, action: str, status: int = 200) -> Any:
    r = await api.client.post(f"{CAMPAIGNS}/{campaign}/{action}", json={}, headers=headers)
    assert r.status_code == status, r.text
    return r.json()


async def state(api: Api, headers: dict[str, str], campaign: str) -> dict[str, Any]:
    r = await api.client.get(f"{CAMPAIGNS}/{campaign}", headers=headers)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


async def until_status(api: Api, headers: dict[str, str], campaign: str, wanted: str) -> dict[str, Any]:
    """Move the clock past the campaigns job's period until the campaign reaches ``wanted`` (bounded)."""
    for _ in range(100):
        found = await state(api, headers, campaign)
        if found["status"] == wanted:
            return found
        api.clock.advance(seconds=16)
        await anyio.sleep(0.1)
    raise AssertionError(f"campaign {campaign} never became {wanted}: {found}")


def recipients(server: MailServer) -> list[str]:
    return sorted(str(m["To"]) for m in server.messages)


async def test_create_test_send_unsubscribe_and_a_second_campaign_over_smtp(
    tmp_path: Path, database_url: str, clock: FakeClock, mail_server: MailServer
) -> None:
    async with custom_api(
        tmp_path, database_url, clock, smtp=mail_server.smtp, sites=sites(), base_url=BASE
    ) as api:
        for address in ("ann@example.org", "bob@example.org"):
            await member(api, address)
        await member(api, "hal@example.org", "")  # stored before lists: the site's first list
        await member(api, "cid@example.org", status="unconfirmed")
        await member(api, "dan@example.org", "weekly")  # another list
        await member(api, "gus@example.org", pending=True)  # asked for, never confirmed
        await member(api, "fay@example.org", paused_until=clock() + timedelta(days=7))
        await member(api, "eve@example.org")
        async with ctx_of(api).db.write() as tx:
            await tx.suppressions.add("", "eve@example.org", "hard_bounce", "tests", clock())
        publish = await key(api, "a", "publish")

        made = await create(api, publish)
        assert (made["status"], made["list"], made["total"], made["sent"]) == ("draft", "daily", 0, 0)
        campaign = made["id"]

        r = await api.client.post(
            f"{CAMPAIGNS}/{campaign}/test", json={"email": "Editor@Example.org"}, headers=publish
        )
        assert r.status_code == 202, r.text
        [test_mail] = await mail_server.wait_for(1)
        assert test_mail["To"] == "Editor@example.org"
        assert test_mail["Subject"] == "[Test] Morning news"
        assert await rows(api, recipient="ann@example.org") == []  # the list got nothing

        assert (await act(api, publish, campaign, "send"))["status"] == "sending"
        done = await until_status(api, publish, campaign, "sent")  # the worker's job enqueues
        await mail_server.wait_for(4)
        await anyio.sleep(0.3)  # anything more would have come by now
        issues = [m for m in mail_server.messages if m["Subject"] == "Morning news"]
        assert sorted(str(m["To"]) for m in issues) == [
            "ann@example.org", "bob@example.org", "hal@example.org",
        ]  # fmt: skip
        assert (done["total"], done["sent"], done["failed"], done["unsubscribed"]) == (3, 3, 0, 0)

        sent_rows = {r.recipient: r for r in await rows(api, campaign_id=int(campaign))}
        for message in issues:
            row = sent_rows[str(message["To"])]
            assert row.kind == "newsletter"
            assert row.dedupe_key == f"campaign:{campaign}"
            assert message["Message-ID"] == message_id(row.id, BASE)
            assert message["Date"]
            assert message["List-Unsubscribe"] == f"<{row.list_unsubscribe}>"
            assert message["List-Unsubscribe"].startswith(f"<{BASE}/unsubscribe/")
            assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            again = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
            assert again["Message-ID"] == message["Message-ID"]
            html = mail_body(message, "html")
            assert '<h1 style="' in html  # the stylesheet is inlined
            assert "<style" not in html
            assert "<script" not in html
            assert 'href="javascript' not in html
            # The recipient's own links, in place of the placeholder and in the footer.
            assert f'href="{row.list_unsubscribe}"' in html
            assert "{{" not in html
            assert "kibitz.invalid" not in html
            text = mail_body(message)
            assert row.list_unsubscribe in text
            assert f"{BASE}/manage/" in text

        ann = next(m for m in issues if m["To"] == "ann@example.org")
        unsubscribe_path = urlsplit(ann["List-Unsubscribe"].strip("<>")).path
        assert (await one_click(api, unsubscribe_path)).status_code == 200
        assert (await state(api, publish, campaign))["unsubscribed"] == 1

        second = (await create(api, publish, subject="Evening news"))["id"]
        await act(api, publish, second, "send")
        await until_status(api, publish, second, "sent")
        await mail_server.wait_for(6)
        evening = sorted(str(m["To"]) for m in mail_server.messages if m["Subject"] == "Evening news")
        assert evening == ["bob@example.org", "hal@example.org"]

        # Sending again is refused, and enqueuing the first campaign from scratch mails nobody twice.
        assert (await act(api, publish, campaign, "send", 409))["code"] == "conflict"
        async with ctx_of(api).db.write() as tx:
            await tx.conn.execute(
                update(campaigns)
                .where(campaigns.c.id == int(campaign))
                .values(status="sending", cursor=0, queued=False)
            )
        assert await ctx_of(api).campaigns.run_due() == 0
        assert len(await rows(api, campaign_id=int(campaign))) == 3


async def test_a_scheduled_campaign_goes_when_due_and_after_a_restart(
    tmp_path: Path, database_url: str, clock: FakeClock, mail_server: MailServer
) -> None:
    opts: dict[str, Any] = {"smtp": mail_server.smtp, "sites": sites(), "base_url": BASE}
    async with custom_api(tmp_path, database_url, clock, **opts) as api:
        await member(api, "ann@example.org")
        publish = await key(api, "a", "publish")
        soon = (clock() + timedelta(hours=1)).isoformat()
        first = (await create(api, publish, subject="First", send_at=soon))["id"]
        assert (await act(api, publish, first, "send"))["status"] == "scheduled"
        clock.advance(minutes=30)
        await anyio.sleep(1.5)  # the job has looked, and found nothing due
        assert (await state(api, publish, first))["total"] == 0
        assert mail_server.messages == []
        clock.advance(minutes=31)
        [mail] = await mail_server.wait_for(1)
        assert mail["Subject"] == "First"
        await until_status(api, publish, first, "sent")

        later = (clock() + timedelta(hours=2)).isoformat()
        second = (await create(api, publish, subject="Second", send_at=later))["id"]
        assert (await act(api, publish, second, "send"))["status"] == "scheduled"
    clock.advance(hours=3)  # the server was down when it came due
    async with custom_api(tmp_path, database_url, clock, **opts) as api:
        await mail_server.wait_for(2)
        assert [m["Subject"] for m in mail_server.messages] == ["First", "Second"]
        await until_status(api, publish, second, "sent")


class Recorder:
    """A mailer that keeps what it is given (the worker driven by hand, one batch at a time)."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage, sender: str | None = None) -> None:
        self.sent.append(message)


async def test_pause_holds_the_mail_resume_sends_it_and_cancel_drops_the_rest(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as api:
        ctx = ctx_of(api)
        for name in ("ann", "bob", "cid"):
            await member(api, f"{name}@example.org")
        publish = await key(api, "a", "publish")
        recorder = Recorder()
        worker = Worker(ctx.db, recorder, ctx.settings, clock, batch=1)

        campaign = (await create(api, publish))["id"]
        await act(api, publish, campaign, "send")
        assert await ctx.campaigns.run_due() == 3
        assert (await act(api, publish, campaign, "pause"))["status"] == "paused"
        assert await ctx.campaigns.run_due() == 0
        assert await worker.run_once() == 0  # its rows are held
        assert recorder.sent == []
        assert (await act(api, publish, campaign, "resume"))["status"] == "sending"
        while await worker.run_once():
            pass
        assert sorted(str(m["To"]) for m in recorder.sent) == [
            f"{n}@example.org" for n in ("ann", "bob", "cid")
        ]
        await ctx.campaigns.run_due()
        assert (await state(api, publish, campaign))["status"] == "sent"
        assert (await act(api, publish, campaign, "pause", 409))["code"] == "conflict"

        other = (await create(api, publish, subject="Other"))["id"]
        await act(api, publish, other, "send")
        assert await ctx.campaigns.run_due() == 3
        assert await worker.run_once() == 1
        cancelled = await act(api, publish, other, "cancel")
        assert (cancelled["status"], cancelled["sent"]) == ("cancelled", 1)
        assert await worker.run_once() == 0
        assert len(recorder.sent) == 4
        statuses = sorted(r.status for r in await rows(api, campaign_id=int(other)))
        assert statuses == ["dropped", "dropped", "sent"]
        assert (await act(api, publish, other, "resume", 409))["code"] == "conflict"

        # A row claimed just before the cancellation is dropped when the worker gets to it.
        third = (await create(api, publish, subject="Third"))["id"]
        await act(api, publish, third, "send")
        await ctx.campaigns.run_due()
        async with ctx.db.write() as tx:
            [claimed] = await tx.outbox.claim(clock(), timedelta(minutes=5), 1)
        await act(api, publish, third, "cancel")
        async with ctx.db.read() as tx:
            assert await tx.outbox.still_deliverable(claimed) == "campaign cancelled"


class PausingRecorder(Recorder):
    """A recorder that does something (a pause) right after the first mail it is given."""

    def __init__(self, after_first: Callable[[], Awaitable[None]]) -> None:
        super().__init__()
        self.after_first = after_first

    async def send(self, message: EmailMessage, sender: str | None = None) -> None:
        await super().send(message, sender)
        if len(self.sent) == 1:
            await self.after_first()


async def test_a_pause_holds_the_mail_a_worker_has_claimed_and_not_sent_yet(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as api:
        ctx = ctx_of(api)
        names = ("ann", "bob", "cid", "dan")
        for name in names:
            await member(api, f"{name}@example.org")
        publish = await key(api, "a", "publish")
        campaign = (await create(api, publish))["id"]
        await act(api, publish, campaign, "send")
        assert await ctx.campaigns.run_due() == 4

        async def pause() -> None:
            assert (await act(api, publish, campaign, "pause"))["status"] == "paused"

        recorder = PausingRecorder(pause)
        worker = Worker(ctx.db, recorder, ctx.settings, clock, concurrency=1)
        worker.campaign_recheck = 0  # each send looks again (by default the view may be 0.25 s old)
        assert await worker.run_once() == 4  # the whole campaign claimed in one batch
        assert len(recorder.sent) == 1  # the pause came after the first: the other three wait
        statuses = sorted(r.status for r in await rows(api, campaign_id=int(campaign)))
        assert statuses == ["pending", "pending", "pending", "sent"]
        assert await worker.run_once() == 0
        assert (await act(api, publish, campaign, "resume"))["status"] == "sending"
        while await worker.run_once():
            pass
        assert sorted(str(m["To"]) for m in recorder.sent) == [f"{n}@example.org" for n in names]


async def test_who_may_act_and_what_is_refused(tmp_path: Path, database_url: str, clock: FakeClock) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as api:
        publish = await key(api, "a", "publish")
        campaign = (await create(api, publish))["id"]
        other_site = await key(api, "b", "publish")
        b_campaign = await api.client.post(
            "/api/v1/admin/sites/b/campaigns",
            json={"list": "news", "subject": "B", "markdown": "b"},
            headers=other_site,
        )
        assert b_campaign.status_code == 201
        b_id = b_campaign.json()["id"]

        assert (await api.client.get(f"{CAMPAIGNS}/{campaign}")).status_code == 401
        answers = []
        for headers in (other_site, await key(api, "a", "moderate")):
            for path in (f"{CAMPAIGNS}/{campaign}", f"{CAMPAIGNS}/999999", CAMPAIGNS):
                r = await api.client.get(path, headers=headers)
                answers.append((r.status_code, r.json()["code"], r.json()["detail"]))
            r = await api.client.post(f"{CAMPAIGNS}/{campaign}/send", json={}, headers=headers)
            answers.append((r.status_code, r.json()["code"], r.json()["detail"]))
        assert set(answers) == {(403, "forbidden", "Not allowed")}

        # Site b's campaign through site a's path: not one of site a's.
        assert (await api.client.get(f"{CAMPAIGNS}/{b_id}", headers=publish)).status_code == 404
        assert (await api.client.get(f"{CAMPAIGNS}/999999", headers=publish)).status_code == 404

        desk, _ = await staff_cookie(api, "desk@example.org", "moderator", ["a"])
        r = await api.client.get(CAMPAIGNS, headers=desk)
        assert (r.status_code, r.json()["code"]) == (403, "forbidden")
        owner, csrf = await staff_cookie(api, "owner@example.org", "owner", [])
        body = {"list": "weekly", "subject": "By the owner", "markdown": "Hi"}
        r = await api.client.post(CAMPAIGNS, json=body, headers=owner)
        assert r.json()["code"] == "csrf_failed"
        r = await api.client.post(CAMPAIGNS, json=body, headers={**owner, "X-CSRF-Token": csrf})
        assert r.status_code == 201
        listed = (await api.client.get(CAMPAIGNS, headers=owner)).json()["items"]
        assert [item["subject"] for item in listed] == ["By the owner", "Morning news"]
        r = await api.client.post(
            f"{CAMPAIGNS}/{campaign}/test", json={}, headers={**owner, "X-CSRF-Token": csrf}
        )
        assert (r.status_code, r.json()["sent_to"]) == (202, "owner@example.org")
        r = await api.client.post(f"{CAMPAIGNS}/{campaign}/test", json={}, headers=publish)
        assert (r.status_code, r.json()["code"]) == (422, "invalid_input")  # a key has no address

        for bad, code in (
            ({"list": "nope"}, "unknown_list"),
            ({"subject": ""}, "invalid_input"),
            ({"subject": "x" * 201}, "invalid_input"),
            ({"subject": "   "}, "invalid_input"),
            ({"markdown": "x" * (200 * 1024 + 1)}, "invalid_input"),
            ({"send_at": "tomorrow"}, "invalid_input"),
            ({"send_at": "2026-12-01T09:00:00"}, "invalid_input"),
            ({"extra": 1}, "invalid_input"),
        ):
            payload = {"list": "daily", "subject": "S", "markdown": "m", **bad}
            r = await api.client.post(CAMPAIGNS, json=payload, headers=publish)
            assert (r.status_code, r.json()["code"]) == (422, code), (bad, r.text)
        r = await api.client.post(
            CAMPAIGNS, json={"list": "daily", "subject": "S", "markdown": "é" * (100 * 1024)}, headers=publish
        )
        assert r.status_code == 201  # 200 KB exactly, over the usual body limit

        async with ctx_of(api).db.read() as tx:
            actions = [(e.action, e.target) for e in await tx.audit.listing(AuditFilter(), None, 100)]
        assert ("campaign.create", f"campaign:{campaign}") in actions
        assert ("campaign.test", f"campaign:{campaign}") in actions


async def test_outbox_rows_of_a_campaign_reference_it(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    """The campaign's id rides on each outbox row; other mail has none."""
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as api:
        await member(api, "ann@example.org")
        publish = await key(api, "a", "publish")
        campaign = (await create(api, publish))["id"]
        await act(api, publish, campaign, "send")
        await ctx_of(api).campaigns.run_due()
        [row] = await rows(api, outbox, recipient="ann@example.org")
        assert row.campaign_id == int(campaign)
        assert row.subscription_id is not None
        assert row.subscriber_id is not None


async def test_a_bounce_and_a_one_click_unsubscribe_of_campaign_mails_show_in_its_counts(
    tmp_path: Path, database_url: str, clock: FakeClock, mail_server: MailServer
) -> None:
    bounce_address = "bounces@news.example"
    opts: dict[str, Any] = {"smtp": mail_server.smtp, "sites": sites(), "base_url": BASE}
    async with custom_api(tmp_path, database_url, clock, bounce_address=bounce_address, **opts) as api:
        for name in ("ann", "bob", "cid"):
            await member(api, f"{name}@example.org")
        publish = await key(api, "a", "publish")
        campaign = (await create(api, publish))["id"]
        await act(api, publish, campaign, "send")
        await until_status(api, publish, campaign, "sent")
        mails = {str(m["To"]): m for m in await mail_server.wait_for(3)}
        counts = await state(api, publish, campaign)
        assert (counts["sent"], counts["bounced"], counts["unsubscribed"]) == (3, 0, 0)

        # Bob's mail bounces: a DSN reaches `kibitz bounces`' endpoint at its signed return path.
        [return_path] = [sender for sender, to in mail_server.envelopes if to == ["bob@example.org"]]
        ctx = ctx_of(api)
        inbox = BounceInbox(ctx.db, ctx.settings, Verp(bounce_address, ctx.tokens), clock)
        await inbox.start("127.0.0.1", 0)
        try:
            dsn = postfix_dsn(return_path, "bob@example.org", str(mails["bob@example.org"]["Message-ID"]))
            await deliver(inbox.port, return_path, dsn)
        finally:
            await inbox.stop()
        # Ann leaves the list with her mail's one-click link.
        link = urlsplit(str(mails["ann@example.org"]["List-Unsubscribe"]).strip("<>")).path
        assert (await one_click(api, link)).status_code == 200

        counts = await state(api, publish, campaign)
        assert (counts["sent"], counts["failed"], counts["bounced"], counts["unsubscribed"]) == (3, 0, 1, 1)
