"""The newsletter pages of the admin over HTTP (owners only): the lists with their subscribers, writing,
editing and sending a campaign through the forms, its preview under a sandboxing CSP, test mail over a
real SMTP server, pause, resume and a confirmed cancel, the figures the open page polls, the
suppression list with Lift; a moderator refused with a page, forms without this session's CSRF token
refused (T20), bad input answered with a page saying what is wrong; both engines."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest

from kibitz.store.audit import AuditFilter
from kibitz.web.staff_auth import session_cookie_name
from tests.conftest import ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, site_table
from tests.mailserver import MailServer
from tests.test_campaigns import ctx_of, member
from tests.test_webhooks import key

pytestmark = pytest.mark.anyio

BASE = "https://news.example"
LISTS: list[dict[str, Any]] = [
    {"id": "daily", "name": "Daily briefing", "welcome": False},
    {"id": "weekly", "name": "The week", "welcome": True, "description": "Sundays"},
]
NEWSLETTER = "/admin/sites/a/newsletter"
ISSUE = (
    "# Morning news\n\nRead [the story](https://news.example/story).\n\n<script>window.__xss = 1</script>\n"
)


def sites() -> list[dict[str, Any]]:
    return [
        site_table("a", ORIGIN_A, lists=LISTS),
        site_table("b", ORIGIN_B, lists=[{"id": "news", "name": "News of b"}]),
    ]


class Desk:
    """The app with an owner's and a moderator's sessions (cookie header and CSRF token each)."""

    def __init__(self, api: Api, owner: tuple[dict[str, str], str], mod: tuple[dict[str, str], str]) -> None:
        self.api = api
        self.owner, self.csrf = owner
        self.mod, self.mod_csrf = mod

    async def get(self, path: str, who: dict[str, str] | None = None) -> Any:
        return await self.api.client.get(path, headers=who or self.owner)

    async def post(self, path: str, data: dict[str, str], who: dict[str, str] | None = None) -> Any:
        return await self.api.client.post(path, data=data, headers=who or self.owner)

    async def write(self, fields: dict[str, str], status: int = 303) -> Any:
        data = {
            "csrf": self.csrf,
            "list": "daily",
            "subject": "Morning news",
            "markdown": ISSUE,
            "send_at": "",
        }
        r = await self.post(f"{NEWSLETTER}/campaigns", {**data, **fields})
        assert r.status_code == status, r.text
        return r

    async def new_campaign(self, **fields: str) -> str:
        r = await self.write(fields)
        found = re.fullmatch(
            r"/admin/sites/a/newsletter/campaigns/(\d+)\?done=created", r.headers["location"]
        )
        assert found, r.headers["location"]
        return found.group(1)

    async def act(self, campaign: str, action: str, status: int = 303) -> Any:
        r = await self.post(f"{NEWSLETTER}/campaigns/{campaign}/{action}", {"csrf": self.csrf})
        assert r.status_code == status, r.text
        return r

    async def figures(self, campaign: str) -> dict[str, Any]:
        r = await self.get(f"{NEWSLETTER}/campaigns/{campaign}/progress")
        assert r.status_code == 200, r.text
        found: dict[str, Any] = r.json()
        return found


async def staff_cookie(api: Api, email: str, role: str, sites: list[str]) -> tuple[dict[str, str], str]:
    """A signed-in member of staff: the Cookie header of their session, and its CSRF token."""
    ctx = ctx_of(api)
    password = "a long enough password"
    await ctx.staff.add(email, role, sites, password, "tests")
    signed = await ctx.staff.sign_in(email, password, None, "tests", "pytest")
    return {"Cookie": f"{session_cookie_name(ctx.settings)}={signed.token}"}, signed.csrf


async def open_desk(api: Api) -> Desk:
    owner = await staff_cookie(api, "owner@desk.example", "owner", [])
    mod = await staff_cookie(api, "mod@desk.example", "moderator", ["a"])
    return Desk(api, owner, mod)


@pytest.fixture
async def desk(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Desk]:
    async with custom_api(tmp_path, database_url, clock, sites=sites(), base_url=BASE) as api:
        yield await open_desk(api)


def text_of(html: str) -> str:
    """The page's words without tags, spaces folded: what a reader sees, roughly."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def actions(desk: Desk, action: str) -> list[Any]:
    return [e for e in await ctx_of(desk.api).moderation.audit(AuditFilter(action=action), None, 50)]


# -- what an owner sees ------------------------------------------------------------------------------------


async def test_an_owner_sees_each_list_with_its_subscribers_counted_and_the_campaigns(desk: Desk) -> None:
    clock = desk.api.clock
    for address in ("ann@example.org", "bob@example.org"):
        await member(desk.api, address)
    await member(desk.api, "old@example.org", "")  # stored before lists: the site's first list
    await member(desk.api, "cid@example.org", status="unconfirmed")
    await member(desk.api, "gus@example.org", pending=True)
    await member(desk.api, "fay@example.org", paused_until=clock() + timedelta(days=3))
    await member(desk.api, "dan@example.org", "weekly")
    await member(desk.api, "out@example.org", status="unsubscribed")
    await member(desk.api, "zed@example.org", site="b", list_id="news")
    campaign = await desk.new_campaign(subject="Issue one")

    r = await desk.get(NEWSLETTER)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert '<a href="/admin/sites/a/newsletter" aria-current="page">Newsletter</a>' in r.text
    daily = re.search(r'<tr data-list="daily">(.*?)</tr>', r.text, re.S)
    weekly = re.search(r'<tr data-list="weekly">(.*?)</tr>', r.text, re.S)
    assert daily
    assert weekly
    assert text_of(daily.group(1)) == "Daily briefing daily 3 2 1 Off Public archive of Daily briefing"
    assert text_of(weekly.group(1)) == "The week Sundays weekly 1 0 0 On Public archive of The week"
    assert 'href="/newsletter/a/daily"' in r.text
    row = re.search(rf'<tr data-campaign="{campaign}">(.*?)</tr>', r.text, re.S)
    assert row
    assert text_of(row.group(1)).startswith("Issue one Daily briefing Draft")
    assert 'href="/admin/sites/a/newsletter/new"' in r.text


async def test_a_moderator_sees_no_newsletter_and_is_refused_with_a_page(desk: Desk) -> None:
    campaign = await desk.new_campaign()
    queue = await desk.get("/admin/sites/a/queue", desk.mod)
    assert queue.status_code == 200
    assert "/newsletter" not in queue.text
    assert "/newsletter" in (await desk.get("/admin/sites/a/queue")).text  # the owner's has it
    for path in (
        NEWSLETTER,
        f"{NEWSLETTER}/new",
        f"{NEWSLETTER}/campaigns/{campaign}",
        f"{NEWSLETTER}/campaigns/{campaign}/preview",
        f"{NEWSLETTER}/campaigns/{campaign}/progress",
        f"{NEWSLETTER}/campaigns/{campaign}/cancel",
        f"{NEWSLETTER}/suppressions",
    ):
        r = await desk.get(path, desk.mod)
        assert r.status_code == 403, path
        assert r.headers["content-type"].startswith("text/html"), path
        assert "<h1>Not allowed</h1>" in r.text, path
    for action in ("send", "cancel", "test"):
        data = {"csrf": desk.mod_csrf, "email": "mod@desk.example"}
        r = await desk.post(f"{NEWSLETTER}/campaigns/{campaign}/{action}", data, desk.mod)
        assert r.status_code == 403
        assert "<h1>Not allowed</h1>" in r.text
    data = {"csrf": desk.mod_csrf, "list": "daily", "subject": "Mine", "markdown": "x"}
    assert (await desk.post(f"{NEWSLETTER}/campaigns", data, desk.mod)).status_code == 403
    assert (await desk.figures(campaign))["status"] == "draft"
    assert len(await ctx_of(desk.api).campaigns.of_site(ctx_of(desk.api).settings.sites[0])) == 1
    assert await actions(desk, "campaign.send") == []


# -- writing and sending -----------------------------------------------------------------------------------


async def test_an_owner_writes_edits_previews_and_sends_a_draft_then_cannot_edit_it(desk: Desk) -> None:
    editor = await desk.get(f"{NEWSLETTER}/new?list=weekly")
    assert editor.status_code == 200
    assert '<option value="weekly" selected>The week</option>' in editor.text
    assert 'type="datetime-local"' in editor.text
    assert "Send at (UTC, optional)" in editor.text
    campaign = await desk.new_campaign()
    page = await desk.get(f"{NEWSLETTER}/campaigns/{campaign}?done=created")
    assert page.status_code == 200
    assert "Draft saved." in page.text
    assert "frame-src 'self'" in page.headers["content-security-policy"]
    assert f'<iframe class="preview" src="{NEWSLETTER}/campaigns/{campaign}/preview" sandbox=""' in page.text
    assert '<button type="submit" class="primary">Send now</button>' in page.text
    assert 'value="owner@desk.example"' in page.text  # the test goes to oneself unless told otherwise

    data = {"csrf": desk.csrf, "list": "weekly", "subject": "Evening news", "markdown": "## Later\n\nMore.",
            "send_at": ""}  # fmt: skip
    r = await desk.post(f"{NEWSLETTER}/campaigns/{campaign}", data)
    assert r.status_code == 303
    assert r.headers["location"].endswith("?done=saved")
    preview = await desk.get(f"{NEWSLETTER}/campaigns/{campaign}/preview")
    assert preview.status_code == 200
    csp = preview.headers["content-security-policy"]
    assert "sandbox" in csp
    assert "script-src" not in csp
    assert "frame-ancestors 'self'" in csp
    assert preview.headers["x-frame-options"] == "SAMEORIGIN"
    assert re.search(r"<h2[^>]*>Later</h2>", preview.text)
    assert "The week" in preview.text
    assert "Morning news" not in preview.text
    assert f"{BASE}/newsletter/a" in preview.text
    assert "kibitz.invalid" not in preview.text
    updates = await actions(desk, "campaign.update")
    assert [(e.actor, e.target, e.detail) for e in updates] == [
        ("staff:1 owner@desk.example", f"campaign:{campaign}", {"list": "weekly", "subject": "Evening news"})
    ]

    await desk.act(campaign, "send")
    page = await desk.get(f"{NEWSLETTER}/campaigns/{campaign}?done=sending")
    assert "Sending: the mail goes out" in page.text
    assert 'data-progress-url="' in page.text
    assert "campaign.js" in page.text
    assert "<script>" not in page.text
    assert ">Pause</button>" in page.text
    assert "Save the draft" not in page.text
    r = await desk.post(f"{NEWSLETTER}/campaigns/{campaign}", {**data, "subject": "Changed too late"})
    assert r.status_code == 409
    assert "Not done: A sending campaign cannot be changed" in r.text
    assert (
        await ctx_of(desk.api).campaigns.get(ctx_of(desk.api).settings.sites[0], int(campaign))
    ).subject == ("Evening news")
    again = await desk.act(campaign, "send", 409)
    assert "A sending campaign cannot be sent" in again.text


async def test_a_time_ahead_schedules_the_campaign_in_utc(desk: Desk) -> None:
    campaign = await desk.new_campaign(send_at="2026-11-28T09:30")
    page = await desk.get(f"{NEWSLETTER}/campaigns/{campaign}")
    assert 'value="2026-11-28T09:30"' in page.text
    assert "Schedule for 28 Nov 2026, 09:30 UTC</button>" in page.text
    await desk.act(campaign, "send")
    found = await desk.figures(campaign)
    assert (found["status"], found["status_text"]) == ("scheduled", "Scheduled")
    overview = await desk.get(NEWSLETTER)
    assert '<time datetime="2026-11-28T09:30:00+00:00">28 Nov 2026, 09:30 UTC</time>' in overview.text


async def test_pause_resume_and_a_cancel_that_asks_first(desk: Desk) -> None:
    campaign = await desk.new_campaign()
    await desk.act(campaign, "send")
    await desk.act(campaign, "pause")
    page = await desk.get(f"{NEWSLETTER}/campaigns/{campaign}?done=paused")
    assert "Paused: no more mail" in page.text
    assert ">Resume</button>" in page.text
    assert (await desk.figures(campaign))["status"] == "paused"
    await desk.act(campaign, "resume")
    assert (await desk.figures(campaign))["status"] == "sending"

    ask = await desk.get(f"{NEWSLETTER}/campaigns/{campaign}/cancel")
    assert ask.status_code == 200
    assert "Cancelling stops the campaign for good" in ask.text
    assert (await desk.figures(campaign))["status"] == "sending"  # asking changed nothing
    await desk.act(campaign, "cancel")
    assert (await desk.figures(campaign))["status"] == "cancelled"
    late = await desk.act(campaign, "resume", 409)
    assert "Not done: A cancelled campaign cannot be sending" in late.text
    ask = await desk.get(f"{NEWSLETTER}/campaigns/{campaign}/cancel")
    assert "there is nothing to cancel" in ask.text
    assert [e.action for e in await actions(desk, "")][:4] == [
        "campaign.cancel",
        "campaign.resume",
        "campaign.pause",
        "campaign.send",
    ]


async def test_a_test_mail_and_the_campaign_reach_a_real_smtp_server_and_the_figures_follow(
    tmp_path: Path, database_url: str, clock: FakeClock, mail_server: MailServer
) -> None:
    async with custom_api(
        tmp_path, database_url, clock, sites=sites(), base_url=BASE, smtp=mail_server.smtp
    ) as api:
        desk = await open_desk(api)
        for address in ("ann@example.org", "bob@example.org", "cat@example.org"):
            await member(api, address)
        campaign = await desk.new_campaign()
        r = await desk.post(
            f"{NEWSLETTER}/campaigns/{campaign}/test", {"csrf": desk.csrf, "email": "Ed@Example.ORG"}
        )
        assert r.status_code == 303
        assert r.headers["location"].endswith("?done=tested")
        (mail,) = await mail_server.wait_for(1)
        assert (str(mail["To"]), str(mail["Subject"])) == ("Ed@example.org", "[Test] Morning news")
        assert [e.detail for e in await actions(desk, "campaign.test")] == [{"to": "Ed@example.org"}]

        await desk.act(campaign, "send")
        for _ in range(100):  # the worker's campaigns job runs every 15 s of the clock
            found = await desk.figures(campaign)
            if found["status"] == "sent":
                break
            clock.advance(seconds=16)
            await anyio.sleep(0.05)
        assert {k: found[k] for k in ("status", "total", "sent", "done", "percent", "failed")} == {
            "status": "sent", "total": 3, "sent": 3, "done": 3, "percent": 100, "failed": 0,
        }  # fmt: skip
        assert sorted(str(m["To"]) for m in mail_server.messages[1:]) == [
            "ann@example.org", "bob@example.org", "cat@example.org",
        ]  # fmt: skip
        page = await desk.get(f"{NEWSLETTER}/campaigns/{campaign}")
        assert re.search(r'<progress id="campaign-progress" max="3" value="3"', page.text)
        assert '3</span> of <span data-figure="total">3</span> sent' in page.text
        assert "data-progress-url" not in page.text  # nothing left to poll


# -- refused and bad input ------------------------------------------------------------------------------


async def test_forms_without_this_sessions_csrf_token_or_by_get_change_nothing(desk: Desk) -> None:
    campaign = await desk.new_campaign()
    async with ctx_of(desk.api).db.write() as tx:
        await tx.suppressions.add("", "gone@example.org", "hard_bounce", "550 no such user", desk.api.clock())
    other, _ = await staff_cookie(desk.api, "other@desk.example", "owner", [])
    for path, data in (
        (f"{NEWSLETTER}/campaigns", {"list": "daily", "subject": "Sneaky", "markdown": "x"}),
        (f"{NEWSLETTER}/campaigns/{campaign}", {"list": "daily", "subject": "Sneaky", "markdown": "x"}),
        (f"{NEWSLETTER}/campaigns/{campaign}/send", {"go": "1"}),
        (f"{NEWSLETTER}/campaigns/{campaign}/cancel", {"go": "1"}),
        (f"{NEWSLETTER}/campaigns/{campaign}/test", {"email": "x@example.org"}),
        (f"{NEWSLETTER}/suppressions/lift", {"email": "gone@example.org", "scope": "all"}),
    ):
        for sent in ({}, {"csrf": "forged"}, {"csrf": desk.csrf}):
            who = other if sent.get("csrf") == desk.csrf else desk.owner  # another session's token
            r = await desk.post(path, {**data, **sent}, who)
            assert r.status_code == 403, (path, sent)
            assert "<h1>Not allowed</h1>" in r.text
    r = await desk.get(f"{NEWSLETTER}/campaigns/{campaign}/send")
    assert r.status_code == 405
    assert "<h1>Not allowed this way</h1>" in r.text
    found = await desk.figures(campaign)
    assert found["status"] == "draft"
    campaigns = await ctx_of(desk.api).campaigns.of_site(ctx_of(desk.api).settings.sites[0])
    assert [c.subject for c in campaigns] == ["Morning news"]
    async with ctx_of(desk.api).db.read() as tx:
        assert await tx.suppressions.is_suppressed("a", "gone@example.org")
        assert await tx.outbox.list() == []


async def test_bad_input_gets_a_page_that_says_what_is_wrong_and_keeps_what_was_typed(desk: Desk) -> None:
    for fields, words in (
        ({"subject": "   "}, "subject: must be 1 to 200 characters"),
        ({"list": "monthly"}, "list: is not one of the site&#39;s lists"),
        ({"send_at": "tomorrow"}, "send_at: must be a date and time like 2026-12-01T09:30"),
        ({"send_at": "2026-12-01T09:30+02:00"}, "send_at: must be a date and time"),
        ({"markdown": "x" * (200 * 1024 + 1)}, "markdown: must be at most 204800 bytes"),
    ):
        r = await desk.write({"markdown": "Kept *text*", **fields}, 422)
        assert r.headers["content-type"].startswith("text/html")
        assert f"Not done: {words}" in r.text, fields
        if "markdown" not in fields:
            assert "Kept *text*</textarea>" in r.text
    campaign = await desk.new_campaign()
    r = await desk.post(
        f"{NEWSLETTER}/campaigns/{campaign}/test", {"csrf": desk.csrf, "email": "not an address"}
    )
    assert r.status_code == 422
    assert "Not done: email: is not a valid email address" in r.text
    assert 'value="not an address"' in r.text
    b_campaign = await ctx_of(desk.api).campaigns.create(
        ctx_of(desk.api).settings.sites[1], "news", "Of b", "x", None, "tests"
    )
    for path in (
        f"{NEWSLETTER}/campaigns/999",
        f"{NEWSLETTER}/campaigns/abc",
        f"{NEWSLETTER}/campaigns/{b_campaign.id}",
        f"{NEWSLETTER}/campaigns/{b_campaign.id}/preview",
        "/admin/sites/nope/newsletter",
    ):
        r = await desk.get(path)
        assert r.status_code == 404, path
        assert "<h1>Not found</h1>" in r.text
    r = await desk.post(
        f"{NEWSLETTER}/suppressions/lift", {"csrf": desk.csrf, "email": "x@example.org", "scope": "all"}
    )
    assert r.status_code == 404
    assert "<h1>Not found</h1>" in r.text
    r = await desk.post(
        f"{NEWSLETTER}/suppressions/lift", {"csrf": desk.csrf, "email": "x@example.org", "scope": "b"}
    )
    assert r.status_code == 422
    assert "scope: must be site or all" in r.text
    assert await actions(desk, "campaign.test") == []


# -- suppressions -----------------------------------------------------------------------------------------


async def test_suppressions_are_searched_and_lifted_with_an_audit_record(desk: Desk) -> None:
    now = desk.api.clock()
    await member(desk.api, "gone@example.org")
    async with ctx_of(desk.api).db.write() as tx:
        await tx.suppressions.add("", "gone@example.org", "hard_bounce", "550 5.1.1 no such user", now)
        await tx.suppressions.mark_subscribers_bounced("gone@example.org")
        await tx.suppressions.add("a", "left_100%@example.org", "unsubscribed", "", now)
        await tx.suppressions.add("b", "only-b@example.org", "complaint", "", now)
    r = await desk.get(f"{NEWSLETTER}/suppressions")
    assert r.status_code == 200
    page = text_of(r.text)
    assert "gone@example.org Bounced (the address does not exist) Every site" in page
    assert "550 5.1.1 no such user" in page
    assert "left_100%@example.org Unsubscribed from everything Site a" in page
    assert "only-b@example.org" not in page  # another site's own
    found = text_of((await desk.get(f"{NEWSLETTER}/suppressions?q=GONE")).text)
    assert "gone@example.org" in found
    assert "left_100%" not in found
    assert "gone@" not in text_of((await desk.get(f"{NEWSLETTER}/suppressions?q=g_ne")).text)
    assert "left_100%" in text_of((await desk.get(f"{NEWSLETTER}/suppressions?q=_100%25")).text)
    assert "No suppressed address contains “%%”" in text_of(
        (await desk.get(f"{NEWSLETTER}/suppressions?q=%25%25")).text
    )

    r = await desk.post(
        f"{NEWSLETTER}/suppressions/lift", {"csrf": desk.csrf, "email": "gone@example.org", "scope": "all"}
    )
    assert r.status_code == 303
    after = await desk.get(r.headers["location"])
    assert "Lifted the suppression of gone@example.org." in after.text
    assert "gone@example.org Bounced" not in text_of(after.text)
    async with ctx_of(desk.api).db.read() as tx:
        assert not await tx.suppressions.is_suppressed("a", "gone@example.org")
    (entry,) = await actions(desk, "suppression.lift")
    assert (entry.actor, entry.target, entry.detail) == (
        "staff:1 owner@desk.example", "email:gone@example.org", {"removed": 1, "subscribers_reopened": 1},
    )  # fmt: skip


# -- the JSON API's draft edit ------------------------------------------------------------------------------


async def test_the_api_changes_a_draft_with_patch_and_refuses_once_it_is_sent(desk: Desk) -> None:
    publish = await key(desk.api, "a", "publish")
    moderate = await key(desk.api, "a", "moderate")
    campaigns = "/api/v1/admin/sites/a/campaigns"
    body = {"list": "daily", "subject": "One", "markdown": "x", "send_at": "2026-12-01T08:00:00Z"}
    r = await desk.api.client.post(campaigns, json=body, headers=publish)
    campaign = r.json()["id"]
    r = await desk.api.client.patch(f"{campaigns}/{campaign}", json={"subject": "Two"}, headers=publish)
    assert r.status_code == 200, r.text
    assert (r.json()["subject"], r.json()["list"], r.json()["send_at"]) == (
        "Two",
        "daily",
        "2026-12-01T08:00:00.000Z",
    )
    r = await desk.api.client.patch(
        f"{campaigns}/{campaign}", json={"send_at": None, "list": "weekly"}, headers=publish
    )
    assert (r.json()["send_at"], r.json()["list"]) == (None, "weekly")
    assert (
        await desk.api.client.patch(f"{campaigns}/{campaign}", json={"subject": "x"}, headers=moderate)
    ).status_code == 403
    bad = await desk.api.client.patch(f"{campaigns}/{campaign}", json={"list": "monthly"}, headers=publish)
    assert (bad.status_code, bad.json()["code"]) == (422, "unknown_list")
    assert (
        await desk.api.client.patch(f"{campaigns}/{campaign}", json={"status": "sent"}, headers=publish)
    ).status_code == 422
    await desk.api.client.post(f"{campaigns}/{campaign}/send", json={}, headers=publish)
    late = await desk.api.client.patch(f"{campaigns}/{campaign}", json={"subject": "Three"}, headers=publish)
    assert (late.status_code, late.json()["code"]) == (409, "conflict")
    assert (await desk.figures(campaign))["status"] == "sending"
