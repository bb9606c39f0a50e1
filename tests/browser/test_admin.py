"""The moderators' desk in a real browser, on the demo: signing in, approving a held comment while the
article is open elsewhere (it appears there live), reject, bulk spam, bans, settings that take effect,
the keyboard shortcuts, new held comments arriving in an open queue, an axe audit of every page, and
screenshots (light and dark) in test-artifacts/screenshots/."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, StorageState, expect

from kibitz.demo import articles
from tests.browser.conftest import FOCUS_VISIBLE_JS, SCREENSHOTS, WIDGET, Kibitz, require_bundle
from tests.browser.test_audit import AXE_JS, axe_script
from tests.server import run_kibitz

# The demo story whose comments wait for a moderator, and one where they are published at once.
MODERATED = next(a.path for a in articles() if a.moderation == "all")
OPEN = next(a.path for a in articles() if not a.moderation and a.comments)
ITEMS = "#items [data-item]"


def credentials(demo: Kibitz) -> tuple[str, str]:
    found = re.search(r"/admin/ as (\S+), password (\S+)", demo.output())
    assert found, demo.output()
    return found.group(1), found.group(2)


def sign_in(page: Page, demo: Kibitz, path: str = "/admin/") -> None:
    email, password = credentials(demo)
    page.goto(demo.url + path)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).not_to_have_text("Sign in")


def post(demo: Kibitz, text: str, page: str = MODERATED, **author: str) -> dict[str, Any]:
    """Post through the API as a reader would; the answer's comment (held or not)."""
    body = {"page": page, "text": text, "author": {"name": "Desk Test", **author}}
    r = httpx.post(
        f"{demo.url}/api/v1/sites/demo/comments", json=body, headers={"Origin": demo.url}, timeout=10
    )
    assert r.status_code in (201, 202), r.text
    found: dict[str, Any] = r.json()
    return found


def item(page: Page, comment_id: str) -> Any:
    return page.locator(f"#c-{comment_id}")


def count(page: Page, tab: str) -> int:
    """The number a queue tab shows."""
    return int(page.locator(f"#tabs [data-tab='{tab}'] .count").inner_text())


def expect_count(page: Page, tab: str, value: int) -> None:
    expect(page.locator(f"#tabs [data-tab='{tab}'] .count")).to_have_text(str(value))


def hold_three(demo: Kibitz) -> list[str]:
    """Three new held comments, newest first (as the queue lists them)."""
    ids = [post(demo, f"Held comment number {n}")["comment"]["id"] for n in range(3)]
    return ids[::-1]


def test_sign_in_says_when_the_password_is_wrong_then_lets_the_editor_in(demo: Kibitz, page: Page) -> None:
    email, password = credentials(demo)
    page.goto(demo.url + "/admin/sites/demo/dashboard")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The email or password is wrong.")
    expect(page.get_by_label("Email")).to_have_value(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(demo.url + "/admin/sites/demo/dashboard")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dashboard")


def test_an_account_with_totp_is_asked_for_its_code_and_repeated_failures_lock_the_form(
    fresh_demo: Kibitz, page: Page, tmp_path: Path
) -> None:
    import pyotp

    email, password = credentials(fresh_demo)
    config = tmp_path / "cli.toml"
    config.write_text(f'data_dir = "{tmp_path / "demo-data"}"\n', encoding="utf-8")
    made = run_kibitz("admin", "totp", email, "--config", str(config), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    secret = re.search(r"\b([A-Z2-7]{16,})\b", made.stdout)
    assert secret, made.stdout
    page.goto(fresh_demo.url + "/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Enter the six-digit code from your authenticator app.")
    page.get_by_label("Password").fill(password)
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Sign in").click()
    # A wrong code gets the same answer as a wrong password (nothing tells a guesser which was wrong).
    expect(page.get_by_role("alert")).to_have_text("The email or password is wrong.")
    page.get_by_label("Password").fill(password)
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret.group(1)).now())
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Queue"))

    other = page.context.browser.new_context() if page.context.browser else None
    assert other is not None
    try:
        guess = other.new_page()
        for _ in range(6):
            guess.goto(fresh_demo.url + "/admin/login")
            guess.get_by_label("Email").fill(email)
            guess.get_by_label("Password").fill("a wrong guess")
            guess.get_by_role("button", name="Sign in").click()
            if "Too many attempts" in guess.get_by_role("alert").inner_text():
                break
        expect(guess.get_by_role("alert")).to_have_text(re.compile(r"Too many attempts\. Try again in \d+"))
        guess.get_by_label("Password").fill(password)  # the right password does not help now
        guess.get_by_role("button", name="Sign in").click()
        expect(guess.get_by_role("alert")).to_have_text(re.compile("Too many attempts"))
    finally:
        other.close()


def test_an_approved_comment_appears_on_the_open_article_without_reload(
    fresh_demo: Kibitz, browser: Browser, page: Page
) -> None:
    require_bundle()
    text = "Held until the desk says yes"
    comment_id = post(fresh_demo, text)["comment"]["id"]
    reader: BrowserContext = browser.new_context()
    try:
        article = reader.new_page()
        article.goto(fresh_demo.url + MODERATED)
        expect(article.locator(f"{WIDGET} [data-count]")).to_be_visible()  # drawn, with nothing shown yet
        expect(article.locator(f"{WIDGET} [data-body]", has_text=text)).to_have_count(0)

        sign_in(page, fresh_demo)
        expect(item(page, comment_id)).to_contain_text(text)
        pending = count(page, "pending")
        item(page, comment_id).get_by_role("button", name="Approve").click()
        expect(item(page, comment_id).locator(".badge-approved")).to_have_text("Approved")
        expect_count(page, "pending", pending - 1)
        expect(page.locator("#announce")).to_have_text(f"Comment {comment_id} approved.")

        expect(article.locator(f"{WIDGET} [data-body]", has_text=text)).to_be_visible()
    finally:
        reader.close()


def test_reject_and_bulk_spam_change_the_items_in_place(fresh_demo: Kibitz, page: Page) -> None:
    ids = hold_three(fresh_demo)
    sign_in(page, fresh_demo)
    before = {tab: count(page, tab) for tab in ("pending", "rejected", "spam")}
    item(page, ids[0]).get_by_role("button", name="Reject").click()
    expect(item(page, ids[0]).locator(".badge-rejected")).to_be_visible()
    expect_count(page, "rejected", before["rejected"] + 1)

    for comment_id in ids[1:]:
        item(page, comment_id).get_by_label(re.compile("Select the comment")).check()
    page.get_by_role("button", name="Spam selected").click()
    for comment_id in ids[1:]:
        expect(item(page, comment_id).locator(".badge-spam")).to_be_visible()
    expect_count(page, "spam", before["spam"] + 2)
    expect_count(page, "pending", before["pending"] - 3)
    expect(page.locator("#announce")).to_have_text("2 comments marked as spam.")
    page.reload()
    for comment_id in ids:
        expect(item(page, comment_id)).to_have_count(0)


def test_a_banned_author_cannot_post_again(fresh_demo: Kibitz, page: Page) -> None:
    posted = post(fresh_demo, "Rude words", email="rude@reader.example")
    comment_id = posted["comment"]["id"]
    sign_in(page, fresh_demo)
    target = item(page, comment_id)
    target.get_by_text("Ban author").click()
    target.get_by_label("Ban by").select_option("email")
    target.get_by_label("For", exact=True).select_option("7d")
    target.get_by_label("Reason (staff only)").fill("abuse")
    target.get_by_role("button", name="Ban", exact=True).click()
    expect(item(page, comment_id).locator(".note")).to_contain_text("banned by email")
    body = {"page": OPEN, "text": "Me again", "author": {"name": "Rude", "email": "rude@reader.example"}}
    r = httpx.post(
        f"{fresh_demo.url}/api/v1/sites/demo/comments",
        json=body,
        headers={"Origin": fresh_demo.url},
        timeout=10,
    )
    assert r.status_code == 403, r.text
    page.get_by_role("link", name="Bans").click()
    row = page.get_by_role("row", name=re.compile("the email of comment"))
    expect(row).to_contain_text("abuse")
    row.get_by_role("button", name=re.compile("Lift")).click()
    expect(page.locator("main .notice")).to_have_text("Ban lifted.")


def test_settings_take_effect_and_a_held_comment_arrives_in_the_open_queue(
    fresh_demo: Kibitz, page: Page
) -> None:
    sign_in(page, fresh_demo, "/admin/sites/demo/settings")
    page.get_by_label("Moderation").select_option("all")
    page.get_by_label("Blocked words").fill("casino\nfree money*")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("main .notice")).to_contain_text("Saved.")
    expect(page.locator("[data-setting='moderation'] .help")).to_contain_text("kibitz.toml says: none")

    page.get_by_role("link", name="Queue").click()
    pending = count(page, "pending")
    held = post(fresh_demo, "Now every comment waits", page=OPEN)
    assert held.get("status") == "pending", held
    arrived = item(page, held["comment"]["id"])
    expect(arrived).to_contain_text("Now every comment waits")  # without reload: the queue polls
    expect(page.locator("#announce")).to_have_text("1 new comment in the queue.")
    expect_count(page, "pending", pending + 1)

    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("row", name=re.compile("settings.update"))).to_contain_text("casino")


def test_the_queue_can_be_worked_with_the_keyboard_alone(fresh_demo: Kibitz, page: Page) -> None:
    ids = hold_three(fresh_demo)
    sign_in(page, fresh_demo)
    assert page.locator(ITEMS).evaluate_all("els => els.map(el => el.dataset.commentId)")[:3] == ids
    page.get_by_label("Words").focus()
    page.keyboard.type("a")  # typing in a field is typing, not a shortcut
    expect(page.get_by_label("Words")).to_have_value("a")
    expect(page.locator(".badge-approved")).to_have_count(0)
    page.get_by_label("Words").fill("")
    page.locator("h1").click()

    page.keyboard.press("j")
    expect(item(page, ids[0])).to_be_focused()
    assert page.evaluate(FOCUS_VISIBLE_JS), "the focused comment shows no focus ring"
    page.keyboard.press("a")
    expect(item(page, ids[0]).locator(".badge-approved")).to_be_visible()
    expect(item(page, ids[0])).to_be_focused()  # still on the redrawn item
    page.keyboard.press("j")
    expect(item(page, ids[1])).to_be_focused()
    page.keyboard.press("r")
    expect(item(page, ids[1]).locator(".badge-rejected")).to_be_visible()
    expect(item(page, ids[1])).to_be_focused()
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(item(page, ids[2]).locator("[data-select]")).to_be_checked()
    page.keyboard.press("k")
    expect(item(page, ids[1])).to_be_focused()
    page.keyboard.press("j")
    page.keyboard.press("s")
    expect(item(page, ids[2]).locator(".badge-spam")).to_be_visible()

    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Approve the comment in focus")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


ADMIN_PAGES = [
    "/admin/sites/demo/queue",
    "/admin/sites/demo/queue?status=all",
    "/admin/sites/demo/dashboard",
    f"/admin/sites/demo/stories?page={MODERATED}",
    "/admin/sites/demo/bans",
    "/admin/sites/demo/settings",
    "/admin/audit",
]


@pytest.fixture(scope="module")
def signed_in(demo: Kibitz, browser: Browser) -> StorageState:
    """A browser state signed in to the module's demo (once: sign-ins are limited to 5 a minute), with
    two held comments in its queue."""
    post(demo, "A held comment for the screenshots, with a [link](https://example.org/)")
    post(demo, "Another one, waiting for the desk")
    context = browser.new_context()
    try:
        sign_in(context.new_page(), demo)
        state = context.storage_state()
    finally:
        context.close()
    return state


def audit_page(page: Page, script: str, scheme: str, capsys: pytest.CaptureFixture[str]) -> list[Any]:
    page.add_script_tag(path=script)
    violations: list[dict[str, Any]] = page.evaluate(AXE_JS)
    with capsys.disabled():
        for v in violations:
            where = f"{len(v['nodes'])} nodes"
            print(f"\naxe {scheme} {page.url}: {v['impact']} {v['id']} ({v['help']}) on {where}")
    return [v for v in violations if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_admin_pages_have_no_serious_or_critical_accessibility_violations(
    demo: Kibitz, browser: Browser, signed_in: StorageState, scheme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    script = str(axe_script())
    colors: Any = "dark" if scheme == "dark" else "light"
    grave: dict[str, Any] = {}
    # axe is injected as an inline script, which these pages' CSP refuses (the screenshot test below
    # runs them under their CSP and checks it refuses nothing of theirs).
    visitor = browser.new_context(color_scheme=colors, bypass_csp=True)
    try:
        page = visitor.new_page()
        page.goto(demo.url + "/admin/login")
        grave["/admin/login"] = audit_page(page, script, scheme, capsys)
    finally:
        visitor.close()
    editor = browser.new_context(color_scheme=colors, bypass_csp=True, storage_state=signed_in)
    try:
        page = editor.new_page()
        for path in ADMIN_PAGES:
            page.goto(demo.url + path)
            expect(page).to_have_url(demo.url + path)
            grave[path] = audit_page(page, script, scheme, capsys)
    finally:
        editor.close()
    grave = {path: found for path, found in grave.items() if found}
    assert grave == {}, json.dumps(grave, indent=1)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_of_the_queue_and_dashboard(
    demo: Kibitz, browser: Browser, signed_in: StorageState, scheme: str
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        color_scheme="dark" if scheme == "dark" else "light",
        viewport={"width": 1280, "height": 900},
        storage_state=signed_in,
    )
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(demo.url + "/admin/sites/demo/queue")
        expect(page.locator(ITEMS).first).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / f"admin-queue-{scheme}.png"), full_page=True)
        page.goto(demo.url + "/admin/sites/demo/dashboard")
        expect(page.locator("svg.kb-chart").first).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / f"admin-dashboard-{scheme}.png"), full_page=True)
    finally:
        context.close()
    assert (SCREENSHOTS / f"admin-dashboard-{scheme}.png").stat().st_size > 0
    assert errors == [], errors  # nothing refused by the CSP, no script errors
