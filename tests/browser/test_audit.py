"""Looking at the demo as a whole: an accessibility audit (axe-core), the time the widget takes to
draw, and screenshots (light and dark) written to test-artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    HERE,
    LEAD,
    REPO,
    SCREENSHOTS,
    STATIC,
    WIDGET,
    Kibitz,
    require_bundle,
    wait_for_widget,
)
from tests.conftest import missing

LOADS = 5

# Runs in the page from its first moment: when embed.js arrived, and the first frame that shows a comment.
TIMING_JS = """(() => {
  const kb = window.__kibitzTiming = {start: null, first: null};
  new PerformanceObserver(list => {
    for (const entry of list.getEntries()) {
      const embed = new URL(entry.name).pathname.endsWith('/embed.js');
      if (kb.start === null && embed) kb.start = entry.responseEnd;
    }
  }).observe({type: 'resource', buffered: true});
  const poll = () => {
    const root = document.getElementById('kibitz')?.shadowRoot;
    if (root && root.querySelector('[data-comment-id]')) kb.first = performance.now();
    else requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
})();"""

AXE_JS = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary})),
  }));
}"""


def axe_script() -> Path:
    """axe-core's browser build: the widget's copy when it has one, else tests/browser's (npm ci'd)."""
    for folder in (REPO / "widget", HERE):
        found = folder / "node_modules" / "axe-core" / "axe.min.js"
        if found.is_file():
            return found
    npm = shutil.which("npm")
    if npm is None:
        missing("npm (to install axe-core for the accessibility audit)")
        raise AssertionError("unreachable")
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    found = HERE / "node_modules" / "axe-core" / "axe.min.js"
    if done.returncode != 0 or not found.is_file():
        missing(f"axe-core (npm ci in tests/browser failed: {done.stderr.strip()[-500:]})")
    return found


def test_demo_article_has_no_serious_or_critical_accessibility_violations(
    demo: Kibitz, page: Page, capsys: pytest.CaptureFixture[str]
) -> None:
    require_bundle()
    script = axe_script()
    page.goto(demo.url + LEAD)
    wait_for_widget(page)
    expect(page.locator(f"{WIDGET} [data-count]")).to_be_visible()
    page.add_script_tag(path=str(script))
    violations: list[dict[str, Any]] = page.evaluate(AXE_JS)
    grave = [v for v in violations if v["impact"] in ("serious", "critical")]
    with capsys.disabled():
        for v in violations:
            targets = [n["target"] for n in v["nodes"][:5]]
            print(f"\naxe {v['impact']}: {v['id']} ({v['help']}) on {len(v['nodes'])} nodes, e.g. {targets}")
    assert grave == [], json.dumps(grave, indent=1)


def test_print_time_from_embed_script_to_first_comment_drawn(
    demo: Kibitz, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    require_bundle()
    samples: list[float] = []
    for _ in range(LOADS):
        context = browser.new_context()
        try:
            context.add_init_script(TIMING_JS)
            page = context.new_page()
            page.goto(demo.url + LEAD)
            page.wait_for_function(
                "() => window.__kibitzTiming.start !== null && window.__kibitzTiming.first !== null"
            )
            timing: dict[str, float] = page.evaluate("() => window.__kibitzTiming")
            samples.append(timing["first"] - timing["start"])
        finally:
            context.close()
    with capsys.disabled():
        shown = ", ".join(f"{s:.0f}" for s in samples)
        print(
            f"\nembed.js loaded → first comment drawn: median {statistics.median(samples):.0f} ms"
            f" over {LOADS} loads ({shown} ms; aim ≤ 150 ms)"
        )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_of_the_front_page_and_article(demo: Kibitz, page: Page, scheme: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.emulate_media(color_scheme="dark" if scheme == "dark" else "light")

    page.goto(demo.url + "/")
    if (STATIC / "count.js").is_file():
        expect(page.locator(f"[data-kibitz-count][data-page='{LEAD}']")).to_have_attribute(
            "data-count", str(demo.count(LEAD))
        )
    page.screenshot(path=str(SCREENSHOTS / f"front-{scheme}.png"), full_page=True)

    page.goto(demo.url + LEAD)
    if (STATIC / "embed.js").is_file():
        wait_for_widget(page)
        expect(page.locator(WIDGET)).to_have_attribute("data-theme", scheme)
        page.wait_for_function(
            "() => [...document.querySelector('#kibitz').shadowRoot.querySelectorAll('img')]"
            ".every(img => img.complete)"
        )
    page.screenshot(path=str(SCREENSHOTS / f"article-{scheme}.png"), full_page=True)
    assert (SCREENSHOTS / f"article-{scheme}.png").stat().st_size > 0
