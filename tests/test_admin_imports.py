"""The desk's imports page on both engines: a run of `kibitz import` is listed with its counts and its
whole report (reasons, source ids, never an author's address); owners and the site's moderators see
it, other moderators get 403 and nobody gets a 500 (a bad id, another site's run, an unreadable report)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kibitz.store.imports import ImportRun
from tests.conftest import Api
from tests.imports_helpers import cli, ctx_of
from tests.server import write_config
from tests.test_admin_newsletter import staff_cookie
from tests.test_import_disqus import HEAD, ROOT, THREAD, post

pytestmark = pytest.mark.anyio
PAGE = "/admin/sites/a/imports"
FILE = (
    HEAD + ROOT + THREAD
    + post("p1", "Kept")
    + post("p2", "")  # no message: skipped, with its reason and id
    + post("p3", "Its parent is gone", "p9")  # kept at the top, with a note
    + "</disqus>"
)  # fmt: skip


async def test_a_run_of_kibitz_import_is_listed_with_its_report_for_the_sites_staff(
    api: Api, tmp_path: Path, database_url: str
) -> None:
    owner, _ = await staff_cookie(api, "owner@example.org", "owner", [])
    desk, _ = await staff_cookie(api, "desk@example.org", "moderator", ["a"])
    other, _ = await staff_cookie(api, "other@example.org", "moderator", ["b"])
    assert "Nothing has been imported" in (await api.client.get(PAGE, headers=desk)).text

    source = tmp_path / "old-comments.xml"
    source.write_text(FILE, encoding="utf-8")
    config = str(write_config(tmp_path / "kibitz.toml", tmp_path, database_url))
    done = await cli("import", "disqus", str(source), "--site", "a", "--config", config)
    assert done.exit_code == 0, done.output

    run_path = ""
    for who in (owner, desk):
        listed = await api.client.get(PAGE, headers=who)
        assert listed.status_code == 200
        assert f'href="{PAGE}" aria-current="page">Imports<' in listed.text
        assert "old-comments.xml" in listed.text
        assert "2 created, 0 updated, 0 unchanged, 1 skipped" in listed.text  # the comments
        found = re.search(rf'href="({PAGE}/\d+)">old-comments.xml<', listed.text)
        assert found
        report = await api.client.get(found.group(1), headers=who)
        assert report.status_code == 200
        text = report.text
        assert "it has no message" in text
        assert "<code>p2</code>" in text
        assert "its parent is not in the file" in text
        assert "<code>p3</code>" in text
        assert "@example.org" not in text.replace("owner@example.org", "").replace("desk@example.org", "")
        run_path = found.group(1)

    assert (await api.client.get(PAGE, headers=other)).status_code == 403
    assert (await api.client.get(run_path, headers=other)).status_code == 403
    assert "Nothing has been imported" in (await api.client.get("/admin/sites/b/imports", headers=other)).text
    anonymous = await api.client.get(run_path)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/admin/login")
    # Another site's run, a run that does not exist, an id that is not one: a clear 404 page.
    for wrong in (run_path.replace("/sites/a/", "/sites/b/"), f"{PAGE}/999999", f"{PAGE}/1x", f"{PAGE}/0"):
        missing = await api.client.get(wrong, headers=owner)
        assert missing.status_code == 404, wrong
        assert "text/html" in missing.headers["content-type"]


async def test_a_run_whose_report_does_not_read_still_shows(api: Api) -> None:
    owner, _ = await staff_cookie(api, "owner@example.org", "owner", [])
    ctx = ctx_of(api)
    now = ctx.clock()
    async with ctx.db.write() as tx:
        made = await tx.imports.log_run(ImportRun(0, "a", "isso", "x.json", "ops", False, now, now, "{oops"))
    listed = await api.client.get(PAGE, headers=owner)
    assert listed.status_code == 200
    assert "x.json" in listed.text
    shown = await api.client.get(f"{PAGE}/{made}", headers=owner)
    assert shown.status_code == 200
    assert "report cannot be read" in shown.text
