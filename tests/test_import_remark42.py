"""`kibitz import remark42` on the backup in the shared fixtures (tab-indented records, no final
newline, a parent that is not there), records spread over lines, and a cut-off file refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kibitz.imports.records import Refused
from kibitz.markup import LINK_REL
from tests.conftest import Api
from tests.imports_helpers import FIXTURES, run_import, visible

pytestmark = pytest.mark.anyio
BACKUP = FIXTURES / "remark42" / "remark42__native_test-TestNative_Import.backup.jsonl"


async def test_remark42_backup_shows_both_pages(api: Api) -> None:
    report = await run_import(api, "remark42", BACKUP)
    assert report.created == {"thread": 2, "comment": 2}
    assert report.notes[
        ("comment", "its parent is not in the file (or was skipped): kept as a top-level comment")
    ] == 1  # fmt: skip
    assert await visible(api, "/") == (
        1,
        [
            (
                "user name",
                f'<p>some text, <a href="http://radio-t.com" rel="{LINK_REL}">link</a></p>\n',
            )
        ],
    )
    assert await visible(api, "/2") == (1, [("user name", "<p>some text2</p>\n")])
    assert (await api.thread("/"))["thread"]["closed"] is True  # read_only in the metadata


async def test_records_over_several_lines_and_a_cut_off_file(api: Api, tmp_path: Path) -> None:
    spread = tmp_path / "spread.jsonl"
    text = BACKUP.read_text(encoding="utf-8")
    # Each record pretty-printed over many lines, as remark42's own reader also accepts.
    records = [json.loads(line) for line in text.splitlines()]
    spread.write_text("\n".join(json.dumps(r, indent=2) for r in records), encoding="utf-8")
    assert (await run_import(api, "remark42", spread)).created == {"thread": 2, "comment": 2}
    cut = tmp_path / "cut.jsonl"
    cut.write_text(text[: len(text) - 40], encoding="utf-8")
    with pytest.raises(Refused, match="is cut short or is not JSON"):
        await run_import(api, "remark42", cut, site="b")
    assert (await api.thread("/", site="b"))["thread"]["count"] == 0
