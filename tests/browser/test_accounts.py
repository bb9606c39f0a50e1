"""Reader sign-in in the browser, with the widget on a publisher's page of another origin: a mailed
link (read from the outbox, as the mail would carry it), a provider in a popup (oidc-provider-mock on
127.0.0.1), and the publisher's own login (its page signs a token for the widget); then the reader's
name and badge on the comment they post."""

from __future__ import annotations

import http.server
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import oidc_provider_mock
import pytest
import werkzeug.serving
from joserfc import jwt
from joserfc.jwk import OctKey
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    SCREENSHOTS,
    SHORT,
    WIDGET,
    Kibitz,
    LoopbackHttp,
    comment,
    comment_id_with_text,
    require_bundle,
    send_html,
    start_kibitz,
)
from tests.browser.test_follow import wait_for_mail
from tests.server import free_port, site, write_config

SECRET = "publisher-login-secret-" + "s" * 32
ACCOUNT_NAME = f"{WIDGET} [data-account-name]"
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Story · The Other Paper</title></head>
<body><h1>Story</h1>
<div id="kibitz" data-site="x" data-page="/story" data-title="Story"{sso}></div>
<script src="{kibitz}/embed.js" async></script>
</body></html>
"""


class Publisher(LoopbackHttp):
    """The publisher's site: /story embeds the widget; /subscriber-story also names its signed-in
    subscriber with a token its server signs (HS256, five minutes)."""

    def __init__(self) -> None:
        self.kibitz_url = ""
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path not in ("/story", "/subscriber-story"):
                    self.send_error(404)
                    return
                sso = ""
                if path == "/subscriber-story":
                    now = int(time.time())
                    claims = {
                        "sub": "sub-42",
                        "name": "Sam Subscriber",
                        "roles": ["staff"],
                        "iat": now,
                        "exp": now + 300,
                    }
                    sso = f' data-sso="{jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(SECRET))}"'
                body = PAGE.format(kibitz=outer.kibitz_url, sso=sso).encode()
                send_html(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.serve(Handler)


@dataclass
class Setup:
    publisher: Publisher
    kibitz: Kibitz
    provider: str
    data: Path

    def story(self, path: str = "/story") -> str:
        return f"{self.publisher.url}{path}"

    def sign_in_link(self, email: str) -> str:
        """The link of the latest sign-in mail to ``email``, from the outbox (what the mail says)."""
        with sqlite3.connect(self.data / "kibitz.db") as db:
            row = db.execute(
                "SELECT text_body FROM outbox WHERE kind = 'sign_in' AND recipient = ? ORDER BY id DESC",
                (email,),
            ).fetchone()
        assert row, f"no sign-in mail to {email}"
        found = re.search(r"(http://127\.0\.0\.1:\d+/auth/email/\S+)", row[0])
        assert found
        return found.group(1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    where = tmp_path_factory.mktemp("accounts")
    app = oidc_provider_mock.app(require_nonce=True, access_token_max_age=timedelta(minutes=5))
    provider = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=provider.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    issuer = f"http://127.0.0.1:{provider.server_port}"
    try:
        with Publisher() as publisher:
            port = free_port()
            config = write_config(
                where / "kibitz.toml",
                where,
                "sqlite:///kibitz.db",
                sites=[site("x", publisher.url, sso_secret=SECRET)],
                base_url=f"http://127.0.0.1:{port}",
                outbound_allow=["127.0.0.0/8"],
                oidc=[
                    {
                        "id": "mock",
                        "name": "Mock ID",
                        "issuer": issuer,
                        "client_id": "kibitz",
                        "client_secret": "s",
                    }
                ],
            )
            args = ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
            server = start_kibitz(args, where, port, "x", publisher.url, "/healthz")
            publisher.kibitz_url = server.url
            try:
                yield Setup(publisher, server, issuer, where)
            finally:
                server.stop()
    finally:
        provider.shutdown()
        thread.join(timeout=10)
        provider.server_close()


def wait_for_widget(page: Page) -> None:
    """Until the widget has read its thread (which may be empty)."""
    expect(page.locator(f"{WIDGET} [data-count]")).to_be_attached()


def post_signed_in(page: Page, text: str) -> str:
    form = page.locator(f"{WIDGET} form[data-form='main']")
    expect(form.locator("[name='name']")).to_be_hidden()  # the account's name goes with the post
    form.locator("[name='text']").fill(text)
    form.locator("button[type='submit']").click()
    return comment_id_with_text(page, text)


def test_a_mailed_link_signs_the_widget_in_across_origins(setup: Setup, page: Page) -> None:
    require_bundle("signin.js")
    page.goto(setup.story())
    wait_for_widget(page)
    page.locator(f"{WIDGET} [data-action='sign-in']").click()
    page.locator(f"{WIDGET} [data-sign-in-email]").fill("reader@mail.example")
    page.locator(f"{WIDGET} [data-action='sign-in-email']").click()
    expect(page.locator(f"{WIDGET} [data-sign-in-sent]")).to_be_visible()
    # The mail's link: a page on Kibitz with a button; pressing it returns to the story, signed in.
    page.goto(setup.sign_in_link("reader@mail.example"))
    expect(page.locator("form#sign-in button")).to_be_visible()
    page.locator("form#sign-in button").click()
    wait_for_widget(page)
    expect(page).to_have_url(setup.story())  # the session's fragment is dropped at once
    expect(page.locator(ACCOUNT_NAME)).to_have_text("reader")
    cid = post_signed_in(page, "Signed in by a mailed link. [mailed]")
    expect(page.locator(f"{comment(cid)} [data-author]")).to_have_text("reader")
    expect(page.locator(f"{comment(cid)} [data-badge='verified']")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "accounts-mailed-link.png"), full_page=True)
    # Signing out: the form asks for a name again.
    page.locator(f"{WIDGET} [data-action='sign-out']").click()
    expect(page.locator(f"{WIDGET} [data-action='sign-in']")).to_be_visible()
    expect(page.locator(f"{WIDGET} form[data-form='main'] [name='name']")).to_be_visible()


def test_a_provider_signs_in_through_a_popup(setup: Setup, page: Page) -> None:
    require_bundle("signin.js")
    import httpx

    picture = "https://olivia.invalid/picture.png"  # https, and a name that never resolves
    httpx.put(
        f"{setup.provider}/users/olivia",
        json={"name": "Olivia Provider", "email": "o@mail.example", "picture": picture},
    )
    page.goto(setup.story())
    wait_for_widget(page)
    page.locator(f"{WIDGET} [data-action='sign-in']").click()
    with page.expect_popup() as opened:
        page.locator(f"{WIDGET} [data-provider='mock']").click()
    popup = opened.value
    popup.locator("input[name='sub']").fill("olivia")
    popup.locator("button[type='submit']", has_text="Authorize").click()
    expect(page.locator(ACCOUNT_NAME)).to_have_text("Olivia Provider")
    deadline = time.monotonic() + 10  # the popup closes itself once it has handed the session over
    while not popup.is_closed() and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert popup.is_closed()
    cid = post_signed_in(page, "Signed in with a provider. [popup]")
    expect(page.locator(f"{comment(cid)} [data-author]")).to_have_text("Olivia Provider")
    expect(page.locator(f"{comment(cid)} [data-badge='verified']")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "accounts-provider-popup.png"), full_page=True)
    # "Your account" offers the provider's picture instead of the identicon.
    page.locator(f"{WIDGET} [data-account-panel] summary").click()
    page.locator(f"{WIDGET} [data-me='avatar']").select_option("picture")
    page.locator(f"{WIDGET} [data-action='me-save']").click()
    expect(page.locator(f"{WIDGET} [data-me-note]")).to_have_text("Saved.")
    session = page.evaluate("localStorage.getItem('kibitz:session')")
    me = httpx.get(f"{setup.kibitz.url}/api/v1/me", headers={"X-Kibitz-Session": session}).json()["account"]
    assert (me["avatar"], me["picture"]) == ("picture", picture)


def test_the_publishers_own_login_signs_its_subscriber_in(setup: Setup, page: Page) -> None:
    require_bundle("signin.js")
    page.goto(setup.story("/subscriber-story"))
    wait_for_widget(page)
    expect(page.locator(ACCOUNT_NAME)).to_have_text("Sam Subscriber")
    expect(page.locator(f"{WIDGET} [data-account] [data-badge='staff']")).to_be_visible()
    cid = post_signed_in(page, "From the newsroom. [sso]")
    expect(page.locator(f"{comment(cid)} [data-author]")).to_have_text("Sam Subscriber")
    expect(page.locator(f"{comment(cid)} [data-badge='staff']")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "accounts-sso.png"), full_page=True)


def test_the_demo_signs_in_by_a_link_read_at_demo_mail_and_shows_its_own_login(
    fresh_demo: Kibitz, page: Page
) -> None:
    require_bundle("signin.js")
    address = "visitor@reader.example"
    page.goto(fresh_demo.url + SHORT)
    wait_for_widget(page)
    page.locator(f"{WIDGET} [data-action='sign-in']").click()
    page.locator(f"{WIDGET} [data-sign-in-email]").fill(address)
    page.locator(f"{WIDGET} [data-action='sign-in-email']").click()
    expect(page.locator(f"{WIDGET} [data-sign-in-sent]")).to_be_visible()
    mail = wait_for_mail(fresh_demo, address, "mail")  # the demo's own SMTP server, shown at /demo/mail
    assert mail.subject.startswith("Sign in"), mail.subject
    page.goto(fresh_demo.url + "/demo/mail")
    expect(page.locator("body")).to_contain_text("Sign in to the comments")
    page.goto(next(url for url in mail.links() if "/auth/email/" in url))
    page.locator("form#sign-in button").click()
    wait_for_widget(page)
    expect(page.locator(ACCOUNT_NAME)).to_have_text("visitor")
    # The paper's own login: its subscribers' page signs the widget in with the demo's key.
    page.goto(fresh_demo.url + "/demo/subscriber?as=editor")
    wait_for_widget(page)
    expect(page.locator(ACCOUNT_NAME)).to_have_text("Eda Editor")
    expect(page.locator(f"{WIDGET} [data-account] [data-badge='staff']")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "accounts-demo-subscriber.png"), full_page=True)


def test_the_account_panel_renames_sets_defaults_exports_and_erases(setup: Setup, page: Page) -> None:
    require_bundle("signin.js")
    import json

    import httpx

    address = "panel@mail.example"
    page.goto(setup.story())
    wait_for_widget(page)
    page.locator(f"{WIDGET} [data-action='sign-in']").click()
    page.locator(f"{WIDGET} [data-sign-in-email]").fill(address)
    page.locator(f"{WIDGET} [data-action='sign-in-email']").click()
    expect(page.locator(f"{WIDGET} [data-sign-in-sent]")).to_be_visible()
    page.goto(setup.sign_in_link(address))
    page.locator("form#sign-in button").click()
    wait_for_widget(page)
    expect(page.locator(ACCOUNT_NAME)).to_have_text("panel")
    cid = post_signed_in(page, "Posted before the reader erased their account. [panel]")

    # "Your account": a disclosure, opened from the keyboard.
    panel = page.locator(f"{WIDGET} [data-account-panel]")
    expect(panel).not_to_have_attribute("open", "")
    panel.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(panel).to_have_attribute("open", "")
    expect(panel.locator("[data-action='me-join']")).to_be_visible()  # a proven address
    expect(panel.locator("[data-me='avatar']")).to_have_count(0)  # no provider's picture to offer
    panel.locator("[data-me='name']").fill("Pat Panel")
    panel.locator("[data-me='notify']").select_option("replies")
    panel.locator("[data-action='me-save']").click()
    expect(panel.locator("[data-me-note]")).to_have_text("Saved.")
    expect(page.locator(ACCOUNT_NAME)).to_have_text("Pat Panel")
    session = page.evaluate("localStorage.getItem('kibitz:session')")
    me = httpx.get(f"{setup.kibitz.url}/api/v1/me", headers={"X-Kibitz-Session": session}).json()["account"]
    assert (me["name"], me["notify"]) == ("Pat Panel", "replies")
    # New comment forms start from the account's default.
    expect(page.locator(f"{WIDGET} form[data-form='main'] [name='notify']")).to_have_value("replies")
    page.locator(f"{comment(cid)} [data-action='reply']").first.click()
    expect(page.locator(f"{WIDGET} form[data-form='reply'] [name='notify']")).to_have_value("replies")
    page.locator(f"{WIDGET} form[data-form='reply'] [data-action='cancel']").click()
    panel.locator("[data-action='me-join']").click()
    expect(panel.locator("[data-me-note]")).to_have_text("No earlier comments to add.")
    page.screenshot(path=str(SCREENSHOTS / "account-panel.png"), full_page=True)

    # Download my data: a JSON file with the account and its comment.
    with page.expect_download() as downloading:
        panel.locator("[data-action='me-export']").click()
    download = downloading.value
    assert download.suggested_filename.endswith(".json")
    data = json.loads(Path(download.path()).read_text())
    assert data["accounts"], data.keys()
    assert "[panel]" in json.dumps(data["comments"])

    # Erase me: a second, plainer button confirms; then the widget is a guest's and the comment is gone.
    panel.locator("[data-action='me-erase']").click()
    yes = panel.locator("[data-action='me-erase-yes']")
    expect(yes).to_be_focused()
    yes.click()
    expect(page.locator(f"{WIDGET} [data-action='sign-in']")).to_be_visible()
    expect(page.locator(f"{WIDGET} [data-live]")).to_contain_text("erased")
    # A guest's form again: it starts from the guest's own choice, not the erased account's default.
    expect(page.locator(f"{WIDGET} form[data-form='main'] [name='notify']")).to_have_value("none")
    # The site keeps erased comments' words by default (privacy.md): their author becomes "deleted".
    expect(page.locator(f"{comment(cid)} [data-author]")).to_have_text("deleted")
    assert page.evaluate("localStorage.getItem('kibitz:session')") is None
    gone = httpx.get(f"{setup.kibitz.url}/api/v1/me", headers={"X-Kibitz-Session": session})
    assert gone.status_code == 401
    page.screenshot(path=str(SCREENSHOTS / "account-erased.png"), full_page=True)
    other = page.context.browser.new_page()  # type: ignore[union-attr]
    try:
        other.goto(setup.story())
        wait_for_widget(other)
        expect(other.locator(f"{comment(cid)} [data-author]")).to_have_text("deleted")
    finally:
        other.close()
