"""Moderation enforced everywhere (DESIGN.md §3b): held comments are absent from every public read
until approved, approval does all a post does, trust, links, repeats, word lists, and the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kibitz.context import Context
from tests.conftest import ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, site_table

pytestmark = pytest.mark.anyio
ADMIN = "/api/v1/admin"


def ctx_of(api: Api) -> Context:
    ctx: Context = api.app.state.ctx
    return ctx


async def key(api: Api, site: str = "a", scope: str = "moderate") -> dict[str, str]:
    _, secret = await ctx_of(api).staff.create_key(site, scope, "tests", "tests")
    return {"Authorization": f"Bearer {secret}"}


def sites(**a: Any) -> list[dict[str, Any]]:
    return [site_table("a", ORIGIN_A, **a), site_table("b", ORIGIN_B)]


@pytest.fixture
async def held(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    """Sites where every comment waits for a moderator (site "a")."""
    async with custom_api(tmp_path, database_url, clock, sites=sites(moderation="all")) as api:
        yield api


async def public_views(api: Api, page: str = "/story") -> tuple[dict[str, Any], str, str, int]:
    thread = await api.thread(page)
    html = (await api.client.get("/api/v1/sites/a/comments.html", params={"page": page})).text
    atom = (await api.client.get("/api/v1/sites/a/feed.atom", params={"page": page})).text
    counts = (await api.client.get("/api/v1/sites/a/counts", params={"page": page})).json()
    return thread, html, atom, counts["counts"][page]


async def act(api: Api, headers: dict[str, str], comment_id: str, action: str) -> httpx.Response:
    return await api.client.post(
        f"{ADMIN}/comments/{comment_id}/moderate", json={"action": action}, headers=headers
    )


async def test_a_held_comment_is_absent_from_every_public_read_until_approved(held: Api) -> None:
    posted = await held.post(text="Held words here", author={"name": "Ann", "email": "ann@example.org"})
    assert posted.status_code == 202, posted.text
    body = posted.json()
    assert body["status"] == "pending"
    assert body["comment"]["status"] == "pending"
    assert body["comment"]["html"]
    assert body["token"]
    thread, html, atom, count = await public_views(held)
    assert thread["comments"] == []
    assert thread["thread"]["count"] == 0
    assert count == 0
    assert "Held words" not in html
    assert "Held words" not in atom
    # Its author can still see it with the edit token, as pending.
    own = await held.client.get(
        f"/api/v1/comments/{body['comment']['id']}", headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert own.status_code == 200
    assert own.json()["comment"]["status"] == "pending"
    assert own.headers["cache-control"] == "no-store"

    done = await act(held, await key(held), body["comment"]["id"], "approve")
    assert done.status_code == 200, done.text
    assert done.json()["comment"]["status"] == "approved"
    thread, html, atom, count = await public_views(held)
    assert [c["id"] for c in thread["comments"]] == [body["comment"]["id"]]
    assert thread["thread"]["count"] == 1
    assert count == 1
    assert "Held words" in html
    assert "Held words" in atom


async def mails_about(ctx: Context, comment_id: str) -> int:
    async with ctx.db.read() as tx:
        return sum(row.comment_id == int(comment_id) for row in await tx.outbox.list())


async def test_approval_mails_the_parent_author_as_a_post_would(held: Api) -> None:
    ctx = ctx_of(held)
    headers = await key(held)
    parent = (await held.post(text="Parent", author={"name": "Ann", "email": "ann@example.org"})).json()
    await act(held, headers, parent["comment"]["id"], "approve")
    async with ctx.db.write() as tx:  # Ann follows replies to her comments (as if confirmed)
        subscriber = await tx.subscribers.get_or_create("a", "ann@example.org", ctx.clock())
        await tx.subscribers.set_status(subscriber.id, "confirmed")
        thread = await tx.threads.get("a", "/story")
        assert thread is not None
        await tx.subscribers.subscribe(
            subscriber.id, "replies", thread.id, "instant", ctx.clock(), pending=False
        )
    reply = (await held.post(text="A reply", parent=parent["comment"]["id"], author={"name": "Bo"})).json()
    assert await mails_about(ctx, reply["comment"]["id"]) == 0
    await act(held, headers, reply["comment"]["id"], "approve")
    await act(held, headers, reply["comment"]["id"], "reject")
    await act(held, headers, reply["comment"]["id"], "approve")  # again: never mailed twice
    assert await mails_about(ctx, reply["comment"]["id"]) == 1


async def test_first_mode_trusts_an_author_after_approval_and_distrusts_after_rejection(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites(moderation="first")) as api:
        headers = await key(api)
        ann = {"name": "Ann", "email": "ann@example.org"}
        first = await api.post(text="My first", author=ann)
        assert first.status_code == 202
        await act(api, headers, first.json()["comment"]["id"], "approve")
        second = await api.post(text="My second", author=ann)
        assert second.status_code == 201, second.text
        # Another author, with no email, is new by reader id.
        assert (await api.post(text="Hi", author={"name": "Bo"})).status_code == 202
        await act(api, headers, second.json()["comment"]["id"], "reject")
        third = await api.post(text="My third", author=ann)
        assert third.status_code == 202
        item = (await act(api, headers, third.json()["comment"]["id"], "approve")).json()["comment"]
        assert item["reasons"] == ["low_trust"]


async def test_more_links_than_hold_links_hold_a_comment(api: Api) -> None:
    two = "see https://a.example and http://b.example"
    assert (await api.post(text=two)).status_code == 201
    three = await api.post(text=two + " and www.c.example")
    assert three.status_code == 202
    queue = await api.client.get(f"{ADMIN}/sites/a/queue", headers=await key(api))
    assert queue.json()["items"][0]["reasons"] == ["links:3"]


async def test_the_same_text_twice_within_ten_minutes_is_held(api: Api) -> None:
    """QUALITY T34."""
    ann = {"name": "Ann", "email": "ann@example.org"}
    assert (await api.post(text="Buy my book", author=ann)).status_code == 201
    assert (await api.post(text="Buy my book", author=ann)).status_code == 202
    api.clock.advance(minutes=11)
    assert (await api.post(text="Buy my book", author=ann)).status_code == 201


async def test_blocked_words_answer_like_a_held_comment_and_file_it_as_spam(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    extra = sites(blocked_words=["crypto", "f*ck"], suspect_words=["casino"])
    async with custom_api(tmp_path, database_url, clock, sites=extra) as api:
        for text in ("Buy CRYPTO now", "ⅽrур+о is great", "c r y p t o"):
            r = await api.post(text=text)
            assert r.status_code == 202, text
            assert r.json()["comment"]["status"] == "pending"
        assert (await api.post(text="cryptography is a science")).status_code == 201
        suspect = await api.post(text="A casino opened")
        assert suspect.status_code == 202
        headers = await key(api)
        spam = (await api.client.get(f"{ADMIN}/sites/a/queue?status=spam", headers=headers)).json()["items"]
        assert len(spam) == 3
        assert all(i["reasons"][0] == "blocked_word:crypto" for i in spam)
        pending = (await api.client.get(f"{ADMIN}/sites/a/queue", headers=headers)).json()["items"]
        assert [i["reasons"] for i in pending] == [["suspect_word:casino"]]
        # The poster learns nothing: their own view says pending.
        own = await api.client.get(f"/api/v1/comments/{spam[0]['id']}", headers={"Authorization": "Bearer x"})
        assert own.status_code == 403


async def test_bans_refuse_and_shadow_bans_hide_from_everyone_but_the_author(api: Api) -> None:
    headers = await key(api)
    first = (await api.post(text="Hello", author={"name": "Ann", "email": "ann@example.org"})).json()
    ban = await api.client.post(
        f"{ADMIN}/sites/a/bans", json={"kind": "email", "comment": first["comment"]["id"]}, headers=headers
    )
    assert ban.status_code == 201, ban.text
    assert "ann@example.org" not in ban.text
    refused = await api.post(text="Again", author={"name": "Ann", "email": "ANN@example.org"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "banned"
    await api.client.delete(f"{ADMIN}/sites/a/bans/{ban.json()['ban']['id']}", headers=headers)
    assert (
        await api.post(text="Back", author={"name": "Ann", "email": "ann@example.org"})
    ).status_code == 201

    shadow = await api.client.post(
        f"{ADMIN}/sites/a/bans", json={"kind": "name", "value": "Тroll", "shadow": True}, headers=headers
    )
    assert shadow.status_code == 201
    hidden = await api.post(text="Nobody sees me", author={"name": "troll"})
    assert hidden.status_code == 201
    assert hidden.json()["comment"]["status"] == "approved"
    body = hidden.json()
    assert body["comment"]["id"] not in [c["id"] for c in (await api.thread())["comments"]]
    own = await api.client.get(
        f"/api/v1/comments/{body['comment']['id']}", headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert own.json()["comment"]["status"] == "approved"
    assert own.json()["comment"]["html"]


async def test_an_address_ban_from_a_comment_covers_its_ipv6_64_and_nobody_sees_the_address(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock) as api:
        headers = await key(api)
        first = (await api.post(text="Hi")).json()
        ban = await api.client.post(
            f"{ADMIN}/sites/a/bans",
            json={"kind": "address", "comment": first["comment"]["id"]},
            headers=headers,
        )
        assert ban.status_code == 201
        assert "203.0.113" not in ban.text
        listed = await api.client.get(f"{ADMIN}/sites/a/bans", headers=headers)
        assert "203.0.113" not in listed.text
        assert (await api.post(text="Again")).json()["code"] == "banned"
        network = await api.client.post(
            f"{ADMIN}/sites/b/bans", json={"kind": "network", "value": "203.0.113.0/24"}, headers=headers
        )
        assert network.status_code == 403  # a key of site a may not touch site b


async def test_settings_override_the_file_at_once_and_are_audited(api: Api) -> None:
    headers = await key(api)
    before = (await api.client.get(f"{ADMIN}/sites/a/settings", headers=headers)).json()
    assert before["moderation"] == "none"
    assert before["hold_links"] == 2
    r = await api.client.put(
        f"{ADMIN}/sites/a/settings", json={"moderation": "all", "blocked_words": ["spam*"]}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["moderation"] == "all"
    assert r.json()["blocked_words"] == ["spam*"]
    assert (await api.post(text="Held now")).status_code == 202
    for bad in ({"moderation": "sometimes"}, {"hold_links": -1}, {"nope": 1}, {"spam_hold": 2},
                {"edit_window": "forever"}, {"blocked_words": ["*"]}):  # fmt: skip
        refused = await api.client.put(f"{ADMIN}/sites/a/settings", json=bad, headers=headers)
        assert refused.status_code == 422, bad
    audit = (
        await api.client.get(f"{ADMIN}/audit", params={"action": "settings.update"}, headers=headers)
    ).json()
    assert len(audit["items"]) == 1
    assert audit["items"][0]["detail"]["changes"]["moderation"] == "all"


async def test_close_after_set_in_the_admin_closes_threads_in_cached_reads(api: Api) -> None:
    headers = await key(api)
    await api.post(text="Old story")
    assert (await api.thread())["thread"]["closed"] is False
    api.clock.advance(days=3)
    await api.client.put(f"{ADMIN}/sites/a/settings", json={"close_after": "2d"}, headers=headers)
    assert (await api.thread())["thread"]["closed"] is True
    assert (await api.post(text="Too late")).json()["code"] == "thread_closed"


async def test_queue_filters_reports_search_and_pages(api: Api) -> None:
    headers = await key(api)
    ids = [
        (await api.post(text=f"comment {n}", author={"name": f"N{n}"})).json()["comment"]["id"]
        for n in range(5)
    ]
    for reader in range(3):
        r = await api.client.post(
            f"/api/v1/comments/{ids[1]}/flag", json={"reason": "rude" if reader else "spam"},
            headers={"Origin": ORIGIN_A},
        )  # fmt: skip
        assert r.status_code == 202
    flagged = (await api.client.get(f"{ADMIN}/sites/a/queue?status=flagged", headers=headers)).json()
    assert [i["id"] for i in flagged["items"]] == [ids[1]]
    assert flagged["items"][0]["flags"] == [{"reason": "rude", "count": 2}, {"reason": "spam", "count": 1}]
    await act(api, headers, ids[1], "approve")  # acting closes the reports
    flagged = (await api.client.get(f"{ADMIN}/sites/a/queue?status=flagged", headers=headers)).json()
    assert flagged["items"] == []
    first = (await api.client.get(f"{ADMIN}/sites/a/queue?status=approved&limit=2", headers=headers)).json()
    second = (
        await api.client.get(
            f"{ADMIN}/sites/a/queue", params={"status": "approved", "limit": 2, "cursor": first["next"]},
            headers=headers,
        )
    ).json()  # fmt: skip
    assert [i["id"] for i in first["items"] + second["items"]] == ids[::-1][:4]
    found = (await api.client.get(f"{ADMIN}/sites/a/queue?status=all&q=comment%203", headers=headers)).json()
    assert [i["id"] for i in found["items"]] == [ids[3]]
    bad = await api.client.get(f"{ADMIN}/sites/a/queue?cursor=forged", headers=headers)
    assert bad.status_code == 422


async def test_bulk_pin_feature_and_a_moderators_edit_show_to_readers(api: Api) -> None:
    headers = await key(api)
    ids = [(await api.post(text=f"c{n}")).json()["comment"]["id"] for n in range(3)]
    bulk = await api.client.post(
        f"{ADMIN}/sites/a/moderate", json={"ids": [*ids[:2], "999999"], "action": "spam"}, headers=headers
    )
    assert bulk.json() == {"done": ids[:2], "failed": [{"id": "999999", "code": "not_found"}]}
    assert [c["id"] for c in (await api.thread())["comments"]] == [ids[2]]
    await act(api, headers, ids[2], "pin")
    await act(api, headers, ids[2], "feature")
    edited = await api.client.patch(
        f"{ADMIN}/comments/{ids[2]}", json={"text": "[removed link]"}, headers=headers
    )
    assert edited.status_code == 200
    shown = (await api.thread())["comments"][0]
    assert shown["pinned"]
    assert shown["featured"]
    assert shown["edited_by_moderator"]
    assert "[removed link]" in shown["html"]
    history = (
        await api.client.get(f"{ADMIN}/audit", params={"target": f"comment:{ids[2]}"}, headers=headers)
    ).json()
    assert [e["action"] for e in history["items"]] == ["comment.edit", "comment.feature", "comment.pin"]


async def test_a_moderator_key_of_one_site_learns_nothing_of_another(api: Api) -> None:
    """QUALITY T23: the same 403 whether site b's objects exist or not."""
    a_key = await key(api, "a")
    b_comment = (await api.post(site="b", origin=ORIGIN_B, text="B's")).json()["comment"]["id"]
    calls = [
        ("GET", f"{ADMIN}/sites/b/queue", None),
        ("GET", f"{ADMIN}/sites/nosuch/queue", None),
        ("POST", f"{ADMIN}/comments/{b_comment}/moderate", {"action": "approve"}),
        ("POST", f"{ADMIN}/comments/987654/moderate", {"action": "approve"}),
        ("PATCH", f"{ADMIN}/comments/{b_comment}", {"text": "x"}),
        ("POST", f"{ADMIN}/sites/b/moderate", {"ids": [b_comment], "action": "spam"}),
        ("GET", f"{ADMIN}/sites/b/bans", None),
        ("POST", f"{ADMIN}/sites/b/bans", {"kind": "email", "value": "x@example.org"}),
        ("DELETE", f"{ADMIN}/sites/b/bans/1", None),
        ("GET", f"{ADMIN}/sites/b/settings", None),
        ("PUT", f"{ADMIN}/sites/b/settings", {"moderation": "all"}),
        ("POST", f"{ADMIN}/sites/b/threads", {"page": "/story", "closed": True}),
        ("POST", f"{ADMIN}/sites/b/spam/check", {"page": "/x", "text": "t", "author": {"name": "n"}}),
        ("GET", f"{ADMIN}/sites/b/stats", None),
        ("GET", f"{ADMIN}/audit?site=b", None),
    ]
    bodies = set()
    for method, path, body in calls:
        r = await api.client.request(method, path, json=body, headers=a_key)
        assert r.status_code == 403, (method, path, r.text)
        bodies.add(r.text)
    assert len(bodies) == 1
    assert "B's" not in bodies.pop()
    assert (await api.thread(site="b"))["comments"][0]["status"] == "approved"
    publish = await key(api, "a", "publish")
    assert (await api.client.get(f"{ADMIN}/sites/a/queue", headers=publish)).status_code == 403
    assert (await api.client.get(f"{ADMIN}/sites/a/queue")).status_code == 401


async def test_a_revoked_key_stops_at_once(api: Api) -> None:
    ctx = ctx_of(api)
    made, secret = await ctx.staff.create_key("a", "moderate", "bot", "tests")
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await api.client.get(f"{ADMIN}/sites/a/queue", headers=headers)).status_code == 200
    await ctx.staff.revoke_key(made.id, "tests")
    assert (await api.client.get(f"{ADMIN}/sites/a/queue", headers=headers)).status_code == 401


async def test_spam_check_tells_what_a_post_would_become_and_writes_nothing(api: Api) -> None:
    headers = await key(api)
    body = {
        "page": "/x",
        "text": "a http://1.example b http://2.example c http://3.example",
        "author": {"name": "N"},
    }
    r = await api.client.post(f"{ADMIN}/sites/a/spam/check", json=body, headers=headers)
    assert r.json() == {"verdict": "pending", "score": pytest.approx(0.1), "reasons": ["links:3"]}
    assert (await api.thread("/x"))["thread"]["count"] == 0
    queue = (await api.client.get(f"{ADMIN}/sites/a/queue?status=all", headers=headers)).json()
    assert queue["items"] == []


async def test_stats_count_each_day_and_the_oldest_pending(held: Api) -> None:
    headers = await key(held)
    first = (await held.post(text="one")).json()["comment"]["id"]
    held.clock.advance(days=1)
    await held.post(text="two")
    await act(held, headers, first, "approve")
    held.clock.advance(hours=2)
    stats = (await held.client.get(f"{ADMIN}/sites/a/stats?days=3", headers=headers)).json()
    assert [(d["posted"], d["approved"]) for d in stats["days"]] == [(0, 0), (1, 1), (1, 0)]
    assert stats["pending"] == 1
    assert stats["oldest_pending_seconds"] == 2 * 3600


async def test_admin_answers_are_never_cached_and_give_no_cors_grant(api: Api) -> None:
    r = await api.client.get(f"{ADMIN}/sites/a/queue", headers={**await key(api), "Origin": ORIGIN_A})
    assert r.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in r.headers
    text = await api.client.post(
        f"{ADMIN}/sites/a/moderate", content=b"{}", headers={**await key(api), "Content-Type": "text/plain"}
    )
    assert text.status_code == 415


async def test_scripts_filling_the_honeypot_or_misusing_form_tokens_are_never_published(api: Api) -> None:
    """QUALITY T33."""
    assert (await api.post(text="bot", hp="http://spam.example")).status_code == 202

    async def form() -> str:
        r = await api.client.get("/api/v1/sites/a/form")
        assert r.headers["cache-control"] == "no-store"
        token: str = r.json()["form"]
        return token

    fast = await form()
    assert (await api.post(text="too fast", form=fast)).status_code == 202
    slow = await form()
    api.clock.advance(seconds=30)
    assert (await api.post(text="a person", form=slow)).status_code == 201
    assert (await api.post(text="replayed", form=slow)).status_code == 202
    assert (await api.post(text="forged", form=slow[:-2] + "xx")).status_code == 202
    other = (await api.client.get("/api/v1/sites/b/form")).json()["form"]
    api.clock.advance(seconds=30)
    assert (await api.post(text="other site", form=other)).status_code == 202
    shown = [c["html"] for c in (await api.thread())["comments"]]
    assert len(shown) == 1
    assert "a person" in shown[0]
    items = (await api.client.get(f"{ADMIN}/sites/a/queue?status=all", headers=await key(api))).json()[
        "items"
    ]
    reasons = {i["html"]: i["reasons"] for i in items}
    assert sorted(r[0] for r in reasons.values() if r) == [
        "form_replayed", "form_token", "form_token", "honeypot", "too_fast"
    ]  # fmt: skip


async def test_the_event_stream_carries_a_held_comment_only_once_approved(
    tmp_path: Path, database_url: str
) -> None:
    from tests.server import run_kibitz, serve
    from tests.test_live import stream

    page = "/held-live"
    with serve(tmp_path, database_url, sites=sites(moderation="all")) as server:
        made = run_kibitz(
            "apikey",
            "create",
            "--site",
            "a",
            "--scope",
            "moderate",
            "--config",
            str(server.config),
            cwd=tmp_path,
        )
        assert made.returncode == 0, made.stderr
        key = {"Authorization": f"Bearer {made.stdout.strip()}"}
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=10) as http,
            stream(server.url, page) as reader,
        ):
            body = {"page": page, "text": "Held until approved", "author": {"name": "Ann"}}
            held = await http.post("/api/v1/sites/a/comments", json=body, headers={"Origin": ORIGIN_A})
            assert held.status_code == 202
            held_id = held.json()["comment"]["id"]
            r = await http.post(
                f"{ADMIN}/comments/{held_id}/moderate", json={"action": "approve"}, headers=key
            )
            assert r.status_code == 200
            first = await reader.event()  # the approval is the first thing the stream carries
            assert first.kind == "comment.created"
            assert first.json()["comment"]["id"] == held_id
            assert (await reader.event()).json() == {"count": 1}
        # Replaying the thread from its start never shows a comment while it was held.
        async with stream(server.url, page, headers={"Last-Event-ID": "0"}) as replay:
            events = [await replay.event(), await replay.event()]
            assert [e.kind for e in events] == ["comment.created", "thread.count"]


async def test_the_html_fragment_marks_featured_comments_and_a_moderators_edit(api: Api) -> None:
    headers = await key(api)
    cid = (await api.post(text="Worth reading")).json()["comment"]["id"]
    fragment = (await api.client.get("/api/v1/sites/a/comments.html", params={"page": "/story"})).text
    assert "kibitz-featured" not in fragment
    await act(api, headers, cid, "feature")
    await api.client.patch(f"{ADMIN}/comments/{cid}", json={"text": "Worth reading."}, headers=headers)
    fragment = (await api.client.get("/api/v1/sites/a/comments.html", params={"page": "/story"})).text
    assert '<span class="kibitz-featured">Featured</span>' in fragment
    assert "Edited by a moderator" in fragment


async def test_a_comment_keeps_its_address_only_as_a_keyed_hash(api: Api) -> None:
    from sqlalchemy import text

    cid = (await api.post(text="Where am I from?")).json()["comment"]["id"]
    async with ctx_of(api).db.read() as tx:
        row = (
            await tx.conn.execute(
                text("SELECT client_net, client_hash FROM comments WHERE id = :id"), {"id": int(cid)}
            )
        ).one()
    assert row.client_net == ""
    assert len(row.client_hash) == 40
    assert "203.0.113" not in row.client_hash


async def test_a_staff_session_changes_nothing_without_its_csrf_token(api: Api) -> None:
    ctx = ctx_of(api)
    await ctx.staff.add("desk@example.org", "moderator", ["a"], "a long enough password", "tests")
    signed = await ctx.staff.sign_in("desk@example.org", "a long enough password", None, "tests", "pytest")
    cookie = {"Cookie": f"kibitz_admin={signed.token}"}
    url = f"{ADMIN}/sites/a/settings"
    assert (await api.client.get(url, headers=cookie)).status_code == 200
    for headers in (cookie, {**cookie, "X-CSRF-Token": "forged"}):
        r = await api.client.put(url, json={"moderation": "all"}, headers=headers)
        assert r.status_code == 403
        assert r.json()["code"] == "csrf_failed"
    assert (await api.client.get(url, headers=cookie)).json()["moderation"] == "none"
    ok = await api.client.put(
        url, json={"moderation": "all"}, headers={**cookie, "X-CSRF-Token": signed.csrf}
    )
    assert ok.status_code == 200
    [entry] = (await api.client.get(f"{ADMIN}/audit", headers=cookie)).json()["items"][:1]
    assert entry["actor"].startswith("staff:")
    assert entry["action"] == "settings.update"
