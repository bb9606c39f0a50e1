"""Inline feedback as a reader sees it (issue 15 items 1–4), on a publisher's page served from another
origin whose article the test edits between loads: choosing a passage with the mouse and with the
keyboard, "Comment on this", the quote in the form, the marker with its count after a reload, filtering
the thread by the marker, the "Inline feedback" tab with quotes, the highlight while a comment is
hovered or focused, an editor's question, and anchors placed again after the article changed (a word
changed before the passage, the passage lightly edited, the passage deleted, the same sentence twice)."""

from __future__ import annotations

import http.server
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.conftest import (
    CHROMIUM_ARGS,
    MAIN_FORM,
    SCREENSHOTS,
    WIDGET,
    Kibitz,
    LoopbackHttp,
    PageLog,
    require_bundle,
    send_html,
    start_kibitz,
)
from tests.conftest import missing
from tests.server import free_port, site, write_config

MARKER = "#story-body [data-kibitz-marker]"
MARK = "#story-body mark[data-kibitz-mark]"
COMPOSE = "[data-kibitz-compose]"
FILTER = f"{WIDGET} [data-filter=inline]"

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title>
<style>body {{ font: 18px/1.6 Georgia, serif; max-width: 40rem; margin: 2rem auto; }}</style></head>
<body>
<h1>{title}</h1>
<article id="story-body">
{paragraphs}
</article>
<div id="kibitz" data-site="x" data-page="{page}" data-title="{title}"{article}></div>
<script src="{kibitz}/embed.js" async></script>
</body>
</html>
"""

P1 = "The council met on Tuesday evening to discuss the budget for the coming year."
P2 = "The mayor said the new riverside park would open in the spring, two months late."
P3 = "Residents asked about the road works on Main Street, which have closed three shops."
P4 = "A vote on the library's opening hours was postponed until the next meeting in May."
P5 = "Nothing else was decided, and the meeting ended shortly after nine o'clock."


@dataclass
class Articles(LoopbackHttp):
    """The publisher's site: `/s/NAME` is an article whose paragraphs the test sets and changes."""

    kibitz_url: str = ""
    stories: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.split("?")[0].removeprefix("/s/")
                if name not in outer.stories:
                    self.send_error(404)
                    return
                paragraphs = "\n".join(f"<p>{p}</p>" for p in outer.stories[name])
                # A story named "default-…" leaves the article to the default (the `article` before it).
                article = "" if name.startswith("default-") else ' data-kibitz-article="#story-body"'
                body = PAGE.format(
                    title=f"Story {name}",
                    page=f"/s/{name}",
                    paragraphs=paragraphs,
                    kibitz=outer.kibitz_url,
                    article=article,
                ).encode()
                send_html(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.serve(Handler)


@dataclass
class Newsroom:
    articles: Articles
    kibitz: Kibitz

    def url(self, name: str) -> str:
        return f"{self.articles.url}/s/{name}"

    def post(self, name: str, text: str, anchor: dict[str, Any]) -> str:
        r = httpx.post(
            f"{self.kibitz.url}/api/v1/sites/x/comments",
            json={"page": f"/s/{name}", "text": text, "author": {"name": "Reader"}, "anchor": anchor},
            headers={"Origin": self.articles.url},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        comment_id: str = r.json()["comment"]["id"]
        return comment_id

    def thread(self, name: str, **params: str) -> dict[str, Any]:
        r = httpx.get(
            f"{self.kibitz.url}/api/v1/sites/x/comments", params={"page": f"/s/{name}", **params}, timeout=10
        )
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium with caret browsing on (F7 in a desktop browser): how a keyboard-only reader selects
    text in a page that is not a form field."""
    executable = shutil.which("chromium")
    if executable is None:
        missing("Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=[*CHROMIUM_ARGS, "--enable-caret-browsing"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Newsroom]:
    """`kibitz serve` with site "x", whose origin is the publisher's site on another loopback port."""
    require_bundle("anchor.js")
    where = tmp_path_factory.mktemp("inline")
    with Articles() as articles:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = write_config(
            where / "kibitz.toml",
            where,
            "sqlite:///kibitz.db",
            sites=[site("x", articles.url)],
            base_url=base,
        )
        args = ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
        server = start_kibitz(args, where, port, "x", articles.url, "/healthz")
        articles.kibitz_url = server.url
        try:
            yield Newsroom(articles, server)
        finally:
            server.stop()


def selector(paragraphs: list[str], exact: str, occurrence: int = 0) -> dict[str, Any]:
    """The anchor the widget stores for `exact` (its `occurrence`-th time): positions count the
    article's text with white space collapsed, as anchor.js does."""
    text = " ".join(paragraphs)
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(exact, start + 1)
    end = start + len(exact)
    return {
        "exact": exact,
        "prefix": text[max(0, start - 32) : start],
        "suffix": text[end : end + 32],
        "start": start,
        "end": end,
    }


def open_story(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator(f"{WIDGET} [data-count]")).to_be_attached()


def drag_select(page: Page, paragraph: int, words: str) -> None:
    """Select `words` inside the paragraph with the mouse: press before the first letter, release
    after the last."""
    box = page.evaluate(
        """([n, words]) => {
          const p = document.querySelectorAll('#story-body p')[n];
          const node = p.firstChild, at = node.data.indexOf(words);
          const r = document.createRange();
          r.setStart(node, at); r.setEnd(node, at + 1);
          const a = r.getBoundingClientRect();
          r.setStart(node, at + words.length - 1); r.setEnd(node, at + words.length);
          const b = r.getBoundingClientRect();
          return {x1: a.left + 1, y1: a.top + a.height / 2, x2: b.right - 1, y2: b.top + b.height / 2};
        }""",
        [paragraph, words],
    )
    page.mouse.move(box["x1"], box["y1"])
    page.mouse.down()
    page.mouse.move((box["x1"] + box["x2"]) / 2, box["y2"], steps=4)
    page.mouse.move(box["x2"], box["y2"], steps=4)
    page.mouse.up()


def write(page: Page, text: str) -> None:
    form = page.locator(MAIN_FORM)
    form.locator("[name='name']").fill("Selma Reader")
    form.locator("[name='text']").fill(text)
    form.locator("button[type='submit']").click()


def test_select_with_the_mouse_comment_reload_marker_filter_and_the_inline_tab(
    newsroom: Newsroom, page: Page, page_log: PageLog
) -> None:
    newsroom.articles.stories["mouse"] = [P1, P2, P3, P4, P5]
    plain = newsroom.kibitz.post("/s/mouse", "A general remark, about no passage in particular.")
    open_story(page, newsroom.url("mouse"))
    expect(page.locator(f"{WIDGET} li[data-comment-id='{plain['id']}']")).to_be_visible()

    drag_select(page, 1, "new riverside park")
    chosen = page.evaluate("() => getSelection().toString()")
    assert chosen.strip() == "new riverside park"
    offer = page.locator(COMPOSE)
    expect(offer).to_be_visible()
    expect(offer).to_have_text("Comment on this")
    page.screenshot(path=str(SCREENSHOTS / "inline-comment-on-this.png"))
    offer.click()
    quote = page.locator(f"{MAIN_FORM} [data-form-quote] [data-quote]")
    expect(quote).to_have_text("new riverside park")
    write(page, "Two months late again? The last park took a year longer.")
    expect(page.locator(MARKER)).to_have_attribute("data-count", "1")

    stored = [c for c in newsroom.thread("mouse", filter="inline")["comments"]]
    assert len(stored) == 1
    anchor = stored[0]["anchor"]
    assert anchor["exact"] == "new riverside park"
    assert anchor["prefix"].endswith("The mayor said the ")
    assert anchor["suffix"].startswith(" would open in the spring")
    assert anchor["end"] - anchor["start"] == len("new riverside park")
    assert len(anchor["hash"]) == 8

    # A second reader on the same passage, then a reload: one marker, count 2.
    newsroom.post("mouse", "The spring is optimistic.", {**anchor})
    page.reload()
    marker = page.locator(MARKER)
    expect(marker).to_have_attribute("data-count", "2")
    expect(marker).to_have_attribute("aria-label", "2 comments on this passage")
    expect(page.locator(MARK)).to_have_text("new riverside park")
    anchored = page.locator(f"{WIDGET} li[data-anchor-state='attached']")
    expect(anchored).to_have_count(2)
    expect(anchored.first.locator("[data-quote]")).to_have_text("new riverside park")
    expect(page.locator(f"{WIDGET} li[data-comment-id='{plain['id']}']")).not_to_have_attribute(
        "data-anchor-state", "attached"
    )

    # Hovering a comment highlights its passage.
    anchored.first.locator("[data-body]").hover()
    expect(page.locator(MARK)).to_have_attribute("data-active", "")
    page.mouse.move(0, 0)
    expect(page.locator(MARK)).not_to_have_attribute("data-active", "")

    # The marker filters the thread to its passage; "Show all comments" undoes it.
    marker.click()
    bar = page.locator(f"{WIDGET} [data-passage]")
    expect(bar).to_be_visible()
    expect(bar.locator("q")).to_have_text("new riverside park")
    expect(page.locator(f"{WIDGET} [data-comments] > li:not([hidden])")).to_have_count(2)
    expect(page.locator(f"{WIDGET} li[data-comment-id='{plain['id']}']")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "inline-marker-filter.png"), full_page=True)
    bar.locator("[data-passage-all]").click()
    expect(bar).to_be_hidden()
    expect(page.locator(f"{WIDGET} li[data-comment-id='{plain['id']}']")).to_be_visible()

    # The "Inline feedback" tab: the anchored comments alone, each with its quote.
    page.locator(FILTER).click()
    expect(page.locator(FILTER)).to_have_attribute("aria-pressed", "true")
    listed = page.locator(f"{WIDGET} [data-comments] > li")
    expect(listed).to_have_count(2)
    for i in range(2):
        expect(listed.nth(i).locator("[data-quote]")).to_have_text("new riverside park")
    assert not page_log.errors, page_log.errors


def test_select_with_the_keyboard_and_comment_from_the_keyboard(newsroom: Newsroom, page: Page) -> None:
    newsroom.articles.stories["keys"] = [P1, P2, P3, P4, P5]
    open_story(page, newsroom.url("keys"))
    # The caret before "road works" (where a reader's arrow keys would bring it), then Shift+arrows.
    page.evaluate(
        """() => {
          const node = document.querySelectorAll('#story-body p')[2].firstChild;
          getSelection().collapse(node, node.data.indexOf('road works'));
        }"""
    )
    for _ in range(len("road works")):
        page.keyboard.press("Shift+ArrowRight")
    assert page.evaluate("() => getSelection().toString()") == "road works"
    offer = page.locator(COMPOSE)
    expect(offer).to_be_visible()
    page.keyboard.press("Tab")
    expect(offer).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(f"{MAIN_FORM} [data-form-quote] [data-quote]")).to_have_text("road works")
    expect(page.locator(f"{MAIN_FORM} textarea")).to_be_focused()
    page.keyboard.type("Three shops closed is an understatement.")
    page.locator(f"{MAIN_FORM} [name='name']").fill("Kim Keys")
    page.locator(f"{MAIN_FORM} [name='name']").press("Enter")
    expect(page.locator(MARKER)).to_have_attribute("data-count", "1")
    page.reload()
    marker = page.locator(MARKER)
    expect(marker).to_have_attribute("data-count", "1")
    expect(page.locator(MARK)).to_have_text("road works")
    # The marker is a button on the keyboard path; Enter on it filters the thread.
    marker.focus()
    page.keyboard.press("Enter")
    expect(page.locator(f"{WIDGET} [data-passage]")).to_be_focused()
    li = page.locator(f"{WIDGET} [data-comments] > li:not([hidden])")
    expect(li).to_have_count(1)
    # Focusing a comment highlights its passage too (once anchor.js has tied the redrawn comment to it).
    expect(li.first).to_have_attribute("data-anchor-key", re.compile(r".+"))
    li.first.locator("[data-action=reply]").focus()
    expect(page.locator(MARK)).to_have_attribute("data-active", "")


def test_an_editors_question_opens_the_form_anchored_on_its_passage(newsroom: Newsroom, page: Page) -> None:
    asked = '<span data-kibitz-question="Has this hit you?">the road works on Main Street</span>'
    newsroom.articles.stories["question"] = [
        P1,
        P2,
        P3.replace("the road works on Main Street", asked),
        P4,
    ]
    open_story(page, newsroom.url("question"))
    ask = page.locator("#story-body [data-kibitz-ask]")
    expect(ask).to_have_text("Has this hit you?")
    ask.click()
    expect(page.locator(f"{MAIN_FORM} [data-form-quote] [data-quote]")).to_have_text(
        "the road works on Main Street"
    )
    write(page, "Yes: my bakery lost half its customers.")
    expect(page.locator(MARKER)).to_have_attribute("data-count", "1")
    expect(page.locator(MARK)).to_have_text("the road works on Main Street")
    anchor = newsroom.thread("question", filter="inline")["comments"][0]["anchor"]
    assert anchor["exact"] == "the road works on Main Street"
    assert anchor["prefix"].endswith("Residents asked about ")


def test_anchors_follow_the_article_through_its_corrections(newsroom: Newsroom, page: Page) -> None:
    before = [P1, P2, P3, P4, P5]
    newsroom.articles.stories["edited"] = before
    ids = {
        "word-before": newsroom.post(
            "edited", "Which year?", selector(before, "the budget for the coming year")
        ),
        "light-edit": newsroom.post(
            "edited", "Late again.", selector(before, "would open in the spring, two months late")
        ),
        "deleted": newsroom.post(
            "edited", "Vote when?", selector(before, "was postponed until the next meeting")
        ),
        "twice": newsroom.post("edited", "Which shops?", selector(before, "which have closed three shops")),
    }
    # The corrected article: a word before the first passage, the second passage reworded a little,
    # the third passage gone, and the fourth's sentence quoted again in a new last paragraph.
    newsroom.articles.stories["edited"] = [
        P1.replace("Tuesday", "Wednesday"),
        P2.replace("two months late", "three months late"),
        P3,
        "A vote on the library's opening hours is expected in May.",
        P5,
        "Correction: residents said the road works, which have closed three shops, began in March.",
    ]
    open_story(page, newsroom.url("edited"))

    def state(name: str) -> Any:
        return expect(page.locator(f"{WIDGET} li[data-comment-id='{ids[name]}']"))

    state("word-before").to_have_attribute("data-anchor-state", "attached")
    state("light-edit").to_have_attribute("data-anchor-state", "attached")
    state("twice").to_have_attribute("data-anchor-state", "attached")
    state("deleted").to_have_attribute("data-anchor-state", "orphaned")
    expect(page.locator(MARKER)).to_have_count(3)
    marks = page.locator(MARK)
    texts = [m.text_content() for m in marks.all()]
    assert texts == [
        "the budget for the coming year",
        "would open in the spring, three months late",
        "which have closed three shops",
    ]
    # The repeated sentence keeps its anchor in the third paragraph, not in the correction.
    in_third = page.locator("#story-body p").nth(2).locator("mark[data-kibitz-mark]")
    expect(in_third).to_have_text("which have closed three shops")
    expect(page.locator("#story-body p").nth(5).locator("mark")).to_have_count(0)
    orphan = page.locator(f"{WIDGET} li[data-comment-id='{ids['deleted']}']")
    expect(orphan.locator("[data-earlier]")).to_have_text("On an earlier version of this article")
    expect(orphan.locator("[data-quote]")).to_have_text("was postponed until the next meeting")
    page.screenshot(path=str(SCREENSHOTS / "inline-reanchored.png"), full_page=True)


def test_the_server_rendered_thread_shows_the_quote(newsroom: Newsroom) -> None:
    newsroom.articles.stories["ssr"] = [P1, P2]
    newsroom.post("ssr", "Quoted without JavaScript.", selector([P1, P2], "riverside park"))
    url = f"{newsroom.kibitz.url}/api/v1/sites/x/comments.html"
    r = httpx.get(url, params={"page": "/s/ssr"}, timeout=10)
    assert r.status_code == 200, r.text
    assert '<blockquote class="kibitz-quote" data-quote>riverside park</blockquote>' in r.text


def test_without_the_attribute_the_article_before_the_widget_is_the_one(
    newsroom: Newsroom, page: Page
) -> None:
    newsroom.articles.stories["default-article"] = [P1, P2, P3]
    newsroom.post("default-article", "On the park.", selector([P1, P2, P3], "riverside park"))
    open_story(page, newsroom.url("default-article"))
    expect(page.locator(MARKER)).to_have_attribute("data-count", "1")
    expect(page.locator(MARK)).to_have_text("riverside park")
    drag_select(page, 2, "road works")
    expect(page.locator(COMPOSE)).to_be_visible()
    # A selection outside the article (the headline) offers nothing.
    page.locator("h1").dblclick()
    expect(page.locator(COMPOSE)).to_be_hidden()
