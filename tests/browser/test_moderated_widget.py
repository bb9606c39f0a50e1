"""The widget on a moderated site (DESIGN.md §3b "What readers see under moderation"): a held comment
is drawn for its author alone, with an "Awaiting moderation" note, across reloads, and becomes public
(live, counted, drawn once) when a moderator approves it. The widget asks the API about its reader's
own comments that the public thread does not show: after the thread is drawn, at most 20 per load,
only for the last 30 days, silently when that fails (the last test answers those requests itself).

`kibitz serve` runs a site "x" with `moderation = "all"` for a publisher's page on another origin
(tests.browser.conftest.HostSite, whose /story embeds the widget with data-page="/story").
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.browser.conftest import (
    MAIN_FORM,
    WAIT_MS,
    WIDGET,
    HostSite,
    Kibitz,
    PageLog,
    comment,
    comment_id_with_text,
    parent_comment_id,
    require_bundle,
    start_kibitz,
)
from tests.server import free_port, run_kibitz, site, write_config

STORY = "/story"
POSTED = "kibitz:posted:x /story"  # the reader's own comments on the thread not yet seen in public
COUNT = f"{WIDGET} [data-count]"
PILL = f"{WIDGET} [data-new-pill]"  # live.js adds it once it runs (and asks about own comments then)
HELD = "Awaiting moderation"


@dataclass
class Moderated:
    host: HostSite
    kibitz: Kibitz
    config: Path

    @property
    def story(self) -> str:
        return f"{self.host.url}{STORY}"

    def post(self, text: str, name: str = "API Poster", parent: str | None = None) -> dict[str, Any]:
        """A comment posted through the API: held (202), as every comment on this site is."""
        body = {"page": STORY, "text": text, "author": {"name": name}, "parent": parent}
        r = httpx.post(
            f"{self.kibitz.url}/api/v1/sites/x/comments",
            json=body,
            headers={"Origin": self.host.url},
            timeout=10,
        )
        assert r.status_code == 202, r.text
        data: dict[str, Any] = r.json()
        assert data["status"] == "pending", data
        assert data["comment"]["status"] == "pending", data
        return data

    def approve(self, comment_id: str) -> None:
        """A moderator approves it: `kibitz comments restore ID` (the command line's approve)."""
        done = run_kibitz(
            "comments", "restore", comment_id, "--config", str(self.config), cwd=self.config.parent
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"comment {comment_id} restored"


@contextlib.contextmanager
def publisher(where: Path, moderation: str) -> Iterator[Moderated]:
    """`kibitz serve` with one site "x" whose origin is the publisher's site."""
    with HostSite() as host:
        port = free_port()
        config = write_config(
            where / "kibitz.toml",
            where,
            "sqlite:///kibitz.db",
            sites=[site("x", host.url, moderation=moderation)],
            base_url=f"http://127.0.0.1:{port}",
        )
        args = ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
        server = start_kibitz(args, where, port, "x", host.url, "/healthz")
        host.kibitz_url = server.url
        try:
            yield Moderated(host, server, config)
        finally:
            server.stop()


@pytest.fixture
def moderated(tmp_path: Path) -> Iterator[Moderated]:
    """Site "x" with `moderation = "all"`: every comment waits for a moderator."""
    with publisher(tmp_path, "all") as made:
        yield made


@pytest.fixture
def other_context(browser: Browser) -> Iterator[BrowserContext]:
    """Another reader: a browser context of its own (its own localStorage, its own reader id)."""
    made = browser.new_context(locale="en-US", timezone_id="UTC")
    made.set_default_timeout(WAIT_MS)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def other_page(other_context: BrowserContext) -> Page:
    return other_context.new_page()


def open_live(page: Page, url: str) -> None:
    """Load the page; wait until the widget has drawn its thread and live.js has started."""
    page.goto(url)
    expect(page.locator(COUNT)).to_be_attached()
    expect(page.locator(PILL)).to_be_attached()


def expect_count(page: Page, n: int) -> None:
    expect(page.locator(COUNT)).to_have_attribute("data-count", str(n))
    expect(page.locator(COUNT)).to_contain_text(f"{n} comment")


def stored_ids(page: Page) -> list[str] | None:
    found: list[str] | None = page.evaluate("key => JSON.parse(localStorage.getItem(key))", POSTED)
    return found


def expect_held(page: Page, comment_id: str) -> None:
    """Drawn, once, with its note."""
    expect(page.locator(comment(comment_id))).to_have_count(1)
    expect(page.locator(f"{comment(comment_id)}[data-pending]")).to_have_count(1)
    expect(page.locator(f"{comment(comment_id)} > article .kb-meta")).to_contain_text(HELD)


def write(page: Page, text: str, name: str, within: str = MAIN_FORM) -> None:
    form = page.locator(within)
    form.locator("[name='name']").fill(name)
    form.locator("[name='text']").fill(text)
    form.locator("button[type='submit']").click()


def test_held_comment_is_shown_to_its_author_alone_until_a_moderator_approves_it(
    moderated: Moderated, page: Page, page_log: PageLog, other_page: Page
) -> None:
    require_bundle("live.js")
    other_errors: list[str] = []
    other_page.on("pageerror", lambda exc: other_errors.append(str(exc)))
    open_live(page, moderated.story)
    expect_count(page, 0)

    write(page, "Worth a second look, moderators. [held-post]", "Hattie Held")
    mine = comment_id_with_text(page, "[held-post]")
    expect_held(page, mine)
    expect(page.locator(f"{WIDGET} [data-live]")).to_contain_text("awaits moderation")
    expect_count(page, 0)  # not counted: nobody else sees it
    assert moderated.kibitz.count(STORY) == 0
    assert moderated.kibitz.thread(STORY)["comments"] == []
    assert stored_ids(page) == [mine]

    # Reloaded: the widget asks the API about it (with its edit token) and draws it again.
    page.reload()
    open_live(page, moderated.story)
    expect_held(page, mine)
    expect(page.locator(f"{comment(mine)} [data-body]")).to_contain_text("Worth a second look")
    expect_count(page, 0)

    # Another reader does not see it.
    open_live(other_page, moderated.story)
    expect_count(other_page, 0)
    expect(other_page.locator(f"{WIDGET} li[data-comment-id]")).to_have_count(0)

    # Approved: the other reader sees it without a reload; the author's note goes; both count it.
    moderated.approve(mine)
    expect(other_page.locator(f"{comment(mine)} [data-body]")).to_contain_text("Worth a second look")
    expect(other_page.locator(comment(mine))).to_have_count(1)
    expect(other_page.locator(f"{comment(mine)}[data-pending]")).to_have_count(0)
    expect_count(other_page, 1)
    expect(page.locator(f"{comment(mine)}[data-pending]")).to_have_count(0)
    expect(page.locator(f"{comment(mine)} > article .kb-meta")).not_to_contain_text(HELD)
    expect(page.locator(comment(mine))).to_have_count(1)  # not drawn twice
    expect_count(page, 1)
    page.wait_for_function(
        "([key, id]) => !JSON.parse(localStorage.getItem(key)).includes(id)", arg=[POSTED, mine]
    )

    page.reload()
    open_live(page, moderated.story)
    expect(page.locator(comment(mine))).to_have_count(1)
    expect(page.locator(f"{comment(mine)}[data-pending]")).to_have_count(0)
    expect_count(page, 1)
    assert moderated.kibitz.count(STORY) == 1
    assert page_log.errors == []
    assert other_errors == []


def test_held_reply_stays_under_its_parent_for_its_author(
    moderated: Moderated, page: Page, page_log: PageLog
) -> None:
    require_bundle("live.js")
    parent = moderated.post("The parent, approved first. [parent]")["comment"]["id"]
    moderated.approve(parent)
    open_live(page, moderated.story)
    expect_count(page, 1)

    item = page.locator(comment(parent))
    item.locator("[data-action='reply']").click()
    write(
        page,
        "A held answer. [held-reply]",
        "Rhea Replier",
        within=f"{comment(parent)} form[data-form='reply']",
    )
    reply = comment_id_with_text(page, "[held-reply]")
    expect_held(page, reply)
    assert parent_comment_id(page, reply) == parent
    expect_count(page, 1)

    page.reload()
    open_live(page, moderated.story)
    expect_held(page, reply)
    assert parent_comment_id(page, reply) == parent, "drawn in its place, under its parent"
    expect_count(page, 1)
    assert page_log.errors == []


def test_shadow_banned_author_sees_their_comment_after_a_reload_and_nobody_else_does(
    tmp_path: Path, page: Page, page_log: PageLog, other_page: Page
) -> None:
    require_bundle("live.js")
    with publisher(tmp_path, "none") as unmoderated:
        created = run_kibitz(
            "apikey",
            "create",
            "--config",
            str(unmoderated.config),
            "--site",
            "x",
            "--scope",
            "moderate",
            cwd=tmp_path,
        )
        assert created.returncode == 0, created.stderr
        banned = httpx.post(
            f"{unmoderated.kibitz.url}/api/v1/admin/sites/x/bans",
            json={"kind": "name", "value": "Sam Shadow", "shadow": True},
            headers={"Authorization": f"Bearer {created.stdout.strip()}"},
            timeout=10,
        )
        assert banned.status_code == 201, banned.text

        open_live(page, unmoderated.story)
        write(page, "Nobody seems to answer me. [shadow-post]", "Sam Shadow")
        mine = comment_id_with_text(page, "[shadow-post]")
        expect(page.locator(f"{WIDGET} [data-live]")).to_contain_text("posted")  # as any post
        expect(page.locator(f"{comment(mine)}[data-pending]")).to_have_count(0)
        assert unmoderated.kibitz.count(STORY) == 0

        page.reload()
        open_live(page, unmoderated.story)
        expect(page.locator(f"{comment(mine)} [data-body]")).to_contain_text("Nobody seems to answer me")
        expect(page.locator(comment(mine))).to_have_count(1)
        expect(page.locator(f"{comment(mine)}[data-pending]")).to_have_count(0)
        expect(page.locator(f"{comment(mine)} > article .kb-meta")).not_to_contain_text(HELD)
        assert stored_ids(page) == [mine]  # still asked about on the next load

        open_live(other_page, unmoderated.story)
        expect_count(other_page, 0)
        expect(other_page.locator(f"{WIDGET} li[data-comment-id]")).to_have_count(0)
    assert page_log.errors == []


# -- the lookups, with the API's answers made up by the test -------------------------------------------

DAY_MS = 86_400_000
PARENT = "8000"  # the one comment of the made-up public thread (the reader's own)
OLD = "9000"  # posted 40 days ago: never asked about
FRESH = [str(n) for n in range(9001, 9026)]  # 25 own comments, oldest first: only the newest 20 are asked


def made_up(comment_id: str, **extra: Any) -> dict[str, Any]:
    """A Comment as the API shapes it."""
    item: dict[str, Any] = {
        "id": comment_id,
        "parent": None,
        "author": {"name": f"Reader {comment_id}", "avatar": None, "url": None},
        "html": f"<p>Made-up comment [c{comment_id}]</p>",
        "created": "2026-01-01T12:00:00.000Z",
        "edited": None,
        "score": 0,
        "up": 0,
        "down": 0,
        "replies": [],
        "reply_count": 0,
        "anchor": None,
        "pinned": False,
        "featured": False,
        "edited_by_moderator": False,
        "deleted": False,
        "status": "approved",
    }
    item.update(extra)
    return item


# What GET /api/v1/comments/ID answers, by id: a status code and a comment, or None for a network failure.
ANSWERS: dict[str, tuple[int, dict[str, Any] | None] | None] = {
    "9025": (200, made_up("9025", status="pending")),
    "9024": (200, made_up("9024", status="pending", parent=PARENT)),
    "9023": (  # a shadow-banned author's comment, which a moderator featured and edited
        200,
        made_up(
            "9023",
            featured=True,
            edited_by_moderator=True,
            edited="2026-01-02T08:00:00.000Z",
            status="approved",
        ),
    ),
    "9022": (200, made_up("9022", status="rejected")),
    "9021": (404, None),
    "9020": (403, None),
    "9019": (500, None),
    "9018": None,
    "9017": (200, made_up("9017", status="pending", parent="7777")),  # its parent is not drawn
}
FORGOTTEN = ["9020", "9021", "9022"]  # rejected or gone: their tokens go too


def seed_script(now_ms: int) -> str:
    """Runs before the page's scripts, once per tab: the reader's tokens and own-comment list."""
    entries: dict[str, Any] = {f"kibitz:token:{PARENT}": {"token": "tok-8000", "created": now_ms - 60_000}}
    entries[f"kibitz:token:{OLD}"] = {"token": "tok-old", "created": now_ms - 40 * DAY_MS}
    for i, cid in enumerate(FRESH):
        entries[f"kibitz:token:{cid}"] = {
            "token": f"tok-{cid}",
            "created": now_ms - (len(FRESH) - i) * 60_000,
        }
    entries[POSTED] = [PARENT, OLD, *FRESH]
    values = {key: json.dumps(value) for key, value in entries.items()}
    return f"""if (!sessionStorage.getItem('seeded')) {{
      sessionStorage.setItem('seeded', '1');
      for (const [k, v] of Object.entries({json.dumps(values)})) localStorage.setItem(k, v);
    }}"""


def test_own_comment_lookups_are_bounded_silent_and_never_hold_up_the_thread(
    moderated: Moderated, context: BrowserContext, page: Page, page_log: PageLog
) -> None:
    require_bundle("live.js")
    origin = moderated.host.url
    cors = {"Access-Control-Allow-Origin": origin, "Cache-Control": "no-store"}
    context.add_init_script(seed_script(int(time.time() * 1000)))
    thread = {
        "thread": {"site": "x", "page": STORY, "title": "Story", "url": None, "count": 1, "closed": False},
        "comments": [made_up(PARENT)],
        "next": None,
    }
    held: list[Route] = []  # the lookups, answered once the thread is drawn
    asked: list[tuple[str, str]] = []  # (id, Authorization)

    def thread_route(route: Route) -> None:
        if route.request.method == "GET":
            route.fulfill(status=200, json=thread, headers=cors)
        else:
            route.continue_()

    def lookup_route(route: Route) -> None:
        request = route.request
        if request.method == "OPTIONS":
            route.fulfill(
                status=204,
                headers={
                    **cors,
                    "Access-Control-Allow-Headers": "Authorization",
                    "Access-Control-Allow-Methods": "GET",
                },
            )
            return
        if request.method != "GET" or request.url.split("?")[0].endswith("/replies"):
            route.continue_()
            return
        asked.append((request.url.split("?")[0].rsplit("/", 1)[1], request.headers.get("authorization", "")))
        held.append(route)

    kibitz = moderated.kibitz.url
    page.route(f"{kibitz}/api/v1/sites/x/comments?*", thread_route)
    page.route(f"{kibitz}/api/v1/comments/*", lookup_route)
    open_live(page, moderated.story)

    # The thread is drawn while every lookup is still unanswered.
    expect(page.locator(comment(PARENT))).to_be_attached()
    expect_count(page, 1)
    deadline = time.monotonic() + WAIT_MS / 1000
    while len(held) < 20 and time.monotonic() < deadline:
        page.wait_for_timeout(50)  # polling a condition, bounded by the deadline
    assert sorted(cid for cid, _ in asked) == FRESH[-20:], "the newest 20 fresh ones, each once"
    assert all(auth == f"Bearer tok-{cid}" for cid, auth in asked), asked

    for route in held:
        answer = ANSWERS.get(route.request.url.split("?")[0].rsplit("/", 1)[1], (500, None))
        if answer is None:
            route.abort()
            continue
        status, body = answer
        if body is None:
            route.fulfill(status=status, json={"code": "x"}, headers=cors)
        else:
            route.fulfill(status=status, json={"comment": body}, headers=cors)

    # Held ones are drawn with their note: at the top, or under their parent when that is drawn.
    for cid in ("9025", "9024", "9017"):
        expect_held(page, cid)
    assert parent_comment_id(page, "9024") == PARENT
    assert parent_comment_id(page, "9017") is None
    top: list[str] = page.evaluate(
        "() => [...document.querySelector('#kibitz').shadowRoot"
        ".querySelectorAll('[data-comments] > li')].map(li => li.dataset.commentId)"
    )
    assert top == ["9025", "9023", "9017", PARENT], top
    # Approved but absent from the public thread (a shadow ban): drawn for its author, without a note,
    # with its featured badge and the moderator's edit.
    shadow = page.locator(comment("9023"))
    expect(shadow).to_be_attached()
    expect(page.locator(f"{comment('9023')}[data-pending]")).to_have_count(0)
    expect(shadow.locator("[data-featured]")).to_have_text("Featured")
    expect(shadow.locator("[data-mod-edited]")).to_have_text("edited by a moderator")
    expect(page.locator(f"{comment(PARENT)} > article [data-featured]")).to_have_count(0)
    expect_count(page, 1)  # none of them is counted

    # Forgotten: rejected or gone (and their tokens), the one seen in public, the one too old to ask
    # about; kept: the ones that failed and the ones not asked this time.
    kept = [cid for cid in FRESH if cid not in FORGOTTEN]
    page.wait_for_function(
        "([key, n]) => JSON.parse(localStorage.getItem(key)).length === n", arg=[POSTED, len(kept)]
    )
    assert stored_ids(page) == kept
    tokens: dict[str, bool] = page.evaluate(
        "ids => Object.fromEntries(ids.map(id => [id, !!localStorage.getItem('kibitz:token:' + id)]))",
        [PARENT, OLD, *FRESH],
    )
    assert [cid for cid, present in tokens.items() if not present] == FORGOTTEN

    # A new sort draws the thread anew: the reader's own comments again, without asking again.
    page.locator(f"{WIDGET} [data-sort='oldest']").click()
    expect(page.locator(f"{WIDGET} [data-sort='oldest']")).to_have_attribute("aria-selected", "true")
    for cid in ("9025", "9024", "9017"):
        expect_held(page, cid)
    expect(page.locator(comment("9023"))).to_have_count(1)
    assert len(asked) == 20
    assert page_log.errors == [], "failed lookups raise nothing"


def test_featured_and_moderator_edited_flags_are_optional_in_the_server_rendered_fragment(
    moderated: Moderated, page: Page, page_log: PageLog
) -> None:
    """Comments without `featured` or `edited_by_moderator` (older servers, the fragment) draw as before."""
    require_bundle()
    plain = made_up("8100")
    del plain["featured"], plain["edited_by_moderator"]
    thread = {
        "thread": {"site": "x", "page": STORY, "title": "Story", "url": None, "count": 1, "closed": False},
        "comments": [plain],
        "next": None,
    }

    def thread_route(route: Route) -> None:
        if route.request.method == "GET":
            route.fulfill(
                status=200, json=thread, headers={"Access-Control-Allow-Origin": moderated.host.url}
            )
        else:
            route.continue_()

    page.route(f"{moderated.kibitz.url}/api/v1/sites/x/comments?*", thread_route)
    page.goto(moderated.story)
    expect(page.locator(f"{comment('8100')} [data-body]")).to_contain_text("[c8100]")
    expect(page.locator(f"{comment('8100')} [data-featured]")).to_have_count(0)
    expect(page.locator(f"{comment('8100')} [data-mod-edited]")).to_have_count(0)
    assert page_log.errors == []
