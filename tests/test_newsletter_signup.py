"""Signing up to a newsletter list (DESIGN.md §3b "Newsletter"; QUALITY T36-T39, T45): the `list` of the
subscriptions route and the lists route, the welcome mail, the honeypot and the form token, and the
sign-up form without JavaScript; on both engines, and the whole story once against a real SMTP server.
The preference centre of the manage page is in test_newsletter_preferences.py."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import anyio
import httpx
import pytest
from sqlalchemy import update

from kibitz.store.outbox import NewMail
from kibitz.store.schema import outbox, subscribers, subscriptions
from tests.conftest import LOOSE, ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, site_table
from tests.mailserver import MailServer
from tests.test_input_xss import assert_problem
from tests.test_mail_flow import body as mail_body
from tests.test_subscriptions import ANSWER, BASE, FORM, form_post, link, one_click, rows, subscriber

pytestmark = pytest.mark.anyio

ANN = "ann@news.example"
DAILY_ABOUT = "Five stories & a <b>map</b>, every morning."
LISTS: list[dict[str, Any]] = [
    {"id": "daily", "name": "Daily briefing", "description": DAILY_ABOUT},
    {"id": "weekly", "name": "The week in review", "welcome": False},
    {"id": "offers", "name": "Offers"},
]


def sites(**limits: str) -> list[dict[str, Any]]:
    """Site "a" with three lists (the first welcomes, the second not); site "b" with none of its own."""
    return [
        site_table("a", ORIGIN_A, lists=LISTS, rate_limits={**LOOSE, **limits}),
        site_table("b", ORIGIN_B),
    ]


@pytest.fixture
async def nl(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as api:
        yield api


async def sign_up(
    api: Api, address: str, list_id: str | None = None, site: str = "a", **extra: Any
) -> httpx.Response:
    body: dict[str, Any] = {"email": address, "topic": "newsletter", **extra}
    if list_id is not None:
        body["list"] = list_id
    origin = ORIGIN_A if site == "a" else ORIGIN_B
    return await api.client.post(f"/api/v1/sites/{site}/subscriptions", json=body, headers={"Origin": origin})


async def lists_of(api: Api, address: str, site: str = "a") -> dict[str, tuple[bool, bool]]:
    """The address's newsletter subscriptions: list → (active, pending)."""
    found = await rows(api, subscribers, email=address, site=site)
    if not found:
        return {}
    return {s.list: (s.active, s.pending) for s in await rows(api, subscriptions, subscriber_id=found[0].id)}


async def confirm_latest(api: Api, address: str) -> httpx.Response:
    """A person pressing Confirm on the page of the latest confirmation mail to the address."""
    mails = [m for m in await rows(api, kind="confirm") if m.recipient == address]
    assert mails, f"no confirmation mail to {address}"
    r = await form_post(api, link(mails[-1].text_body, "confirm"))
    assert r.status_code == 200, r.text
    return r


async def form_token(api: Api, site: str = "a") -> str:
    r = await api.client.get(f"/api/v1/sites/{site}/form")
    assert r.status_code == 200
    token: str = r.json()["form"]
    return token


# -- the lists and the list of a sign-up ----------------------------------------------------------------


async def test_the_lists_route_gives_each_sites_lists_in_the_publishers_order(nl: Api) -> None:
    r = await nl.client.get("/api/v1/sites/a/lists", headers={"Origin": ORIGIN_A})
    assert r.status_code == 200
    assert r.json() == {
        "lists": [
            {"id": "daily", "name": "Daily briefing", "description": DAILY_ABOUT},
            {"id": "weekly", "name": "The week in review", "description": ""},
            {"id": "offers", "name": "Offers", "description": ""},
        ]
    }
    assert r.headers["access-control-allow-origin"] == ORIGIN_A
    assert r.headers["cache-control"] == "public, max-age=300"
    # A site without lists of its own has one, named after it.
    r = await nl.client.get("/api/v1/sites/b/lists")
    assert r.json() == {"lists": [{"id": "news", "name": "Site b newsletter", "description": ""}]}
    assert_problem(await nl.client.get("/api/v1/sites/nope/lists"), 404, "not_found")


async def test_a_sign_up_joins_its_list_and_the_confirmation_mail_names_it(nl: Api) -> None:
    r = await sign_up(nl, ANN, "weekly")
    assert (r.status_code, r.json()) == (202, ANSWER)
    assert await lists_of(nl, ANN) == {"weekly": (True, True)}
    [mail] = await rows(nl, kind="confirm")
    assert "the newsletter “The week in review”" in mail.text_body
    assert "the newsletter “The week in review”" in mail.html_body
    # Without a list: the site's first.
    assert (await sign_up(nl, "bob@news.example")).status_code == 202
    assert await lists_of(nl, "bob@news.example") == {"daily": (True, True)}
    assert (await sign_up(nl, "cy@news.example", site="b")).status_code == 202
    assert await lists_of(nl, "cy@news.example", site="b") == {"news": (True, True)}


async def test_an_unknown_list_is_refused_with_its_own_code_and_stores_nothing(nl: Api) -> None:
    problem = assert_problem(await sign_up(nl, ANN, "monthly"), 422, "unknown_list")
    assert problem["errors"] == [{"field": "list", "message": "is not one of the site's lists"}]
    assert "monthly" not in str(problem)
    # Another site's list is unknown here too; a list is only for the newsletter.
    assert_problem(await sign_up(nl, ANN, "news"), 422, "unknown_list")
    r = await nl.client.post(
        "/api/v1/sites/a/subscriptions",
        json={"email": ANN, "topic": "thread", "page": "/story", "list": "daily"},
        headers={"Origin": ORIGIN_A},
    )
    assert assert_problem(r, 422, "invalid_input")["errors"][0]["field"] == "list"
    assert_problem(await sign_up(nl, ANN, ""), 422, "invalid_input")
    assert await rows(nl) == []
    assert await rows(nl, subscribers) == []
    assert await rows(nl, subscriptions) == []


async def test_t37_the_answer_is_the_same_for_new_known_subscribed_and_unsubscribed_addresses(
    nl: Api, clock: FakeClock
) -> None:
    await sign_up(nl, "known@news.example", "daily")
    for address in ("member@news.example", "gone@news.example"):
        await sign_up(nl, address, "daily")
        await confirm_latest(nl, address)
    [welcome] = [m for m in await rows(nl, kind="welcome") if m.recipient == "gone@news.example"]
    assert (await one_click(nl, link(welcome.list_unsubscribe, "unsubscribe"))).status_code == 200
    assert await lists_of(nl, "gone@news.example") == {"daily": (False, False)}

    answers = []
    for address in ("new@news.example", "known@news.example", "member@news.example", "gone@news.example"):
        r = await sign_up(nl, address, "daily")
        answers.append((r.status_code, r.content, r.headers.get("content-type"), "location" in r.headers))
    assert answers == [(202, b'{"status":"check your inbox"}', "application/json", False)] * 4
    assert await lists_of(nl, "gone@news.example") == {"daily": (True, True)}  # waits for a new yes


async def test_t36_one_confirmation_an_hour_per_address_and_the_client_limit_hold_for_lists(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites(subscriptions="4/hour")) as api:
        for list_id in ("daily", "weekly", "offers", "daily"):
            assert (await sign_up(api, "victim@news.example", list_id)).status_code == 202
        assert_problem(await sign_up(api, "victim@news.example", "weekly"), 429, "rate_limited")
        assert len(await rows(api, kind="confirm")) == 1
        assert len(await rows(api, subscriptions)) == 3  # one per list, however often asked


# -- the welcome mail ---------------------------------------------------------------------------------


async def test_confirming_welcomes_once_per_list_in_the_publishers_words(nl: Api, clock: FakeClock) -> None:
    await sign_up(nl, ANN, "daily")
    await confirm_latest(nl, ANN)
    assert await lists_of(nl, ANN) == {"daily": (True, False)}
    [welcome] = await rows(nl, kind="welcome")
    ann = await subscriber(nl, ANN)
    assert (welcome.recipient, welcome.subscriber_id) == (ANN, ann.id)
    assert welcome.dedupe_key == f"welcome:{ann.id}:daily"
    assert welcome.subject == "Welcome to Daily briefing"
    assert welcome.list_unsubscribe.startswith(f"{BASE}/unsubscribe/")
    assert "welcome to Daily briefing from Site a" in welcome.text_body
    assert DAILY_ABOUT in welcome.text_body
    assert "Five stories &amp; a &lt;b&gt;map&lt;/b&gt;" in welcome.html_body  # escaped in HTML
    assert link(welcome.text_body, "manage") in welcome.html_body

    # Leaving and joining again: a new confirmation, no second welcome.
    assert (await one_click(nl, link(welcome.list_unsubscribe, "unsubscribe"))).status_code == 200
    clock.advance(hours=2)
    await sign_up(nl, ANN, "daily")
    await confirm_latest(nl, ANN)
    assert await lists_of(nl, ANN) == {"daily": (True, False)}
    assert len(await rows(nl, kind="welcome")) == 1


async def test_a_list_with_welcome_false_sends_no_welcome(nl: Api) -> None:
    await sign_up(nl, ANN, "weekly")
    r = await confirm_latest(nl, ANN)
    assert "The newsletter “The week in review”" in r.text
    assert await lists_of(nl, ANN) == {"weekly": (True, False)}
    assert await rows(nl, kind="welcome") == []


async def test_what_waits_confirmed_from_the_manage_page_is_welcomed_too(nl: Api, clock: FakeClock) -> None:
    await sign_up(nl, ANN, "weekly")
    manage = link((await confirm_latest(nl, ANN)).text, "manage")
    clock.advance(seconds=5)
    await sign_up(nl, ANN, "offers")  # after the mail: it waits
    assert await rows(nl, kind="welcome") == []
    [waiting] = [s for s in await rows(nl, subscriptions) if s.list == "offers"]
    assert (await form_post(nl, manage, f"confirm={waiting.id}")).status_code == 200
    [welcome] = await rows(nl, kind="welcome")
    assert welcome.subject == "Welcome to Offers"


async def test_a_subscription_from_before_lists_is_the_first_lists(nl: Api) -> None:
    await sign_up(nl, ANN, "daily")
    await confirm_latest(nl, ANN)
    async with nl.app.state.ctx.db.write() as tx:  # as migration 0012 left older subscriptions
        await tx.conn.execute(update(subscriptions).values(list=""))
    assert (await sign_up(nl, ANN, "daily")).status_code == 202
    assert await lists_of(nl, ANN) == {"daily": (True, False)}  # the same one, named now
    assert len(await rows(nl, kind="confirm")) == 1  # in force already: nothing to confirm


# -- scripts: the hidden field and the form token --------------------------------------------------------


@pytest.mark.parametrize("trap", ["honeypot", "forged", "too_fast", "other_site", "replayed"])
async def test_a_scripts_sign_up_answers_the_same_202_and_stores_and_sends_nothing(
    nl: Api, clock: FakeClock, trap: str
) -> None:
    extra: dict[str, Any] = {"hp": "", "form": await form_token(nl)}
    if trap == "honeypot":
        extra["hp"] = "http://spam.example"
    elif trap == "forged":
        extra["form"] = extra["form"][:-4] + "AAAA"
    elif trap == "other_site":
        extra["form"] = await form_token(nl, "b")
    if trap != "too_fast":
        clock.advance(seconds=3)
    if trap == "replayed":
        assert (await sign_up(nl, "first@news.example", "daily", **extra)).status_code == 202
        assert await lists_of(nl, "first@news.example") == {"daily": (True, True)}
    r = await sign_up(nl, ANN, "daily", **extra)
    assert (r.status_code, r.json()) == (202, ANSWER)
    assert await lists_of(nl, ANN) == {}
    assert [m for m in await rows(nl) if m.recipient == ANN] == []


async def test_a_person_with_the_forms_token_or_an_api_client_without_one_is_signed_up(
    nl: Api, clock: FakeClock
) -> None:
    token = await form_token(nl)
    clock.advance(seconds=3)
    assert (await sign_up(nl, ANN, "offers", hp="", form=token)).status_code == 202
    assert (await sign_up(nl, "client@news.example", "offers")).status_code == 202
    for address in (ANN, "client@news.example"):
        assert await lists_of(nl, address) == {"offers": (True, True)}
        assert [m.kind for m in await rows(nl) if m.recipient == address] == ["confirm"]


# -- the sign-up form without JavaScript ---------------------------------------------------------------


def fields_of(html: str) -> dict[str, str]:
    """name → value of the inputs a browser would send from the page's form (the checked radio)."""
    sent: dict[str, str] = {}
    for tag in re.findall(r"<input [^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and ('type="radio"' not in tag or " checked" in tag):
            sent[name.group(1)] = value.group(1) if value else ""
    return sent


async def test_the_sign_up_page_draws_a_form_that_needs_no_script(nl: Api) -> None:
    r = await nl.client.get("/newsletter/a")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "script-src 'none'" in r.headers["content-security-policy"]
    html = r.text
    assert "<script" not in html.lower()
    assert '<form method="post" action="/newsletter/a/subscribe"' in html
    assert '<label for="email">Email address</label>' in html
    assert '<input type="email" id="email" name="email" required' in html
    assert "<legend>Newsletter</legend>" in html
    assert '<div hidden><label for="hp">' in html
    sent = fields_of(html)
    assert sent.keys() == {"form", "email", "list", "hp"}
    assert sent["list"] == "daily"
    assert fields_of((await nl.client.get("/newsletter/a?list=weekly")).text)["list"] == "weekly"
    one = (await nl.client.get("/newsletter/b")).text
    assert "<h1>Subscribe to Site b newsletter</h1>" in one
    assert '<input type="hidden" name="list" value="news">' in one
    r = await nl.client.get("/newsletter/nope")
    assert r.status_code == 404
    assert "There is no newsletter at this address." in r.text


async def no_js(
    api: Api, site: str = "a", headers: dict[str, str] | None = None, **fields: str
) -> httpx.Response:
    sent = {"Origin": ORIGIN_A} if headers is None else headers
    return await api.client.post(
        f"/newsletter/{site}/subscribe", content=urlencode(fields).encode(), headers={**FORM, **sent}
    )


async def test_the_form_post_from_a_page_of_the_site_says_check_your_inbox_for_any_address(
    nl: Api,
) -> None:
    r = await no_js(nl, email=ANN, list="weekly", hp="")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "<h1>Check your inbox</h1>" in r.text
    assert "“The week in review”" in r.text
    assert "location" not in r.headers
    assert await lists_of(nl, ANN) == {"weekly": (True, True)}
    [mail] = await rows(nl, kind="confirm")
    assert link(mail.text_body, "confirm").rsplit("/", 1)[1] not in r.text
    await confirm_latest(nl, ANN)
    # Known, subscribed or new: the same page.
    for address in (ANN, "new@news.example"):
        again = await no_js(nl, email=address, list="weekly", hp="")
        assert (again.status_code, again.text) == (200, r.text)
    # From a page without an Origin (an old browser): its Referer says where it came from.
    referred = await no_js(nl, headers={"Referer": f"{ORIGIN_A}/about"}, email="ref@news.example")
    assert referred.status_code == 200
    assert await lists_of(nl, "ref@news.example") == {"daily": (True, True)}


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": ORIGIN_B},  # another site's page
        {"Origin": "null", "Referer": "https://evil.example/x"},
        {},
    ],
)
async def test_the_form_post_from_elsewhere_is_refused_and_changes_nothing(
    nl: Api, headers: dict[str, str]
) -> None:
    r = await no_js(nl, "a", headers, email=ANN)
    assert r.status_code == 403
    assert "Not sent from this site" in r.text
    assert await rows(nl, subscribers) == []
    assert await rows(nl) == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("email=not-an-address", "That is not an email address we can send to."),
        ("email=", "That is not an email address we can send to."),
        (f"email={quote(ANN)}&list=monthly", "This site has no such newsletter."),
        (f"email={quote(ANN)}&email=b%40news.example", "The form could not be read."),
        (f"email={quote(ANN)}&name=Ann", "The form could not be read."),
        ("email=" + "a" * 300 + "%40news.example", "That is not an email address we can send to."),
    ],
)
async def test_bad_input_to_the_form_post_gets_a_page_saying_what_to_correct(
    nl: Api, body: str, says: str
) -> None:
    r = await nl.client.post(
        "/newsletter/a/subscribe", content=body.encode(), headers={**FORM, "Origin": ORIGIN_A}
    )
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("text/html")
    assert "<h1>Not subscribed</h1>" in r.text
    assert says in r.text
    assert await rows(nl, subscriptions) == []


async def test_the_form_post_with_the_hidden_field_filled_answers_the_same_page_and_does_nothing(
    nl: Api,
) -> None:
    person = await no_js(nl, email="person@news.example", hp="")
    bot = await no_js(nl, email=ANN, hp="I fill in everything")
    assert (bot.status_code, bot.text) == (200, person.text)
    assert await lists_of(nl, ANN) == {}
    assert [m for m in await rows(nl) if m.recipient == ANN] == []


async def test_our_own_sign_up_page_posts_with_its_token_which_works_once(nl: Api, clock: FakeClock) -> None:
    sent = fields_of((await nl.client.get("/newsletter/a?list=offers")).text)
    same = {"Sec-Fetch-Site": "same-origin", "Origin": "null"}  # the page sends no referrer
    assert (await no_js(nl, headers=same, **{**sent, "email": "early@news.example"})).status_code == 200
    assert await lists_of(nl, "early@news.example") == {}  # sooner than a person types
    sent = fields_of((await nl.client.get("/newsletter/a?list=offers")).text)
    clock.advance(seconds=5)
    assert (await no_js(nl, headers=same, **{**sent, "email": ANN})).status_code == 200
    assert await lists_of(nl, ANN) == {"offers": (True, True)}
    assert (await no_js(nl, headers=same, **{**sent, "email": "again@news.example"})).status_code == 200
    assert await lists_of(nl, "again@news.example") == {}  # the token was used


# -- the whole story over SMTP -------------------------------------------------------------------------


async def test_sign_up_confirm_welcome_and_one_click_unsubscribe_over_smtp(
    tmp_path: Path, database_url: str, clock: FakeClock, mail_server: MailServer
) -> None:
    async with custom_api(tmp_path, database_url, clock, smtp=mail_server.smtp, sites=sites()) as api:
        assert (await sign_up(api, ANN, "daily")).status_code == 202
        await mail_server.wait_for(1)
        confirm = mail_server.messages[0]
        assert confirm["To"] == ANN
        assert "the newsletter “Daily briefing”" in mail_body(confirm)
        confirm_path = urlsplit(re.findall(r"http\S+/confirm/\S+", mail_body(confirm))[0]).path

        # One click: the GET shows a button and changes nothing; the button's POST confirms.
        page = await api.client.get(confirm_path)
        assert page.status_code == 200
        assert '<button type="submit">Confirm</button>' in page.text
        assert await lists_of(api, ANN) == {"daily": (True, True)}
        assert (await form_post(api, confirm_path)).status_code == 200
        assert await lists_of(api, ANN) == {"daily": (True, False)}

        await mail_server.wait_for(2)
        welcome = mail_server.messages[1]
        assert (welcome["To"], welcome["Subject"]) == (ANN, "Welcome to Daily briefing")
        assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert re.fullmatch(r"<http://127\.0\.0\.1:8000/unsubscribe/[\w.-]+>", welcome["List-Unsubscribe"])
        assert welcome["Message-ID"].startswith("<kibitz.")
        assert welcome["Date"]
        again = email.message_from_bytes(welcome.as_bytes(), policy=email.policy.default)
        assert again["List-Unsubscribe"] == welcome["List-Unsubscribe"]  # parses round trip (T45)
        assert DAILY_ABOUT in mail_body(welcome)

        # RFC 8058: the mail provider's POST, no cookies, no redirect.
        unsubscribe = urlsplit(welcome["List-Unsubscribe"].strip("<>")).path
        r = await one_click(api, unsubscribe)
        assert r.status_code == 200
        assert "location" not in r.headers
        assert await lists_of(api, ANN) == {"daily": (False, False)}

        # Nothing more reaches the address: an issue queued for it (as a campaign queues one) is dropped.
        ann = await subscriber(api, ANN)
        [daily] = await rows(api, subscriptions, subscriber_id=ann.id)
        issue = NewMail(
            site="a",
            kind="newsletter",
            dedupe_key="issue:1",
            recipient=ANN,
            subject="Daily briefing, issue 1",
            text_body="Five stories.",
            html_body="<p>Five stories.</p>",
            list_unsubscribe=f"{BASE}{unsubscribe}",
            subscriber_id=ann.id,
            subscription_id=daily.id,
        )
        async with api.app.state.ctx.db.write() as tx:
            assert await tx.outbox.enqueue(issue, clock())
        for _ in range(400):
            [row] = await rows(api, outbox, dedupe_key="issue:1")
            if row.status != "pending" and row.status != "sending":
                break
            await anyio.sleep(0.05)  # bounded wait on the worker's outcome
        assert row.status == "dropped"
        assert len(mail_server.messages) == 2
