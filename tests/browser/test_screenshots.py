"""The README's pictures: the reader's widget and the moderators' queue on the demo, light and dark,
cropped and small (< 200 KB each).

Every browser run takes them into a temporary directory and checks them; `./scripts/screenshots`
runs this module with KIBITZ_TEST_SCREENSHOTS_TO=docs/img to replace the README's copies.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import LEAD, WAIT_MS, WIDGET, Kibitz, require_bundle, wait_for_widget
from tests.browser.test_admin import ITEMS, sign_in

TARGET_ENV = "KIBITZ_TEST_SCREENSHOTS_TO"
MAX_BYTES = 200 * 1024
WIDGET_WIDTH = 720  # about an article column
WIDGET_HEIGHT = 900  # the top of the thread: the form, the tabs and the first comments
ADMIN_VIEW = {"width": 1100, "height": 720}
IMAGES_DONE_JS = (
    "() => [...document.querySelector('#kibitz').shadowRoot.querySelectorAll('img')].every(i => i.complete)"
)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/img when asked for (./scripts/screenshots), else a directory of this run's own."""
    wanted = os.environ.get(TARGET_ENV)
    if wanted:
        path = Path(wanted).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("readme-screenshots")


def open_context(browser: Browser, scheme: str, width: int, height: int) -> BrowserContext:
    made = browser.new_context(
        color_scheme="dark" if scheme == "dark" else "light",
        viewport={"width": width, "height": height},
        device_scale_factor=1,
        locale="en-US",
        timezone_id="UTC",
    )
    made.set_default_timeout(WAIT_MS)
    return made


@pytest.fixture
def errors() -> list[str]:
    return []


def watch(page: Page, errors: list[str]) -> Page:
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def check(path: Path, width: int) -> None:
    size = path.stat().st_size
    assert 10 * 1024 < size < MAX_BYTES, f"{path.name}: {size} bytes"
    shown = png_size(path)
    assert shown[0] == width, f"{path.name}: {shown}"
    assert shown[1] >= 300, f"{path.name}: {shown}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_readers_widget(
    demo: Kibitz, browser: Browser, target: Path, errors: list[str], scheme: str
) -> None:
    require_bundle()
    context = open_context(browser, scheme, WIDGET_WIDTH + 80, WIDGET_HEIGHT + 200)
    path = target / f"widget-{scheme}.png"
    try:
        page = watch(context.new_page(), errors)
        page.goto(demo.url + LEAD)
        wait_for_widget(page)
        expect(page.locator(WIDGET)).to_have_attribute("data-theme", scheme)
        page.wait_for_function(IMAGES_DONE_JS)
        page.locator("#kibitz").evaluate(f"el => {{ el.style.width = '{WIDGET_WIDTH}px'; }}")
        box: dict[str, float] = page.locator(WIDGET).evaluate(
            "el => { const r = el.getBoundingClientRect();"
            " return {x: r.left + scrollX, y: r.top + scrollY, height: r.height}; }"
        )
        height = min(box["height"], WIDGET_HEIGHT)
        # The clip is in page coordinates (full_page), from the widget's top.
        page.screenshot(
            path=str(path),
            clip={"x": box["x"], "y": box["y"], "width": WIDGET_WIDTH, "height": height},
            full_page=True,
        )
    finally:
        context.close()
    check(path, WIDGET_WIDTH)
    assert errors == [], errors


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_moderators_queue(
    demo: Kibitz, browser: Browser, target: Path, errors: list[str], scheme: str
) -> None:
    # The demo's seeded queue: comments held on its pre-moderated story.
    context = open_context(browser, scheme, ADMIN_VIEW["width"], ADMIN_VIEW["height"])
    path = target / f"admin-queue-{scheme}.png"
    try:
        page = watch(context.new_page(), errors)
        sign_in(page, demo, "/admin/sites/demo/queue")
        expect(page.locator(ITEMS).first).to_be_visible()
        page.screenshot(path=str(path))
    finally:
        context.close()
    check(path, ADMIN_VIEW["width"])
    assert errors == [], errors
