"""`kibitz export --format wxr` on both engines: a WordPress export (WXR 1.2) that `kibitz import
wordpress` reads back into another site with the same threads, nesting, authors, dates, statuses and
wpDiscuz votes; a second import of it changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from kibitz import markup
from tests.imports_helpers import cli
from tests.server import write_config
from tests.test_import_json import EXPORT, comment, line

pytestmark = pytest.mark.anyio
WP = "{http://wordpress.org/export/1.2/}"

# Our own export's sample, and what WordPress has words for beyond it: a rejected comment, a title and
# a name with characters HTML escapes, several paragraphs, a quotation, code.
SOURCE = EXPORT + "\n".join([
    line(type="thread", id="t3", page="/tom-&-jerry", title="Tom & Jerry's <chase>",
         url="https://news-a.example/tom-&-jerry/", closed=False),
    comment("c8", "t3", None, "O'Brien & \"Co\"", "One.\n\nTwo, with [a link](https://x.example/?a=1&b=2).",
            "2026-03-01T09:00:00Z", email="ob@example.org", url="https://ob.example/", up=5),
    comment("c9", "t3", "c8", "Rex", "> One.\n\nQuite.\n\n```\nx = 1\n\ny <b>\n```", "2026-03-01T09:30:00Z",
            down=2),
    comment("c10", "t3", "c9", "Rude", "Rejected words", "2026-03-01T10:00:00Z", status="rejected"),
]) + "\n"  # fmt: skip


def comparable(export: str) -> list[Any]:
    """A JSON export without what WXR has no room for (ids, seconds' fractions, edit times), with a
    rejected comment as the spam it becomes and each text as readers see it (WordPress keeps HTML):
    threads by page, comments with their parent's position."""
    out: list[Any] = []
    position: dict[str, int] = {}
    for raw in export.splitlines()[1:]:
        data = json.loads(raw)
        if data["type"] == "thread":
            out.append(("thread", data["page"], data["title"], data["closed"]))
            continue
        position[data["id"]] = len(position)
        parent = None if data["parent"] is None else position[data["parent"]]
        a = data["author"]
        status = "spam" if data["status"] == "rejected" else data["status"]
        out.append((
            parent, a["name"], a["email"], a["url"], data["created"][:19], status, data["deleted"],
            markup.render(data["text"], allow_images=False), data["up"], data["down"],
        ))  # fmt: skip
    return out


async def test_wxr_export_imports_back_with_threads_nesting_authors_dates_statuses_and_votes(
    tmp_path: Path, database_url: str
) -> None:
    config = str(write_config(tmp_path / "kibitz.toml", tmp_path, database_url))
    source = tmp_path / "in.jsonl"
    source.write_text(SOURCE, encoding="utf-8")
    assert (await cli("migrate", "--config", config)).exit_code == 0
    first = await cli("import", "json", str(source), "--site", "a", "--config", config)
    assert first.exit_code == 0, first.output
    out = tmp_path / "out.xml"
    exported = await cli("export", "--site", "a", "--format", "wxr", "-o", str(out), "--config", config)
    assert exported.exit_code == 0, exported.output

    channel = ElementTree.parse(out).getroot().find("channel")  # noqa: S314 (our own file)
    assert channel is not None
    assert channel.findtext(f"{WP}wxr_version") == "1.2"
    assert channel.findtext(f"{WP}base_blog_url") == "https://news-a.example"
    items = channel.findall("item")
    assert [i.findtext("link") for i in items] == [
        "https://news-a.example/2026/story", "", "https://news-a.example/tom-&-jerry/",
    ]  # fmt: skip
    metas = {
        m.findtext(f"{WP}meta_key"): m.findtext(f"{WP}meta_value") for m in items[0].iter(f"{WP}commentmeta")
    }
    assert metas == {
        "wpdiscuz_votes": "2", "wpdiscuz_votes_seperate": 'a:2:{s:4:"like";i:3;s:7:"dislike";i:-1;}',
    }  # fmt: skip
    approvals = [c.findtext(f"{WP}comment_approved") for c in channel.iter(f"{WP}comment")]
    assert approvals == ["1", "1", "trash", "1", "spam", "0", "1", "1", "1", "spam"]

    second = await cli("import", "wordpress", str(out), "--site", "b", "--config", config)
    assert second.exit_code == 0, second.output
    assert "comments: 10 created, 0 updated, 0 unchanged, 0 skipped" in second.stdout
    a = await cli("export", "--site", "a", "--format", "json", "--config", config)
    b = await cli("export", "--site", "b", "--format", "json", "--config", config)
    assert comparable(b.stdout) == comparable(a.stdout)
    kept = comparable(b.stdout)
    assert kept[0] == ("thread", "/2026/story", "A story", False)
    assert kept[9] == ("thread", "/tom-&-jerry", "Tom & Jerry's <chase>", False)
    ob = ('O\'Brien & "Co"', "ob@example.org", "https://ob.example/", "2026-03-01T09:00:00")
    assert kept[10][1:5] == ob
    assert [row[0] for row in kept[10:]] == [None, 7, 8]  # c8 < c9 < c10, the 8th to 10th comments

    again = await cli("import", "wordpress", str(out), "--site", "b", "--config", config)
    assert again.exit_code == 0, again.output
    assert "comments: 0 created, 0 updated, 10 unchanged, 0 skipped" in again.stdout
