"""Story updates as a reader sees them (issue 15 part 5): on a publisher's page served from another
origin, a correction posted through the API (`publish` key) appears at once as a banner above the
comments of an open widget, is announced, can be dismissed from the keyboard and stays dismissed after
a reload, while a later update shows; the "Notify of" choice offers "updates to this story"."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

from kibitz.demo_config import DEMO_SITE
from tests.browser.conftest import (
    MAIN_FORM,
    SCREENSHOTS,
    WIDGET,
    CrossOrigin,
    Kibitz,
    PageLog,
    require_bundle,
)
from tests.browser.test_admin import OPEN, sign_in
from tests.browser.test_follow import PILL, open_thread
from tests.server import run_kibitz

UPDATES = f"{WIDGET} [data-updates]"


@pytest.fixture(scope="module")
def publisher(cross_origin: CrossOrigin) -> str:
    """An API key of site "x" with the `publish` scope (`kibitz apikey create`)."""
    config = cross_origin.kibitz.log.parent / "kibitz.toml"
    made = run_kibitz(
        "apikey", "create", "--config", str(config), "--site", "x", "--scope", "publish", cwd=config.parent
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def post_update(cross_origin: CrossOrigin, key: str, page: str, **body: str) -> dict[str, str]:
    r = httpx.post(
        f"{cross_origin.kibitz.url}/api/v1/admin/sites/x/updates",
        json={"page": page, **body},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    update: dict[str, str] = r.json()["update"]
    return update


def test_an_update_shows_live_is_dismissed_for_good_and_notify_of_offers_it(
    cross_origin: CrossOrigin, publisher: str, page: Page, page_log: PageLog
) -> None:
    require_bundle("live.js")
    key = "/corrected-story"
    cross_origin.kibitz.post(key, "The vote is on 4 December, I hear. [before-update]", name="Early Reader")
    open_thread(page, cross_origin, key)
    expect(page.locator(f"{UPDATES} section")).to_have_count(0)

    notify = page.locator(f"{MAIN_FORM} select[name='notify']")
    options = notify.locator("option")
    assert [o.get_attribute("value") for o in options.all()] == ["none", "replies", "all", "updates"]
    expect(options.nth(3)).to_have_text("updates to this story")

    first = post_update(
        cross_origin,
        publisher,
        key,
        kind="correction",
        title="The vote was on 3 December",
        text="An earlier version of this story gave the date as **4 December**.",
    )
    banner = page.locator(f"{UPDATES} section[data-update-id='{first['id']}']")
    expect(banner).to_be_visible()  # live, without a reload
    expect(banner).to_have_attribute("data-kind", "correction")
    heading = banner.get_by_role("heading")
    expect(heading).to_have_text(re.compile(r"^Correction, \w+ \d+: The vote was on 3 December$"))
    expect(page.get_by_role("region", name=re.compile("The vote was on 3 December"))).to_be_visible()
    expect(banner.locator("strong")).to_have_text("4 December")
    expect(page.locator(f"{WIDGET} [data-live]")).to_contain_text("The vote was on 3 December")
    banner.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "widget-story-update.png"))

    # Dismissed from the keyboard; focus stays in the widget, on the comments' heading.
    dismiss = banner.get_by_role("button", name="Dismiss: The vote was on 3 December")
    dismiss.focus()
    page.keyboard.press("Enter")
    expect(banner).to_have_count(0)
    expect(page.locator(f"{WIDGET} h2")).to_be_focused()

    # A reload reads the update with the thread, and leaves it dismissed.
    page.reload()
    expect(page.locator(PILL)).to_be_attached()
    expect(page.locator(f"{UPDATES} section")).to_have_count(0)

    follow_up = {"kind": "follow-up", "title": "The council answers", "text": "Its answer, in full."}
    second = post_update(
        cross_origin, publisher, key, url=f"{cross_origin.host.url}/story-follow-up", **follow_up
    )
    later = page.locator(f"{UPDATES} section[data-update-id='{second['id']}']")
    expect(later).to_be_visible()
    expect(later.get_by_role("heading")).to_have_text(
        re.compile(r"^Follow-up, \w+ \d+: The council answers$")
    )
    expect(later.get_by_role("link", name="Read more")).to_have_attribute(
        "href", f"{cross_origin.host.url}/story-follow-up"
    )
    page.reload()
    expect(page.locator(PILL)).to_be_attached()
    expect(
        page.locator(f"{UPDATES} section[data-update-id='{second['id']}']")
    ).to_be_visible()  # from the read
    expect(page.locator(f"{UPDATES} section[data-update-id='{first['id']}']")).to_have_count(0)
    assert page_log.errors == []


def test_the_owner_posts_an_update_from_the_story_page_and_the_article_shows_it(
    demo: Kibitz, page: Page, page_log: PageLog
) -> None:
    require_bundle("live.js")
    sign_in(page, demo, f"/admin/sites/{DEMO_SITE}/stories?page={quote(OPEN, safe='')}")
    section = page.get_by_role("region", name="Updates to this story")
    expect(section.get_by_text("No updates yet.")).to_be_visible()
    section.get_by_label("Kind").select_option("update")
    section.get_by_label("Title").fill("Polls now close at 8 pm")
    section.get_by_label("Text (Markdown)").fill("The council moved the closing time *after* we published.")
    section.get_by_role("button", name="Post the update").click()
    expect(section.locator(".notice")).to_have_text(re.compile(r"^Update posted: \d+ followers? told"))
    expect(section.locator("li[data-update-id]")).to_have_count(1)
    expect(section.locator("li[data-update-id] strong").first).to_have_text("Update: Polls now close at 8 pm")
    expect(section.locator("li[data-update-id] em")).to_have_text("after")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    section.screenshot(path=str(SCREENSHOTS / "admin-story-update.png"))

    page.goto(demo.url + OPEN)
    expect(page.locator(f"{UPDATES} section")).to_have_count(1)
    shown = page.locator(f"{UPDATES} section h3")
    expect(shown).to_have_text(re.compile(r"^Update, \w+ \d+: Polls now close at 8 pm$"))
    assert page_log.errors == []
