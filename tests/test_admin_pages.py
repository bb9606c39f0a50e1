"""The moderators' admin pages over HTTP: signing in through the form (login CSRF, next), every page
for an owner, a moderator kept to their own sites (QUALITY T23, T59), writes refused without this
session's CSRF token or by GET (T20), and what an approval does for readers; both engines."""

from __future__ import annotations

import ast
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from tests.conftest import ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, site_table

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery staple"
OWNER = "owner@desk.example"
MOD_A = "mod-a@desk.example"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HTMX = {"HX-Request": "true"}


@pytest.fixture
async def desk(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    """Sites "a" and "b", every comment held; an owner and a moderator of "a" with passwords."""
    sites = [site_table("a", ORIGIN_A, moderation="all"), site_table("b", ORIGIN_B, moderation="all")]
    async with custom_api(tmp_path, database_url, clock, sites=sites) as api:
        ctx = api.app.state.ctx
        await ctx.staff.add(OWNER, "owner", [], PASSWORD, "test")
        await ctx.staff.add(MOD_A, "moderator", ["a"], PASSWORD, "test")
        yield api


def browser(api: Api) -> httpx.AsyncClient:
    """Another browser (its own cookies) on the same app."""
    transport = httpx.ASGITransport(app=api.app, client=("198.51.100.9", 5555))
    return httpx.AsyncClient(transport=transport, base_url="http://kibitz.test")


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} field in the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD, nxt: str = "") -> str:
    """Sign in through the form; the CSRF token of the new session (read off the queue page)."""
    form = await client.get("/admin/login", params={"next": nxt} if nxt else None)
    assert form.status_code == 200
    r = await client.post(
        "/admin/login",
        data={"login_token": field(form.text, "login_token"), "email": email, "password": password,
              "next": nxt},
    )  # fmt: skip
    assert r.status_code == 303, r.text
    page = await client.get("/admin/", follow_redirects=True)
    assert page.status_code == 200, page.text
    return field(page.text, "csrf")


async def held(api: Api, text: str, site: str = "a", page: str = "/story", **body: Any) -> str:
    origin = ORIGIN_A if site == "a" else ORIGIN_B
    r = await api.post(site=site, origin=origin, text=text, page=page, title="The story", **body)
    assert r.status_code == 202, r.text
    comment_id: str = r.json()["comment"]["id"]
    return comment_id


def assert_admin_headers(r: httpx.Response) -> None:
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["referrer-policy"] == "same-origin"


async def public_ids(api: Api, site: str = "a", page: str = "/story") -> list[str]:
    thread: dict[str, Any] = await api.thread(page, site=site, fresh="1")
    return [c["id"] for c in thread["comments"]]


# -- signing in -------------------------------------------------------------------------------------------


async def test_pages_send_a_visitor_to_the_sign_in_form_and_back(desk: Api) -> None:
    r = await desk.client.get("/admin/sites/a/queue?status=spam")
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/login?next=%2Fadmin%2Fsites%2Fa%2Fqueue%3Fstatus%3Dspam"
    form = await desk.client.get(r.headers["location"])
    assert_admin_headers(form)
    assert '<label for="email">Email</label>' in form.text
    assert 'name="totp"' not in form.text
    done = await desk.client.post(
        "/admin/login",
        data={"login_token": field(form.text, "login_token"), "email": OWNER, "password": PASSWORD,
              "next": field(form.text, "next")},
    )  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"] == "/admin/sites/a/queue?status=spam"
    assert "httponly" in done.headers["set-cookie"].lower()
    queue = await desk.client.get(done.headers["location"])
    assert queue.status_code == 200
    assert OWNER in queue.text


async def test_a_wrong_password_says_so_and_signs_nobody_in(desk: Api) -> None:
    form = await desk.client.get("/admin/login")
    r = await desk.client.post(
        "/admin/login",
        data={"login_token": field(form.text, "login_token"), "email": OWNER, "password": "wrong password!"},
    )
    assert r.status_code == 401
    assert "The email or password is wrong." in r.text
    assert 'value="owner@desk.example"' in r.text
    assert (await desk.client.get("/admin/sites/a/queue")).status_code == 303


async def test_an_account_with_a_code_is_asked_for_it_after_the_password(desk: Api) -> None:
    secret, _ = await desk.app.state.ctx.staff.totp_enable(OWNER, "test")
    form = await desk.client.get("/admin/login")
    data = {"login_token": field(form.text, "login_token"), "email": OWNER, "password": PASSWORD}
    r = await desk.client.post("/admin/login", data=data)
    assert r.status_code == 401
    assert '<input id="totp" name="totp"' in r.text
    assert "six-digit code" in r.text
    code = pyotp.TOTP(secret).at(desk.clock.now)
    data = {**data, "login_token": field(r.text, "login_token"), "totp": code}
    r = await desk.client.post("/admin/login", data=data)
    assert r.status_code == 303


async def test_repeated_wrong_passwords_lock_out_and_say_for_how_long(desk: Api) -> None:
    statuses = []
    for _ in range(8):
        form = await desk.client.get("/admin/login")
        data = {"login_token": field(form.text, "login_token"), "email": OWNER, "password": "wrong password!"}
        r = await desk.client.post("/admin/login", data=data)
        statuses.append(r.status_code)
    assert statuses[0] == 401
    assert statuses[-1] == 429
    assert r.headers["retry-after"].isdigit()
    assert re.search(r"Too many attempts\. Try again in \d+ (seconds|minutes)\.", r.text)


async def test_a_login_post_without_this_browsers_form_token_is_refused(desk: Api) -> None:
    """Login CSRF: another site cannot sign a browser in to an account of its choosing."""
    form = await desk.client.get("/admin/login")
    token = field(form.text, "login_token")
    async with browser(desk) as victim:
        for data in (
            {"email": OWNER, "password": PASSWORD},
            {"email": OWNER, "password": PASSWORD, "login_token": token},  # another browser's token
        ):
            r = await victim.post("/admin/login", data=data)
            assert r.status_code == 403
            assert "expired or came from elsewhere" in r.text
            assert (await victim.get("/admin/sites/a/queue")).status_code == 303


async def test_next_leads_only_to_admin_pages(desk: Api) -> None:
    for evil in ("https://evil.example/admin/", "//evil.example/admin/", "/\\evil.example", "/api/v1/x"):
        async with browser(desk) as client:
            form = await client.get("/admin/login")
            r = await client.post(
                "/admin/login",
                data={"login_token": field(form.text, "login_token"), "email": OWNER, "password": PASSWORD,
                      "next": evil},
            )  # fmt: skip
            assert r.status_code == 303
            assert r.headers["location"] == "/admin/"


async def test_sign_out_and_sign_out_everywhere_end_sessions(desk: Api) -> None:
    csrf = await sign_in(desk.client, OWNER)
    async with browser(desk) as laptop:
        await sign_in(laptop, OWNER)
        r = await desk.client.post("/admin/sign-out-everywhere", data={"csrf": csrf})
        assert r.status_code == 303
        assert (await laptop.get("/admin/sites/a/queue")).status_code == 303
        assert (await desk.client.get("/admin/sites/a/queue")).status_code == 303
    csrf = await sign_in(desk.client, OWNER)
    assert (await desk.client.post("/admin/logout", data={"csrf": csrf})).status_code == 303
    assert (await desk.client.get("/admin/sites/a/queue")).status_code == 303


async def test_set_password_link_shows_a_form_and_works_once(desk: Api) -> None:
    ctx = desk.app.state.ctx
    _, link = await ctx.staff.add("new@desk.example", "moderator", ["a"], None, "test")
    path = link.split("127.0.0.1:8000", 1)[1]
    page = await desk.client.get(path)
    assert page.status_code == 200
    assert "new@desk.example" in page.text
    short = await desk.client.post(path, data={"password": "short", "confirm": "short"})
    assert short.status_code == 422
    r = await desk.client.post(path, data={"password": PASSWORD, "confirm": PASSWORD})
    assert r.status_code == 303
    assert (await desk.client.get(path)).status_code == 410
    await sign_in(desk.client, "new@desk.example")


# -- pages -------------------------------------------------------------------------------------------------


async def test_every_page_renders_for_an_owner(desk: Api) -> None:
    comment = await held(desk, "Held for the owner to see")
    await sign_in(desk.client, OWNER)
    pages = [
        "/admin/sites/a/queue",
        *[f"/admin/sites/a/queue?status={s}" for s in ("flagged", "spam", "rejected", "approved", "all")],
        "/admin/sites/a/queue?q=owner&author=ann&page=/story",
        f"/admin/sites/a/comments/{comment}/history",
        "/admin/sites/a/stories?page=/story",
        "/admin/sites/a/stories",
        "/admin/sites/a/bans",
        f"/admin/sites/a/bans?comment={comment}",
        "/admin/sites/a/settings",
        "/admin/sites/a/dashboard",
        "/admin/sites/b/queue",
        "/admin/audit",
        "/admin/audit?site=b&actor=x&action=comment.approve",
    ]
    for path in pages:
        r = await desk.client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert_admin_headers(r)
        assert r.headers["content-type"].startswith("text/html")
    queue = await desk.client.get("/admin/sites/a/queue")
    assert "Held for the owner to see" in queue.text
    assert 'id="site-switch"' in queue.text
    assert "Site b" in queue.text
    assert 'Pending <span class="count">1</span>' in queue.text


async def test_a_moderator_of_a_gets_403_on_every_page_and_action_of_b(desk: Api) -> None:
    secret = "Only the desk of b may read this"
    b_comment = await held(desk, secret, site="b")
    a_comment = await held(desk, "A comment of a")
    csrf = await sign_in(desk.client, MOD_A)
    queue = await desk.client.get("/admin/sites/a/queue")
    assert "A comment of a" in queue.text
    assert "Site b" not in queue.text
    for path in (
        "/admin/sites/b/queue",
        "/admin/sites/b/queue?status=all",
        "/admin/sites/b/queue/updates?after=0",
        f"/admin/sites/b/comments/{b_comment}/history",
        "/admin/sites/b/stories?page=/story",
        "/admin/sites/b/bans",
        "/admin/sites/b/settings",
        "/admin/sites/b/dashboard",
        "/admin/sites/nowhere/queue",  # the same answer for a site that does not exist
        "/admin/audit?site=b",
        "/admin/switch?site=b",
    ):
        r = await desk.client.get(path)
        assert r.status_code == 403, (path, r.status_code)
        assert secret not in r.text
        assert "Site b" not in r.text
    writes: list[tuple[str, dict[str, Any]]] = [
        (f"/admin/sites/b/comments/{b_comment}/moderate", {"action": "approve"}),
        (f"/admin/sites/b/comments/{b_comment}/edit", {"text": "changed"}),
        ("/admin/sites/b/bulk", {"action": "approve", "ids": [b_comment]}),
        ("/admin/sites/b/bans", {"kind": "email", "value": "x@y.example"}),
        ("/admin/sites/b/bans/1/lift", {}),
        ("/admin/sites/b/settings", {"moderation": "none"}),
        ("/admin/sites/b/stories/close", {"page": "/story", "closed": "1"}),
        ("/admin/sites/b/stories/moderation", {"page": "/story", "mode": "none"}),
    ]
    for path, data in writes:
        r = await desk.client.post(path, data={**data, "csrf": csrf})
        assert r.status_code == 403, (path, r.status_code)
    # B's comment through A's paths: not there, as for any id of another site.
    for path, data in (
        (f"/admin/sites/a/comments/{b_comment}/moderate", {"action": "approve"}),
        (f"/admin/sites/a/comments/{b_comment}/edit", {"text": "changed"}),
        ("/admin/sites/a/bans", {"kind": "email", "comment": b_comment}),
    ):
        r = await desk.client.post(path, data={**data, "csrf": csrf})
        assert r.status_code == 404, (path, r.status_code)
        assert secret not in r.text
    r = await desk.client.post(
        "/admin/sites/a/bulk", data={"action": "approve", "ids": [b_comment], "csrf": csrf}
    )
    assert secret not in r.text
    assert (await desk.client.get(f"/admin/sites/a/comments/{b_comment}/history")).status_code == 404
    assert await public_ids(desk, site="b") == []
    b_item = await desk.app.state.ctx.moderation.item(int(b_comment))
    assert b_item.comment.status.value == "pending"
    assert b_item.comment.text == secret
    settings_b = await desk.app.state.ctx.moderation.settings(desk.app.state.ctx.settings.site("b"))
    assert settings_b["moderation"] == "all"
    assert await desk.app.state.ctx.bans.listing("b") == []
    # The audit log shows a's acts only.
    owner = browser(desk)
    async with owner:
        owner_csrf = await sign_in(owner, OWNER)
        await owner.post(
            f"/admin/sites/b/comments/{b_comment}/moderate", data={"action": "reject", "csrf": owner_csrf}
        )
    await desk.client.post(
        f"/admin/sites/a/comments/{a_comment}/moderate", data={"action": "approve", "csrf": csrf}
    )
    log = await desk.client.get("/admin/audit")
    assert f"comment:{a_comment}" in log.text
    assert f"comment:{b_comment}" not in log.text


async def test_writes_without_this_sessions_csrf_token_or_by_get_change_nothing(desk: Api) -> None:
    comment = await held(desk, "Still pending after all this")
    await sign_in(desk.client, OWNER)
    async with browser(desk) as other:
        other_csrf = await sign_in(other, OWNER)
    attempts: list[tuple[str, dict[str, Any]]] = [
        (f"/admin/sites/a/comments/{comment}/moderate", {"action": "approve"}),
        (f"/admin/sites/a/comments/{comment}/edit", {"text": "changed"}),
        ("/admin/sites/a/bulk", {"action": "spam", "ids": [comment]}),
        ("/admin/sites/a/bans", {"kind": "email", "value": "x@y.example"}),
        ("/admin/sites/a/settings", {"moderation": "none"}),
        ("/admin/sites/a/stories/close", {"page": "/story", "closed": "1"}),
    ]
    for path, data in attempts:
        for csrf in (None, "", other_csrf, "forged"):
            body = dict(data) if csrf is None else {**data, "csrf": csrf}
            r = await desk.client.post(path, data=body)
            assert r.status_code == 403, (path, csrf, r.status_code)
            assert r.headers["content-type"].startswith("text/html")
        r = await desk.client.get(path, params={k: v for k, v in data.items() if isinstance(v, str)})
        # A GET changes nothing: 405 where only a post exists, else the page with its form.
        has_page = path.endswith(("/bans", "/settings"))
        assert r.status_code == (200 if has_page else 405), (path, r.status_code)
    ctx = desk.app.state.ctx
    item = await ctx.moderation.item(int(comment))
    assert item.comment.status.value == "pending"
    assert item.comment.text == "Still pending after all this"
    assert await ctx.bans.listing("a") == []
    assert (await ctx.moderation.settings(ctx.settings.site("a")))["moderation"] == "all"
    assert (await desk.thread("/story"))["thread"]["closed"] is False


# -- acts --------------------------------------------------------------------------------------------------


async def test_approve_from_the_queue_makes_the_comment_public(desk: Api) -> None:
    first = await held(desk, "First held comment")
    second = await held(desk, "Second held comment")
    csrf = await sign_in(desk.client, OWNER)
    assert await public_ids(desk) == []
    # Without script: a plain form post, then back to the queue.
    r = await desk.client.post(
        f"/admin/sites/a/comments/{first}/moderate",
        data={"action": "approve", "csrf": csrf, "back": "/admin/sites/a/queue?status=pending"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/admin/sites/a/queue?status=pending"
    assert await public_ids(desk) == [first]
    # With htmx: the item comes back redrawn, with the tab counts.
    r = await desk.client.post(
        f"/admin/sites/a/comments/{second}/moderate",
        data={"action": "approve", "csrf": csrf, "tab": "pending"},
        headers=HTMX,
    )
    assert r.status_code == 200
    assert f'id="c-{second}"' in r.text
    assert "badge-approved" in r.text
    assert 'id="tabs" class="tabs" aria-label="Queue tabs" hx-swap-oob="true"' in r.text
    assert 'Pending <span class="count">0</span>' in r.text
    assert sorted(await public_ids(desk)) == sorted([first, second])
    history = await desk.client.get(f"/admin/sites/a/comments/{second}/history", headers=HTMX)
    assert "comment.approve" in history.text
    assert OWNER in history.text


async def test_bulk_spam_edit_pin_and_close(desk: Api) -> None:
    ids = [await held(desk, f"Buy cheap things number {n}") for n in range(3)]
    keep = await held(desk, "A real comment")
    csrf = await sign_in(desk.client, OWNER)
    form = {"action": "spam", "ids": ids, "csrf": csrf, "tab": "pending", "bulk": "1"}
    r = await desk.client.post("/admin/sites/a/bulk", data=form, headers=HTMX)
    assert r.status_code == 200
    assert r.text.count('hx-swap-oob="true"') == 4  # three items and the tabs
    assert "3 comments marked as spam." in r.text
    spam = await desk.client.get("/admin/sites/a/queue?status=spam")
    assert all(f'id="c-{i}"' in spam.text for i in ids)
    await desk.client.post(
        f"/admin/sites/a/comments/{keep}/edit", data={"text": "A *real* comment, trimmed", "csrf": csrf}
    )
    await desk.client.post(
        f"/admin/sites/a/comments/{keep}/moderate", data={"action": "approve", "csrf": csrf}
    )
    await desk.client.post(f"/admin/sites/a/comments/{keep}/moderate", data={"action": "pin", "csrf": csrf})
    (shown,) = (await desk.thread("/story", fresh="1"))["comments"]
    assert shown["html"].strip() == "<p>A <em>real</em> comment, trimmed</p>"
    assert shown["pinned"] is True
    r = await desk.client.post(
        "/admin/sites/a/stories/close", data={"page": "/story", "closed": "1", "csrf": csrf}
    )
    assert r.status_code == 303
    assert (await desk.thread("/story", fresh="1"))["thread"]["closed"] is True
    story = await desk.client.get(r.headers["location"])
    assert "Reopen the discussion" in story.text


async def test_ban_the_author_of_a_comment_then_lift_it(desk: Api) -> None:
    comment = await held(desk, "Trolling", author={"name": "Troll", "email": "troll@mail.example"})
    csrf = await sign_in(desk.client, OWNER)
    r = await desk.client.post(
        "/admin/sites/a/bans",
        data={"kind": "email", "comment": comment, "expires": "7d", "reason": "trolling", "csrf": csrf,
              "tab": "pending"},
        headers=HTMX,
    )  # fmt: skip
    assert r.status_code == 200
    assert f'id="c-{comment}"' in r.text
    assert "banned by email" in r.text
    page = await desk.client.get("/admin/sites/a/bans")
    assert "the email of comment" in page.text
    assert "trolling" in page.text
    posted = await desk.post(text="Again", author={"name": "Troll", "email": "troll@mail.example"})
    assert posted.status_code == 403
    (ban,) = await desk.app.state.ctx.bans.listing("a")
    r = await desk.client.post(f"/admin/sites/a/bans/{ban.id}/lift", data={"csrf": csrf})
    assert r.status_code == 303
    assert await desk.app.state.ctx.bans.listing("a") == []
    bad = await desk.client.post(
        "/admin/sites/a/bans", data={"kind": "network", "value": "nonsense", "csrf": csrf}
    )
    assert bad.status_code == 422
    assert "Not saved" in bad.text


async def test_settings_are_saved_shown_as_overrides_and_audited(desk: Api) -> None:
    csrf = await sign_in(desk.client, OWNER)
    page = await desk.client.get("/admin/sites/a/settings")
    from kibitz.policy import KEYS

    for key in KEYS:
        assert f'data-setting="{key}"' in page.text, key
    r = await desk.client.post(
        "/admin/sites/a/settings",
        data={"csrf": csrf, "moderation": "none", "blocked_words": "casino\nfree money*\n", "hold_links": "2",
              "allow_images": "0"},
    )  # fmt: skip
    assert r.status_code == 303
    ctx = desk.app.state.ctx
    now = await ctx.moderation.settings(ctx.settings.site("a"))
    assert now["moderation"] == "none"
    assert now["blocked_words"] == ["casino", "free money*"]
    assert (await desk.post(text="Published at once")).status_code == 201
    page = await desk.client.get(r.headers["location"])
    assert "Saved." in page.text
    assert "kibitz.toml says: <code>all</code>" in page.text
    log = await desk.client.get("/admin/audit?action=settings.update")
    assert "settings.update" in log.text
    assert "casino" in log.text
    bad = await desk.client.post(
        "/admin/sites/a/settings", data={"csrf": csrf, "hold_links": "many", "spam_hold": "2"}
    )
    assert bad.status_code == 422
    assert "must be a whole number" in bad.text
    assert 'aria-invalid="true"' in bad.text


async def test_new_held_comments_arrive_in_an_open_queue(desk: Api) -> None:
    first = await held(desk, "Already there")
    await sign_in(desk.client, OWNER)
    queue = await desk.client.get("/admin/sites/a/queue")
    assert 'data-live="/admin/sites/a/queue/updates?status=pending"' in queue.text
    none = await desk.client.get(f"/admin/sites/a/queue/updates?status=pending&after={first}")
    assert none.status_code == 204
    second = await held(desk, "Just arrived")
    r = await desk.client.get(f"/admin/sites/a/queue/updates?status=pending&after={first}")
    assert r.status_code == 200
    assert f'id="c-{second}"' in r.text
    assert f'id="c-{first}"' not in r.text
    assert 'Pending <span class="count">2</span>' in r.text


async def test_bad_input_gets_an_html_page_never_a_500(desk: Api) -> None:
    csrf = await sign_in(desk.client, MOD_A)
    for path, status in (
        ("/admin/sites/a/queue?status=bogus", 422),
        ("/admin/sites/a/queue?cursor=not-a-cursor", 422),
        ("/admin/sites/a/queue?q=%00%01nul&author=%00", 200),
        ("/admin/sites/a/stories?page=%00", 200),
        ("/admin/sites/a/comments/0/history", 404),
        ("/admin/sites/a/comments/abc/history", 404),
        ("/admin/sites/a/comments/99999999999999999999/history", 404),
        ("/admin/nothing/here", 404),
        ("/admin/audit?before=abc", 200),
        ("/admin/static/secrets.py", 404),
        ("/admin/static/..%2Fadmin.py", 404),
    ):
        r = await desk.client.get(path)
        assert r.status_code == status, (path, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("text/html"), path
    for path, data in (
        ("/admin/sites/a/comments/1/moderate", {"action": "explode"}),
        ("/admin/sites/a/comments/99999/moderate", {"action": "approve"}),
        ("/admin/sites/a/comments/1/edit", {"text": ""}),
        ("/admin/sites/a/bulk", {"action": "approve"}),
        ("/admin/sites/a/bulk", {"action": "approve", "ids": ["x", "-1"]}),
        ("/admin/sites/a/bans", {"kind": "email", "comment": "zzz"}),
        ("/admin/sites/a/bans/abc/lift", {}),
        ("/admin/sites/a/stories/close", {"page": "", "closed": "1"}),
        ("/admin/sites/a/settings", {"edit_window": "forever", "moderation": "%00"}),
    ):
        r = await desk.client.post(path, data={**data, "csrf": csrf})
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("text/html"), path
    r = await desk.client.post(
        "/admin/sites/a/bulk", content=b'{"action": "approve"}', headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 415


async def test_static_files_are_an_allow_list_cached_for_a_year(desk: Api) -> None:
    for name, kind in (
        ("admin.css", "text/css"),
        ("admin.js", "text/javascript"),
        ("htmx.min.js", "text/javascript"),
    ):
        r = await desk.client.get(f"/admin/static/{name}")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith(kind)
        assert "max-age=31536000" in r.headers["cache-control"]
    assert "htmx 2" in (await desk.client.get("/admin/static/htmx.min.js")).text[:200]
    page = await desk.client.get("/admin/login")
    assert re.search(r'href="/admin/static/admin\.css\?v=[0-9a-f]{12}"', page.text)


async def test_a_story_gets_its_own_moderation_mode_from_its_page(desk: Api) -> None:
    owner = browser(desk)
    async with owner:
        csrf = await sign_in(owner, OWNER)
        page = await owner.get("/admin/sites/a/stories", params={"page": "/calm"})
        assert page.status_code == 200
        r = await owner.post(
            "/admin/sites/a/stories/moderation", data={"page": "/calm", "mode": "none", "csrf": csrf}
        )
        assert r.status_code == 303
        shown = await owner.get("/admin/sites/a/stories", params={"page": "/calm"})
        assert '<option value="none" selected>' in shown.text
        bad = await owner.post(
            "/admin/sites/a/stories/moderation", data={"page": "/calm", "mode": "never", "csrf": csrf}
        )
        assert bad.status_code == 422
    # Site "a" holds everything; this story no longer does.
    posted = await desk.post(page="/calm", text="Straight through")
    assert posted.status_code == 201, posted.text
    from kibitz.store.audit import AuditFilter

    [entry] = await desk.app.state.ctx.moderation.audit(AuditFilter(action="thread.moderation"), None, 10)
    assert (entry.target, entry.detail) == ("thread:/calm", {"moderation": "none"})


async def test_signing_in_rotates_the_session_and_a_planted_cookie_never_becomes_one(desk: Api) -> None:
    """QUALITY T59: session fixation."""
    ctx = desk.app.state.ctx
    first, second = browser(desk), browser(desk)
    async with first, second:
        first.cookies.set("kibitz_admin", "planted-by-an-attacker", domain="kibitz.test", path="/")
        await sign_in(first, OWNER)
        held = first.cookies.get("kibitz_admin", domain="kibitz.test")
        assert held not in (None, "planted-by-an-attacker")
        assert await ctx.staff.session("planted-by-an-attacker") is None
        # A browser that holds a live session and signs in again gets a new one; the old one ends.
        form = await second.get("/admin/login")
        second.cookies.set("kibitz_admin", held, domain="kibitz.test", path="/")
        r = await second.post(
            "/admin/login",
            data={"login_token": field(form.text, "login_token"), "email": OWNER, "password": PASSWORD},
        )
        assert r.status_code == 303
        rotated = second.cookies.get("kibitz_admin", domain="kibitz.test")
        assert rotated not in (None, held)
        assert await ctx.staff.session(held) is None
        assert await ctx.staff.session(rotated or "") is not None


# -- the words for each reason a comment was held ------------------------------------------------------

# Where the screening of a post makes its reason codes, and the lists guard.py gathers them in.
REASON_SOURCES = ("guard.py", "spam/signals.py", "spam/engine.py", "akismet.py")
GATHERED_IN = {"reasons", "marks"}


def _reason_code(node: ast.AST, names: dict[str, str]) -> str | None:
    """A code written as a string, a module constant, or an f-string "kind:{detail}" (as "kind:")."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value.endswith(":"):
            return first.value
    return None


def _codes_under(node: ast.AST, names: dict[str, str]) -> set[str]:
    return {code for sub in ast.walk(node) if (code := _reason_code(sub, names))}


def _gathering(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in GATHERED_IN


def emitted_reason_codes() -> set[str]:
    """Every reason code the screening can store, read off its source: the (code, weight) evidence of
    the spam score, what guard.py appends to or assigns its reason lists, the codes it gives
    Screened(...), and Akismet's SIGNAL_* constants. "kind:" stands for a code with a detail."""
    import kibitz

    codes: set[str] = set()
    for source in REASON_SOURCES:
        tree = ast.parse((Path(kibitz.__file__).parent / source).read_text(encoding="utf-8"))
        names = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        if source == "akismet.py":
            codes |= {value for name, value in names.items() if name.startswith("SIGNAL_")}
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Tuple) and len(node.elts) == 2:  # (code, weight)
                code = _reason_code(node.elts[0], names)
                if code and _reason_code(node.elts[1], names) is None:
                    codes.add(code)
            elif isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id == "Screened" and len(node.args) > 1:
                    codes |= _codes_under(node.args[1], names)
                elif isinstance(func, ast.Attribute) and func.attr == "append" and _gathering(func.value):
                    codes |= _codes_under(node.args[0], names)
            elif isinstance(node, ast.Assign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(_gathering(target) for target in targets):
                    codes |= _codes_under(node.value, names)
    return codes


def test_every_reason_the_screening_can_give_has_words_in_the_queue() -> None:
    from kibitz.web.admin import reason_text

    codes = emitted_reason_codes()
    # The reading of the source finds what it should (it would pass vacuously if it found nothing).
    assert {
        "honeypot", "form_token", "too_fast", "form_replayed", "no_form_token", "repeat", "near_repeat",
        "classifier", "shortener", "tld:", "link_only", "link_density", "spam_domain:", "name_link",
        "lookalike", "invisible", "styled", "contact", "near_duplicates:", "links:", "blocked_word:",
        "suspect_word:", "akismet", "akismet_unavailable", "shadow_ban", "moderation_all", "spam_score",
    } <= codes, codes  # fmt: skip
    for code in sorted(codes):
        if code.endswith(":"):  # worded with its detail
            words = reason_text(f"{code}Detail-7")
            assert "Detail-7" in words, (code, words)
            assert code not in words, (code, words)
        else:
            assert reason_text(code) != code, f"reason code {code!r} has no words in kibitz/web/admin.py"
    assert reason_text("akismet") == "Akismet says spam"
    assert reason_text("akismet_unavailable") == "Akismet did not answer; held to be safe"
    assert reason_text("near_duplicates:4") == "near-copies from other authors in the last hour: 4"
    assert reason_text("tld:xyz") == "a link to a .xyz address (a domain ending often used for spam)"
    assert reason_text("something_new") == "something_new"  # an unknown code shows as it is
