"""/docs in Chromium: Swagger UI draws every operation of /openapi.json from files Kibitz serves itself,
under its CSP, and no request leaves the server's origin (every other one is recorded and refused).

The page is opened under a host name that is not "localhost" (mapped to 127.0.0.1 in Chromium's
resolver), as a real deployment's would be: Swagger UI treats localhost specially in places (its online
validator is only asked about other hosts), and this test must see what a reader of a public /docs would.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Request, Route, expect, sync_playwright

from tests.browser.conftest import CHROMIUM_ARGS, WAIT_MS
from tests.conftest import missing
from tests.server import Server, serve

HOST = "kibitz-docs.test"  # resolved to 127.0.0.1 by Chromium only
LOOPBACK = {"127.0.0.1", HOST}

# Runs in the page before its scripts: every CSP refusal, for the test to read.
CSP_WATCH_JS = """
window.__cspRefused = [];
document.addEventListener('securitypolicyviolation', e => {
  window.__cspRefused.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("apidocs"), "sqlite:///kibitz.db") as running:
        yield running


@pytest.fixture(scope="module")
def mapped_browser() -> Iterator[Browser]:
    """Chromium that resolves HOST to 127.0.0.1 (and nothing else differently)."""
    executable = shutil.which("chromium")
    if executable is None:
        missing("Debian's chromium")
    rules = f"--host-resolver-rules=MAP {HOST} 127.0.0.1"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=[*CHROMIUM_ARGS, rules]
        )
        try:
            yield launched
        finally:
            launched.close()


def test_docs_render_every_operation_without_a_third_party_request(
    server: Server, mapped_browser: Browser
) -> None:
    port = urlsplit(server.url).port
    base = f"http://{HOST}:{port}"
    spec = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    operations = [(method.upper(), path) for path, item in spec["paths"].items() for method in item]
    assert len(operations) > 10

    context = mapped_browser.new_context(locale="en-US", timezone_id="UTC")
    context.set_default_timeout(WAIT_MS)
    seen: list[str] = []
    refused: list[str] = []

    def guard(route: Route, request: Request) -> None:
        seen.append(request.url)
        if urlsplit(request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            refused.append(request.url)
            route.abort("blockedbyclient")

    context.route("**/*", guard)
    context.add_init_script(CSP_WATCH_JS)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Kibitz API")
        blocks = page.locator(".swagger-ui .opblock")
        expect(blocks).to_have_count(len(operations))
        drawn = set(
            zip(
                (m.strip().upper() for m in page.locator(".opblock-summary-method").all_inner_texts()),
                page.locator(".opblock-summary-path").evaluate_all(
                    "els => els.map(el => el.getAttribute('data-path'))"
                ),
                strict=True,
            )
        )
        assert drawn == set(operations)
        # Open one operation: its parameters and responses draw from the same description.
        page.locator(".opblock-summary-path[data-path='/api/v1/sites/{site}/comments']").first.click()
        expect(page.locator(".opblock.is-open .parameters").first).to_be_visible()
        csp_refused: list[str] = page.evaluate("() => window.__cspRefused")
    finally:
        context.close()

    assert refused == [], f"requests that left the server: {refused}"
    assert all(urlsplit(url).hostname in LOOPBACK for url in seen), seen
    assert any(urlsplit(url).path == "/openapi.json" for url in seen)
    assert any(urlsplit(url).path == "/docs/assets/swagger-ui-bundle.js" for url in seen)
    assert csp_refused == [], f"the page's CSP refused: {csp_refused}"
    assert errors == [], errors
