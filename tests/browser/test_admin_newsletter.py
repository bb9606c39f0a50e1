"""The newsletter desk in a real browser, on `kibitz serve` with a `kibitz worker` beside it delivering to
a real SMTP server: an owner writes a campaign, previews it, sends a test that arrives, sends it and
watches the progress bar advance live to 100 %; a pause holds the rest of the mail until resumed; a
suppression is found and lifted. axe audits the pages; screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, StorageState, expect

from tests.browser.conftest import SCREENSHOTS, Kibitz, start_kibitz
from tests.browser.test_admin import audit_page
from tests.browser.test_audit import axe_script
from tests.mailserver import MailServer
from tests.server import KIBITZ, child_env, free_port, site, write_config

OWNER = "editor@news.test"
PASSWORD = "a long enough password for the desk"
READERS = 300  # more than the worker claims in one batch, so that a pause has mail to hold
SMTP_DELAY = 0.2  # seconds the SMTP server takes per mail: sending lasts long enough to watch
SEND_WAIT_MS = 60_000  # the whole campaign going out, at the pace above
NEWSLETTER = "/admin/sites/x/newsletter"
ISSUE = (
    "# Morning news\n\nRead [the story](https://news.example/story).\n\n<script>window.__xss = 1</script>\n"
)


@dataclass
class Desk:
    server: Kibitz
    config: Path
    worker_config: Path
    mail: MailServer
    where: Path

    def url(self, path: str) -> str:
        return self.server.url + path


def _in_a_thread(run: Callable[[], Any]) -> None:
    """Run an asyncio program in a thread of its own (Playwright's loop owns this one)."""
    failed: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # handed to the caller
            failed.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=120)
    if failed:
        raise failed[0]


def seed(config: Path, where: Path) -> None:
    """An owner, READERS confirmed subscribers of the list, a few who are not yet, and a suppression."""
    from kibitz.config import load_settings
    from kibitz.context import close_context, open_context

    async def run() -> None:
        ctx = await open_context(load_settings(config, env={}, cwd=where))
        try:
            await ctx.staff.add(OWNER, "owner", [], PASSWORD, "tests")
            now = ctx.clock()
            async with ctx.db.write() as tx:
                for n in range(READERS + 2):
                    found = await tx.subscribers.get_or_create("x", f"reader{n:03}@example.org", now)
                    await tx.subscribers.set_status(found.id, "confirmed" if n < READERS else "unconfirmed")
                    await tx.subscribers.subscribe(
                        found.id, "newsletter", None, "instant", now, pending=False, list_id="daily"
                    )
                await tx.suppressions.add(
                    "", "gone@example.org", "hard_bounce", "550 5.1.1 no such user", now
                )
                await tx.suppressions.add("", "angry@example.org", "complaint", "abuse report", now)
        finally:
            await close_context(ctx)

    _in_a_thread(run)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """`kibitz serve` with no SMTP server (its mail waits in the outbox), seeded; the SMTP server the
    worker of each test delivers to."""
    where = tmp_path_factory.mktemp("newsletter-desk")
    mail = MailServer()
    mail.start()
    port = free_port()
    lists = [{"id": "daily", "name": "Daily briefing", "welcome": False}]
    sites = [site("x", "https://news.example", name="The News", lists=lists)]
    common: dict[str, Any] = {"sites": sites, "base_url": f"http://127.0.0.1:{port}"}
    config = write_config(where / "kibitz.toml", where, "sqlite:///kibitz.db", **common)
    worker_config = write_config(
        where / "worker.toml", where, "sqlite:///kibitz.db", smtp=mail.smtp, **common
    )
    seed(config, where)
    args = ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    server = start_kibitz(args, where, port, "x", "https://news.example", "/healthz")
    try:
        yield Desk(server, config, worker_config, mail, where)
    finally:
        server.stop()
        mail.stop()


@pytest.fixture
def worker(desk: Desk) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts `kibitz worker` when the test says (its campaigns job runs on its first round)."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        with (desk.where / "worker.log").open("ab") as log:
            process = subprocess.Popen(
                [str(KIBITZ), "worker", "--config", str(desk.worker_config)],
                cwd=desk.where, env=child_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def signed_in(desk: Desk, browser: Browser) -> StorageState:
    """The owner's signed-in browser state (signing in once: sign-ins are limited per minute)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(desk.url(NEWSLETTER))
        page.get_by_label("Email").fill(OWNER)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Newsletter")
        return context.storage_state()
    finally:
        context.close()


@pytest.fixture
def owner(browser: Browser, signed_in: StorageState) -> Iterator[Page]:
    context = browser.new_context(storage_state=signed_in, viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert errors == [], errors  # nothing refused by the CSP, no script error


def wait_until(found: Callable[[], bool], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not found():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)  # polling a condition, bounded by the deadline


def newsletters(mail: MailServer) -> list[str]:
    with mail.lock:
        return [str(m["To"]) for m in mail.messages if not str(m["Subject"]).startswith("[Test]")]


def mails_marked_test(mail: MailServer) -> int:
    with mail.lock:
        return sum(1 for m in mail.messages if str(m["Subject"]).startswith("[Test]"))


def send_test(page: Page, mail: MailServer) -> None:
    """Send a test through the form, and wait until it has arrived."""
    before = mails_marked_test(mail)
    page.get_by_label("Send a test to").fill("desk@news.test")
    page.get_by_role("button", name="Send the test").click()
    expect(page.get_by_role("status").filter(has_text="Test mail queued")).to_be_visible()
    wait_until(lambda: mails_marked_test(mail) > before, "the test mail arriving at the SMTP server")


# Runs in the page: every value the progress bar takes from now on, and a mark a reload would erase.
WATCH_JS = """() => {
  window.__seen = [];
  window.__kept = true;
  const bar = document.getElementById('campaign-progress');
  new MutationObserver(() => window.__seen.push([bar.value, bar.max]))
    .observe(bar, {attributes: true, childList: true, characterData: true, subtree: true});
}"""


def test_an_owner_writes_previews_tests_sends_pauses_and_resumes_a_campaign(
    desk: Desk, owner: Page, worker: Callable[[], subprocess.Popen[bytes]]
) -> None:
    page = owner
    page.goto(desk.url(NEWSLETTER))
    daily = page.locator("tr[data-list='daily']")
    expect(daily.locator("[data-count='confirmed']")).to_have_text(str(READERS))
    expect(daily.locator("[data-count='pending']")).to_have_text("2")
    expect(daily.get_by_role("link", name="Public archive of Daily briefing")).to_have_attribute(
        "href", "/newsletter/x/daily"
    )
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Subject").fill("Morning news")
    page.get_by_label("List", exact=True).select_option("daily")
    page.get_by_label("Text (Markdown)").fill(ISSUE)
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_role("status").filter(has_text="Draft saved.")).to_be_visible()

    frame = page.frame_locator("iframe.preview")
    expect(frame.get_by_role("heading", name="Morning news")).to_be_visible()
    expect(frame.get_by_role("link", name="the story")).to_have_attribute(
        "href", "https://news.example/story"
    )
    expect(page.locator("iframe.preview")).to_have_attribute("sandbox", "")
    assert page.evaluate("() => window.__xss") is None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "admin-campaign-draft.png"), full_page=True)

    page.get_by_label("Send a test to").fill("desk@news.test")
    page.get_by_role("button", name="Send the test").click()
    expect(page.get_by_role("status").filter(has_text="Test mail queued")).to_be_visible()
    desk.mail.delay = SMTP_DELAY
    page.get_by_role("button", name="Send now").click()
    expect(page.locator("h1 .badge")).to_have_text("Sending")
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    page.evaluate(WATCH_JS)

    worker()  # delivers the test, then queues the campaign's mail and delivers it
    wait_until(lambda: mails_marked_test(desk.mail) == 1, "the test mail arriving at the SMTP server")
    with desk.mail.lock:
        test = next(m for m in desk.mail.messages if str(m["Subject"]) == "[Test] Morning news")
    assert str(test["To"]) == "desk@news.test"
    sent = page.locator("#progress-text [data-figure='sent']")
    expect(sent).to_have_text(re.compile(r"^[1-9][0-9]*$"), timeout=SEND_WAIT_MS)
    expect(page.locator("#progress-text [data-figure='total']")).to_have_text(str(READERS))
    seen: list[list[float]] = page.evaluate("() => window.__seen")
    assert any(0 < value < READERS for value, _ in seen), seen  # drawn part-way, without a reload
    assert page.evaluate("() => window.__kept") is True
    page.screenshot(path=str(SCREENSHOTS / "admin-campaign-sending.png"), full_page=True)

    page.get_by_role("button", name="Pause").click()
    expect(page.locator("h1 .badge")).to_have_text("Paused")
    # Two test mails go out after the pause, each in a round of its own: the held mail stays held.
    send_test(page, desk.mail)
    held = len(newsletters(desk.mail))
    assert 0 < held < READERS
    send_test(page, desk.mail)
    assert len(newsletters(desk.mail)) == held
    page.get_by_role("link", name="Refresh").click()
    expect(page.locator("#progress-text [data-figure='sent']")).to_have_text(str(held))

    page.get_by_role("button", name="Resume").click()
    expect(page.locator("h1 .badge")).to_have_text("Sending")
    page.evaluate(WATCH_JS)
    expect(page.locator("#progress-text [data-figure='percent']")).to_have_text("100", timeout=SEND_WAIT_MS)
    expect(page.locator("#progress-text [data-figure='sent']")).to_have_text(str(READERS))
    assert page.evaluate("() => [window.__kept, document.getElementById('campaign-progress').value]") == [
        True,
        READERS,
    ]
    page.screenshot(path=str(SCREENSHOTS / "admin-campaign-sent.png"), full_page=True)
    received = newsletters(desk.mail)
    assert sorted(received) == [f"reader{n:03}@example.org" for n in range(READERS)]  # each once

    page.get_by_role("link", name=re.compile("All campaigns and lists")).click()
    row = page.locator("table.campaigns tbody tr").first
    expect(row).to_contain_text("Morning news")
    expect(row).to_contain_text(f"{READERS} of {READERS}")
    page.screenshot(path=str(SCREENSHOTS / "admin-newsletter.png"), full_page=True)


def test_an_owner_finds_a_suppressed_address_and_lifts_it(desk: Desk, owner: Page) -> None:
    page = owner
    page.goto(desk.url(NEWSLETTER))
    page.get_by_role("link", name="Suppressed addresses").click()
    table = page.locator("table.suppressions")
    expect(table.get_by_role("rowheader", name="gone@example.org")).to_be_visible()
    expect(table.get_by_role("rowheader", name="angry@example.org")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "admin-suppressions.png"), full_page=True)
    page.get_by_label("Address contains").fill("GONE")
    page.get_by_role("button", name="Search").click()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr")).to_contain_text("Bounced (the address does not exist)")
    expect(table.locator("tbody tr")).to_contain_text("550 5.1.1 no such user")
    page.get_by_role("button", name="Lift the suppression of gone@example.org").click()
    expect(
        page.get_by_role("status").filter(has_text="Lifted the suppression of gone@example.org.")
    ).to_be_visible()
    expect(page.get_by_role("rowheader", name="gone@example.org")).to_have_count(0)
    expect(page.get_by_role("rowheader", name="angry@example.org")).to_be_visible()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_newsletter_pages_have_no_serious_or_critical_accessibility_violations(
    desk: Desk, browser: Browser, signed_in: StorageState, scheme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    script = str(axe_script())
    colors: Any = scheme
    # axe is injected as an inline script, which these pages' CSP refuses: this context bypasses it.
    context = browser.new_context(color_scheme=colors, bypass_csp=True, storage_state=signed_in)
    grave: dict[str, Any] = {}
    try:
        page = context.new_page()
        page.goto(desk.url(NEWSLETTER))
        grave[NEWSLETTER] = audit_page(page, script, scheme, capsys)
        page.goto(desk.url(f"{NEWSLETTER}/new"))
        grave["new"] = audit_page(page, script, scheme, capsys)
        page.get_by_label("Subject").fill(f"Audited in {scheme}")
        page.get_by_label("Text (Markdown)").fill(ISSUE)
        page.get_by_role("button", name="Save the draft").click()
        expect(
            page.frame_locator("iframe.preview").get_by_role("heading", name="Morning news")
        ).to_be_visible()
        grave["campaign"] = audit_page(page, script, scheme, capsys)
        page.goto(desk.url(f"{NEWSLETTER}/suppressions"))
        grave["suppressions"] = audit_page(page, script, scheme, capsys)
        if scheme == "dark":
            page.goto(desk.url(NEWSLETTER))
            page.screenshot(path=str(SCREENSHOTS / "admin-newsletter-dark.png"), full_page=True)
    finally:
        context.close()
    grave = {path: found for path, found in grave.items() if found}
    assert grave == {}, json.dumps(grave, indent=1)
