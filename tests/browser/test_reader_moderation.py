"""A moderator from the publisher's own login, in the browser (issue 17): the publisher's page signs
its editor in (``roles: ["moderator"]``, ``author_of: ["/story"]``) on a site with
``sso_moderators = true``; the widget shows the editor a moderation menu on each comment, reachable
by keyboard; hiding a comment takes it out of the editor's thread and out of another reader's; the
editor's own comment carries the "Author" badge."""

from __future__ import annotations

import http.server
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    SCREENSHOTS,
    WAIT_MS,
    WIDGET,
    Kibitz,
    LoopbackHttp,
    comment,
    comment_id_with_text,
    require_bundle,
    send_html,
    start_kibitz,
)
from tests.server import free_port, site, write_config

SECRET = "publisher-login-secret-" + "m" * 32
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Story · The Other Paper</title></head>
<body><h1>Story</h1>
<div id="kibitz" data-site="x" data-page="/story" data-title="Story"{sso}></div>
<script src="{kibitz}/embed.js" async></script>
</body></html>
"""


class Publisher(LoopbackHttp):
    """/story for any reader; /editor-story is the same story as its signed-in editor sees it."""

    def __init__(self) -> None:
        self.kibitz_url = ""
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path not in ("/story", "/editor-story"):
                    self.send_error(404)
                    return
                sso = ""
                if path == "/editor-story":
                    now = int(time.time())
                    claims = {
                        "sub": "editor-7",
                        "name": "Eda Editor",
                        "roles": ["moderator"],
                        "author_of": ["/story"],
                        "iat": now,
                        "exp": now + 300,
                    }
                    sso = f' data-sso="{jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(SECRET))}"'
                body = PAGE.format(kibitz=outer.kibitz_url, sso=sso).encode()
                send_html(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.serve(Handler)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Publisher, Kibitz]]:
    where: Path = tmp_path_factory.mktemp("reader-moderation")
    with Publisher() as publisher:
        port = free_port()
        config = write_config(
            where / "kibitz.toml",
            where,
            "sqlite:///kibitz.db",
            sites=[site("x", publisher.url, sso_secret=SECRET, sso_moderators=True)],
            base_url=f"http://127.0.0.1:{port}",
        )
        args = ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
        server = start_kibitz(args, where, port, "x", publisher.url, "/healthz")
        publisher.kibitz_url = server.url
        try:
            yield publisher, server
        finally:
            server.stop()


def test_an_editor_hides_a_comment_from_the_widget_and_other_readers_lose_it(
    setup: tuple[Publisher, Kibitz], page: Page, browser: Browser
) -> None:
    require_bundle("moderate.js")
    publisher, server = setup
    rude = server.post("/story", "Something nobody should read. [rude]", name="Troll")["id"]
    kept = server.post("/story", "A fair point about the story. [kept]", name="Fay Reader")["id"]

    page.goto(f"{publisher.url}/editor-story")
    expect(page.locator(f"{WIDGET} [data-account-name]")).to_have_text("Eda Editor")
    menu = page.locator(f"{comment(rude)} [data-mod-menu]")
    expect(menu).to_be_visible()
    expect(page.locator(f"{comment(kept)} [data-mod-menu] summary")).to_have_text("Moderate")

    # The editor's own comment: the server says it is the author's.
    form = page.locator(f"{WIDGET} form[data-form='main']")
    form.locator("[name='text']").fill("Thanks for reading. [editor]")
    form.locator("button[type='submit']").click()
    own = comment_id_with_text(page, "Thanks for reading. [editor]")
    expect(page.locator(f"{comment(own)} [data-badge='author']")).to_have_text("Author")
    expect(page.locator(f"{comment(own)} [data-badge='moderator']")).to_have_text("Moderator")
    expect(page.locator(f"{comment(rude)} [data-badge='author']")).to_have_count(0)

    # By keyboard: focus the menu's summary, open it, choose "Hide".
    summary = menu.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("open", "")
    hide = menu.locator("button[data-mod='reject']")
    expect(hide).to_have_text("Hide")
    page.keyboard.press("Tab")
    expect(hide).to_be_focused()
    page.screenshot(path=str(SCREENSHOTS / "reader-moderation-menu.png"), full_page=True)
    page.keyboard.press("Enter")
    expect(page.locator(comment(rude))).to_have_count(0)
    expect(page.locator(f"{WIDGET} [data-live]")).to_contain_text("The comment is hidden.")
    assert rude not in server.top_ids("/story")

    # Another reader, in a browser of their own: the comment is gone, the author's badge shows, and
    # no moderation menu is drawn for them.
    other = browser.new_context(locale="en-US", timezone_id="UTC")
    other.set_default_timeout(WAIT_MS)
    try:
        reader = other.new_page()
        reader.goto(f"{publisher.url}/story")
        expect(reader.locator(comment(kept))).to_be_visible()
        expect(reader.locator(comment(rude))).to_have_count(0)
        expect(reader.locator(f"{comment(own)} [data-badge='author']")).to_have_text("Author")
        expect(reader.locator(f"{WIDGET} [data-mod-menu]")).to_have_count(0)
        reader.screenshot(path=str(SCREENSHOTS / "reader-moderation-other-reader.png"), full_page=True)
    finally:
        other.close()
