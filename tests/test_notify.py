"""Notifications and digests enqueued in the transaction of the comment that caused them
(issue 4 items 1-3, QUALITY T41-T44), on both engines. Mail is asserted as enqueued outbox rows."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from fastapi.routing import APIRoute

from kibitz.digest import send_digests
from kibitz.store.schema import digest_items, outbox, subscriptions
from kibitz.subscriptions import one_line
from tests.conftest import ORIGIN_A, Api, FakeClock
from tests.test_subscriptions import (
    BASE,
    confirm_address,
    follow,
    link,
    name_page,
    one_click,
    rows,
    subscribe,
)
from tests.test_webhooks import fake_resolver, key, log, register, settled, staff_cookie, until

pytestmark = pytest.mark.anyio

STORY = f"{ORIGIN_A}/story"


@pytest.fixture
async def api(api: Api) -> Api:
    """The conftest's app, where the publisher has named /story (mail uses only the publisher's
    title and URL of a page: tests/test_review_consent.py)."""
    await name_page(api, "/story", "A story", STORY)
    return api


def person(name: str) -> dict[str, str]:
    return {"name": name, "email": f"{name.split()[0].lower()}@news.example"}


async def post(api: Api, name: str, text: str = "Hello", **extra: Any) -> str:
    r = await api.post(text=text, author=person(name), title="A story", url=STORY, **extra)
    assert r.status_code == 201, r.text
    comment_id: str = r.json()["comment"]["id"]
    return comment_id


async def notifications(api: Api) -> list[Any]:
    return [m for m in await rows(api) if m.kind not in ("confirm", "welcome")]


async def test_reply_flow_mails_the_confirmed_author_once_and_never_the_replier(api: Api) -> None:
    ann = await post(api, "Ann", "Mine", notify="replies")
    [confirm] = await rows(api)
    assert (confirm.kind, confirm.recipient) == ("confirm", "ann@news.example")

    # Before Ann confirms, a reply to her is dropped, not saved for later.
    early = await post(api, "Bob", "Too early", parent=ann)
    assert await notifications(api) == []
    await confirm_address(api, "ann@news.example")
    assert await notifications(api) == []

    bob = await post(api, "Bob", "A *reply*", parent=ann)
    [mail] = await notifications(api)
    assert mail.kind == "reply"
    assert mail.recipient == "ann@news.example"
    assert mail.dedupe_key == f"comment:{bob}"
    assert mail.comment_id == int(bob)
    assert mail.subscription_id is not None
    assert mail.subscriber_id == confirm.subscriber_id
    assert mail.list_unsubscribe.startswith(f"{BASE}/unsubscribe/")
    assert mail.subject == "Bob replied to your comment on A story"
    assert "A reply" in mail.text_body
    assert f"{STORY}#comment-{bob}" in mail.text_body
    assert link(mail.text_body, "manage")
    assert "Too early" not in mail.text_body
    assert f"#comment-{early}" not in mail.text_body

    await post(api, "Ann", "Answering myself", parent=ann)  # her own reply: no mail to her
    await post(api, "Ann", "Answering Bob", parent=bob)  # Bob follows nothing
    await post(api, "Cid", "A new top-level comment")  # not a reply to Ann
    assert len(await notifications(api)) == 1


async def test_one_click_on_a_notification_ends_that_subscription_only(api: Api) -> None:
    ann = await post(api, "Ann", "Mine", notify="replies")
    await subscribe(api, "ann@news.example", topic="newsletter", page=None)
    await confirm_address(api, "ann@news.example")
    await post(api, "Bob", "Reply", parent=ann)
    [mail] = await notifications(api)
    r = await one_click(api, link(mail.list_unsubscribe, "unsubscribe"))
    assert r.status_code == 200
    assert [(s.topic, s.active) for s in await rows(api, subscriptions)] == [
        ("replies", False),
        ("newsletter", True),
    ]
    await post(api, "Bob", "Another reply", parent=ann)
    assert len(await notifications(api)) == 1


async def test_thread_followers_get_each_new_comment_except_their_own(api: Api) -> None:
    await post(api, "Ann", "First")
    await follow(api, "cid@news.example")
    await follow(api, "dee@news.example")
    bob = await post(api, "Bob", "Second")
    mails = await notifications(api)
    assert sorted((m.kind, m.recipient) for m in mails) == [
        ("thread", "cid@news.example"),
        ("thread", "dee@news.example"),
    ]
    assert {m.dedupe_key for m in mails} == {f"comment:{bob}"}
    assert mails[0].subject == "New comment by Bob on A story"

    await post(api, "Cid", "My own")  # Cid is not told about Cid's comment
    assert sorted(m.recipient for m in await notifications(api))[-2:] == ["dee@news.example"] * 2
    assert len(await notifications(api)) == 3
    await post(api, "Eve", "Elsewhere", page="/other")  # another thread
    assert len(await notifications(api)) == 3


async def test_a_reply_that_is_also_a_thread_comment_mails_once(api: Api) -> None:
    ann = await post(api, "Ann", "Mine", notify="replies")
    await subscribe(api, "ann@news.example", page="/story")  # and the whole thread
    await confirm_address(api, "ann@news.example")
    await post(api, "Bob", "Reply", parent=ann)
    assert [m.kind for m in await notifications(api)] == ["reply"]


async def test_t41_unsubscribed_before_a_comment_enqueues_nothing(api: Api) -> None:
    await follow(api, "cid@news.example")
    [confirm] = await rows(api, kind="confirm")
    r = await one_click(api, link(confirm.list_unsubscribe, "unsubscribe"))
    assert r.status_code == 200
    await post(api, "Bob", "Nobody hears this")
    assert await notifications(api) == []


# Routes whose path says "send" that send no notification: resending a webhook delivery hands the same
# signed body to the site's own receiver again (tests/test_webhooks.py). Staff only, and no mail.
WEBHOOK_RESEND = {
    ("POST", "/api/v1/admin/sites/{site}/webhooks/{id}/deliveries/{delivery}/resend"),
    ("POST", "/admin/sites/{site}/webhooks/{id}/deliveries/{delivery}/resend"),
}
# Sending a newsletter campaign mails a list, once per address ever (tests/test_campaigns.py): staff
# with the `publish` scope only, and never a comment notification.
CAMPAIGN_SEND = {
    ("POST", "/api/v1/admin/sites/{site}/campaigns/{id}/send"),
    ("POST", "/admin/sites/{site}/newsletter/campaigns/{id}/send"),
}
# A story update mails the story's followers (tests/test_story_updates.py): publish keys and owners.
STORY_UPDATE = {
    ("POST", "/api/v1/admin/sites/{site}/updates"),
    ("POST", "/admin/sites/{site}/stories/updates"),
}
# A reader's sign-in link (web/auth.py): mailed only to the address that asks, at most 3 an hour per
# address and within the client's sign_ins limit, never a notification (tests/test_accounts.py);
# the link's own page signs in and mails nothing.
SIGN_IN_MAIL = {
    ("POST", "/api/v1/sites/{site}/auth/email"),
    ("POST", "/auth/email/{token}"),
}


async def test_t42_no_public_route_retriggers_notifications(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = {
        (method, route.path)
        for route in api.app.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
        if method not in ("GET", "HEAD")
    }
    # A new route that looks like it sends something must be classified here, not slip through.
    sending = {r for r in routes if re.search(r"notif|resend|send|mail|trigger|updates$", r[1])}
    assert sending == WEBHOOK_RESEND | CAMPAIGN_SEND | STORY_UPDATE | SIGN_IN_MAIL
    for _, path in WEBHOOK_RESEND | CAMPAIGN_SEND | STORY_UPDATE:  # refused without staff credentials
        target = path.format(site="a", id="1", delivery="1")
        if path.startswith("/api/"):
            # A well-formed body: a malformed one is answered 422 before credentials are looked at.
            well_formed = {"page": "/story", "kind": "update", "title": "T", "text": "x"}
            r = await api.client.post(target, json=well_formed if path.endswith("updates") else {})
            assert r.status_code == 401, (path, r.status_code)
        else:  # the desk sends the browser to sign in first
            r = await api.client.post(target, data={"csrf": "x"})
            assert (r.status_code, r.headers["location"].split("?")[0]) == (303, "/admin/login")

    # A webhook whose deliveries fail (its name turns to loopback after registration: refused, nothing
    # leaves the machine), so each one can be resent below.
    answers = {"hooks.kibitz.test": ["93.184.216.34"]}
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_resolver(answers))
    keyed = await key(api)
    hook, _ = await register(api, "https://hooks.kibitz.test/in", keyed, ["comment.created"])
    answers["hooks.kibitz.test"] = ["127.0.0.1"]

    await follow(api, "cid@news.example")
    r = await api.post(
        text="Hi", author=person("Bob"), headers={"Idempotency-Key": "k1", "X-Kibitz-Reader": ""}
    )
    assert r.status_code == 201
    bob, token = r.json()["comment"]["id"], r.json()["token"]
    assert len(await notifications(api)) == 1
    headers = {"Origin": ORIGIN_A, "Authorization": f"Bearer {token}"}
    await api.client.patch(f"/api/v1/comments/{bob}", json={"text": "Edited"}, headers=headers)
    await api.vote(bob, 1)
    await api.client.post(f"/api/v1/comments/{bob}/flag", json={"reason": "x"}, headers={"Origin": ORIGIN_A})
    await subscribe(api, "cid@news.example")
    replay = await api.post(text="Hi", author=person("Bob"), headers={"Idempotency-Key": "k1"})
    assert replay.status_code == 201
    assert replay.json()["comment"]["id"] == bob
    assert len(await notifications(api)) == 1

    # Resending the comment's webhook delivery, from the API and from the desk, mails nobody again.
    owner, csrf = await staff_cookie(api, "owner@example.org", "owner", [])
    mails = await rows(api)
    await until(settled(api, hook, keyed, 1), "the refused delivery")
    [delivery] = await log(api, hook, keyed)
    resend = f"/api/v1/admin/sites/a/webhooks/{hook}/deliveries/{delivery['id']}/resend"
    again = await api.client.post(resend, json={}, headers=keyed)
    assert (again.status_code, again.json()["delivery"]["status"]) == (202, "pending")
    await until(settled(api, hook, keyed, 1), "the delivery resent from the API")
    form = {**owner, "Content-Type": "application/x-www-form-urlencoded"}
    desk = await api.client.post(resend.removeprefix("/api/v1"), content=f"csrf={csrf}", headers=form)
    assert desk.status_code == 303
    await until(settled(api, hook, keyed, 1), "the delivery resent from the desk")
    [last] = await log(api, hook, keyed)
    assert (last["id"], last["status"], last["attempts"]) == (delivery["id"], "failed", 1)
    audit = await api.client.get("/api/v1/admin/audit", params={"target": f"webhook:{hook}"}, headers=owner)
    assert [e["action"] for e in audit.json()["items"]][:2] == ["webhook.resend"] * 2
    assert await rows(api) == mails


async def test_t43_header_tricks_are_refused_or_flattened(api: Api) -> None:
    r = await api.post(text="Hi", author={"name": "Ann\r\nBcc: x@evil.example", "email": "a@news.example"})
    assert r.status_code == 422
    ann = await post(api, "Ann", "Mine", notify="replies")
    await confirm_address(api, "ann@news.example")
    r = await api.post(
        page="/tricky",
        title="Story\r\nBcc: x@evil.example\nSubject: =?utf-8?q?spoof?=",
        text="Hi",
        author=person("Bob"),
    )
    assert r.status_code in (201, 422)
    await post(api, "Bob", "Reply", parent=ann)
    for mail in await rows(api):
        assert mail.subject == one_line(mail.subject)
    assert one_line("a\r\nBcc: b\n c") == "a Bcc: b c"
    assert len(one_line("x" * 1000)) == 250


async def test_t44_notification_bodies_show_escaped_text_without_images_or_user_links(api: Api) -> None:
    ann = await post(api, "Ann", "Mine", notify="replies")
    await confirm_address(api, "ann@news.example")
    nasty = (
        "See [my site](https://evil.example/x) and https://evil.example/plain "
        "![pixel](https://track.example/p.gif) <img src=https://track.example/i.gif> "
        "<style>body{display:none}</style> <a href='https://evil.example/a'>x</a> <b>bold</b> & more"
    )
    # Five links: held for a moderator (hold_links is 2), and mailed about once approved.
    r = await api.post(text=nasty, author=person("Bob <script>"), title="A story", url=STORY, parent=ann)
    assert r.status_code == 202, r.text
    bob = r.json()["comment"]["id"]
    assert await notifications(api) == []
    await api.app.state.ctx.moderation.set_hidden(int(bob), False)  # approve
    [mail] = await notifications(api)
    html = mail.html_body
    assert "<img" not in html
    assert "<style" not in html
    assert "<script" not in html
    assert "&lt;img src=https://track.example/i.gif&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in html
    assert "Bob &lt;script&gt;" in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs[0] == f"{STORY}#comment-{bob}"
    assert all(h.startswith((f"{BASE}/unsubscribe/", f"{BASE}/manage/")) for h in hrefs[1:]), hrefs
    assert len(hrefs) == 3
    assert "src=" not in html.replace("&lt;img src=", "")
    # The plain-text part carries the text as text.
    assert "<b>bold</b> & more" in mail.text_body
    assert "Bob <script> replied" in mail.subject


async def test_daily_digest_collects_comments_and_sends_one_mail_per_subscription(
    api: Api, clock: FakeClock
) -> None:
    await post(api, "Ann", "First")
    await follow(api, "cid@news.example", digest="daily")
    await follow(api, "dee@news.example", digest="daily")
    await post(api, "Bob", "Second")
    await post(api, "Eve", "Third <b>")
    assert await notifications(api) == []
    assert len(await rows_of_digest(api)) == 4

    ctx = api.app.state.ctx
    assert await send_digests(ctx.db, ctx.tokens, ctx.settings, clock) == 2
    mails = await notifications(api)
    assert sorted((m.kind, m.recipient) for m in mails) == [
        ("digest", "cid@news.example"),
        ("digest", "dee@news.example"),
    ]
    digest = mails[0]
    assert "Second" in digest.text_body
    assert "Third <b>" in digest.text_body
    assert "Third &lt;b&gt;" in digest.html_body
    assert "<img" not in digest.html_body
    assert digest.list_unsubscribe.startswith(f"{BASE}/unsubscribe/")
    assert digest.subject == "Site a: 2 new comments on A story"
    assert await rows_of_digest(api) == []

    assert await send_digests(ctx.db, ctx.tokens, ctx.settings, clock) == 0
    assert len(await notifications(api)) == 2

    # Cid leaves through the digest's own link; Dee still gets the next one.
    assert (await one_click(api, link(digest.list_unsubscribe, "unsubscribe"))).status_code == 200
    await post(api, "Bob", "Fourth")
    clock.advance(days=1)
    assert await send_digests(ctx.db, ctx.tokens, ctx.settings, clock) == 1
    assert [m.recipient for m in await notifications(api)][-1] == "dee@news.example"
    assert await rows_of_digest(api) == []


async def rows_of_digest(api: Api) -> list[Any]:
    async with api.app.state.ctx.db.read() as tx:
        return list((await tx.conn.execute(digest_items.select())).all())


async def test_unconfirmed_followers_get_nothing_and_nothing_waits(api: Api, clock: FakeClock) -> None:
    await subscribe(api, "cid@news.example", digest="daily")
    await subscribe(api, "dee@news.example")
    await post(api, "Bob", "Second")
    assert await rows_of_digest(api) == []
    assert [m.kind for m in await rows(api)] == ["confirm", "confirm"]
    await confirm_address(api, "cid@news.example")
    ctx = api.app.state.ctx
    assert await send_digests(ctx.db, ctx.tokens, ctx.settings, clock) == 0
    assert len(await rows(api, outbox)) == 2
