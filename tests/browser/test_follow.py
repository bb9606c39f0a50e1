"""Following a thread, and a thread's state kept true on every open page.

Following from the widget without commenting, and "Check your inbox to confirm" after every subscription
(docs/api.md "Consent, per subscription"): the demo's own SMTP server keeps each mail in its data
directory (kibitz/demo_mail.py), where the tests read the confirmation and the notification. Live, on two
pages open on one thread of `kibitz serve` (tests.browser.conftest.cross_origin, loose rate limits, each
test on a page key of its own): the header counts exactly what is shown after racing posts, replies,
deletes and a moderator's hide, and closing and reopening the thread show at once."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import APIResponse, Browser, Page, Route, expect

from kibitz.demo_mail import StoredMail, list_mails, mail_dir
from tests.browser.conftest import (
    MAIN_FORM,
    SCREENSHOTS,
    SHORT,
    WAIT_MS,
    WIDGET,
    CrossOrigin,
    Kibitz,
    PageLog,
    comment,
    comment_id_with_text,
    require_bundle,
    wait_for_widget,
)
from tests.server import run_kibitz

MAIL_SECONDS = 30.0
CONFIRM = "Check your inbox to confirm."


def mailbox(demo: Kibitz) -> Path:
    """Where `kibitz demo` (started by tests.browser.conftest.start_demo) keeps the mail it sent."""
    return mail_dir(demo.log.parent / "demo-data")


def wait_for_mail(demo: Kibitz, to: str, kind: str) -> StoredMail:
    """The first mail of ``kind`` to ``to`` (bounded wait: the demo's worker sends within seconds)."""
    deadline = time.monotonic() + MAIL_SECONDS
    while time.monotonic() < deadline:
        for mail in list_mails(mailbox(demo)):
            if mail.header("To") == to and mail.kind == kind:
                return mail
        time.sleep(0.1)  # polling a condition, bounded by the deadline
    sent = [(m.header("To"), m.kind, m.subject) for m in list_mails(mailbox(demo))]
    raise AssertionError(f"no {kind} mail to {to} within {MAIL_SECONDS:.0f} s; sent: {sent}")


def test_following_without_commenting_confirms_by_mail_then_mails_new_comments(
    fresh_demo: Kibitz, page: Page, page_log: PageLog
) -> None:
    require_bundle("actions.js")
    address = "follower@reader.example"
    page.goto(fresh_demo.url + SHORT)
    wait_for_widget(page)

    follow = page.locator(f"{WIDGET} button[data-action='follow']")
    expect(follow).to_have_text("Follow")
    expect(follow).to_have_attribute("aria-expanded", "false")
    follow.click()
    form = page.locator(f"{WIDGET} form[data-form='follow']")
    expect(form).to_be_visible()
    expect(follow).to_have_attribute("aria-expanded", "true")
    email = form.get_by_label("Your email")
    expect(email).to_be_focused()
    digest = form.get_by_label("How often")
    assert [o.get_attribute("value") for o in digest.locator("option").all()] == ["instant", "daily"]

    form.locator("button[type='submit']").click()  # no address yet: said beside the field
    expect(form.locator("[data-error-for='email']")).to_have_text(re.compile("email", re.IGNORECASE))
    expect(email).to_have_attribute("aria-invalid", "true")
    email.fill(address)
    form.locator("button[type='submit']").click()
    done = page.locator(f"{WIDGET} [data-follow-done]")
    expect(done).to_have_text(CONFIRM)
    expect(done).to_have_attribute("role", "status")
    expect(form).to_have_count(0)
    expect(follow).to_be_focused()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(f"{WIDGET} .kb-top").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "widget-follow-confirm.png"))

    confirmation = wait_for_mail(fresh_demo, address, "confirmation")
    link = next(url for url in confirmation.links() if "/confirm/" in url)
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("body")).to_contain_text("Subscription confirmed")

    fresh_demo.post(SHORT, "Someone else adds to the story. [followed-news]", name="Another Reader")
    notification = wait_for_mail(fresh_demo, address, "notification")
    assert "[followed-news]" in (notification.body("plain") or ""), notification.body("plain")
    assert page_log.errors == []


def test_notify_of_offers_the_digest_and_says_check_your_inbox_after_posting(
    fresh_demo: Kibitz, page: Page, page_log: PageLog
) -> None:
    require_bundle("actions.js")
    address = "notified@reader.example"
    page.goto(fresh_demo.url + SHORT)
    wait_for_widget(page)
    form = page.locator(MAIN_FORM)
    form.locator("[name='name']").fill("Nora Notify")
    notify = form.locator("select[name='notify']")
    digest = form.locator("select[name='digest']")
    expect(digest).to_be_attached()  # beside "Notify of", once the reader starts using the form
    expect(digest).to_be_hidden()  # nothing to notify of yet
    notify.select_option("all")
    expect(digest).to_be_visible()
    expect(digest).to_have_accessible_name("How often")
    digest.select_option("daily")
    form.locator("[name='email']").fill(address)
    form.locator("[name='text']").fill("Keep me posted, once a day. [notify-digest]")
    form.locator("button[type='submit']").click()
    comment_id_with_text(page, "[notify-digest]")
    expect(form.locator("[data-confirm-note]")).to_have_text(CONFIRM)
    expect(page.locator(f"{WIDGET} [data-live]")).to_contain_text(CONFIRM)

    confirmation = wait_for_mail(fresh_demo, address, "confirmation")
    assert "new comments on" in (confirmation.body("plain") or "")

    # Remembered for the next form: the reply form offers the same choices.
    page.reload()
    wait_for_widget(page)
    page.locator(f"{WIDGET} [data-action='reply']").first.click()
    reply = page.locator(f"{WIDGET} form[data-form='reply']")
    expect(reply.locator("select[name='notify']")).to_have_value("all")
    expect(reply.locator("select[name='digest']")).to_have_value("daily")
    expect(reply.locator("[name='email']")).to_have_value(address)
    assert page_log.errors == []


# -- live, on two open pages -------------------------------------------------------------------------

COUNT = f"{WIDGET} [data-count]"
PILL = f"{WIDGET} [data-new-pill]"  # live.js adds it once it runs
SHOWN = f"{WIDGET} li[data-comment-id]:not([data-deleted]):not([data-pending])"


@pytest.fixture
def other_page(browser: Browser) -> Iterator[Page]:
    """A second reader: a browser context of its own (its own localStorage, its own reader id)."""
    made = browser.new_context(locale="en-US", timezone_id="UTC")
    made.set_default_timeout(WAIT_MS)
    try:
        yield made.new_page()
    finally:
        made.close()


@pytest.fixture(scope="module")
def moderator(cross_origin: CrossOrigin) -> str:
    """An API key of site "x" with the `moderate` scope (`kibitz apikey create`)."""
    config = cross_origin.kibitz.log.parent / "kibitz.toml"
    made = run_kibitz(
        "apikey", "create", "--config", str(config), "--site", "x", "--scope", "moderate", cwd=config.parent
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def staff(cross_origin: CrossOrigin, key: str, path: str, body: dict[str, object]) -> None:
    r = httpx.post(
        f"{cross_origin.kibitz.url}/api/v1/admin{path}",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


def open_thread(page: Page, cross_origin: CrossOrigin, key: str) -> None:
    """The publisher's page with its widget on page key ``key``; until live.js runs. The key is set
    before embed.js runs (a rewritten page would lose its loopback address, which Chromium then keeps
    from loading the widget)."""
    page.add_init_script(
        f"""new MutationObserver((_, watch) => {{
          const host = document.getElementById('kibitz');
          if (host) {{ host.dataset.page = {json.dumps(key)}; watch.disconnect(); }}
        }}).observe(document, {{childList: true, subtree: true}})"""
    )
    page.goto(cross_origin.story)
    expect(page.locator(PILL)).to_be_attached()


def write(page: Page, text: str, within: str = MAIN_FORM) -> str:
    form = page.locator(within)
    form.locator("[name='name']").fill("Rae Racer")
    form.locator("[name='text']").fill(text)
    form.locator("button[type='submit']").click()
    return comment_id_with_text(page, text)


def reply(page: Page, parent: str, text: str) -> str:
    page.locator(f"{comment(parent)} > article [data-action='reply']").click()
    return write(page, text, f"{comment(parent)} > article form[data-form='reply']")


def delete(page: Page, comment_id: str) -> None:
    """Deletes at once, without waiting for the answer (the next step races it)."""
    page.locator(f"{comment(comment_id)} > article [data-action='delete']").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()


def test_counts_stay_exact_on_two_pages_racing_posts_replies_deletes_and_hides(
    cross_origin: CrossOrigin, moderator: str, page: Page, page_log: PageLog, other_page: Page
) -> None:
    require_bundle("live.js")
    key = "/race"
    a, b = page, other_page
    for each in (a, b):
        open_thread(each, cross_origin, key)
    top = cross_origin.kibitz.post(key, "Start of the race. [race-top]", name="Starter")["id"]
    for each in (a, b):
        expect(each.locator(comment(top))).to_be_attached()

    a1 = reply(a, top, "A reply taken back at once. [race-a1]")
    delete(a, a1)
    b1 = write(b, "B's comment, soon a tombstone. [race-b1]")
    b2 = reply(b, b1, "B's reply, which stays. [race-b2]")
    a2 = write(a, "A's comment, hidden by a moderator. [race-a2]")
    delete(b, b1)
    cross_origin.kibitz.post(key, "Meanwhile, through the API. [race-api]", name="Someone Else")
    a3 = reply(a, b2, "A's reply to the reply. [race-a3]")
    delete(a, a3)
    b3 = write(b, "B posts and deletes. [race-b3]")
    delete(b, b3)
    # Last: after a rejection the site holds its author's next comments for a moderator.
    staff(cross_origin, moderator, f"/comments/{a2}/moderate", {"action": "reject"})

    # top, b2 and the API's comment; b1 a tombstone; a1, a3 and b3 deleted; a2 hidden.
    for each in (a, b):
        expect(each.locator(COUNT)).to_have_attribute("data-count", "3")
        expect(each.locator(SHOWN)).to_have_count(3)
        expect(each.locator(f"{comment(b1)}[data-deleted]")).to_have_count(1)
    assert cross_origin.kibitz.count(key) == 3
    a.reload()
    expect(a.locator(COUNT)).to_have_attribute("data-count", "3")
    assert page_log.errors == []


def test_a_thread_read_that_a_live_count_overtook_is_read_again(
    cross_origin: CrossOrigin, page: Page, page_log: PageLog
) -> None:
    """A sort change reads the thread; the reader's own post and someone else's comment (live) land
    before that read's answer, which the server wrote before them: the widget reads once more."""
    require_bundle("live.js")
    key = "/overtaken"
    cross_origin.kibitz.post(key, "There first. [overtaken-first]", name="First")
    open_thread(page, cross_origin, key)
    held: list[tuple[Route, APIResponse]] = []

    def hold_the_first_read(route: Route) -> None:
        if held or route.request.method != "GET":
            route.continue_()
            return
        held.append((route, route.fetch()))  # read now, answered later

    page.route(re.compile(r".*/api/v1/sites/x/comments\?.*"), hold_the_first_read)
    page.locator(f"{WIDGET} [data-sort='oldest']").click()
    deadline = time.monotonic() + WAIT_MS / 1000
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(20)  # polling a condition, bounded by the deadline
    assert held, "the sort change read the thread"
    write(page, "Mine, while the sort loads. [overtaken-mine]")
    other = cross_origin.kibitz.post(key, "Theirs, live. [overtaken-other]", name="Other")
    expect(page.locator(comment(other["id"]))).to_be_attached()
    expect(page.locator(COUNT)).to_have_attribute("data-count", "3")  # the stream's count, after both
    route, answer = held[0]
    route.fulfill(response=answer)  # the thread as it was before either
    expect(page.locator(SHOWN)).to_have_count(3)
    expect(page.locator(COUNT)).to_have_attribute("data-count", "3")
    expect(page.locator(comment(other["id"]))).to_be_attached()
    assert page_log.errors == []


def test_closing_and_reopening_show_at_once_on_open_pages(
    cross_origin: CrossOrigin, moderator: str, page: Page, other_page: Page
) -> None:
    require_bundle("live.js")
    key = "/closing"
    cross_origin.kibitz.post(key, "Said before the close. [close-before]", name="Early Bird")
    for each in (page, other_page):
        open_thread(each, cross_origin, key)
        expect(each.locator(f"{WIDGET} [data-invite]")).to_have_text(
            "Would love your thoughts, please comment."
        )

    def expect_closed(each: Page, closed: bool) -> None:
        shown = expect(each.locator(f"{WIDGET} .kb-closed"))
        (shown.to_be_visible if closed else shown.to_be_hidden)()
        for hidden_when_closed in (MAIN_FORM, f"{WIDGET} [data-invite]", f"{WIDGET} [data-action='follow']"):
            shown = expect(each.locator(hidden_when_closed))
            (shown.to_be_hidden if closed else shown.to_be_visible)()
        reply_button = expect(each.locator(f"{WIDGET} [data-action='reply']").first)
        (reply_button.to_be_hidden if closed else reply_button.to_be_visible)()

    staff(cross_origin, moderator, "/sites/x/threads", {"page": key, "closed": True})
    for each in (page, other_page):
        expect_closed(each, True)
        expect(each.locator(f"{WIDGET} .kb-closed")).to_have_text("Comments are closed.")
    page.locator(f"{WIDGET} .kb-top").scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "widget-closed.png"))
    page.reload()
    expect(page.locator(PILL)).to_be_attached()
    expect_closed(page, True)

    staff(cross_origin, moderator, "/sites/x/threads", {"page": key, "closed": False})
    for each in (page, other_page):
        expect_closed(each, False)
        expect(each.locator(f"{WIDGET} [data-invite]")).to_have_text(
            "Would love your thoughts, please comment."
        )
