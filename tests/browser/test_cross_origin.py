"""The widget as publishers deploy it: embedded in a page of another origin (another port) that
`kibitz serve` lists for its site, under a hostile stylesheet that must not reach the widget; and a
page on an origin the demo does not list, refused until `kibitz demo --origin` names it."""

from __future__ import annotations

import functools
import http.server
import shutil
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    COMMENTS,
    LEAD,
    MAIN_FORM,
    SCREENSHOTS,
    STATIC,
    WAIT_MS,
    WIDGET,
    CrossOrigin,
    LoopbackHttp,
    PageLog,
    comment,
    comment_id_with_text,
    parent_comment_id,
    require_bundle,
    start_kibitz,
    wait_for_widget,
)
from tests.server import free_port

STORY = "/story"


def test_widget_on_another_origin_posts_replies_and_votes(
    cross_origin: CrossOrigin, page: Page, page_log: PageLog
) -> None:
    require_bundle()
    require_bundle("count.js")
    kibitz = cross_origin.kibitz
    other = kibitz.post(STORY, "Written by somebody else. [cross-other]", name="Someone Else")
    before = kibitz.count(STORY)
    page.goto(cross_origin.story)
    wait_for_widget(page)
    count = page.locator(f"{WIDGET} [data-count]")
    expect(count).to_have_attribute("data-count", str(before))

    form = page.locator(MAIN_FORM)
    form.locator("[name='name']").fill("Host Reader")
    form.locator("[name='text']").fill("Posted from the publisher's page. [cross-post]")
    form.locator("button[type='submit']").click()
    mine = comment_id_with_text(page, "[cross-post]")
    expect(count).to_have_attribute("data-count", str(before + 1))
    expect(page.locator(f"{comment(mine)} [data-action='edit']")).to_have_count(1)

    page.locator(f"{comment(mine)} [data-action='reply']").click()
    reply_form = page.locator(f"{comment(mine)} form[data-form='reply']")
    reply_form.locator("[name='name']").fill("Host Reader")
    reply_form.locator("[name='text']").fill("Replying across origins. [cross-reply]")
    reply_form.locator("button[type='submit']").click()
    reply = comment_id_with_text(page, "[cross-reply]")
    assert parent_comment_id(page, reply) == mine

    theirs = page.locator(comment(other["id"]))
    theirs.locator("[data-action='upvote']").click()
    expect(theirs.locator("[data-score]")).to_have_text(str(other["score"] + 1))
    expect(theirs.locator("[data-action='upvote']")).to_have_attribute("aria-pressed", "true")

    api = kibitz.thread(STORY)
    assert api["thread"]["count"] == before + 2
    assert next(c for c in api["comments"] if c["id"] == other["id"])["score"] == other["score"] + 1

    page.reload()
    wait_for_widget(page)
    expect(count).to_have_attribute("data-count", str(before + 2))
    assert parent_comment_id(page, reply) == mine
    expect(theirs.locator("[data-score]")).to_have_text(str(other["score"] + 1))
    expect(theirs.locator("[data-action='upvote']")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(f"[data-kibitz-count][data-page='{STORY}']")).to_have_attribute(
        "data-count", str(before + 2)
    )

    assert page_log.errors == []
    allowed = (cross_origin.host.url, kibitz.url)
    assert [url for url in page_log.requests if not url.startswith(allowed)] == []


def test_host_page_css_does_not_reach_the_widget(cross_origin: CrossOrigin, page: Page) -> None:
    require_bundle()
    cross_origin.kibitz.post(STORY, "Is this readable? [css-check]", name="Style Checker")
    page.goto(cross_origin.story)
    wait_for_widget(page)
    cid = comment_id_with_text(page, "[css-check]")
    body = page.locator(f"{comment(cid)} [data-body]")
    submit = page.locator(f"{MAIN_FORM} button[type='submit']")
    textarea = page.locator(f"{MAIN_FORM} [name='text']")
    for element in (submit, textarea, body, page.locator(f"{comment(cid)} [data-action='reply']")):
        expect(element).to_be_visible()
        expect(element).not_to_have_css("font-size", "40px")
        expect(element).not_to_have_css("color", "rgb(255, 0, 0)")
        expect(element).not_to_have_css("font-family", "fantasy")
    expect(page.locator("h1")).to_have_css("font-size", "40px")  # the stylesheet does apply on the page


# -- an origin the demo does not list ------------------------------------------------------------------

PUBLISHER_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>A publisher's own page</title></head>
<body>
<h1>Our take on the bike lane</h1>
<div id="kibitz" data-site="demo" data-page="{page}"></div>
<script src="{kibitz}/embed.js" async></script>
</body>
</html>
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class PageServer(LoopbackHttp):
    """A directory of pages served on a loopback port of its own: a publisher's site."""

    def __init__(self, root: Path) -> None:
        self.serve(functools.partial(_Quiet, directory=str(root)))


def refusals(output: str, origin: str) -> int:
    """Lines of the server's WARNING for a refused origin: each names the origin and the setting."""
    return sum(
        "refused" in line.lower() and origin in line and "origins" in line for line in output.splitlines()
    )


def test_a_page_on_an_origin_the_demo_does_not_list_is_refused_until_named_with_origin(
    demo_template: Path, tmp_path: Path, page: Page
) -> None:
    require_bundle()
    pages = tmp_path / "pages"
    pages.mkdir()
    data = tmp_path / "demo-data"
    shutil.copytree(demo_template, data)
    port = free_port()
    kibitz_url = f"http://127.0.0.1:{port}"
    (pages / "story.html").write_text(PUBLISHER_PAGE.format(page=LEAD, kibitz=kibitz_url), encoding="utf-8")
    args = ["demo", "--host", "127.0.0.1", "--port", str(port), "--data", str(data)]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with PageServer(pages) as publisher:
        story = f"{publisher.url}/story.html"
        refusing = start_kibitz(args, tmp_path, port, "demo", "", "/")
        try:
            page.goto(story)
            # The thread does not load: readers read that comments are unavailable, and nothing else.
            expect(page.locator(f"{WIDGET} [data-unavailable]")).to_be_visible()
            expect(page.locator(COMMENTS)).to_have_count(0)
            if "data-embed-problem" in (STATIC / "embed.js").read_text(encoding="utf-8") + (
                STATIC / "actions.js"
            ).read_text(encoding="utf-8"):
                # On a page of the owner's own machine, a note for the owner names the origin.
                owner = page.locator(f"{WIDGET} [data-embed-problem]")
                expect(owner).to_contain_text(publisher.url)
                expect(owner).to_contain_text("origins")
            page.screenshot(path=str(SCREENSHOTS / "origin-refused.png"), full_page=True)
            deadline = time.monotonic() + WAIT_MS / 1000
            while not refusals(refusing.output(), publisher.url) and time.monotonic() < deadline:
                time.sleep(0.05)  # the log line is written as the request is refused; bounded
        finally:
            refusing.stop()
        refused_output = refusing.output()
        assert refusals(refused_output, publisher.url) == 1, refused_output  # once per origin

        allowing = start_kibitz(
            [*args, "--origin", publisher.url], tmp_path, port, "demo", publisher.url, "/"
        )
        try:
            assert f"Its widget may be embedded in pages at {kibitz_url}" in allowing.output()
            assert publisher.url in allowing.output()
            page.reload()
            wait_for_widget(page)
            count = page.locator(f"{WIDGET} [data-count]")
            before = allowing.count(LEAD)
            expect(count).to_have_attribute("data-count", str(before))
            form = page.locator(MAIN_FORM)
            form.locator("[name='name']").fill("Publisher")
            form.locator("[name='text']").fill("Posted from our own page once the demo named it. [origin-ok]")
            form.locator("button[type='submit']").click()
            comment_id_with_text(page, "[origin-ok]")
            expect(count).to_have_attribute("data-count", str(before + 1))
            assert allowing.count(LEAD) == before + 1
            page.screenshot(path=str(SCREENSHOTS / "origin-allowed.png"), full_page=True)
            assert refusals(allowing.output(), publisher.url) == 0
        finally:
            allowing.stop()
