"""The widget's finish (issue 12): an embedding that explains itself (a refused origin, an unreachable
API), the invitation and empty states, forms that share the reader's name and say "reply", the widget's
own dialogs, problems in plain words, real minus signs, kept links and target sizes; and, live on two
open pages, counts that stay exact under racing posts, replies, deletes and hides, and a thread closing
and reopening. The refused origin and the live parts run on the module's `kibitz serve`
(tests.browser.conftest.cross_origin, site "x", loose rate limits), each on a page key of its own."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.browser.conftest import (
    CHROMIUM_ARGS,
    EMPTY,
    LEAD,
    MAIN_FORM,
    SCREENSHOTS,
    SHORT,
    WIDGET,
    CrossOrigin,
    HostSite,
    Kibitz,
    PageLog,
    comment,
    require_bundle,
    wait_for_widget,
)
from tests.browser.test_moderated_widget import made_up

COUNT = f"{WIDGET} [data-count]"
INVITE = f"{WIDGET} [data-invite]"
CALM = "Comments are unavailable right now."
# What the browser itself logs for a refused or failed request (not the widget's doing).
BROWSER_NOISE = re.compile(r"CORS policy|Failed to load resource")


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def widget_errors(log: PageLog) -> list[str]:
    """Uncaught errors, and console errors that are not the browser's own network messages."""
    return log.errors + [m for m in log.console if not BROWSER_NOISE.search(m)]


@pytest.fixture
def stranger(cross_origin: CrossOrigin) -> Iterator[HostSite]:
    """A publisher's page on an origin the site "x" does not list, embedding its widget and counts."""
    with HostSite() as host:
        host.kibitz_url = cross_origin.kibitz.url
        yield host


def test_a_refused_origin_is_explained_to_the_owner_and_logged_once(
    cross_origin: CrossOrigin, stranger: HostSite, page: Page, page_log: PageLog, browser: Browser
) -> None:
    require_bundle("actions.js")
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    for _ in range(2):
        page.goto(f"{stranger.url}/story")
        expect(page.locator(f"{WIDGET} [data-unavailable]")).to_have_text(CALM)
        owner = page.locator(f"{WIDGET} [data-embed-problem]")
        expect(owner).to_contain_text(f"refused this page's origin {stranger.url}")
        expect(owner).to_contain_text('[[sites]] table with id = "x" in kibitz.toml')
        expect(owner).to_contain_text("KIBITZ_SITES")
        expect(owner).to_have_attribute("role", "alert")
        expect(page.locator(MAIN_FORM)).to_be_hidden()
        expect(page.locator(f"{WIDGET} [data-sort]").first).to_be_hidden()
    shoot(page, "widget-origin-refused")
    told = [w for w in warnings if "refused this page's origin" in w]
    assert len(told) == 2, warnings  # once per load
    assert stranger.url in told[0], told
    assert widget_errors(page_log) == [], "no script error anywhere (embed.js, count.js, live.js)"
    assert not [u for u in page_log.requests if u.endswith("/live.js")], "live.js waits for a thread"
    refused = f'Refused Origin {stranger.url} for site "x"'
    assert cross_origin.kibitz.output().count(refused) == 1, "logged once per origin and process"
    assert 'origins in the [[sites]] table with id = "x" in kibitz.toml' in cross_origin.kibitz.output()

    # The same page under a public name: readers get the calm sentence only; the console tells the owner.
    port = stranger.url.rsplit(":", 1)[1]
    public = browser.browser_type.launch(
        executable_path=shutil.which("chromium"),
        headless=True,
        args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP news.example 127.0.0.1"],
    )
    try:
        reader = public.new_page(locale="en-US")
        with reader.expect_console_message(lambda m: "refused this page's origin" in m.text) as told_reader:
            reader.goto(f"http://news.example:{port}/story")
        assert f"origin http://news.example:{port}" in told_reader.value.text
        expect(reader.locator(f"{WIDGET} [data-unavailable]")).to_have_text(CALM)
        expect(reader.locator(f"{WIDGET} [data-unavailable]")).to_be_visible()
        expect(reader.locator(f"{WIDGET} [data-embed-problem]")).to_have_count(0)
        expect(reader.locator(WIDGET)).not_to_contain_text("kibitz.toml")
    finally:
        public.close()


def test_embed_check_answers_every_origin_and_never_lists_the_sites_origins(
    cross_origin: CrossOrigin,
) -> None:
    url = f"{cross_origin.kibitz.url}/api/v1/sites/x/embed-check"
    listed = cross_origin.host.url
    mine = httpx.get(url, headers={"Origin": listed}, timeout=10)
    assert mine.status_code == 200
    assert mine.json() == {"site": "x", "origin": listed, "allowed": True, "setting": "sites.origins"}
    other = httpx.get(url, headers={"Origin": "https://Elsewhere.example:443"}, timeout=10)
    assert other.json() == {
        "site": "x",
        "origin": "https://elsewhere.example",
        "allowed": False,
        "setting": "sites.origins",
    }
    assert listed not in other.text, "the site's origins are never listed"
    for answer in (mine, other):
        assert answer.headers["access-control-allow-origin"] in ("*", listed)
        assert answer.headers["cache-control"] == "no-store"
    assert other.headers["access-control-allow-origin"] == "*"
    assert httpx.get(url, timeout=10).json()["origin"] is None
    assert httpx.get(url, headers={"Origin": "x" * 5000}, timeout=10).json()["origin"] is None
    unknown = httpx.get(url.replace("/x/", "/nope/"), headers={"Origin": "https://a.example"}, timeout=10)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["code"] == "not_found"
    assert unknown.headers["access-control-allow-origin"] == "*"


def test_an_unreachable_api_leaves_a_calm_sentence_and_no_script_error(
    demo: Kibitz, page: Page, page_log: PageLog
) -> None:
    require_bundle("actions.js")
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    page.route(re.compile(r".*/api/v1/.*"), lambda route: route.abort())
    page.goto(demo.url + "/")  # count.js fills nothing, quietly
    page.goto(demo.url + SHORT)
    expect(page.locator(f"{WIDGET} [data-unavailable]")).to_have_text(CALM)
    expect(page.locator(f"{WIDGET} [data-embed-problem]")).to_contain_text(f"did not answer at {demo.url}")
    assert any("did not answer" in w for w in warnings), warnings
    page.locator(f"{WIDGET} h2").click()  # interacting changes nothing and throws nothing
    assert widget_errors(page_log) == []


def test_empty_thread_invites_and_inline_feedback_says_why_it_is_empty(demo: Kibitz, page: Page) -> None:
    require_bundle()
    page.goto(demo.url + EMPTY)
    expect(page.locator(COUNT)).to_have_attribute("data-count", "0")
    expect(page.locator(INVITE)).to_have_text("Be the first to comment.")
    expect(page.locator(INVITE)).to_be_visible()
    page.locator(MAIN_FORM).scroll_into_view_if_needed()
    shoot(page, "widget-empty-thread")

    page.goto(demo.url + LEAD)
    wait_for_widget(page)
    expect(page.locator(INVITE)).to_have_text("Would love your thoughts, please comment.")
    page.locator(f"{WIDGET} [data-filter='inline']").click()
    empty = page.locator(f"{WIDGET} [data-empty]")
    expect(empty).to_be_visible()
    expect(empty).to_contain_text("nobody has commented on a passage")
    expect(page.locator(f"{WIDGET} [data-comments] > li")).to_have_count(0)
    page.locator(f"{WIDGET} [data-filter='inline']").click()
    expect(empty).to_be_hidden()
    wait_for_widget(page)


def test_reply_forms_say_reply_and_every_form_shares_the_readers_name(demo: Kibitz, page: Page) -> None:
    require_bundle("actions.js")
    page.goto(demo.url + SHORT)
    wait_for_widget(page)
    expect(page.locator(f"{MAIN_FORM} [name='text']")).to_have_attribute(
        "placeholder", "Join the discussion…"
    )
    first, second = page.locator(f"{WIDGET} [data-comments] > li > article [data-action='reply']").all()[:2]
    first.click()
    form = page.locator(f"{WIDGET} form[data-form='reply']")
    expect(form.locator("[name='text']")).to_have_attribute("placeholder", "Write a reply…")
    form.locator("[name='name']").fill("Rhea Replier")
    form.locator("[name='email']").fill("rhea@reader.example")
    expect(page.locator(f"{MAIN_FORM} [name='name']")).to_have_value("Rhea Replier")
    form.locator("[data-action='cancel']").click()
    expect(form).to_have_count(0)
    second.click()
    again = page.locator(f"{WIDGET} form[data-form='reply']")
    expect(again.locator("[name='name']")).to_have_value("Rhea Replier")
    expect(again.locator("[name='email']")).to_have_value("rhea@reader.example")
    page.reload()
    wait_for_widget(page)
    expect(page.locator(f"{MAIN_FORM} [name='name']")).to_have_value("Rhea Replier")


def test_reporting_uses_the_widgets_own_dialog_with_the_focus_kept_inside(
    demo: Kibitz, page: Page, page_log: PageLog
) -> None:
    require_bundle("actions.js")
    native: list[str] = []
    page.on("dialog", lambda d: native.append(d.type))
    reported: list[Any] = []

    def flag(route: Route) -> None:
        reported.append(route.request.post_data_json)
        route.fulfill(status=202, body="")

    page.route(re.compile(r".*/api/v1/comments/\d+/flag$"), flag)
    page.goto(demo.url + SHORT)
    wait_for_widget(page)
    report = page.locator(f"{WIDGET} [data-action='flag']").first
    report.click()
    dialog = page.get_by_role("dialog", name="Report this comment")
    expect(dialog).to_be_visible()
    field = dialog.get_by_label("Why report this comment?")
    expect(field).to_be_focused()
    shoot(page, "widget-report-dialog")
    for key, name in (("Tab", "Cancel"), ("Tab", "Report"), ("Tab", None), ("Shift+Tab", "Report")):
        page.keyboard.press(key)
        expect(dialog.get_by_role("button", name=name) if name else field).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(report).to_be_focused()

    report.click()
    dialog.get_by_role("button", name="Report").click()
    expect(dialog.get_by_role("alert")).to_have_text("Please say why.")
    expect(field).to_be_focused()
    field.fill("Off topic and rude.")
    dialog.get_by_role("button", name="Report").click()
    expect(dialog).to_have_count(0)
    expect(page.locator(f"{WIDGET} [data-comments] > li").first.locator(".kb-note")).to_have_text(
        "Thank you for the report."
    )
    assert reported == [{"reason": "Off topic and rude."}]
    assert native == [], "no prompt() or confirm()"
    assert page_log.errors == []


def problem(status: int, code: str) -> dict[str, Any]:
    return {"type": f"urn:kibitz:problem:{code}", "status": status, "code": code, "title": code, "detail": ""}


def test_too_fast_says_how_long_to_wait_and_a_vote_limit_has_its_own_words(demo: Kibitz, page: Page) -> None:
    require_bundle("actions.js")

    def too_fast(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        route.fulfill(status=429, headers={"Retry-After": "42"}, json=problem(429, "rate_limited"))

    page.route(re.compile(r".*/api/v1/sites/demo/comments$"), too_fast)
    page.route(re.compile(r".*/vote$"), lambda r: r.fulfill(status=403, json=problem(403, "vote_limit")))
    page.goto(demo.url + SHORT)
    wait_for_widget(page)
    form = page.locator(MAIN_FORM)
    form.locator("[name='name']").fill("Quick Quentin")
    form.locator("[name='text']").fill("Again and again.")
    form.locator("button[type='submit']").click()
    expect(form.locator("[data-error-for='form']")).to_have_text("Too fast: please try again in 42 seconds.")
    first = page.locator(f"{WIDGET} [data-comments] > li").first
    first.locator("[data-action='upvote']").first.click()
    expect(first.locator(".kb-note")).to_have_text(
        "Too many votes on this comment have come from your network already."
    )


def test_scores_use_a_minus_sign_links_stay_and_controls_are_big_enough(
    demo: Kibitz, browser: Browser
) -> None:
    require_bundle()
    linked = (
        '<p>Read <a href="https://example.org/report" rel="nofollow ugc">https://example.org/report</a>.</p>'
    )
    thread = {
        "thread": {"site": "demo", "page": SHORT, "title": "T", "url": None, "count": 2, "closed": False},
        "comments": [made_up("9001", score=-3, up=1, down=4, html=linked), made_up("9002", score=5)],
        "next": None,
    }
    sizes_js = """([selector, least]) => [...document.querySelector('#kibitz').shadowRoot
        .querySelectorAll(selector)].filter(el => el.offsetParent !== null).map(el => {
          const r = el.getBoundingClientRect();
          const small = r.width < least || r.height < least;
          return small ? `${el.outerHTML.slice(0, 80)} ${r.width}x${r.height}` : null;
        }).filter(Boolean)"""
    for touch, least in ((False, 24), (True, 44)):
        context = browser.new_context(locale="en-US", has_touch=touch)
        try:
            page = context.new_page()
            page.route(re.compile(r".*/api/v1/sites/demo/comments\?.*"), lambda r: r.fulfill(json=thread))
            page.goto(demo.url + SHORT)
            score = page.locator(f"{comment('9001')} [data-score]")
            expect(score).to_have_text("\u22123")
            expect(page.locator(f"{comment('9002')} [data-score]")).to_have_text("5")
            link = page.locator(f"{comment('9001')} [data-body] a")
            expect(link).to_have_attribute("href", "https://example.org/report")
            assert {"nofollow", "ugc", "noopener"} <= set((link.get_attribute("rel") or "").split())
            assert page.evaluate("q => matchMedia(q).matches", "(pointer: coarse)") == touch
            assert page.evaluate(sizes_js, ["button, select", least]) == [], f"targets under {least} px"
        finally:
            context.close()
