"""Issue 13, part 4: moderators told in time. Held and reported comments are mailed to the staff who
see their site (instantly, in an hourly digest, or not at all), and each mail's Approve / Reject /
Spam links show a page that changes nothing until a person presses its button, then act once, as
acting in the admin does. Against a real SMTP server where it matters; on both engines."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from email.message import EmailMessage
from html import unescape
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from kibitz.cli import main
from kibitz.models import CommentStatus
from kibitz.moderator_mail import DIGEST_EVERY, send_moderator_digests, set_preference
from kibitz.store.audit import AuditFilter
from kibitz.store.schema import jobs as jobs_table
from kibitz.worker import default_jobs
from tests.conftest import ORIGIN_A, Api, FakeClock, custom_api
from tests.mailserver import MailServer
from tests.server import write_config
from tests.test_admin_pages import field, sign_in
from tests.test_mail_flow import body
from tests.test_moderation import ctx_of, sites
from tests.test_subscriptions import BASE, FORM, SAME_ORIGIN, follow, form_post, name_page, rows

pytestmark = pytest.mark.anyio

MOD = "desk@news.example"
OTHER = "night@news.example"
OWNER = "editor@news.example"
READER = "reader@news.example"
TITLE = "Harbour works start Monday"
EVIL_TITLE = "Your account is locked: log in here"
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def desk(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    """Site "a" holds every comment and names /story "Harbour works start Monday"; MOD moderates it."""
    async with custom_api(tmp_path, database_url, clock, sites=sites(moderation="all")) as api:
        await name_page(api, "/story", TITLE, f"{ORIGIN_A}/2026/harbour")
        await ctx_of(api).staff.add(MOD, "moderator", ["a"], None, "test")
        yield api


async def hold(api: Api, text: str = "Held words here", **extra: Any) -> str:
    r = await api.post(text=text, title=EVIL_TITLE, author={"name": "Ann Author"}, **extra)
    assert r.status_code == 202, r.text
    comment_id: str = r.json()["comment"]["id"]
    return comment_id


def action(text: str, label: str) -> str:
    """The path of a mail's ``label`` link (Approve, Reject, Spam) in its text part."""
    text = text.replace("\r\n", "\n")
    found = re.search(rf"^{label}[^:\n]*: {re.escape(BASE)}(/moderate/[A-Za-z0-9_.\-]+)$", text, re.MULTILINE)
    assert found, f"no {label} link in:\n{text}"
    return found.group(1)


async def mails_to(api: Api, recipient: str) -> list[Any]:
    return [row for row in await rows(api, kind="moderation") if row.recipient == recipient]


async def status(api: Api, comment_id: str) -> CommentStatus:
    item = await ctx_of(api).moderation.item(int(comment_id))
    assert item is not None
    return item.comment.status


async def decisions(api: Api, comment_id: str) -> list[Any]:
    entries = await ctx_of(api).moderation.history(int(comment_id))
    return [e for e in entries if e.action.startswith("comment.")]


async def arrived(server: MailServer, recipient: str, count: int) -> list[EmailMessage]:
    """The mails to ``recipient`` once ``count`` of them arrived (a bounded wait on a condition)."""
    for _ in range(400):
        if len(server.to(recipient)) >= count:
            break
        await anyio.sleep(0.05)
    found = server.to(recipient)
    assert len(found) >= count, f"{len(found)} of {count} mails to {recipient}"
    return found


def words(page: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", page.split("<main", 1)[-1])).split())


def form_of(page: httpx.Response) -> bytes:
    """The body a press of the page's button sends: its form token."""
    found = re.search(r'name="form" value="([^"]+)"', page.text)
    assert found, page.text
    return f"form={found.group(1)}".encode()


# -- the whole story, through a real SMTP server ------------------------------------------------------


async def test_a_held_comment_is_mailed_and_its_approve_link_asks_then_approves_once(
    tmp_path: Path, database_url: str, clock: FakeClock, mail_server: MailServer
) -> None:
    settings = {"sites": sites(moderation="all"), "smtp": mail_server.smtp}
    async with custom_api(tmp_path, database_url, clock, **settings) as api:
        ctx = ctx_of(api)
        await name_page(api, "/story", TITLE, f"{ORIGIN_A}/2026/harbour")
        await ctx.staff.add(MOD, "moderator", ["a"], None, "test")
        await follow(api, READER)  # confirmed through its confirmation mail
        comment_id = await hold(api, "Fix the <b>lane</b> first")

        [mail] = await arrived(mail_server, MOD, 1)
        assert mail["Subject"] == f"Site a: a comment waits for moderation on “{TITLE}”"
        assert "List-Unsubscribe" not in mail
        text, html = body(mail), body(mail, "html")
        assert "Ann Author" in text
        assert "> Fix the <b>lane</b> first" in text  # quoted, as written
        assert "<b>lane</b>" not in html
        assert "Fix the &lt;b&gt;lane&lt;/b&gt; first" in html
        assert "Held because: every comment waits" in text
        assert f"{BASE}/admin/sites/a/queue?status=pending" in text
        assert EVIL_TITLE not in text + html + mail["Subject"]
        approve, reject, spam = (action(text, label) for label in ("Approve", "Reject", "Spam"))
        assert approve in html

        # A scanner fetches every link, as often as it likes: pages with a button, nothing changes.
        for path in (approve, reject, spam, approve):
            page = await api.client.get(path)
            assert page.status_code == 200, page.text
            assert page.headers["cache-control"] == "no-store"
            assert "script-src 'none'" in page.headers["content-security-policy"]
            assert '<form method="post"' in page.text
            assert "Fix the &lt;b&gt;lane&lt;/b&gt; first" in page.text
        assert "Approve this comment?" in words((await api.client.get(approve)).text)
        assert await status(api, comment_id) is CommentStatus.PENDING
        assert await decisions(api, comment_id) == []
        assert (await api.thread())["comments"] == []

        done = await form_post(api, approve)
        assert done.status_code == 200, done.text
        assert "Approved" in words(done.text)
        assert await status(api, comment_id) is CommentStatus.APPROVED
        assert [c["id"] for c in (await api.thread())["comments"]] == [comment_id]
        [entry] = await decisions(api, comment_id)
        member = next(m for m in await ctx.staff.listing() if m.email == MOD)
        assert (entry.action, entry.actor) == ("comment.approve", f"staff:{member.id} {MOD}")
        assert entry.detail["via"] == "mail"

        # The follower's Notify-of mail goes out, as for a comment posted now.
        _confirm, notification = await arrived(mail_server, READER, 2)
        assert "Fix the <b>lane</b> first" in body(notification)

        # Spent: the same link, or another of the same mail, answers "already done" and does nothing.
        again = await form_post(api, approve)
        assert again.status_code == 410
        assert "Already done" in words(again.text)
        for path in (reject, spam):
            assert (await api.client.get(path)).status_code == 410
            assert (await form_post(api, path)).status_code == 410
        assert await status(api, comment_id) is CommentStatus.APPROVED
        assert len(await decisions(api, comment_id)) == 1
        assert len(mail_server.to(MOD)) == 1


async def test_a_reported_comment_is_mailed_once_per_round_of_reports(
    tmp_path: Path, database_url: str, clock: FakeClock, mail_server: MailServer
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites(), smtp=mail_server.smtp) as api:
        ctx = ctx_of(api)
        await name_page(api, "/story", TITLE, f"{ORIGIN_A}/2026/harbour")
        await ctx.staff.add(MOD, "moderator", ["a"], None, "test")
        posted = await api.post(text="You are all wrong", author={"name": "Bob"})
        assert posted.status_code == 201
        comment_id, token = posted.json()["comment"]["id"], posted.json()["token"]

        async def report(reason: str) -> None:
            r = await api.client.post(
                f"/api/v1/comments/{comment_id}/flag", json={"reason": reason}, headers={"Origin": ORIGIN_A}
            )
            assert r.status_code == 202, r.text

        await report("Rude to <everyone>")
        [mail] = await arrived(mail_server, MOD, 1)
        assert mail["Subject"] == f"Site a: a comment was reported on “{TITLE}”"
        text = body(mail)
        assert "Reported: “Rude to <everyone>” (1 reader)" in text
        assert "Rude to &lt;everyone&gt;" in body(mail, "html")
        assert f"{BASE}/admin/sites/a/queue?status=flagged" in text
        await report("Off topic")  # the same round: no second mail
        assert len(await mails_to(api, MOD)) == 1

        keep = action(text, "Approve")
        assert "Keep this comment up?" in words((await api.client.get(keep)).text)
        assert (await form_post(api, keep)).status_code == 200
        assert await status(api, comment_id) is CommentStatus.APPROVED
        assert (await api.thread())["comments"][0]["id"] == comment_id

        await report("Still rude")  # a new round after the desk closed the reports: a new mail
        _first, second = await arrived(mail_server, MOD, 2)
        assert "“Still rude” (1 reader)" in body(second)
        reject = action(body(second), "Reject")

        # Its author deletes it: the link refuses, clearly, and changes nothing.
        deleted = await api.client.delete(
            f"/api/v1/comments/{comment_id}", headers={"Authorization": f"Bearer {token}", "Origin": ORIGIN_A}
        )
        assert deleted.status_code == 204, deleted.text
        for answer in (await api.client.get(reject), await form_post(api, reject)):
            assert answer.status_code == 410
            assert "Comment gone" in words(answer.text)
        assert [e.action for e in await decisions(api, comment_id)] == ["comment.approve"]


# -- who is told, and how ------------------------------------------------------------------------------


async def test_owners_see_every_site_and_moderators_only_their_own(desk: Api) -> None:
    ctx = ctx_of(desk)
    await ctx.staff.add(OWNER, "owner", [], None, "test")
    await ctx.staff.add(OTHER, "moderator", ["b"], None, "test")
    comment_id = await hold(desk)
    told = sorted(row.recipient for row in await rows(desk, kind="moderation"))
    assert told == sorted([MOD, OWNER])
    assert {row.dedupe_key for row in await rows(desk, kind="moderation")} == {f"mod:held:{comment_id}"}
    # A comment the spam filter files (a blocked word) needs nobody: no mail.
    await ctx.moderation.update_settings(ctx.moderation.site("a"), {"blocked_words": ["casino"]}, "test")
    r = await desk.post(text="Visit my casino", author={"name": "Spammer"})
    assert r.status_code == 202
    assert len(await rows(desk, kind="moderation")) == 2


async def test_the_digest_preference_sends_one_mail_with_what_still_waits(
    tmp_path: Path, database_url: str, clock: FakeClock, mail_server: MailServer
) -> None:
    settings = {"sites": sites(moderation="all"), "smtp": mail_server.smtp}
    async with custom_api(tmp_path, database_url, clock, **settings) as api:
        ctx = ctx_of(api)
        # The app's worker must not send the digest this test sends: the job is taken for its period
        # here, unless the worker took it first, and then the test waits for that (empty) run to end.
        # (A lease longer than the period would read to the worker as a clock that went back.)
        async with ctx.db.write() as tx:
            if await tx.jobs.try_lease("moderator-digest", ctx.clock(), DIGEST_EVERY):
                await tx.jobs.done("moderator-digest", ctx.clock())
        with anyio.fail_after(20):
            while True:
                async with ctx.db.read() as tx:
                    stmt = select(jobs_table.c.last_run).where(jobs_table.c.name == "moderator-digest")
                    if (await tx.conn.execute(stmt)).scalar() is not None:
                        break
                await anyio.sleep(0.02)
        await name_page(api, "/story", TITLE, f"{ORIGIN_A}/2026/harbour")
        for email in (MOD, OTHER):
            await ctx.staff.add(email, "moderator", ["a"], None, "test")
            await set_preference(ctx.db, ctx.clock, email, "digest", "test")
        first = await hold(api, "First held")
        second = await hold(api, "Second held")
        third = await hold(api, "Third held")
        assert await rows(api, kind="moderation") == []  # nothing at once
        await ctx.moderation.act(ctx.moderation.site("a"), int(second), "reject", "test")  # dealt with

        assert await send_moderator_digests(ctx.db, ctx.tokens, ctx.settings, ctx.clock) == 2
        [mail] = await arrived(mail_server, MOD, 1)
        await arrived(mail_server, OTHER, 1)
        assert mail["Subject"] == "Site a: 2 comments need a moderator"
        text = body(mail).replace("\r\n", "\n")
        assert "> First held" in text
        assert "> Third held" in text
        assert "Second held" not in text
        assert "this hourly digest" in text
        # Each comment has its own links, and they work from a digest as from a single mail.
        spam = re.findall(rf"^Spam: {re.escape(BASE)}(/moderate/\S+)$", text, re.MULTILINE)
        assert len(spam) == 2
        assert (await form_post(api, spam[1])).status_code == 200
        assert await status(api, third) is CommentStatus.SPAM
        assert await status(api, first) is CommentStatus.PENDING
        assert await send_moderator_digests(ctx.db, ctx.tokens, ctx.settings, ctx.clock) == 0  # once
        assert len(await rows(api, kind="moderation")) == 2

        jobs = {job.name: job.every for job in default_jobs(ctx)}
        assert jobs["moderator-digest"] == DIGEST_EVERY


async def test_off_chosen_on_the_account_page_sends_nothing(desk: Api) -> None:
    ctx = ctx_of(desk)
    await ctx.staff.add(OTHER, "moderator", ["a"], PASSWORD, "test")
    csrf = await sign_in(desk.client, OTHER)
    page = await desk.client.get("/admin/account")
    assert page.status_code == 200
    assert 'value="instant" checked' in page.text
    refused = await desk.client.post("/admin/account", data={"moderation_mail": "off"})
    assert refused.status_code == 403  # no CSRF token
    bad = await desk.client.post("/admin/account", data={"moderation_mail": "weekly", "csrf": csrf})
    assert bad.status_code == 422
    saved = await desk.client.post(
        "/admin/account", data={"moderation_mail": "off", "csrf": field(page.text, "csrf")}
    )
    assert saved.status_code == 303
    assert 'value="off" checked' in (await desk.client.get("/admin/account")).text
    [entry] = await ctx.moderation.audit(AuditFilter(action="staff.moderation_mail"), None, 10)
    assert entry.detail == {"from": "instant", "to": "off"}

    await hold(desk)
    assert [row.recipient for row in await rows(desk, kind="moderation")] == [MOD]


def test_the_command_line_shows_and_sets_a_members_preference(tmp_path: Path) -> None:
    config = write_config(tmp_path / "kibitz.toml", tmp_path, "sqlite:///kibitz.db")

    def kibitz(*args: str) -> str:
        result = CliRunner().invoke(main, [*args, "--config", str(config)])
        assert result.exit_code == 0, result.output
        return result.stdout

    kibitz("migrate")
    kibitz("admin", "add", MOD, "--role", "moderator", "--site", "a")
    assert kibitz("admin", "mail", MOD) == f"{MOD}: instant\n"
    assert kibitz("admin", "mail", MOD, "digest") == f"{MOD}: digest\n"
    assert kibitz("admin", "mail", MOD) == f"{MOD}: digest\n"


# -- the links refuse what they must, and change nothing then ------------------------------------------


async def links_of(api: Api, recipient: str = MOD) -> tuple[str, str, str]:
    [mail] = (await mails_to(api, recipient))[-1:]
    approve, reject, spam = (action(mail.text_body, label) for label in ("Approve", "Reject", "Spam"))
    return approve, reject, spam


async def test_forged_foreign_and_expired_links_do_nothing(desk: Api, clock: FakeClock) -> None:
    comment_id = await hold(desk)
    approve, _, _ = await links_of(desk)
    token = approve.rsplit("/", 1)[1]
    forged = "/moderate/" + token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    subject = token.rsplit(".", 2)[0]  # what was signed, without the expiry
    foreign = "/moderate/" + ctx_of(desk).tokens.issue("confirm", subject, now=clock(), ttl=DIGEST_EVERY)
    for path in (forged, foreign, "/moderate/nonsense"):
        assert (await desk.client.get(path)).status_code == 404
        assert (await desk.client.post(path, content=b"form=x", headers=SAME_ORIGIN)).status_code == 404
    clock.advance(days=7, minutes=1)
    for answer in (await desk.client.get(approve), await form_post(desk, approve)):
        assert answer.status_code == 410
        assert "Link expired" in words(answer.text)
    assert await status(desk, comment_id) is CommentStatus.PENDING
    assert await decisions(desk, comment_id) == []


async def test_posts_from_another_site_or_without_the_pages_token_do_nothing(desk: Api) -> None:
    comment_id = await hold(desk)
    approve, reject, _ = await links_of(desk)
    token, other = form_of(await desk.client.get(approve)), form_of(await desk.client.get(reject))
    attempts: list[tuple[bytes, dict[str, str]]] = [
        (token, {**FORM, "Sec-Fetch-Site": "cross-site"}),
        (token, {**FORM, "Origin": "https://evil.example"}),
        (b"", SAME_ORIGIN),
        (other, SAME_ORIGIN),  # another link's page
    ]
    for content, headers in attempts:
        answer = await desk.client.post(approve, content=content, headers=headers)
        assert answer.status_code == 403, answer.text
        assert "Not sent from this site" in words(answer.text)
    assert await status(desk, comment_id) is CommentStatus.PENDING
    assert await decisions(desk, comment_id) == []
    assert (await form_post(desk, approve)).status_code == 200  # the link still works, once


async def test_a_removed_moderator_or_one_without_the_site_is_refused(desk: Api) -> None:
    ctx = ctx_of(desk)
    await ctx.staff.add(OTHER, "moderator", ["a"], None, "test")
    comment_id = await hold(desk)
    mod_approve, _, _ = await links_of(desk, MOD)
    other_spam = (await links_of(desk, OTHER))[2]
    shown = await desk.client.get(mod_approve)  # a page opened before the account went
    await ctx.staff.remove(MOD, "test")
    await ctx.staff.set_sites(OTHER, ["b"], "test")
    for path in (mod_approve, other_spam):
        for answer in (await desk.client.get(path), await form_post(desk, path)):
            assert answer.status_code == 403, answer.text
            assert "No longer allowed" in words(answer.text)
    late = await desk.client.post(mod_approve, content=form_of(shown), headers=SAME_ORIGIN)
    assert late.status_code == 403
    assert await status(desk, comment_id) is CommentStatus.PENDING
    assert await decisions(desk, comment_id) == []


async def test_a_comment_dealt_with_in_the_admin_meanwhile_is_already_done(desk: Api) -> None:
    ctx = ctx_of(desk)
    comment_id = await hold(desk)
    _, reject, _ = await links_of(desk)
    await ctx.moderation.act(ctx.moderation.site("a"), int(comment_id), "approve", f"staff:99 {OWNER}")
    for answer in (await desk.client.get(reject), await form_post(desk, reject)):
        assert answer.status_code == 410
        text = words(answer.text)
        assert "Already done" in text
        assert f"approved by {OWNER}" in text
    assert await status(desk, comment_id) is CommentStatus.APPROVED


async def test_two_presses_at_once_act_once(desk: Api) -> None:
    comment_id = await hold(desk)
    _, reject, spam = await links_of(desk)
    answers: list[httpx.Response] = []

    async def press(path: str) -> None:
        answers.append(await form_post(desk, path))

    async with anyio.create_task_group() as group:
        group.start_soon(press, reject)
        group.start_soon(press, spam)
    assert sorted(a.status_code for a in answers) == [200, 410]
    assert len(await decisions(desk, comment_id)) == 1
