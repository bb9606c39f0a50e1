"""The newsletter sign-up form in a real browser, as publishers deploy it: newsletter.js filling forms on a
page of another origin (another port) that `kibitz serve` lists for its site; the same kind of form with
JavaScript turned off, posting to /newsletter/{site}/subscribe; and our own sign-up page at 320 CSS px in
light and dark. axe finds nothing serious or critical; screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import SCREENSHOTS, SHORT, WAIT_MS, Kibitz, PageLog, require_bundle, start_kibitz
from tests.browser.test_audit import AXE_JS, axe_script
from tests.browser.test_cross_origin import PageServer
from tests.browser.test_follow import wait_for_mail
from tests.browser.test_people_pages import OVERFLOW_JS
from tests.server import free_port, site, write_config

LISTS = [
    {"id": "daily", "name": "Daily briefing", "description": "Five stories every morning."},
    {"id": "weekly", "name": "The week in review"},
]
DONE = "Check your inbox to confirm your subscription."

JS_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Newsletters · The Other Paper</title>
<style>body {{ font: 18px/1.5 system-ui, sans-serif; margin: 1rem; }} form {{ margin: 0 0 2rem; }}</style>
</head>
<body>
<main>
<h1>Our newsletters</h1>
<form id="choose" data-kibitz-newsletter data-site="x" method="post" action="{kibitz}/newsletter/x/subscribe">
  <label for="plain-email">Your email</label> <input type="email" id="plain-email" name="email" required>
  <button type="submit">Sign up</button>
</form>
<h2>Only the daily one</h2>
<form id="daily" data-kibitz-newsletter data-site="x" data-list="daily"></form>
</main>
<script src="{kibitz}/newsletter.js" async></script>
</body>
</html>
"""

# What docs/widget.md shows for a page without JavaScript.
PLAIN_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign up · The Other Paper</title></head>
<body>
<main>
<h1>Sign up</h1>
<form method="post" action="{kibitz}/newsletter/x/subscribe">
  <label for="email">Email address</label>
  <input type="email" id="email" name="email" required autocomplete="email">
  <fieldset>
    <legend>Newsletter</legend>
    <input type="radio" id="list-daily" name="list" value="daily" checked>
    <label for="list-daily">Daily briefing</label>
    <input type="radio" id="list-weekly" name="list" value="weekly">
    <label for="list-weekly">The week in review</label>
  </fieldset>
  <div hidden><input name="hp" tabindex="-1" autocomplete="off"></div>
  <button type="submit">Subscribe</button>
</form>
</main>
</body>
</html>
"""


@dataclass
class Newsletter:
    publisher: PageServer
    kibitz: Kibitz
    data: Path

    def lists_of(self, address: str) -> dict[str, tuple[bool, bool]]:
        """The address's subscriptions as the database holds them: list → (active, pending)."""
        with sqlite3.connect(self.data / "kibitz.db") as db:
            found = db.execute(
                "SELECT s.list, s.active, s.pending FROM subscriptions s "
                "JOIN subscribers r ON r.id = s.subscriber_id WHERE r.email = ? AND r.site = 'x'",
                (address,),
            ).fetchall()
        return {name: (bool(active), bool(pending)) for name, active, pending in found}


@pytest.fixture(scope="module")
def newsletter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Newsletter]:
    """`kibitz serve` with a site "x" of two lists, whose origin is a publisher's site on another port."""
    require_bundle("newsletter.js")
    where = tmp_path_factory.mktemp("newsletter")
    pages = where / "pages"
    pages.mkdir()
    port = free_port()
    kibitz_url = f"http://127.0.0.1:{port}"
    (pages / "signup.html").write_text(JS_PAGE.format(kibitz=kibitz_url), encoding="utf-8")
    (pages / "plain.html").write_text(PLAIN_PAGE.format(kibitz=kibitz_url), encoding="utf-8")
    with PageServer(pages) as publisher:
        config = write_config(
            where / "kibitz.toml",
            where,
            "sqlite:///kibitz.db",
            sites=[site("x", publisher.url, name="The Other Paper", lists=LISTS)],
            base_url=kibitz_url,
        )
        args = ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
        server = start_kibitz(args, where, port, "x", publisher.url, "/healthz")
        try:
            yield Newsletter(publisher, server, where)
        finally:
            server.stop()


def no_grave_violations(page: Page, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    violations: list[dict[str, Any]] = page.evaluate(AXE_JS)
    with capsys.disabled():
        for v in violations:
            print(f"\naxe {name} {v['impact']}: {v['id']} ({v['help']})")
    grave = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert grave == [], json.dumps(grave, indent=1)


def test_newsletter_js_fills_forms_on_another_origin_and_signs_up(
    newsletter: Newsletter, page: Page, page_log: PageLog, capsys: pytest.CaptureFixture[str]
) -> None:
    page.goto(f"{newsletter.publisher.url}/signup.html")
    choose = page.locator("#choose")
    # The publisher's plain form gives way to the filled one: a labelled field, a choice of the site's lists.
    expect(choose.get_by_label("Email address")).to_be_visible()
    expect(choose.get_by_label("Your email")).to_have_count(0)
    group = choose.get_by_role("group", name="Newsletter")
    expect(group.get_by_role("radio", name="Daily briefing")).to_be_checked()
    expect(group.get_by_role("radio", name="The week in review")).not_to_be_checked()
    expect(choose).to_contain_text("Five stories every morning.")
    expect(choose.get_by_role("status")).to_have_text("")
    daily = page.locator("#daily")
    expect(daily.get_by_label("Email address")).to_be_visible()
    expect(daily.locator("input[type=hidden][name=list]")).to_have_value("daily")
    expect(daily.get_by_role("radio")).to_have_count(0)
    page.add_script_tag(path=str(axe_script()))
    no_grave_violations(page, "newsletter form", capsys)

    choose.get_by_label("Email address").fill("js-reader@example.org")
    group.get_by_role("radio", name="The week in review").check()
    choose.get_by_role("button", name="Subscribe").click()
    expect(choose.get_by_role("status")).to_have_text(DONE, timeout=WAIT_MS)
    expect(choose.get_by_label("Email address")).to_have_value("")
    assert newsletter.lists_of("js-reader@example.org") == {"weekly": (True, True)}

    daily.get_by_label("Email address").fill("daily-reader@example.org")
    daily.get_by_label("Email address").press("Enter")
    expect(daily.get_by_role("status")).to_have_text(DONE, timeout=WAIT_MS)
    assert newsletter.lists_of("daily-reader@example.org") == {"daily": (True, True)}

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "newsletter-form.png"), full_page=True)
    assert page_log.errors == []
    allowed = (newsletter.publisher.url, newsletter.kibitz.url)
    assert [url for url in page_log.requests if not url.startswith(allowed)] == []


@pytest.fixture
def no_script(browser: Browser) -> Iterator[Page]:
    made = browser.new_context(java_script_enabled=False, locale="en-US", timezone_id="UTC")
    made.set_default_timeout(WAIT_MS)
    try:
        yield made.new_page()
    finally:
        made.close()


def test_the_sign_up_form_works_with_javascript_turned_off(newsletter: Newsletter, no_script: Page) -> None:
    no_script.goto(f"{newsletter.publisher.url}/plain.html")
    no_script.get_by_label("Email address").fill("plain-reader@example.org")
    no_script.get_by_role("radio", name="The week in review").check()
    no_script.get_by_role("button", name="Subscribe").click()
    expect(no_script.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    assert no_script.url == f"{newsletter.kibitz.url}/newsletter/x/subscribe"
    expect(no_script.locator("main")).to_contain_text("“The week in review”")
    expect(no_script.locator("header")).to_contain_text("The Other Paper")
    back = no_script.locator("main .back a")
    expect(back).to_have_attribute("href", newsletter.publisher.url)
    assert newsletter.lists_of("plain-reader@example.org") == {"weekly": (True, True)}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    no_script.screenshot(path=str(SCREENSHOTS / "newsletter-no-js-done.png"), full_page=True)

    # The page written for newsletter.js still signs up without it: its own plain form posts.
    no_script.goto(f"{newsletter.publisher.url}/signup.html")
    no_script.get_by_label("Your email").fill("fallback-reader@example.org")
    no_script.get_by_role("button", name="Sign up").click()
    expect(no_script.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    assert newsletter.lists_of("fallback-reader@example.org") == {"daily": (True, True)}


@pytest.fixture
def narrow(browser: Browser) -> Iterator[BrowserContext]:
    """A phone-sized window; axe-core is put into every page before the page's own CSP applies."""
    made = browser.new_context(
        viewport={"width": 320, "height": 700}, locale="en-US", timezone_id="UTC", device_scale_factor=2
    )
    made.set_default_timeout(WAIT_MS)
    made.add_init_script(path=str(axe_script()))
    try:
        yield made
    finally:
        made.close()


def test_our_own_sign_up_page_reads_well_and_posts(
    newsletter: Newsletter, narrow: BrowserContext, capsys: pytest.CaptureFixture[str]
) -> None:
    page = narrow.new_page()
    page.goto(f"{newsletter.kibitz.url}/newsletter/x?list=weekly")
    expect(page.get_by_role("heading", level=1)).to_have_text("Subscribe to a newsletter of The Other Paper")
    expect(page.get_by_role("radio", name="The week in review")).to_be_checked()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        overflow: dict[str, Any] = page.evaluate(OVERFLOW_JS)
        assert overflow["over"] <= 0, (scheme, overflow)
        no_grave_violations(page, f"sign-up page {scheme}", capsys)
        page.screenshot(path=str(SCREENSHOTS / f"newsletter-page-{scheme}.png"), full_page=True)
    page.get_by_label("Email address").fill("page-reader@example.org")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    no_grave_violations(page, "sign-up done", capsys)


def test_signing_up_on_the_demo_article_confirms_in_one_click_and_welcomes(
    fresh_demo: Kibitz, page: Page
) -> None:
    """The issue's walk on the demo itself: the sign-up under the article → "check your inbox" → the
    confirmation mail (read at /demo/mail) → one click to confirm → the list's welcome mail."""

    require_bundle("newsletter.js")
    address = "signup@reader.example"
    page.goto(fresh_demo.url + SHORT)
    form = page.locator("form[data-kibitz-newsletter]")
    expect(form.locator("[data-kibitz-status]")).to_be_attached()  # drawn by newsletter.js
    form.get_by_label("Email").fill(address)
    form.get_by_role("button", name="Subscribe").click()
    expect(form.locator("[data-kibitz-status]")).to_contain_text("Check your inbox")

    confirmation = wait_for_mail(fresh_demo, address, "confirmation")
    link = next(url for url in confirmation.links() if "/confirm/" in url)
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("body")).to_contain_text("confirmed")
    welcome = wait_for_mail(fresh_demo, address, "mail")  # the one mail after the confirmation
    assert welcome.subject.startswith("Welcome"), welcome.subject
