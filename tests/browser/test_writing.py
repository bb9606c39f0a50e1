"""Writing through the widget on the demo: post, reply, vote, edit, delete, errors, hostile comments,
keyboard-only use. Each test gets a demo of its own (the demo site allows 5 comments a minute)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Dialog, Page, Request, Route, expect

from tests.browser.conftest import (
    EMPTY,
    FOCUS_VISIBLE_JS,
    LEAD,
    MAIN_FORM,
    SHORT,
    WIDGET,
    Kibitz,
    comment,
    comment_id_with_text,
    drawn_comments,
    focused,
    parent_comment_id,
    require_bundle,
    tab_to,
    top_ids,
    wait_for_widget,
)

COUNT = f"{WIDGET} [data-count]"


def open_thread(page: Page, url: str) -> None:
    """Load an article and wait until the widget has drawn its header (and comments, when any)."""
    page.goto(url)
    expect(page.locator(COUNT)).to_be_attached()
    if page.locator(COUNT).get_attribute("data-count") != "0":
        wait_for_widget(page)


def expect_count(page: Page, n: int) -> None:
    expect(page.locator(COUNT)).to_have_attribute("data-count", str(n))
    expect(page.locator(COUNT)).to_contain_text(f"{n} comment")


def test_posted_comment_appears_at_once_and_after_reload_and_the_count_grows(
    fresh_demo: Kibitz, page: Page
) -> None:
    require_bundle()
    before = fresh_demo.count(SHORT)
    open_thread(page, fresh_demo.url + SHORT)
    form = page.locator(MAIN_FORM)
    for field in ("name", "email", "text", "notify"):
        expect(form.locator(f"[name='{field}']")).to_have_count(1)
        labelled = form.locator(f"[name='{field}']").evaluate("el => el.labels.length > 0")
        assert labelled, f"the {field} field has a <label>"
    options = form.locator("select[name='notify'] option")
    assert [o.get_attribute("value") for o in options.all()] == ["none", "replies", "all", "updates"]

    form.locator("[name='name']").fill("Rowan Tester")
    form.locator("[name='text']").fill("The **night bus** should stop here too. [post-test]")
    form.locator("[data-action='preview']").click()
    expect(page.locator(f"{WIDGET} [data-preview] strong")).to_have_text("night bus")
    form.locator("button[type='submit']").click()

    new_id = comment_id_with_text(page, "[post-test]")
    expect(page.locator(f"{comment(new_id)} [data-body] strong")).to_have_text("night bus")
    assert drawn_comments(page)[new_id]["author"] == "Rowan Tester"
    assert top_ids(page)[0] == new_id, "the reader's new comment is drawn at the top (newest first)"
    expect_count(page, before + 1)
    expect(page.locator(f"{WIDGET} [data-live]")).to_contain_text(re.compile("posted", re.IGNORECASE))
    expect(form.locator("[name='text']")).to_have_value("")

    assert fresh_demo.count(SHORT) == before + 1
    page.reload()
    wait_for_widget(page)
    expect(page.locator(f"{comment(new_id)} [data-body]")).to_contain_text("should stop here too")
    expect_count(page, before + 1)


def test_own_comment_is_drawn_at_once_in_a_collapsed_thread_sorted_oldest_first(
    fresh_demo: Kibitz, page: Page
) -> None:
    require_bundle()
    open_thread(page, fresh_demo.url + LEAD)
    invite = page.locator(f"{WIDGET} [data-invite]")
    expect(invite).to_be_visible()
    page.locator(f"{WIDGET} [data-sort='oldest']").click()
    expect(page.locator(f"{WIDGET} [data-sort='oldest']")).to_have_attribute("aria-selected", "true")
    oldest = fresh_demo.top_ids(LEAD, "oldest")
    assert len(top_ids(page)) < len(oldest), "the long thread opens collapsed"
    form = page.locator(MAIN_FORM)
    form.locator("[name='name']").fill("Late Arrival")
    form.locator("[name='text']").fill("Only just read this. [late-post]")
    form.locator("button[type='submit']").click()
    mine = comment_id_with_text(page, "[late-post]")
    expect(page.locator(comment(mine))).to_be_visible()
    expect(invite).to_be_hidden()  # shown only while the reader has not commented
    page.reload()
    wait_for_widget(page)
    expect(invite).to_be_hidden()


def test_replies_four_levels_deep_nest_under_their_parents(fresh_demo: Kibitz, page: Page) -> None:
    require_bundle()
    api = fresh_demo.thread(SHORT)
    start = next(c["id"] for c in api["comments"] if not c["replies"] and not c["deleted"])
    open_thread(page, fresh_demo.url + SHORT)
    chain = [start]
    # Four different answers: one reader's near-copies within minutes are held as repeats.
    words = [
        "Agreed, the costs were",
        "Not quite: the council said",
        "Source? I read that it",
        "Fair point, though",
    ]
    for level in range(1, 5):
        parent = page.locator(comment(chain[-1]))  # a leaf: its reply button is the only one inside
        parent.locator("[data-action='reply']").click()
        form = parent.locator("form[data-form='reply']")
        form.locator("[name='name']").fill(f"Replier {level}")
        form.locator("[name='text']").fill(f"{words[level - 1]} otherwise [reply-{level}]")
        form.locator("button[type='submit']").click()
        reply = comment_id_with_text(page, f"[reply-{level}]")
        assert parent_comment_id(page, reply) == chain[-1], f"reply {level} is drawn under its parent"
        chain.append(reply)

    nested = " [data-replies] ".join(f"li[data-comment-id='{cid}']" for cid in chain)
    expect(page.locator(f"{WIDGET} {nested}")).to_be_attached()
    parents = {c["id"]: c["parent"] for c in _walk(fresh_demo.thread(SHORT)["comments"])}
    assert [parents[cid] for cid in chain[1:]] == chain[:-1]

    page.reload()
    wait_for_widget(page)
    expect(page.locator(f"{WIDGET} {nested}")).to_be_attached()
    for level, cid in enumerate(chain[1:], start=1):
        expect(page.locator(f"{comment(cid)} [data-body]").first).to_contain_text(f"[reply-{level}]")


def _walk(comments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for top in comments for c in [top, *_walk(top["replies"])]]


def test_upvote_raises_the_score_and_stays_pressed_after_reload(fresh_demo: Kibitz, page: Page) -> None:
    require_bundle()
    api = fresh_demo.thread(LEAD)
    target = next(c for c in api["comments"] if not c["replies"] and not c["deleted"])
    open_thread(page, fresh_demo.url + LEAD)
    item = page.locator(comment(target["id"]))
    expect(item.locator("[data-score]")).to_have_text(str(target["score"]))
    up, down = item.locator("[data-action='upvote']"), item.locator("[data-action='downvote']")
    expect(up).not_to_have_attribute("aria-pressed", "true")
    up.click()
    expect(item.locator("[data-score]")).to_have_text(str(target["score"] + 1))
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(down).not_to_have_attribute("aria-pressed", "true")
    assert fresh_demo.thread(LEAD)["comments"][api["comments"].index(target)]["score"] == target["score"] + 1

    page.reload()
    wait_for_widget(page)
    expect(item.locator("[data-score]")).to_have_text(str(target["score"] + 1))
    expect(up).to_have_attribute("aria-pressed", "true")


def test_own_comment_can_be_edited_and_deleted_within_the_window(fresh_demo: Kibitz, page: Page) -> None:
    require_bundle()
    before = fresh_demo.count(SHORT)
    others = [c["id"] for c in fresh_demo.thread(SHORT)["comments"]]
    open_thread(page, fresh_demo.url + SHORT)
    form = page.locator(MAIN_FORM)
    form.locator("[name='name']").fill("Edith Editor")
    form.locator("[name='text']").fill("Frist! [edit-test]")
    form.locator("button[type='submit']").click()
    mine = comment_id_with_text(page, "[edit-test]")
    item = page.locator(comment(mine))
    for other in others:  # only the reader's own comments can be edited
        expect(page.locator(f"{comment(other)} [data-action='edit']")).to_have_count(0)

    item.locator("[data-action='edit']").click()
    edit = item.locator("form[data-form='edit']")
    edit.locator("[name='text']").fill("First, I meant. [edit-test]")
    edit.locator("button[type='submit']").click()
    expect(item.locator("[data-body]")).to_have_text(re.compile(r"^\s*First, I meant\. \[edit-test\]\s*$"))
    expect(edit).to_have_count(0)
    edited = next(c for c in fresh_demo.thread(SHORT)["comments"] if c["id"] == mine)
    assert "First, I meant." in edited["html"]
    assert edited["edited"]

    page.reload()
    wait_for_widget(page)
    expect(item.locator("[data-body]")).to_contain_text("First, I meant.")
    native: list[str] = []
    page.on("dialog", lambda dialog: native.append(dialog.type))
    item.locator("[data-action='delete']").click()
    # The widget's own dialog asks (not the browser's confirm()).
    ask = page.get_by_role("alertdialog", name="Delete this comment?")
    expect(ask).to_be_visible()
    ask.get_by_role("button", name="Delete").click()
    expect(item).to_have_count(0)  # no replies: it leaves the listing
    assert native == []
    expect_count(page, before)
    assert fresh_demo.count(SHORT) == before
    assert mine not in [c["id"] for c in fresh_demo.thread(SHORT)["comments"]]
    page.reload()
    wait_for_widget(page)
    expect(item).to_have_count(0)


def test_over_long_comment_shows_its_error_and_is_not_posted(fresh_demo: Kibitz, page: Page) -> None:
    require_bundle()
    before = fresh_demo.count(SHORT)
    open_thread(page, fresh_demo.url + SHORT)
    form = page.locator(MAIN_FORM)
    form.locator("[name='name']").fill("Verbose Vera")
    text = form.locator("[name='text']")
    # Script sets the value: a maxlength would stop typing, and 10,001 keystrokes take long.
    text.evaluate(
        "(el, value) => { el.value = value; el.dispatchEvent(new Event('input', {bubbles: true})); }",
        "word " * 2000 + "x",
    )
    form.locator("button[type='submit']").click()
    error = page.locator(f"{WIDGET} [data-error-for='text']")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_have_text(re.compile(r"10[,.\s\u202f]?000|long", re.IGNORECASE))
    shown = error.inner_text()
    assert "invalid_input" not in shown
    assert "{" not in shown, f"the error is in plain words: {shown!r}"
    expect(text).to_have_value("word " * 2000 + "x")  # the reader's text is kept
    expect_count(page, before)
    assert fresh_demo.count(SHORT) == before


# Each a comment of its own; QUALITY.md T01-T04. Every payload tries to set window.__xss.
HOSTILE = {
    "T01": '<script>window.__xss=1</script> <img src=x onerror="window.__xss=1"> <svg onload=window.__xss=1>'
    ' <iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    "T02": "[a](javascript:window.__xss=1) [b](JaVaScRiPt&#58;window.__xss=1)"
    " [c](%6Aavascript:window.__xss=1) [d](data:text/html,<script>parent.__xss=1</script>)"
    " [e](vbscript:window.__xss=1)",
    "T03": '<a href="https://ok.example" onclick="window.__xss=1">raw</a>'
    " <http://a.example/'onmouseover='window.__xss=1>",
    # With words around it: a comment of a bare link is held by the spam filter (tests/test_spam.py).
    "T04": "Log in at [https://bank.example](https://evil.example) to see your statement",
}
HOSTILE_NAME = '<img src=x onerror="window.__xss=1">'

# Runs in the page: every event-handler attribute and script-capable URL in the widget, or anything
# able to run script inside a comment's body or author.
SCAN_JS = """() => {
  const bad = [];
  const walk = root => {
    for (const el of root.querySelectorAll('*')) {
      for (const attr of el.attributes) {
        const value = attr.value.replace(/[\\s\\u0000-\\u001f]/g, '').toLowerCase();
        if (attr.name.toLowerCase().startsWith('on')) bad.push(`${el.tagName} ${attr.name}`);
        const url = ['href', 'src', 'action', 'formaction', 'xlink:href', 'srcdoc'].includes(attr.name);
        if (url && /^(javascript|vbscript|data):/.test(value)) bad.push(`${el.tagName} ${attr.name}`);
      }
      if (el.shadowRoot) walk(el.shadowRoot);
    }
    for (const el of root.querySelectorAll('[data-body] *, [data-author] *')) {
      if (['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'SVG', 'svg', 'STYLE', 'FORM'].includes(el.tagName))
        bad.push(`${el.tagName} inside a comment`);
    }
  };
  walk(document.querySelector('#kibitz').shadowRoot);
  return bad;
}"""

# Runs in the page: links to http(s) targets are not followed (the test clicks them all; a
# javascript: link would still run, which is what the test looks for).
GUARD_LINKS_JS = """() => document.querySelector('#kibitz').shadowRoot.addEventListener('click', event => {
  const link = event.composedPath().find(node => node.tagName === 'A');
  if (link && /^https?:/i.test(link.href)) event.preventDefault();
}, true)"""


def test_hostile_comments_render_as_text_and_run_no_script(fresh_demo: Kibitz, page: Page) -> None:
    require_bundle()
    ids = {key: fresh_demo.post(EMPTY, text, name=HOSTILE_NAME)["id"] for key, text in HOSTILE.items()}
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def local_only(route: Route) -> None:
        if route.request.url.startswith(fresh_demo.url):
            route.continue_()
        else:
            route.abort()

    page.on("dialog", record)
    page.route("**/*", local_only)
    open_thread(page, fresh_demo.url + EMPTY)
    for cid in ids.values():
        expect(page.locator(comment(cid))).to_be_attached()
    page.evaluate(GUARD_LINKS_JS)

    for cid in ids.values():
        item = page.locator(comment(cid))
        for link in item.locator("[data-body] a, [data-author] a").all():
            link.hover()
            link.click()
        item.locator("[data-body]").click()
        for action in ("upvote", "downvote", "reply"):
            item.locator(f"[data-action='{action}']").click()
    expect(page.locator(f"{WIDGET} form[data-form='reply']").first).to_be_visible()

    assert page.evaluate("() => window.__xss") is None, "a hostile comment ran script"
    assert dialogs == [], "a hostile comment opened a dialog"
    assert page.evaluate(SCAN_JS) == []
    assert page.url == fresh_demo.url + EMPTY, "no link navigated away"
    shown = drawn_comments(page)
    for key, cid in ids.items():
        assert shown[cid]["author"] == HOSTILE_NAME, "the author's name is shown as text"
        if key == "T01":
            assert "<script>window.__xss=1</script>" in (shown[cid]["body"] or ""), "markup is shown as text"
    for link in page.locator(f"{WIDGET} [data-body] a").all():
        rel = (link.get_attribute("rel") or "").split()
        assert {"nofollow", "ugc", "noopener"} <= set(rel), rel
        assert re.match(r"^(https?|mailto):", link.get_attribute("href") or ""), link.get_attribute("href")
    deceptive = page.locator(f"{comment(ids['T04'])} [data-body] a")
    if deceptive.count():  # T04: a link shows its real target
        expect(deceptive).to_have_text(re.compile(r"evil\.example"))


def test_keyboard_only_reader_can_post_and_reply(fresh_demo: Kibitz, page: Page) -> None:
    require_bundle()
    open_thread(page, fresh_demo.url + SHORT)

    def main(name: str) -> Callable[[dict[str, Any]], bool]:
        return lambda f: f["form"] == "main" and f["name"] == name

    tab_to(page, main("name"), "the form's name field")
    assert page.evaluate(FOCUS_VISIBLE_JS), "the focused field shows a focus ring"
    page.keyboard.type("Kai Keys")
    tab_to(page, main("text"), "the form's text field")
    page.keyboard.type("Typed without a mouse. [keyboard-post]")
    tab_to(page, lambda f: f["form"] == "main" and f["tag"] == "button" and f["type"] == "submit", "submit")
    assert page.evaluate(FOCUS_VISIBLE_JS), "the focused button shows a focus ring"
    page.keyboard.press("Enter")
    posted = comment_id_with_text(page, "[keyboard-post]")

    target = tab_to(page, lambda f: f["action"] == "reply" and f["comment"] is not None, "a Reply button")
    page.keyboard.press("Enter")
    reply_form = page.locator(f"{comment(target['comment'])} form[data-form='reply']").first
    expect(reply_form).to_be_visible()
    now = tab_to(page, lambda f: f["form"] == "reply" and f["name"] in ("name", "text"), "the reply form")
    if now["name"] == "text" and not reply_form.locator("[name='name']").input_value():
        tab_to(page, lambda f: f["form"] == "reply" and f["name"] == "name", "the reply's name", "Shift+Tab")
    if (focused(page) or {}).get("name") == "name":
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.type("Kai Keys")
    tab_to(page, lambda f: f["form"] == "reply" and f["name"] == "text", "the reply's text field")
    page.keyboard.type("And a reply, by keyboard too. [keyboard-reply]")
    tab_to(page, lambda f: f["form"] == "reply" and f["type"] == "submit", "the reply's submit button")
    page.keyboard.press("Space")
    reply = comment_id_with_text(page, "[keyboard-reply]")
    assert parent_comment_id(page, reply) == target["comment"]
    assert {c["id"] for c in _walk(fresh_demo.thread(SHORT)["comments"])} >= {posted, reply}


def test_a_delete_whose_live_event_arrives_before_its_answer_is_counted_once(
    fresh_demo: Kibitz, page: Page
) -> None:
    """The event stream can bring a deletion (and the new count) before the DELETE's own answer
    reaches the page: the header must not count it twice, and nothing may throw."""
    require_bundle()
    before = fresh_demo.count(SHORT)
    open_thread(page, fresh_demo.url + SHORT)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    form = page.locator(MAIN_FORM)
    form.locator("[name='name']").fill("Racy Reader")
    form.locator("[name='text']").fill("Here and gone [race-test]")
    form.locator("button[type='submit']").click()
    mine = comment_id_with_text(page, "[race-test]")
    expect_count(page, before + 1)

    held: list[tuple[Route, Any]] = []

    def hold_delete(route: Route) -> None:
        if route.request.method != "DELETE":
            route.continue_()
            return
        held.append((route, route.fetch()))  # the server deletes now; its answer waits

    page.route("**/api/v1/comments/*", hold_delete)
    page.locator(comment(mine)).locator("[data-action='delete']").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    expect(page.locator(comment(mine))).to_have_count(0)  # the live stream removed it first
    expect_count(page, before)
    route, answer = held[0]
    route.fulfill(response=answer)
    page.wait_for_function("document.activeElement !== null")
    expect_count(page, before)
    assert fresh_demo.count(SHORT) == before
    assert errors == []


def test_the_widget_sends_a_form_token_and_a_filled_hidden_field_is_never_published(
    fresh_demo: Kibitz, page: Page
) -> None:
    """QUALITY T33 through the widget: each post carries a fresh form token and the hidden field
    (empty for a person); a script that fills the hidden field is told "awaiting moderation" and
    nobody sees its comment."""
    require_bundle()
    sent: list[dict[str, Any]] = []

    def record(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/comments"):
            sent.append(request.post_data_json or {})

    page.on("request", record)
    open_thread(page, fresh_demo.url + SHORT)
    form = page.locator(MAIN_FORM)
    form.locator("[name='name']").fill("Tess Token")
    form.locator("[name='text']").fill("Proper words from a person at a keyboard. [token-post]")
    hidden = form.locator("[name='hp']")
    expect(hidden).to_be_attached()
    expect(hidden).to_be_hidden()  # nobody sees it, and it takes no tab stop
    assert hidden.get_attribute("tabindex") == "-1"
    form.locator("button[type='submit']").click()
    mine = comment_id_with_text(page, "[token-post]")
    assert mine in {c["id"] for c in fresh_demo.thread(SHORT)["comments"]}

    form.locator("[name='text']").fill("Buy now, the best deals online. [bot-post]")
    hidden.evaluate("el => { el.value = 'http://spam.example' }")  # what a form-filling script does
    form.locator("button[type='submit']").click()
    bot = comment_id_with_text(page, "[bot-post]")
    expect(page.locator(f"{comment(bot)}[data-pending]")).to_have_count(1)
    assert bot not in {c["id"] for c in fresh_demo.thread(SHORT)["comments"]}

    tokens = [body["form"] for body in sent]
    assert len(tokens) == 2
    assert all(tokens)
    assert tokens[0] != tokens[1], "a fresh token for each post"
    assert [body["hp"] for body in sent] == [None, "http://spam.example"]
