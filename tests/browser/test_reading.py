"""Reading the demo's discussion in the widget: what it draws matches the API; sorting; count.js;
the page without JavaScript; links to one comment. One demo for the module: nothing here writes."""

from __future__ import annotations

import html
import re
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    ARTICLES,
    COMMENTS,
    LEAD,
    TOP_IDS_JS,
    WIDGET,
    Kibitz,
    PageLog,
    comment,
    drawn_comments,
    parent_comment_id,
    require_bundle,
    top_ids,
    wait_for_top_ids,
    wait_for_widget,
    walk,
)

RELATIVE = re.compile(r"\bago\b|yesterday|last (?:year|month|week)|\bnow\b|today", re.IGNORECASE)
SORT_LABELS = {"newest": "Newest", "oldest": "Oldest", "votes": "Most voted"}


def plain(fragment: str) -> str:
    """The text a reader sees of a comment's server-rendered ``html``."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def test_article_shows_the_discussion_with_its_count_authors_avatars_times_and_a_tombstone(
    demo: Kibitz, page: Page, page_log: PageLog
) -> None:
    require_bundle()
    api = demo.thread(LEAD, limit=100)
    everyone = {c["id"]: c for _, c in walk(api["comments"])}
    api_top = [c["id"] for c in api["comments"]]
    page.goto(demo.url + LEAD)
    wait_for_widget(page)

    first = wait_for_top_ids(page, api_top, prefix=True)
    assert len(first) >= 10, f"only {len(first)} comments drawn on first load"
    header = page.locator(f"{WIDGET} [data-count]")
    expect(header).to_have_attribute("data-count", str(api["thread"]["count"]))
    expect(header).to_contain_text(f"{api['thread']['count']} comments")
    expect(page.locator(f"{WIDGET} [data-invite]")).to_have_text("Would love your thoughts, please comment.")

    # A collapsed thread opens fully with "View all N comments", then "Load more" while a cursor remains.
    if len(first) < len(api_top):
        expect(page.locator(f"{WIDGET} [data-action='load-more']")).to_have_text(
            f"View all {api['thread']['count']} comments"
        )
    for _ in range(10):
        before = len(top_ids(page))
        if before >= len(api_top):
            break
        page.locator(f"{WIDGET} [data-action='load-more']").click()
        page.wait_for_function(f"n => (({TOP_IDS_JS})() || []).length > n", arg=before)
    wait_for_top_ids(page, api_top)

    shown = drawn_comments(page)
    assert set(shown) == set(everyone), "every comment of the thread is drawn once"
    for comment_id, item in shown.items():
        data = everyone[comment_id]
        assert parent_comment_id(page, comment_id) == data["parent"], f"{comment_id} nests under its parent"
        if data["deleted"]:
            assert item["deleted"], f"comment {comment_id} is drawn as a tombstone (data-deleted)"
            assert not item["author"], f"tombstone {comment_id} shows no author"
            assert not item["body"], f"tombstone {comment_id} shows no text"
            continue
        assert not item["deleted"]
        assert item["author"] == data["author"]["name"]
        assert item["avatar"] == data["author"]["avatar"]
        assert item["avatar_alt"] == ""
        assert item["datetime"], f"comment {comment_id}: the time has a datetime"
        assert datetime.fromisoformat(item["datetime"]) == datetime.fromisoformat(data["created"])
        assert item["title"], f"comment {comment_id}: the exact date is in the time's title"
        assert RELATIVE.search(item["when"] or ""), f"comment {comment_id}: relative time {item['when']!r}"
        assert item["score"] == str(data["score"]).replace("-", "\u2212"), "a real minus sign"
        assert plain(data["html"])[:40] in " ".join((item["body"] or "").split())

    tombstones = [c for c in everyone.values() if c["deleted"]]
    assert tombstones, "the demo discussion has a deleted parent"
    for tomb in tombstones:
        expect(page.locator(comment(tomb["id"]))).to_have_attribute("data-deleted", re.compile(".*"))
        for reply in tomb["replies"]:
            nested = f"{comment(tomb['id'])} [data-replies] li[data-comment-id='{reply['id']}']"
            expect(page.locator(nested)).to_be_attached()

    assert page_log.errors == [], "no uncaught script errors"
    foreign = [url for url in page_log.requests if not url.startswith(demo.url)]
    assert foreign == [], "the page asks nobody but the Kibitz server"


def test_each_sort_tab_orders_comments_as_the_api_does_and_is_remembered(demo: Kibitz, page: Page) -> None:
    require_bundle()
    page.goto(demo.url + LEAD)
    wait_for_widget(page)
    tabs = page.locator(f"{WIDGET} [role='tablist'] [role='tab'][data-sort]")
    expect(tabs).to_have_count(3)
    for sort, label in SORT_LABELS.items():
        expect(page.locator(f"{WIDGET} [role='tab'][data-sort='{sort}']")).to_have_text(label)
    expect(page.locator(f"{WIDGET} [data-sort='newest']")).to_have_attribute("aria-selected", "true")
    wait_for_top_ids(page, demo.top_ids(LEAD, "newest"), prefix=True)

    for sort in ("oldest", "votes", "newest", "votes"):
        page.locator(f"{WIDGET} [data-sort='{sort}']").click()
        for other in SORT_LABELS:
            expect(page.locator(f"{WIDGET} [data-sort='{other}']")).to_have_attribute(
                "aria-selected", "true" if other == sort else "false"
            )
        wait_for_top_ids(page, demo.top_ids(LEAD, sort), prefix=True)

    page.reload()
    wait_for_widget(page)
    expect(page.locator(f"{WIDGET} [data-sort='votes']")).to_have_attribute("aria-selected", "true")
    wait_for_top_ids(page, demo.top_ids(LEAD, "votes"), prefix=True)


def test_comment_link_scrolls_to_and_highlights_that_comment(demo: Kibitz, page: Page) -> None:
    require_bundle()
    api = demo.thread(LEAD, limit=100)
    # The deepest reply under the first ten top-level comments: drawn however collapsed the thread is.
    depth, target = max(
        ((d, c) for top in api["comments"][:10] for d, c in walk([top]) if not c["deleted"]),
        key=lambda pair: pair[0],
    )
    assert depth >= 2
    page.set_viewport_size({"width": 1000, "height": 700})
    page.goto(f"{demo.url}{LEAD}#comment-{target['id']}")
    wait_for_widget(page)
    item = page.locator(comment(target["id"]))
    expect(item).to_have_attribute("data-highlighted", re.compile(".*"))
    expect(item).to_be_in_viewport()
    expect(page.locator(f"{COMMENTS}[data-highlighted]")).to_have_count(1)


def test_count_js_fills_the_front_page_counts_with_one_request(
    demo: Kibitz, page: Page, page_log: PageLog
) -> None:
    require_bundle("count.js")
    counts = demo.counts(ARTICLES)
    page.goto(demo.url + "/")
    for path, n in counts.items():
        element = page.locator(f"[data-kibitz-count][data-page='{path}']")
        expect(element).to_have_attribute("data-count", str(n))
        if n > 0:
            expect(element).to_have_text(f"{n} comment" if n == 1 else f"{n} comments")
    asked = [url for url in page_log.requests if "/counts" in urlsplit(url).path]
    assert len(asked) == 1, asked
    assert urlsplit(asked[0]).path == "/api/v1/sites/demo/counts"
    assert sorted(parse_qs(urlsplit(asked[0]).query)["page"]) == sorted(ARTICLES)


def test_without_javascript_the_server_rendered_comments_are_readable(demo: Kibitz, browser: Browser) -> None:
    api = demo.thread(LEAD, limit=100)
    deep = max(walk(api["comments"]), key=lambda pair: pair[0])[1]
    first = next(c for c in api["comments"] if not c["deleted"])
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(demo.url + LEAD)
        header = page.locator("#kibitz [data-kibitz-ssr] [data-count]")
        expect(header).to_have_text(f"{api['thread']['count']} comments")
        for item in (first, deep):
            words = plain(item["html"])[:60]
            expect(page.get_by_text(words, exact=False).first).to_be_visible()
            expect(page.locator(f"#kibitz [data-comment-id='{item['id']}']").first).to_contain_text(
                item["author"]["name"]
            )
        expect(page.get_by_text("This comment was deleted.").first).to_be_visible()

        page.goto(demo.url + "/")
        lead_count = page.locator(f"[data-kibitz-count][data-page='{LEAD}']")
        expect(lead_count).to_have_text(f"{demo.counts([LEAD])[LEAD]} comments")
    finally:
        context.close()
