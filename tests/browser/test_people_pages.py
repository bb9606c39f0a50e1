"""The pages readers reach from mail, in a real browser on a real `kibitz demo`: confirm, confirmed,
already confirmed, an expired link, unsubscribe, manage (with comments and subscriptions), the step
that asks before deleting, and the fresh-link page. Each at 320 CSS px wide in light and dark: nothing
wider than the screen, no serious or critical axe violations, a visible focus ring, and a screenshot
in test-artifacts/screenshots/ for a person to look at.

The links come from the demo's own mail (files in its data directory); the two a test cannot wait
for (a link past its seven days, a manage link over an hour old) are signed with the demo's secret.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from kibitz.demo import articles
from kibitz.links import CONFIRM, MANAGE, TTL, ms
from kibitz.security import Tokens
from tests.browser.conftest import FOCUS_VISIBLE_JS, SCREENSHOTS, WAIT_MS, Kibitz, start_demo
from tests.browser.test_audit import AXE_JS, axe_script

READER = "reader@people.example"
STORY = next(a for a in articles() if not a.moderation and a.comments)  # published at once
WIDTH = 320
MAIL_SECONDS = 30.0
SCHEMES = ("light", "dark")

# Runs in the page: how far the document is wider than the window (0: nothing sticks out).
OVERFLOW_JS = """() => {
  const wide = [...document.querySelectorAll('body *')]
    .filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5)
    .map(el => el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''));
  return {over: document.documentElement.scrollWidth - window.innerWidth, wide: wide.slice(0, 5)};
}"""


@dataclass
class Demo:
    server: Kibitz
    data: Path

    @property
    def url(self) -> str:
        return self.server.url

    def tokens(self) -> Tokens:
        """The demo's own signer (its secret is kept in its database)."""
        with sqlite3.connect(self.data / "kibitz.db") as db:
            [secret] = db.execute("SELECT value FROM meta WHERE key = 'secret_key'").fetchone()
        return Tokens(str(secret))

    def manage_link(self, issued: datetime) -> str:
        """The reader's manage link as a mail sent at ``issued`` carries it."""
        with sqlite3.connect(self.data / "kibitz.db") as db:
            row = db.execute(
                "SELECT id FROM subscribers WHERE email = ? AND site = 'demo'", (READER,)
            ).fetchone()
        assert row is not None
        token = self.tokens().issue(MANAGE, f"{row[0]}.{ms(issued)}", now=issued, ttl=TTL[MANAGE])
        return f"{self.url}/manage/{token}"

    def mails(self) -> list[email.message.EmailMessage]:
        found = []
        for path in sorted((self.data / "mail").glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, email.message.EmailMessage)
            found.append(message)
        return found

    def wait_for_mail(self, subject: str) -> str:
        """The plain text of the first mail to READER whose subject starts so (waits, bounded)."""
        deadline = time.monotonic() + MAIL_SECONDS
        while time.monotonic() < deadline:
            for message in self.mails():
                if message["To"] == READER and str(message["Subject"]).startswith(subject):
                    body = message.get_body(("plain",))
                    assert body is not None
                    text: str = body.get_content()
                    return text
            time.sleep(0.1)  # polling the demo's mailbox, bounded by the deadline
        pytest.fail(f"no mail {subject!r} to {READER} within {MAIL_SECONDS:.0f} s: {self.server.output()}")

    def link(self, text: str, kind: str) -> str:
        found = re.search(rf"{re.escape(self.url)}/{kind}/[A-Za-z0-9_.\-]+", text)
        assert found, f"no {kind} link in {text!r}"
        return found.group(0)

    def post(self, text: str, **extra: Any) -> str:
        body = {"page": STORY.path, "text": text, **extra}
        r = httpx.post(
            f"{self.url}/api/v1/sites/demo/comments", json=body, headers={"Origin": self.url}, timeout=10
        )
        assert r.status_code == 201, r.text
        found: str = r.json()["comment"]["id"]
        return found


@dataclass
class Links:
    confirm: str
    reader_comment: str
    story_url: str


@pytest.fixture(scope="module")
def people(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    where = tmp_path_factory.mktemp("people")
    server = start_demo(demo_template, where)
    try:
        yield Demo(server, where / "demo-data")
    finally:
        server.stop()


@pytest.fixture(scope="module")
def links(people: Demo) -> Links:
    """A reader who commented with "notify me of replies" (a confirmation mail on its way), then asked
    for every new comment on the story too (that one waits for the manage page)."""
    mine = people.post(
        "The harbour plan needs a footpath along the quay, not just a cycle lane.",
        author={"name": "Robin Reader", "email": READER},
        notify="replies",
    )
    people.post("And a bench or two.", author={"name": "Robin Reader", "email": READER})
    r = httpx.post(
        f"{people.url}/api/v1/sites/demo/subscriptions",
        json={"email": READER, "topic": "thread", "page": STORY.path},
        headers={"Origin": people.url},
        timeout=10,
    )
    assert r.status_code == 202, r.text
    confirm = people.link(people.wait_for_mail("Confirm your subscription"), "confirm")
    story = people.server.thread(STORY.path)["thread"]["url"]
    return Links(confirm, mine, story)


@pytest.fixture(scope="module")
def narrow(browser: Browser, people: Demo) -> Iterator[BrowserContext]:
    """A phone-sized window; axe-core is put into every page before the page's own CSP applies."""
    made = browser.new_context(
        viewport={"width": WIDTH, "height": 700}, locale="en-US", timezone_id="UTC", device_scale_factor=2
    )
    made.set_default_timeout(WAIT_MS)
    made.add_init_script(path=str(axe_script()))
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def tab(narrow: BrowserContext) -> Iterator[Page]:
    made = narrow.new_page()
    try:
        yield made
    finally:
        made.close()


def look(page: Page, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """In light and dark: nothing wider than 320 px, axe finds nothing serious, a screenshot."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in SCHEMES:
        page.emulate_media(color_scheme="dark" if scheme == "dark" else "light")
        overflow: dict[str, Any] = page.evaluate(OVERFLOW_JS)
        assert overflow["over"] <= 0, (name, scheme, overflow)
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), (
            name,
            scheme,
        )
        violations: list[dict[str, Any]] = page.evaluate(AXE_JS)
        with capsys.disabled():
            for v in violations:
                print(f"\naxe {name} {scheme} {v['impact']}: {v['id']} ({v['help']})")
        grave = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert grave == [], json.dumps(grave, indent=1)
        page.screenshot(path=str(SCREENSHOTS / f"people-{name}-{scheme}.png"), full_page=True)
    page.emulate_media(color_scheme="light")


def shows_focus(page: Page, button: str) -> None:
    """Tabbing reaches the button, and the focused button shows a ring."""
    target = page.get_by_role("button", name=button).first
    for _ in range(40):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail(f"Tab never reached {button!r}")
    assert page.evaluate(FOCUS_VISIBLE_JS), f"no visible focus on {button!r}"


def test_confirm_confirmed_and_already_confirmed(
    tab: Page, people: Demo, links: Links, capsys: pytest.CaptureFixture[str]
) -> None:
    tab.goto(links.confirm)
    expect(tab.get_by_role("heading", level=1)).to_have_text("Confirm your subscription")
    expect(tab.locator("header")).to_contain_text("The Daily Kibitz")
    expect(tab.locator(".confirming li")).to_contain_text([f"Replies to your comments on “{STORY.headline}”"])
    back = tab.locator("main .back a")
    expect(back).to_have_attribute("href", links.story_url)
    expect(back).to_contain_text(STORY.headline)
    shows_focus(tab, "Confirm")
    look(tab, "confirm", capsys)

    tab.get_by_role("button", name="Confirm").click()
    expect(tab.get_by_role("heading", level=1)).to_have_text("Subscription confirmed")
    expect(tab.get_by_role("link", name="Manage your subscriptions and comments")).to_be_visible()
    look(tab, "confirmed", capsys)

    tab.goto(links.confirm)  # the mail's link again
    expect(tab.get_by_role("heading", level=1)).to_have_text("Already confirmed")
    expect(tab.get_by_role("link", name="Manage your subscriptions and comments")).to_have_count(0)
    look(tab, "already-confirmed", capsys)


def test_expired_and_not_valid_links(tab: Page, people: Demo, capsys: pytest.CaptureFixture[str]) -> None:
    then = datetime.now(UTC) - TTL[CONFIRM] - timedelta(days=1)
    old = people.tokens().issue(CONFIRM, "1.nonce", now=then, ttl=TTL[CONFIRM])
    response = tab.goto(f"{people.url}/confirm/{old}")
    assert response is not None
    assert response.status == 410
    expect(tab.get_by_role("heading", level=1)).to_have_text("Link expired")
    look(tab, "expired", capsys)
    response = tab.goto(f"{people.url}/manage/not-a-token")
    assert response is not None
    assert response.status == 404
    expect(tab.get_by_role("heading", level=1)).to_have_text("Link not valid")
    look(tab, "not-valid", capsys)


def test_unsubscribe_from_a_reply_notification(
    tab: Page, people: Demo, links: Links, capsys: pytest.CaptureFixture[str]
) -> None:
    confirmed(tab, links)
    reply = "A footpath is planned for phase two."
    people.post(reply, author={"name": "Harbour Desk"}, parent=links.reader_comment)
    mail = people.wait_for_mail("Harbour Desk replied")
    tab.goto(people.link(mail, "unsubscribe"))
    expect(tab.get_by_role("heading", level=1)).to_have_text("Unsubscribe")
    expect(tab.locator("main")).to_contain_text(f"replies to your comments on “{STORY.headline}”")
    expect(tab.locator("main .back a")).to_have_attribute("href", links.story_url)
    look(tab, "unsubscribe", capsys)
    tab.get_by_role("button", name="Unsubscribe").click()
    expect(tab.get_by_role("heading", level=1)).to_have_text("Unsubscribed")
    look(tab, "unsubscribed", capsys)


def test_manage_delete_step_and_fresh_link_page(
    tab: Page, people: Demo, links: Links, capsys: pytest.CaptureFixture[str]
) -> None:
    confirmed(tab, links)
    tab.goto(people.manage_link(datetime.now(UTC)))  # as a mail sent just now carries it
    manage = tab.url
    expect(tab.get_by_role("heading", level=1)).to_have_text("Your subscriptions and comments")
    expect(tab.locator("li[data-pending]")).to_contain_text("waiting for your confirmation")
    mine = tab.locator(f"li[data-comment-id='{links.reader_comment}']")
    expect(mine).to_contain_text("footpath along the quay")
    expect(mine.get_by_role("link")).to_have_attribute(
        "href", f"{links.story_url}#comment-{links.reader_comment}"
    )
    tab.locator("details summary").first.click()  # the edit form open, for the width check
    expect(tab.locator("textarea").first).to_be_visible()
    shows_focus(tab, "Delete")
    look(tab, "manage", capsys)

    mine.get_by_role("button", name="Delete").click()
    expect(tab.get_by_role("heading", level=1)).to_have_text("Delete this comment?")
    expect(tab.locator("main")).to_contain_text("footpath along the quay")
    look(tab, "delete-confirm", capsys)
    tab.get_by_role("link", name="Keep it").click()  # nothing deleted
    expect(tab.locator(f"li[data-comment-id='{links.reader_comment}']")).to_be_visible()
    assert tab.url == manage

    # A manage link from a mail over an hour old may look, but deleting needs a fresh one.
    tab.goto(people.manage_link(datetime.now(UTC) - timedelta(hours=2)))
    expect(tab.get_by_role("button", name="Mail me a fresh link")).to_be_visible()
    tab.locator(f"li[data-comment-id='{links.reader_comment}']").get_by_role("button", name="Delete").click()
    expect(tab.get_by_role("heading", level=1)).to_have_text("This needs a fresh link")
    look(tab, "fresh-link", capsys)

    # The second press, from the fresh link, deletes.
    tab.goto(manage)
    tab.locator(f"li[data-comment-id='{links.reader_comment}']").get_by_role("button", name="Delete").click()
    tab.get_by_role("button", name="Delete this comment").click()
    expect(tab.get_by_role("status")).to_have_text("Comment deleted.")
    expect(tab.locator(f"li[data-comment-id='{links.reader_comment}']")).to_have_count(0)
    look(tab, "deleted", capsys)


def confirmed(tab: Page, links: Links) -> None:
    """The reader's address confirmed (by an earlier test, or now, when a test runs alone)."""
    tab.goto(links.confirm)
    button = tab.get_by_role("button", name="Confirm")
    if button.count():
        button.click()
        expect(tab.get_by_role("heading", level=1)).to_have_text("Subscription confirmed")
