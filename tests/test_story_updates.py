"""Story updates (issue 15 part 5, DESIGN.md §3b): POST …/updates mails the story's followers once each
over a real SMTP server (daily-digest followers in their digest, replies-only followers not at all),
enters the read answer and the Atom feed, refuses bad input with problem+json and changes nothing."""

from __future__ import annotations

import email
import email.policy
import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import anyio
import httpx
import pytest

from kibitz.digest import send_digests
from kibitz.store.schema import audit_log, outbox, story_updates, subscriptions
from tests.conftest import ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api
from tests.mailserver import MailServer
from tests.server import run_kibitz, serve
from tests.test_live import assert_public, stream
from tests.test_mail_flow import body
from tests.test_subscriptions import confirm_address, name_page, one_click, rows, subscribe
from tests.test_webhooks import ctx_of, key, staff_cookie

pytestmark = pytest.mark.anyio

UPDATES = "/api/v1/admin/sites/a/updates"
STORY = f"{ORIGIN_A}/story"
ATOM = "{http://www.w3.org/2005/Atom}"
CORRECTION = {
    "page": "/story",
    "kind": "correction",
    "title": "The vote was on 3 December",
    "text": "An earlier version said **4 December**. <script>alert(1)</script>",
}


async def post_update(api: Api, headers: dict[str, str], status: int = 201, **body: Any) -> dict[str, Any]:
    r = await api.client.post(UPDATES, json={**CORRECTION, **body}, headers=headers)
    assert r.status_code == status, r.text
    data: dict[str, Any] = r.json()
    return data


async def follower(api: Api, address: str, topic: str = "thread", digest: str = "instant") -> None:
    assert (await subscribe(api, address, topic=topic, digest=digest)).status_code == 202
    await confirm_address(api, address)


async def commenter(api: Api, name: str, notify: str) -> None:
    address = f"{name.lower()}@example.org"
    r = await api.post(text=f"{name} was here", author={"name": name, "email": address}, notify=notify)
    assert r.status_code == 201, r.text
    await confirm_address(api, address)


def update_mails(server: MailServer) -> list[EmailMessage]:
    return [m for m in server.messages if str(m["Subject"]).startswith(("Correction", "Update", "Follow-up"))]


async def until_mails(server: MailServer, count: int) -> list[EmailMessage]:
    """Wait (bounded) until ``count`` update mails have arrived; then a moment for any stray one."""
    with anyio.fail_after(10):
        while len(update_mails(server)) < count:  # noqa: ASYNC110 - the SMTP server has no event
            await anyio.sleep(0.02)
    await anyio.sleep(0.3)  # anything more would have come by now
    return update_mails(server)


async def test_an_update_mails_each_follower_once_and_digest_readers_in_their_digest(
    tmp_path: Path, database_url: str, clock: FakeClock, mail_server: MailServer
) -> None:
    async with custom_api(tmp_path, database_url, clock, smtp=mail_server.smtp) as api:
        await name_page(api, "/story", "A story", STORY)
        await follower(api, "ann@example.org")  # all comments
        await follower(api, "bob@example.org", topic="updates")  # the story's updates only
        await follower(api, "dee@example.org", digest="daily")
        await commenter(api, "Cid", "replies")  # replies to Cid only: no update mail
        await commenter(api, "Eve", "updates")  # a commenter who asked for updates
        await follower(api, "fay@example.org", topic="updates")
        async with ctx_of(api).db.write() as tx:  # Fay follows the story twice: one mail still
            fay = await tx.subscribers.get_or_create("a", "fay@example.org", clock())
            story = await tx.threads.get("a", "/story")
            assert story is not None
            await tx.subscribers.subscribe(fay.id, "thread", story.id, "instant", clock(), pending=False)
        publish = await key(api, "a", "publish")

        made = await post_update(api, publish)
        assert made["notified"] == 5  # Ann, Bob, Eve, Fay at once; Dee's digest
        update = made["update"]
        assert (update["kind"], update["title"], update["url"]) == ("correction", CORRECTION["title"], None)
        assert "<strong>4 December</strong>" in update["html"]
        assert "<script" not in update["html"]

        mails = await until_mails(mail_server, 4)
        assert sorted(str(m["To"]) for m in mails) == [
            "ann@example.org", "bob@example.org", "eve@example.org", "fay@example.org",
        ]  # fmt: skip
        for message in mails:
            assert message["Subject"] == "Correction: A story — The vote was on 3 December"
            assert message["Auto-Submitted"] == "auto-generated"
            assert message["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/unsubscribe/")
            assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            again = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
            assert again["Message-ID"] == message["Message-ID"]
            text = body(message)
            assert "An earlier version said 4 December." in text
            assert f"Read the story: {STORY}" in text
            html = body(message, "html")
            assert "<script" not in html
            assert "&lt;script&gt;" in html
        bob = next(m for m in mails if m["To"] == "bob@example.org")
        assert "because you follow updates to “A story”" in body(bob)

        # A retry of the same request: the same update, nobody mailed twice.
        retried = await post_update(api, publish, status=200)
        assert (retried["update"]["id"], retried["notified"]) == (update["id"], 0)
        assert len(await rows(api, story_updates)) == 1
        assert len(await rows(api, outbox, kind="update")) == 4

        # Dee's daily digest carries it (and her digest is not sent twice).
        ctx = ctx_of(api)
        assert await send_digests(ctx.db, ctx.tokens, ctx.settings, clock) == 1
        assert await send_digests(ctx.db, ctx.tokens, ctx.settings, clock) == 0

        def digests() -> list[EmailMessage]:
            return [
                m for m in mail_server.messages if m["To"] == "dee@example.org" and "Site a:" in m["Subject"]
            ]

        with anyio.fail_after(10):
            while not digests():  # noqa: ASYNC110 - the SMTP server has no event
                await anyio.sleep(0.02)
        [digest] = digests()
        # Dee also follows the comments: Cid's and Eve's came after she followed.
        subject = " ".join(str(digest["Subject"]).split())  # a long subject comes folded
        assert subject == "Site a: Correction: The vote was on 3 December and 2 new comments on A story"
        assert "Correction to “A story”: The vote was on 3 December" in body(digest)
        assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

        # Ann leaves with the mail's one-click link; the next update reaches the others only.
        ann = next(m for m in mails if m["To"] == "ann@example.org")
        assert (await one_click(api, urlsplit(ann["List-Unsubscribe"].strip("<>")).path)).status_code == 200
        follow_up = await post_update(
            api, publish, kind="follow-up", title="The council answers", text="Here."
        )
        assert follow_up["notified"] == 4
        later = await until_mails(mail_server, 7)
        assert sorted(str(m["To"]) for m in later[4:]) == [
            "bob@example.org",
            "eve@example.org",
            "fay@example.org",
        ]
        assert later[4]["Subject"] == "Follow-up: A story — The council answers"

        audited = [r for r in await rows(api, audit_log) if r.action == "story.update"]
        [first, second] = [(r.actor, r.target, json.loads(r.detail)) for r in audited]
        assert first[0].startswith("key:")
        assert first[1] == "thread:/story"
        assert (first[2]["kind"], first[2]["title"], first[2]["notified"]) == (
            "correction",
            CORRECTION["title"],
            5,
        )
        assert (second[2]["kind"], second[2]["notified"]) == ("follow-up", 4)


async def test_the_read_answer_the_feed_and_a_fresh_story_carry_the_update(api: Api) -> None:
    assert (await api.thread())["updates"] == []  # additive: an empty list before any update
    publish = await key(api, "a", "publish")
    made = (await post_update(api, publish, url=f"{ORIGIN_A}/story-corrections"))["update"]
    assert made["url"] == f"{ORIGIN_A}/story-corrections"

    read = await api.thread()
    assert read["updates"] == [made]
    assert read["thread"]["count"] == 0  # a story nobody commented on yet has updates all the same
    later = (await post_update(api, publish, kind="update", title="More", text="More news"))["update"]
    assert [u["id"] for u in (await api.thread())["updates"]] == [later["id"], made["id"]]

    r = await api.post(text="A comment", author={"name": "Ann"})
    assert r.status_code == 201
    feed = await api.client.get("/api/v1/sites/a/feed.atom", params={"page": "/story"})
    assert feed.status_code == 200
    root = ET.fromstring(feed.content)  # noqa: S314 - our own output
    entries = root.findall(f"{ATOM}entry")
    titles = [e.findtext(f"{ATOM}title") for e in entries]
    assert "Correction: The vote was on 3 December" in titles
    assert "Update: More" in titles
    correction = entries[titles.index("Correction: The vote was on 3 December")]
    assert correction.find(f"{ATOM}category").get("term") == "correction"  # type: ignore[union-attr]
    assert correction.find(f"{ATOM}link").get("href") == f"{ORIGIN_A}/story-corrections"  # type: ignore[union-attr]
    assert correction.findtext(f"{ATOM}author/{ATOM}name") == "Site a"
    assert "<script" not in (correction.findtext(f"{ATOM}content") or "")
    # Another story's feed and read have none of it.
    other = await api.client.get("/api/v1/sites/a/feed.atom", params={"page": "/other"})
    assert b"The vote was" not in other.content
    assert (await api.thread("/other"))["updates"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "retraction"}, "kind"),
        ({"title": ""}, "title"),
        ({"title": "Line one\r\nBcc: x@example.org"}, "title"),
        ({"title": "x" * 301}, "title"),
        ({"text": ""}, "text"),
        ({"text": "   \n  "}, "text"),
        ({"text": "a\u0000b"}, "text"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": f"{ORIGIN_B}/elsewhere"}, "url"),
        ({"page": ""}, "page"),
        ({"is_admin": True}, "is_admin"),
    ],
)
async def test_bad_input_is_a_problem_and_changes_nothing(
    api: Api, change: dict[str, Any], field: str
) -> None:
    await follower(api, "ann@example.org")
    publish = await key(api, "a", "publish")
    before = len(await rows(api, outbox))
    r = await api.client.post(UPDATES, json={**CORRECTION, **change}, headers=publish)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "invalid_input"
    assert field in r.text
    assert await rows(api, story_updates) == []
    assert len(await rows(api, outbox)) == before
    assert (await api.thread())["updates"] == []


async def test_only_a_publish_key_of_the_site_or_an_owner_may_post_updates(api: Api) -> None:
    async def refused(headers: dict[str, str], status: int, code: str) -> None:
        r = await api.client.post(UPDATES, json=CORRECTION, headers=headers)
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
        assert r.headers["content-type"] == "application/problem+json"

    await refused({}, 401, "unauthorized")
    await refused({"Authorization": "Bearer kbz_forged"}, 401, "unauthorized")
    await refused(await key(api, "a", "moderate"), 403, "forbidden")
    await refused(await key(api, "b", "publish"), 403, "forbidden")
    moderator, csrf = await staff_cookie(api, "mod@example.org", "moderator", ["a"])
    await refused({**moderator, "X-CSRF-Token": csrf}, 403, "forbidden")
    owner, owner_csrf = await staff_cookie(api, "own@example.org", "owner", [])
    await refused(owner, 403, "csrf_failed")  # a session's write needs its CSRF token
    assert await rows(api, story_updates) == []
    made = await post_update(api, {**owner, "X-CSRF-Token": owner_csrf})
    listed = await api.client.get(UPDATES, params={"page": "/story"}, headers=owner)
    assert listed.json() == {"items": [made["update"]]}
    assert listed.headers["cache-control"] == "no-store"


async def test_notify_updates_on_a_post_asks_for_consent_first_and_then_brings_updates_only(api: Api) -> None:
    await name_page(api, "/story", "A story", STORY)
    r = await api.post(
        text="Keep me posted", author={"name": "Eve", "email": "eve@example.org"}, notify="updates"
    )
    assert r.status_code == 201
    [confirm] = await rows(api, outbox, kind="confirm")
    assert "updates to “A story”" in confirm.text_body
    [pending] = await rows(api, subscriptions)
    assert (pending.topic, pending.pending) == ("updates", True)
    publish = await key(api, "a", "publish")
    assert (await post_update(api, publish))["notified"] == 0  # not confirmed: nobody is mailed

    await confirm_address(api, "eve@example.org")
    assert (await post_update(api, publish, title="A second correction"))["notified"] == 1
    [mail] = await rows(api, outbox, kind="update")
    assert mail.recipient == "eve@example.org"
    assert mail.dedupe_key.startswith("update:")
    # A new comment does not mail someone who asked for the story's updates only.
    assert (await api.post(text="Another comment", author={"name": "Bo"})).status_code == 201
    assert [m.kind for m in await rows(api, outbox) if m.recipient == "eve@example.org"] == [
        "confirm",
        "update",
    ]


async def test_subscribing_to_updates_through_the_subscriptions_route(api: Api) -> None:
    r = await subscribe(api, "bob@example.org", topic="updates")
    assert r.status_code == 202
    assert r.json() == {"status": "check your inbox"}
    r = await subscribe(api, "bob@example.org", topic="updates", page=None)
    assert (r.status_code, r.json()["code"]) == (422, "invalid_input")


async def test_the_admin_story_page_posts_an_update_with_its_csrf_token_and_lists_it(api: Api) -> None:
    await name_page(api, "/story", "A story", STORY)
    await follower(api, "ann@example.org")
    owner, csrf = await staff_cookie(api, "own@example.org", "owner", [])
    desk, desk_csrf = await staff_cookie(api, "desk@example.org", "moderator", ["a"])
    story = "/admin/sites/a/stories?page=%2Fstory"
    shown = await api.client.get(story, headers=owner)
    assert shown.status_code == 200
    assert 'action="/admin/sites/a/stories/updates"' in shown.text
    assert "No updates yet." in shown.text
    assert 'action="/admin/sites/a/stories/updates"' not in (await api.client.get(story, headers=desk)).text

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    fields = "page=%2Fstory&kind=update&title=Polls+close+at+8&text=Not+*7*.&url="
    path = "/admin/sites/a/stories/updates"
    without = await api.client.post(path, content=fields, headers={**owner, **form})
    assert without.status_code == 403
    foreign = await api.client.post(path, content=f"csrf={desk_csrf}&{fields}", headers={**owner, **form})
    assert foreign.status_code == 403
    by_desk = await api.client.post(path, content=f"csrf={desk_csrf}&{fields}", headers={**desk, **form})
    assert by_desk.status_code == 403  # moderators moderate; updates are the publisher's
    bad = await api.client.post(
        path, content=f"csrf={csrf}&{fields}".replace("kind=update", "kind=oops"), headers={**owner, **form}
    )
    assert bad.status_code == 422
    assert await rows(api, story_updates) == []

    done = await api.client.post(path, content=f"csrf={csrf}&{fields}", headers={**owner, **form})
    assert done.status_code == 303
    assert done.headers["location"] == "/admin/sites/a/stories?page=%2Fstory&updated=1#updates"
    after = await api.client.get(done.headers["location"].split("#")[0], headers=owner)
    assert "Update posted: 1 follower told" in after.text
    assert "Update: Polls close at 8" in after.text
    assert "Not <em>7</em>." in after.text
    [mail] = await rows(api, outbox, kind="update")
    assert (mail.recipient, mail.subject) == ("ann@example.org", "Update: A story — Polls close at 8")
    [entry] = [r for r in await rows(api, audit_log) if r.action == "story.update"]
    assert entry.actor.endswith("own@example.org")
    again = await api.client.post(path, content=f"csrf={csrf}&{fields}", headers={**owner, **form})
    assert again.headers["location"].endswith("updated=again#updates")
    assert len(await rows(api, outbox, kind="update")) == 1


async def test_an_open_event_stream_gets_the_update_at_once(tmp_path: Path, database_url: str) -> None:
    with serve(tmp_path, database_url) as server:
        made = run_kibitz(
            "apikey",
            "create",
            "--site",
            "a",
            "--scope",
            "publish",
            "--config",
            str(server.config),
            cwd=tmp_path,
        )
        assert made.returncode == 0, made.stderr
        publish = {"Authorization": f"Bearer {made.stdout.strip()}"}
        async with (
            stream(server.url, "/story") as reader,
            httpx.AsyncClient(base_url=server.url, timeout=30) as http,
        ):
            r = await http.post(UPDATES, json=CORRECTION, headers=publish)
            assert r.status_code == 201, r.text
            event = await reader.event()
            assert event.kind == "story.update"
            assert event.json() == {"update": r.json()["update"]}
            assert event.id is not None
            assert event.id.isdigit()
            assert (await reader.event()).json() == {"count": 0}
            assert_public(event)
        # A reader who comes later finds it in the thread read instead.
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as later:
            read = await later.get("/api/v1/sites/a/comments", params={"page": "/story"})
        assert read.json()["updates"] == [r.json()["update"]]
