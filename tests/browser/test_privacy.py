"""Privacy in a real browser on a real `kibitz demo`: a guest opens their manage link, downloads their
data, erases themselves; another reader's widget then shows their comment as written by "deleted".
Screenshots go to test-artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from kibitz.demo import articles
from kibitz.links import MANAGE, TTL, ms
from kibitz.security import Tokens
from tests.browser.conftest import (
    SCREENSHOTS,
    WAIT_MS,
    Kibitz,
    drawn_comments,
    require_bundle,
    start_demo,
    wait_for_widget,
)

NAME = "Robin Erasable"
EMAIL = "robin.erasable@people.example"
STORY = next(a for a in articles() if not a.moderation and a.comments)  # published at once


@pytest.fixture(scope="module")
def server(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Kibitz, Path]]:
    where = tmp_path_factory.mktemp("privacy")
    started = start_demo(demo_template, where)
    try:
        yield started, where / "demo-data"
    finally:
        started.stop()


def post(server: Kibitz, text: str, author: dict[str, str], parent: str | None = None) -> str:
    body = {"page": STORY.path, "text": text, "author": author, "parent": parent, "notify": "replies"}
    r = httpx.post(
        f"{server.url}/api/v1/sites/demo/comments", json=body, headers={"Origin": server.url}, timeout=10
    )
    assert r.status_code == 201, r.text
    found: str = r.json()["comment"]["id"]
    return found


def manage_link(server: Kibitz, data: Path) -> str:
    """The guest's manage link as a mail sent now carries it (signed with the demo's own secret)."""
    with sqlite3.connect(data / "kibitz.db") as db:
        [secret] = db.execute("SELECT value FROM meta WHERE key = 'secret_key'").fetchone()
        row = db.execute("SELECT id FROM subscribers WHERE email = ? AND site = 'demo'", (EMAIL,)).fetchone()
    assert row is not None
    now = datetime.now(UTC)
    token = Tokens(str(secret)).issue(MANAGE, f"{row[0]}.{ms(now)}", now=now, ttl=TTL[MANAGE])
    return f"{server.url}/manage/{token}"


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"privacy-{name}.png"), full_page=True)


def test_a_guest_downloads_their_data_erases_themselves_and_others_see_deleted(
    browser: Browser, server: tuple[Kibitz, Path], tmp_path: Path
) -> None:
    require_bundle()
    demo, data = server
    mine = post(demo, "The quay needs benches, not more parking.", {"name": NAME, "email": EMAIL})
    reply = post(demo, "Agreed, and shade.", {"name": "Other Reader"}, parent=mine)

    guest = browser.new_context(locale="en-US", timezone_id="UTC", accept_downloads=True)
    guest.set_default_timeout(WAIT_MS)
    page = guest.new_page()
    page.goto(manage_link(demo, data))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your subscriptions and comments")
    expect(page.get_by_role("heading", name="Your data")).to_be_visible()
    shot(page, "manage")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data").click()
    saved = tmp_path / "my-data.json"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "kibitz-demo-my-data.json"
    mine_data = json.loads(saved.read_text(encoding="utf-8"))
    assert mine_data["email"] == EMAIL
    assert [c["text"] for c in mine_data["comments"]] == ["The quay needs benches, not more parking."]
    assert mine_data["comments"][0]["name"] == NAME
    assert mine_data["subscriptions"][0]["topic"] == "replies"

    page.get_by_role("button", name="Erase me").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Erase me from The Daily Kibitz?")
    shot(page, "erase-ask")
    page.get_by_role("button", name="Erase me now").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are erased")
    shot(page, "erased")
    guest.close()

    # Another reader opens the story: the words stay, the name is "deleted", the reply still hangs.
    other = browser.new_context(locale="en-US", timezone_id="UTC")
    other.set_default_timeout(WAIT_MS)
    reader = other.new_page()
    reader.goto(demo.url + STORY.path)
    wait_for_widget(reader)
    expect(reader.locator(f"#kibitz li[data-comment-id='{mine}'] [data-author]").first).to_have_text(
        "deleted"
    )
    drawn = drawn_comments(reader)
    assert drawn[mine]["author"] == "deleted"
    assert "benches" in (drawn[mine]["body"] or "")
    assert drawn[reply]["author"] == "Other Reader"
    assert NAME not in reader.content()
    shot(reader, "others-see-deleted")
    other.close()
    assert NAME not in json.dumps(demo.thread(STORY.path))
