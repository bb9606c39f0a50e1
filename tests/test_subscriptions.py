"""Subscriptions with double opt-in, confirmation, one-click unsubscribe and the manage page
(QUALITY T36-T40), on both engines. Mail is asserted as the outbox rows the app enqueued."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from kibitz.security import Tokens
from kibitz.store.schema import outbox, subscribers, subscriptions
from tests.conftest import LOOSE, ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, site_table

pytestmark = pytest.mark.anyio

BASE = "http://127.0.0.1:8000"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
DAY = timedelta(days=1)
ANSWER = {"status": "check your inbox"}


# -- helpers (test_notify.py uses them too) --------------------------------------------------------


async def rows(api: Api, table: Any = outbox, **where: Any) -> list[Any]:
    """Rows of a table as the database holds them now, oldest first."""
    stmt = select(table).order_by(table.c.id)
    for key, value in where.items():
        stmt = stmt.where(table.c[key] == value)
    async with api.app.state.ctx.db.read() as tx:
        return list((await tx.conn.execute(stmt)).all())


async def subscriber(api: Api, email: str, site: str = "a") -> Any:
    found = await rows(api, subscribers, email=email, site=site)
    assert len(found) == 1, found
    return found[0]


async def subscribe(
    api: Api, email: str, topic: str = "thread", page: str | None = "/story", site: str = "a", **extra: Any
) -> httpx.Response:
    body: dict[str, Any] = {"email": email, "topic": topic, **extra}
    if page is not None:
        body["page"] = page
    origin = ORIGIN_A if site == "a" else ORIGIN_B
    return await api.client.post(f"/api/v1/sites/{site}/subscriptions", json=body, headers={"Origin": origin})


async def one_click(api: Api, path: str) -> httpx.Response:
    """An RFC 8058 one-click unsubscribe POST, as a mail provider sends it (no cookies)."""
    return await api.client.post(path, content=b"List-Unsubscribe=One-Click", headers=FORM)


def link(text: str, kind: str) -> str:
    """The path of the first ``kind`` link (confirm, unsubscribe, manage) in a mail or a page."""
    found = re.search(rf"{re.escape(BASE)}(/{kind}/[A-Za-z0-9_.\-]+)", text)
    assert found, f"no {kind} link in {text!r}"
    return found.group(1)


SAME_ORIGIN = {**FORM, "Sec-Fetch-Site": "same-origin"}


async def form_post(
    api: Api, path: str, body: str = "", headers: dict[str, str] | None = None
) -> httpx.Response:
    """A person pressing a button on one of our pages: the page (the confirm page, or the manage
    page for /manage/...) is fetched and its form token sent along, as a browser does."""
    parts = path.split("/")
    page = "/".join(parts[:3])
    shown = await api.client.get(page)
    found = re.search(r'name="form" value="([^"]+)"', shown.text)
    fields = [body] if body else []
    if found:
        fields.append(f"form={quote(found.group(1))}")
    return await api.client.post(path, content="&".join(fields).encode(), headers=headers or SAME_ORIGIN)


async def confirm_address(api: Api, email: str, site: str = "a") -> str:
    """Confirm through the latest confirmation mail's link; returns the manage link of the answer."""
    mails = [m for m in await rows(api, kind="confirm") if m.recipient == email and m.site == site]
    assert mails, f"no confirmation mail to {email}"
    r = await form_post(api, link(mails[-1].text_body, "confirm"))
    assert r.status_code == 200, r.text
    return link(r.text, "manage")


async def name_page(api: Api, page: str, title: str, url: str, site: str = "a") -> None:
    """What a publisher's CMS does (PUT …/pages): the page's title and URL, which mail uses."""
    ctx = api.app.state.ctx
    config = ctx.settings.site(site)
    await ctx.titles.set_by_publisher(config, page, title, url, "tests")


async def follow(api: Api, email: str, page: str = "/story", **extra: Any) -> None:
    """A confirmed follower of a thread."""
    assert (await subscribe(api, email, page=page, **extra)).status_code == 202
    await confirm_address(api, email)


# -- the subscribe route ---------------------------------------------------------------------------


async def test_subscribe_answers_202_and_enqueues_one_confirmation_mail(api: Api) -> None:
    r = await subscribe(api, "Reader@News.Example")
    assert r.status_code == 202
    assert r.json() == ANSWER
    [mail] = await rows(api)
    assert mail.kind == "confirm"
    assert mail.recipient == "Reader@news.example"
    assert mail.dedupe_key.startswith(f"confirm:{mail.subscriber_id}:")
    assert mail.list_unsubscribe.startswith(f"{BASE}/unsubscribe/")
    assert "\n" not in mail.subject
    assert link(mail.text_body, "confirm") in mail.html_body
    token = link(mail.text_body, "confirm").rsplit("/", 1)[1]
    assert token not in r.text
    assert (await subscriber(api, "Reader@news.example")).status == "unconfirmed"


async def test_subscribe_refuses_bad_input_with_field_errors(api: Api) -> None:
    r = await subscribe(api, "not an address")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "email"
    r = await subscribe(api, "x@news.example", page=None)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "page"
    r = await subscribe(api, "x@news.example", topic="everything")
    assert r.status_code == 422
    assert await rows(api) == []


async def test_newsletter_subscription_needs_no_page(api: Api) -> None:
    assert (await subscribe(api, "x@news.example", topic="newsletter", page=None)).status_code == 202
    assert (await subscribe(api, "x@news.example", topic="newsletter", page=None)).status_code == 202
    [sub] = await rows(api, subscriptions)
    assert (sub.topic, sub.thread_id, sub.active) == ("newsletter", None, True)


# -- T36 -------------------------------------------------------------------------------------------


async def test_t36_repeated_subscribes_of_one_address_send_one_confirmation_per_hour(
    api: Api, clock: FakeClock
) -> None:
    for _ in range(100):
        assert (await subscribe(api, "victim@news.example")).status_code == 202
    assert len(await rows(api, kind="confirm")) == 1
    clock.advance(minutes=59)
    assert (await subscribe(api, "victim@news.example")).status_code == 202
    assert len(await rows(api, kind="confirm")) == 1
    clock.advance(minutes=2)
    assert (await subscribe(api, "victim@news.example")).status_code == 202
    first, second = await rows(api, kind="confirm")
    assert first.dedupe_key != second.dedupe_key
    # Only the newest link works.
    assert (await form_post(api, link(first.text_body, "confirm"))).status_code == 410
    assert (await form_post(api, link(second.text_body, "confirm"))).status_code == 200


async def test_t36_one_client_cannot_subscribe_a_thousand_addresses(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    tight = site_table("a", ORIGIN_A, rate_limits={**LOOSE, "subscriptions": "5/hour"})
    async with custom_api(tmp_path, database_url, clock, sites=[tight]) as api:
        statuses = [(await subscribe(api, f"user{i}@news.example")).status_code for i in range(1000)]
        assert statuses[:5] == [202] * 5
        assert set(statuses[5:]) == {429}
        assert len(await rows(api, kind="confirm")) == 5
        assert len(await rows(api, subscribers)) == 5
        # Comments with notify count against the same limit: the comment goes in, no mail goes out.
        r = await api.post(text="Hi", author={"name": "Ann", "email": "more@news.example"}, notify="all")
        assert r.status_code == 201
        assert len(await rows(api, kind="confirm")) == 5


async def test_t36_wildcards_in_addresses_are_literal(api: Api) -> None:
    await follow(api, "victim@news.example")
    for address in ("%@news.example", "_ictim@news.example", "*@news.example", "victi%@news.example"):
        assert (await subscribe(api, address)).status_code == 202
    mails = await rows(api, kind="confirm")
    assert [m.recipient for m in mails] == [
        "victim@news.example",
        "%@news.example",
        "_ictim@news.example",
        "*@news.example",
        "victi%@news.example",
    ]
    assert (await subscriber(api, "victim@news.example")).status == "confirmed"
    assert (await subscriber(api, "%@news.example")).status == "unconfirmed"
    assert len(await rows(api, subscribers)) == 5


# -- T37 -------------------------------------------------------------------------------------------


async def test_t37_subscribe_answer_is_identical_for_new_known_confirmed_and_unsubscribed(api: Api) -> None:
    await subscribe(api, "known@news.example")
    await follow(api, "confirmed@news.example")
    await follow(api, "gone@news.example")
    [mail] = [m for m in await rows(api, kind="confirm") if m.recipient == "gone@news.example"]
    assert (await one_click(api, link(mail.list_unsubscribe, "unsubscribe"))).status_code == 200
    assert (await subscriber(api, "gone@news.example")).status == "unsubscribed"

    answers = []
    for address in ("new@news.example", "known@news.example", "confirmed@news.example", "gone@news.example"):
        r = await subscribe(api, address)
        answers.append((r.status_code, r.content, r.headers.get("content-type"), "location" in r.headers))
    assert answers == [(202, b'{"status":"check your inbox"}', "application/json", False)] * 4
    # Asking again after leaving starts a new double opt-in; nothing else goes out until it is confirmed.
    assert (await subscriber(api, "gone@news.example")).status == "unconfirmed"


# -- T38 -------------------------------------------------------------------------------------------


async def test_t38_confirm_link_get_changes_nothing_and_post_confirms_once(api: Api) -> None:
    await subscribe(api, "reader@news.example")
    [mail] = await rows(api)
    path = link(mail.text_body, "confirm")

    r = await api.client.get(path)  # a mail scanner
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<form method="post"' in r.text
    assert "<script" not in r.text  # a person presses the button (finding 2 of issue 11)
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert (await api.client.head(path)).status_code in (200, 405)
    assert (await subscriber(api, "reader@news.example")).status == "unconfirmed"

    r = await form_post(api, path)
    assert r.status_code == 200
    assert "location" not in r.headers
    row = await subscriber(api, "reader@news.example")
    assert row.status == "confirmed"
    assert row.confirm_nonce is None

    assert (await form_post(api, path)).status_code == 410
    assert (await api.client.get(path)).status_code == 200  # "already confirmed": test_people_pages.py


async def test_t38_confirm_link_expires_after_seven_days(api: Api, clock: FakeClock) -> None:
    await subscribe(api, "slow@news.example")
    [mail] = await rows(api)
    clock.advance(days=8)
    r = await form_post(api, link(mail.text_body, "confirm"))
    assert r.status_code == 410
    assert r.headers["content-type"].startswith("text/html")
    assert (await subscriber(api, "slow@news.example")).status == "unconfirmed"


# -- T39 -------------------------------------------------------------------------------------------


async def test_t39_one_click_unsubscribe_is_a_post_200_without_redirect_and_idempotent(api: Api) -> None:
    await follow(api, "reader@news.example")
    [mail] = await rows(api, kind="confirm")
    path = link(mail.list_unsubscribe, "unsubscribe")

    r = await api.client.get(path)
    assert r.status_code == 200
    assert '<form method="post"' in r.text
    assert "<button" in r.text
    assert (await subscriber(api, "reader@news.example")).status == "confirmed"

    for body in (b"", b"List-Unsubscribe=Yes", b"unsubscribe=1"):
        r = await api.client.post(path, content=body, headers=FORM)
        assert r.status_code == 400
    assert (await subscriber(api, "reader@news.example")).status == "confirmed"

    for _ in range(2):
        r = await one_click(api, path)
        assert r.status_code == 200
        assert "location" not in r.headers
        assert "set-cookie" not in r.headers
    assert (await subscriber(api, "reader@news.example")).status == "unsubscribed"
    assert [s.active for s in await rows(api, subscriptions)] == [False]


async def test_t39_the_token_is_read_from_the_path_only(api: Api) -> None:
    await follow(api, "reader@news.example")
    [mail] = await rows(api, kind="confirm")
    token = link(mail.list_unsubscribe, "unsubscribe").rsplit("/", 1)[1]
    r = await api.client.post(
        "/unsubscribe/nothing",
        content=f"List-Unsubscribe=One-Click&token={token}".encode(),
        headers=FORM,
    )
    assert r.status_code == 404
    assert (await subscriber(api, "reader@news.example")).status == "confirmed"


# -- T40 -------------------------------------------------------------------------------------------


async def test_t40_foreign_and_garbled_tokens_answer_404_without_hint_and_change_nothing(api: Api) -> None:
    await follow(api, "reader@news.example")
    [mail] = await rows(api, kind="confirm")
    good = link(mail.list_unsubscribe, "unsubscribe").rsplit("/", 1)[1]
    confirm_token = link(mail.text_body, "confirm").rsplit("/", 1)[1]
    row = await subscriber(api, "reader@news.example")
    ours = api.app.state.ctx.tokens
    theirs = Tokens("another installation's secret")
    now = api.clock()
    # A changed signature character (not the last one: its low bits carry no data in base64).
    flipped = good[:-5] + ("A" if good[-5] != "A" else "B") + good[-4:]
    candidates = [
        base64.urlsafe_b64encode(b"reader@news.example").decode(),
        base64.b64encode(b"reader@news.example").decode().rstrip("="),
        good[: len(good) // 2],
        flipped,
        ours.issue("manage", "999999", now=now, ttl=DAY),
        theirs.issue("unsubscribe", f"s{row.id}", now=now, ttl=DAY),
        ours.issue("unsubscribe", "999999", now=now, ttl=DAY),  # nobody's
        ours.issue("unsubscribe", "s999999", now=now, ttl=DAY),
        "x" * 2000,
    ]
    bodies = set()
    for token in candidates:
        for r in (
            await api.client.get(f"/unsubscribe/{token}"),
            await one_click(api, f"/unsubscribe/{token}"),
            await api.client.post(f"/confirm/{token}"),
            await api.client.get(f"/manage/{token}"),
        ):
            assert r.status_code == 404, (token, r.status_code)
            bodies.add(r.content)
    manage_token = ours.issue("manage", str(row.id), now=now, ttl=DAY)
    for r in (  # tokens made for another purpose
        await api.client.get(f"/unsubscribe/{confirm_token}"),
        await one_click(api, f"/unsubscribe/{confirm_token}"),
        await api.client.get(f"/manage/{confirm_token}"),
        await one_click(api, f"/unsubscribe/{manage_token}"),
        await api.client.post(f"/confirm/{manage_token}"),
    ):
        assert r.status_code == 404
        bodies.add(r.content)
    assert len(bodies) == 1  # the same page whatever went wrong
    assert (await subscriber(api, "reader@news.example")).status == "confirmed"
    assert [s.active for s in await rows(api, subscriptions)] == [True]


async def test_t40_a_token_for_another_site_leaves_this_site_alone(api: Api) -> None:
    await follow(api, "reader@news.example")
    assert (await subscribe(api, "reader@news.example", site="b")).status_code == 202
    await confirm_address(api, "reader@news.example", site="b")
    [mail_b] = [m for m in await rows(api, kind="confirm") if m.site == "b"]
    assert (await one_click(api, link(mail_b.list_unsubscribe, "unsubscribe"))).status_code == 200
    assert (await subscriber(api, "reader@news.example", site="b")).status == "unsubscribed"
    assert (await subscriber(api, "reader@news.example", site="a")).status == "confirmed"


# -- the manage page -------------------------------------------------------------------------------


async def test_manage_page_lists_subscriptions_and_comments_and_cancels_without_an_account(api: Api) -> None:
    await name_page(api, "/story", "A story", f"{ORIGIN_A}/story")
    r = await api.post(
        text="My *first* thought",
        title="A story",
        url=f"{ORIGIN_A}/story",
        author={"name": "Ann", "email": "ann@news.example"},
        notify="all",
    )
    assert r.status_code == 201
    comment_id = r.json()["comment"]["id"]
    assert (await subscribe(api, "ann@news.example", topic="newsletter", page=None)).status_code == 202
    manage = await confirm_address(api, "ann@news.example")

    page = await api.client.get(manage)
    assert page.status_code == 200
    assert "New comments on “A story”" in page.text
    assert "The newsletter" in page.text
    assert "My first thought" in page.text
    assert f'href="{ORIGIN_A}/story#comment-{comment_id}"' in page.text
    thread_sub, _newsletter = await rows(api, subscriptions)

    r = await form_post(api, manage, f"cancel={thread_sub.id}")
    assert r.status_code == 200
    assert "New comments on “A story”" not in r.text
    assert "The newsletter" in r.text
    assert [s.active for s in await rows(api, subscriptions)] == [False, True]

    # Someone else's subscription cannot be cancelled from this page.
    await subscribe(api, "bob@news.example")
    other = (await rows(api, subscriptions))[-1]
    r = await form_post(api, manage, f"cancel={other.id}")
    assert r.status_code == 404
    assert (await rows(api, subscriptions))[-1].active is True

    r = await form_post(api, manage, "cancel=all")
    assert r.status_code == 200
    assert "You follow nothing here." in r.text
    assert [s.active for s in await rows(api, subscriptions)] == [False, False, True]
