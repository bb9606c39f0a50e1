"""Live updates and the comment bubble on the demo (live.js, loaded by embed.js after its first render):
what one reader does shows up on another reader's open page without a reload (the events stream), and
the bubble invites a reader who has read most of the article."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.browser.conftest import (
    LEAD,
    MAIN_FORM,
    SHORT,
    WAIT_MS,
    WIDGET,
    Kibitz,
    PageLog,
    comment,
    comment_id_with_text,
    focused,
    require_bundle,
    tab_to,
    wait_for_widget,
)

COUNT = f"{WIDGET} [data-count]"
BUBBLE = f"{WIDGET} [data-bubble]"
PILL = f"{WIDGET} [data-new-pill]"  # live.js adds it (hidden) once it runs


@pytest.fixture
def other_page(browser: Browser) -> Iterator[Page]:
    """A second reader: a browser context of its own (its own localStorage, its own reader id)."""
    made = browser.new_context(locale="en-US", timezone_id="UTC")
    made.set_default_timeout(WAIT_MS)
    try:
        yield made.new_page()
    finally:
        made.close()


def open_live(page: Page, url: str) -> None:
    """Load an article and wait until the widget has drawn its comments and live.js has started."""
    page.goto(url)
    wait_for_widget(page)
    expect(page.locator(PILL)).to_be_attached()


def test_comment_posted_on_one_page_appears_on_another_open_page_without_reload(
    fresh_demo: Kibitz, page: Page, other_page: Page, page_log: PageLog
) -> None:
    require_bundle("live.js")
    before = fresh_demo.count(SHORT)
    open_live(page, fresh_demo.url + SHORT)
    open_live(other_page, fresh_demo.url + SHORT)

    form = page.locator(MAIN_FORM)
    form.locator("[name='name']").fill("Live Writer")
    form.locator("[name='text']").fill("Seen from the other tab, I hope. [live-test]")
    form.locator("button[type='submit']").click()
    new_id = comment_id_with_text(page, "[live-test]")

    # The other reader sees it drawn (once), the header count grows, and it is announced.
    expect(other_page.locator(f"{comment(new_id)} [data-body]")).to_contain_text("Seen from the other tab")
    expect(other_page.locator(comment(new_id))).to_have_count(1)
    expect(other_page.locator(f"{comment(new_id)} [data-author]")).to_have_text("Live Writer")
    expect(other_page.locator(COUNT)).to_have_attribute("data-count", str(before + 1))
    expect(other_page.locator(COUNT)).to_contain_text(f"{before + 1} comments")
    expect(other_page.locator(f"{WIDGET} [data-live]")).to_contain_text("Live Writer")

    # The writer's own page still shows their comment exactly once (the stream's copy is not added).
    expect(page.locator(COUNT)).to_have_attribute("data-count", str(before + 1))
    expect(page.locator(comment(new_id))).to_have_count(1)
    assert fresh_demo.count(SHORT) == before + 1
    streams = [url for url in page_log.requests if "/events?" in url]
    assert streams == [f"{fresh_demo.url}/api/v1/sites/demo/events?page={quote(SHORT, safe='')}"], streams


def test_vote_on_one_page_updates_the_score_on_another_open_page(
    fresh_demo: Kibitz, page: Page, other_page: Page
) -> None:
    require_bundle("live.js")
    target = next(c for c in fresh_demo.thread(SHORT)["comments"] if not c["deleted"])
    open_live(page, fresh_demo.url + SHORT)
    open_live(other_page, fresh_demo.url + SHORT)
    theirs = other_page.locator(comment(target["id"])).locator("[data-score]").first
    expect(theirs).to_have_text(str(target["score"]))

    page.locator(comment(target["id"])).locator("[data-action='upvote']").first.click()
    expect(page.locator(comment(target["id"])).locator("[data-score]").first).to_have_text(
        str(target["score"] + 1)
    )
    expect(theirs).to_have_text(str(target["score"] + 1))


# Runs in the page: a scroll position past 60 % of the content above the widget, the widget still below.
READ_MOST_JS = """() => {
  const top = document.querySelector('#kibitz').getBoundingClientRect().top + scrollY;
  const y = Math.ceil(Math.max(1, 0.6 * top - innerHeight + 20));
  return y + innerHeight < top - 20 ? y : null;
}"""


# Runs in the page: focus the article's last link (the focusable element just before the widget).
# The last thing a keyboard reader reaches before the widget (a link of the article, or the button of
# the newsletter sign-up under it), focused without scrolling.
LAST_LINK_FOCUS_JS = """() => {
  const host = document.querySelector('#kibitz');
  const stops = [...document.querySelectorAll('a[href], button, input:not([tabindex="-1"])')].filter(
    el => el.compareDocumentPosition(host) & Node.DOCUMENT_POSITION_FOLLOWING && el.offsetParent);
  stops[stops.length - 1].focus({preventScroll: true});
}"""


def scroll_past_most_of_the_article(page: Page) -> None:
    y = page.evaluate(READ_MOST_JS)
    assert y is not None, "the demo article is taller than the window (short window set by the test)"
    page.evaluate("y => window.scrollTo(0, y)", y)


def test_bubble_appears_after_reading_most_of_the_article_and_stays_closed_after_reload(
    demo: Kibitz, page: Page
) -> None:
    require_bundle("live.js")
    page.set_viewport_size({"width": 900, "height": 360})
    open_live(page, demo.url + LEAD)
    page.evaluate("window.scrollTo(0, 0)")
    bubble = page.locator(BUBBLE)
    expect(bubble).to_be_attached()
    expect(bubble).to_be_hidden()

    scroll_past_most_of_the_article(page)
    expect(bubble).to_be_visible()
    count = page.locator(COUNT).get_attribute("data-count")
    expect(bubble).to_contain_text(re.compile(rf"{count} comments"))
    expect(bubble).to_contain_text("Would love your thoughts, please comment")
    close = bubble.locator("button[data-action='bubble-close']")
    assert close.get_attribute("aria-label"), "the × has a name for screen readers"

    # Keyboard: from the last stop before the widget, Tab reaches the bubble; Enter jumps to the main form.
    page.evaluate(LAST_LINK_FOCUS_JS)
    scroll_past_most_of_the_article(page)
    expect(bubble).to_be_visible()
    tab_to(page, lambda el: el["action"] == "bubble", "the bubble")
    page.keyboard.press("Enter")
    now = focused(page)
    assert now is not None
    assert (now["form"], now["name"]) == ("main", "text"), now
    expect(bubble).to_be_hidden()

    scroll_past_most_of_the_article(page)
    expect(bubble).to_be_visible()
    close.click()
    expect(bubble).to_be_hidden()

    page.reload()
    wait_for_widget(page)
    expect(page.locator(PILL)).to_be_attached()
    scroll_past_most_of_the_article(page)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    expect(page.locator(BUBBLE)).to_be_hidden()
    assert page.evaluate("localStorage.getItem('kibitz:bubble-closed')") is not None


def test_bubble_is_off_with_data_bubble_off_on_the_host_element(demo: Kibitz, page: Page) -> None:
    require_bundle("live.js")

    def bubble_off(route: Route) -> None:
        response = route.fetch()
        body = response.text().replace('id="kibitz"', 'id="kibitz" data-bubble="off"', 1)
        route.fulfill(response=response, body=body)

    page.route(demo.url + LEAD, bubble_off)
    page.set_viewport_size({"width": 900, "height": 360})
    open_live(page, demo.url + LEAD)
    assert page.locator("#kibitz").get_attribute("data-bubble") == "off"
    scroll_past_most_of_the_article(page)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    expect(page.locator(BUBBLE)).to_have_count(0)


def test_without_the_event_stream_the_page_polls_and_still_shows_new_comments(
    fresh_demo: Kibitz, page: Page
) -> None:
    require_bundle("live.js")
    page.route(re.compile(r".*/events\?.*"), lambda route: route.fulfill(status=503, body="down"))
    open_live(page, fresh_demo.url + SHORT)
    before = fresh_demo.count(SHORT)
    # After 3 failed connections (3 s apart) it polls every 10 s; the first answer is the baseline.
    page.wait_for_function(
        "() => performance.getEntriesByType('resource').some(e => /\\/comments\\?.*limit=50/.test(e.name))",
        timeout=30_000,
    )
    posted = fresh_demo.post(SHORT, "Arrived by polling. [poll-test]", name="Poll Poster")
    expect(page.locator(f"{comment(posted['id'])} [data-body]")).to_contain_text(
        "Arrived by polling", timeout=25_000
    )
    expect(page.locator(COUNT)).to_have_attribute("data-count", str(before + 1))
