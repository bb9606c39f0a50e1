"""The desk's imports page in a real browser: after `kibitz import` on the demo's data, an editor finds
the run from the site's navigation, opens its report (reasons, source ids), and axe finds nothing
serious on either page; screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import SCREENSHOTS, Kibitz
from tests.browser.test_admin import audit_page, sign_in
from tests.browser.test_audit import axe_script
from tests.server import run_kibitz
from tests.test_admin_imports import FILE


def test_an_editor_finds_an_import_and_reads_its_report(
    fresh_demo: Kibitz, browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "old-comments.xml"
    source.write_text(FILE, encoding="utf-8")
    done = run_kibitz(
        "import", "disqus", str(source), "--site", "demo", "--data", str(tmp_path / "demo-data"), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        sign_in(page, fresh_demo)
        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Imports").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Imports")
        row = page.get_by_role("row").filter(has_text="old-comments.xml")
        expect(row).to_contain_text("2 created, 0 updated, 0 unchanged, 1 skipped")
        page.screenshot(path=str(SCREENSHOTS / "admin-imports.png"), full_page=True)
        listing = page.url
        row.get_by_role("link", name="old-comments.xml").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Import of old-comments.xml")
        skipped = page.get_by_role("row").filter(has_text="it has no message")
        expect(skipped).to_contain_text("p2")
        expect(page.get_by_role("row").filter(has_text="its parent is not in the file")).to_contain_text("p3")
        page.screenshot(path=str(SCREENSHOTS / "admin-import-report.png"), full_page=True)
        report = page.url
        state = context.storage_state()
    finally:
        context.close()
    assert errors == [], errors  # nothing refused by the pages' CSP, no script errors

    # axe is injected as an inline script, which the pages' CSP refuses: a context that bypasses it.
    audit = browser.new_context(bypass_csp=True, storage_state=state)
    grave: dict[str, Any] = {}
    try:
        page = audit.new_page()
        for url in (listing, report):
            page.goto(url)
            grave[url] = audit_page(page, str(axe_script()), "light", capsys)
    finally:
        audit.close()
    grave = {url: found for url, found in grave.items() if found}
    assert grave == {}, json.dumps(grave, indent=1)
