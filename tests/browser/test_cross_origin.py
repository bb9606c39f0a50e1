"""The widget as publishers deploy it: embedded in a page of another origin (another port) that
`kibitz serve` lists for its site, under a hostile stylesheet that must not reach the widget."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    MAIN_FORM,
    WIDGET,
    CrossOrigin,
    PageLog,
    comment,
    comment_id_with_text,
    parent_comment_id,
    require_bundle,
    wait_for_widget,
)

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
