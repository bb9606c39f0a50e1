"""Browser tests: Playwright's sync API driving Debian's Chromium (headless) against real processes.

`kibitz demo` serves the demo news site; a copy of one seeded data directory backs each demo, so
tests that post get a thread (and rate-limit counters) of their own. For cross-origin embedding a
tiny publisher site runs on another loopback port beside `kibitz serve`.

Selectors follow the widget's DOM contract (DESIGN.md §3 "Embedding contract"); Playwright's CSS
locators pierce the widget's open shadow root.
"""

from __future__ import annotations

import contextlib
import http.server
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page, expect, sync_playwright

from kibitz.demo import articles
from tests.conftest import missing
from tests.server import KIBITZ, child_env, free_port, site, write_config

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STATIC = REPO / "kibitz" / "static"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 10_000  # every auto-waiting expectation and action gives up after this
START_SECONDS = 30.0
STOP_SECONDS = 15.0
TAB_LIMIT = 150  # Tab presses a keyboard-only reader may need to reach something

# The demo's articles in front-page order; the first carries the long discussion.
ARTICLES = [a.path for a in articles()]
LEAD = ARTICLES[0]
SHORT = next(
    a.path for a in articles()[1:] if 0 < len(a.comments) <= 10 and not a.moderation
)  # a short thread
EMPTY = next(a.path for a in articles() if not a.comments)  # nobody has commented yet

# Contract selectors (all inside the open shadow root of #kibitz).
WIDGET = "#kibitz [data-kibitz-root]"
COMMENTS = f"{WIDGET} li[data-comment-id]"
MAIN_FORM = f"{WIDGET} form[data-form='main']"

expect.set_options(timeout=WAIT_MS)


def comment(comment_id: str) -> str:
    """The selector of one comment's `li`."""
    return f"{WIDGET} li[data-comment-id='{comment_id}']"


# Runs in the page: ids of the top-level comments as drawn, in order.
TOP_IDS_JS = """() => {
  const root = document.querySelector('#kibitz')?.shadowRoot;
  if (!root) return null;
  return [...root.querySelectorAll('[data-comments] > li[data-comment-id]')].map(li => li.dataset.commentId);
}"""

# Runs in the page: the element that has the keyboard focus, through shadow roots.
FOCUS_JS = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  if (!el || el === document.body) return null;
  const form = el.closest('form');
  const li = el.closest('li[data-comment-id]');
  return {
    tag: el.tagName.toLowerCase(), name: el.getAttribute('name'), type: el.getAttribute('type'),
    action: el.dataset ? el.dataset.action ?? null : null, form: form ? form.dataset.form ?? null : null,
    comment: li ? li.dataset.commentId : null, text: (el.textContent || '').trim().slice(0, 60),
  };
}"""


# Runs in the page: what each drawn comment shows (its own parts, not its replies').
DRAWN_JS = """() => {
  const root = document.querySelector('#kibitz')?.shadowRoot;
  if (!root) return [];
  const own = (li, sel) =>
    [...li.querySelectorAll(sel)].find(el => el.closest('li[data-comment-id]') === li) || null;
  const text = el => el ? el.textContent.trim() : null;
  return [...root.querySelectorAll('li[data-comment-id]')].map(li => {
    const avatar = own(li, 'img[data-avatar]'), time = own(li, 'time');
    return {
      id: li.dataset.commentId, deleted: li.hasAttribute('data-deleted'),
      author: text(own(li, '[data-author]')), body: text(own(li, '[data-body]')),
      score: text(own(li, '[data-score]')),
      avatar: avatar ? avatar.getAttribute('src') : null,
      avatar_alt: avatar ? avatar.getAttribute('alt') : null,
      datetime: time ? time.getAttribute('datetime') : null, title: time ? time.getAttribute('title') : null,
      when: text(time),
    };
  });
}"""


def drawn_comments(page: Page) -> dict[str, dict[str, Any]]:
    """Each drawn comment's id → what it shows (author, body, score, avatar, time)."""
    items: list[dict[str, Any]] = page.evaluate(DRAWN_JS)
    return {item["id"]: item for item in items}


def tab_to(
    page: Page, wanted: Callable[[dict[str, Any]], bool], what: str, key: str = "Tab"
) -> dict[str, Any]:
    """Press ``key`` until the focused element is ``wanted`` (bounded); the focused element."""
    seen: list[dict[str, Any] | None] = []
    for _ in range(TAB_LIMIT):
        now = focused(page)
        if now is not None and wanted(now):
            return now
        seen.append(now)
        page.keyboard.press(key)
    pytest.fail(f"{key} never reached {what} in {TAB_LIMIT} presses; focus went through {seen[-20:]}")


def top_ids(page: Page) -> list[str]:
    ids: list[str] | None = page.evaluate(TOP_IDS_JS)
    return ids or []


# Runs in the page: whether the focused element shows where the focus is (an outline or a ring).
FOCUS_VISIBLE_JS = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  return outline || style.boxShadow !== 'none';
}"""


def focused(page: Page) -> dict[str, Any] | None:
    found: dict[str, Any] | None = page.evaluate(FOCUS_JS)
    return found


def wait_for_widget(page: Page) -> None:
    """Until the widget has drawn its first comment."""
    expect(page.locator(COMMENTS).first).to_be_attached()


def wait_for_top_ids(page: Page, expected: list[str], *, prefix: bool = False) -> list[str]:
    """Until the drawn top-level order is ``expected`` or, with ``prefix``, its first N (N ≥ 10, or
    all of it when shorter), as a thread opened collapsed draws it. Bounded; returns the drawn ids."""
    try:
        page.wait_for_function(
            f"""([expected, prefix]) => {{
              const ids = ({TOP_IDS_JS})();
              if (!ids) return false;
              if (!prefix) return JSON.stringify(ids) === JSON.stringify(expected);
              return ids.length >= Math.min(10, expected.length) && ids.length <= expected.length
                && ids.every((id, i) => id === expected[i]);
            }}""",
            arg=[expected, prefix],
            timeout=WAIT_MS,
        )
    except Error:
        what = "the first ≥ 10 of " if prefix else ""
        pytest.fail(f"top-level comments drawn: {top_ids(page)}; expected {what}{expected}")
    return top_ids(page)


def comment_id_with_text(page: Page, text: str) -> str:
    """The id of the comment whose body shows ``text`` (waits for it to be drawn)."""
    body = page.locator(f"{WIDGET} [data-body]", has_text=text)
    expect(body).to_have_count(1)
    found: str = body.evaluate("el => el.closest('li[data-comment-id]').dataset.commentId")
    return found


def parent_comment_id(page: Page, comment_id: str) -> str | None:
    """The id of the comment whose `li` holds this one (through an `ol[data-replies]`), or None."""
    found: str | None = page.locator(comment(comment_id)).evaluate(
        """li => {
          const replies = li.parentElement.closest('[data-replies]');
          return replies ? replies.closest('li[data-comment-id]').dataset.commentId : null;
        }"""
    )
    return found


def walk(comments: list[dict[str, Any]], depth: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
    for item in comments:
        yield depth, item
        yield from walk(item["replies"], depth + 1)


def require_bundle(name: str = "embed.js") -> None:
    """Skip (loudly) until the widget's bundle has been built into kibitz/static/."""
    if not (STATIC / name).is_file():
        missing(f"the widget bundle kibitz/static/{name}")


# -- real processes ----------------------------------------------------------------------------------


@dataclass
class Kibitz:
    """A running `kibitz demo` or `kibitz serve`, with the API calls tests compare the widget with."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    site: str
    origin: str  # the origin writes come from (the page's)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_SECONDS)

    def thread(self, page: str, **params: Any) -> dict[str, Any]:
        r = httpx.get(
            f"{self.url}/api/v1/sites/{self.site}/comments", params={"page": page, **params}, timeout=10
        )
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    def top_ids(self, page: str, sort: str = "newest") -> list[str]:
        return [c["id"] for c in self.thread(page, sort=sort, limit=100)["comments"]]

    def count(self, page: str) -> int:
        found: int = self.thread(page)["thread"]["count"]
        return found

    def counts(self, pages: list[str]) -> dict[str, int]:
        r = httpx.get(f"{self.url}/api/v1/sites/{self.site}/counts", params={"page": pages}, timeout=10)
        assert r.status_code == 200, r.text
        found: dict[str, int] = r.json()["counts"]
        return found

    def post(
        self, page: str, text: str, name: str = "API Poster", parent: str | None = None
    ) -> dict[str, Any]:
        body = {"page": page, "text": text, "author": {"name": name}, "parent": parent}
        r = httpx.post(
            f"{self.url}/api/v1/sites/{self.site}/comments",
            json=body,
            headers={"Origin": self.origin},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        found: dict[str, Any] = r.json()["comment"]
        return found


def start_kibitz(args: list[str], cwd: Path, port: int, site_id: str, origin: str, ready: str) -> Kibitz:
    """Run the console script with ``args`` on ``port``; return once ``ready`` answers 200."""
    log = cwd / f"kibitz-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(KIBITZ), *args], cwd=cwd, env=child_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    server = Kibitz(f"http://127.0.0.1:{port}", process, log, site_id, origin or f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + START_SECONDS
    with httpx.Client(base_url=server.url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"kibitz {args[0]} exited with {process.returncode}:\n{server.output()}")
            with contextlib.suppress(httpx.TransportError):
                if client.get(ready).status_code == 200:
                    return server
            time.sleep(0.05)  # polling a condition, bounded by the deadline
    server.stop()
    late = f"kibitz {args[0]} did not answer {ready} within {START_SECONDS:.0f} s"
    raise RuntimeError(f"{late}:\n{server.output()}")


def start_demo(template: Path, where: Path) -> Kibitz:
    """`kibitz demo` on a free port, on a copy of the seeded data directory ``template``."""
    data = where / "demo-data"
    shutil.copytree(template, data)
    port = free_port()
    args = ["demo", "--host", "127.0.0.1", "--port", str(port), "--data", str(data)]
    return start_kibitz(args, where, port, "demo", "", "/")


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo data directory seeded once by the real command (started, then stopped)."""
    where = tmp_path_factory.mktemp("demo-template")
    data = where / "data"
    port = free_port()
    args = ["demo", "--host", "127.0.0.1", "--port", str(port), "--data", str(data)]
    server = start_kibitz(args, where, port, "demo", "", "/")
    server.stop()
    assert server.process.returncode == 0, server.output()
    assert "Seeded a sample discussion" in server.output(), server.output()
    return data


@pytest.fixture(scope="module")
def demo(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kibitz]:
    """One demo for a module whose tests only read (its threads stay as seeded)."""
    server = start_demo(demo_template, tmp_path_factory.mktemp("demo"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_demo(demo_template: Path, tmp_path: Path) -> Iterator[Kibitz]:
    """A demo of the test's own: it may post (the demo site allows 5 comments a minute per address)."""
    server = start_demo(demo_template, tmp_path)
    try:
        yield server
    finally:
        server.stop()


# -- a publisher's site on another origin ---------------------------------------------------------------

HOST_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Story · The Other Paper</title>
<style>
  /* A hostile stylesheet: none of this may reach the widget. */
  * {{ color: rgb(255, 0, 0) !important; font-size: 40px !important; font-family: fantasy !important; }}
  button, input, textarea, select, form, ol, ul, li, section, article, p, time, img {{
    display: none !important;
  }}
  [data-action], [data-comment-id], [data-body] {{ visibility: hidden !important; }}
</style>
</head>
<body>
<h1>Story</h1>
<span class="count"><span data-kibitz-count data-page="/story">comments</span></span>
<div id="kibitz" data-site="x" data-page="/story" data-title="Story"></div>
<script src="{kibitz}/embed.js" async></script>
<script src="{kibitz}/count.js" data-site="x" async></script>
</body>
</html>
"""


def send_html(handler: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
    """Answer a page server's request with ``body`` as an uncached HTML page."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Cache-Control", "no-store")
    handler.end_headers()
    handler.wfile.write(body)


class LoopbackHttp:
    """An HTTP server on a loopback port of its own, in a thread; ``server`` is set by subclasses."""

    server: http.server.ThreadingHTTPServer
    thread: threading.Thread

    def serve(self, handler: Callable[..., http.server.BaseHTTPRequestHandler]) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=STOP_SECONDS)


class HostSite(LoopbackHttp):
    """A publisher's site (another origin) whose /story page embeds the widget from ``kibitz_url``."""

    def __init__(self) -> None:
        self.kibitz_url = ""
        site_ = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/story":
                    self.send_error(404)
                    return
                body = HOST_PAGE.format(kibitz=site_.kibitz_url).encode()
                send_html(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.serve(Handler)


@dataclass
class CrossOrigin:
    host: HostSite
    kibitz: Kibitz

    @property
    def story(self) -> str:
        return f"{self.host.url}/story"


@pytest.fixture(scope="module")
def cross_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrossOrigin]:
    """`kibitz serve` with one site "x" whose origin is the publisher's site, itself on another port."""
    where = tmp_path_factory.mktemp("cross-origin")
    with HostSite() as host:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        config = write_config(
            where / "kibitz.toml", where, "sqlite:///kibitz.db", sites=[site("x", host.url)], base_url=base
        )
        args = ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
        server = start_kibitz(args, where, port, "x", host.url, "/healthz")
        host.kibitz_url = server.url
        try:
            yield CrossOrigin(host, server)
        finally:
            server.stop()


# -- the browser -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one module. Not for the session: while Playwright's sync API is open its event
    loop counts as running in this thread, so every later asyncio.run (the async tests) would fail."""
    executable = shutil.which("chromium")
    if executable is None:
        missing("Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(locale="en-US", timezone_id="UTC")
    made.set_default_timeout(WAIT_MS)
    try:
        yield made
    finally:
        made.close()


@dataclass
class PageLog:
    """What the page reported: uncaught errors, console errors, requests made."""

    errors: list[str]
    console: list[str]
    requests: list[str]


@pytest.fixture
def page_log() -> PageLog:
    return PageLog([], [], [])


@pytest.fixture
def page(context: BrowserContext, page_log: PageLog) -> Iterator[Page]:
    made = context.new_page()
    made.on("pageerror", lambda exc: page_log.errors.append(str(exc)))

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            page_log.console.append(message.text)

    made.on("console", on_console)
    made.on("request", lambda request: page_log.requests.append(request.url))
    yield made
    if page_log.errors or page_log.console:
        print("page errors:", page_log.errors, "console errors:", page_log.console)
