"""`kibitz import json` and `kibitz export --format json`: our own format round-trips byte for byte,
validates against docs/export.schema.json, re-imports change nothing, and bad files change nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kibitz.imports.records import Refused
from tests.conftest import Api
from tests.imports_helpers import cli, ctx_of, run_import, visible
from tests.server import write_config

pytestmark = pytest.mark.anyio
HEADER = {"format": "kibitz", "version": 1}


def line(**data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def comment(
    cid: str, thread: str, parent: str | None, name: str, text: str, created: str, **extra: Any
) -> str:
    data: dict[str, Any] = {
        "type": "comment", "id": cid, "thread": thread, "parent": parent,
        "author": {"name": name, "email": extra.pop("email", ""), "url": extra.pop("url", "")},
        "created": created, "edited": extra.pop("edited", None), "status": extra.pop("status", "approved"),
        "deleted": extra.pop("deleted", False), "text": text, "up": extra.pop("up", 0),
        "down": extra.pop("down", 0),
    }  # fmt: skip
    assert not extra
    return line(**data)


EXPORT = "\n".join([
    line(**HEADER),
    line(type="thread", id="t1", page="/2026/story", title="A story", url="https://news-a.example/2026/story",
         closed=False),
    comment("c1", "t1", None, "Ann", "First *point*", "2026-01-02T10:00:00Z", email="ann@example.org",
            up=3, down=1),
    comment("c2", "t1", "c1", "Bob", "A reply", "2026-01-02T11:00:00.250000Z", url="https://bob.example/"),
    comment("c3", "t1", "c2", "", "", "2026-01-02T12:00:00Z", deleted=True),
    comment("c4", "t1", "c3", "Cy", "Replying to a deleted one", "2026-01-02T13:00:00Z",
            edited="2026-01-02T13:05:00Z"),
    comment("c5", "t1", None, "Spammer", "Buy things", "2026-01-03T10:00:00Z", status="spam"),
    comment("c6", "t1", None, "Dee", "Held for review", "2026-01-03T11:00:00Z", status="pending"),
    line(type="thread", id="t2", page="story-42", title="", url="", closed=True),
    comment("c7", "t2", None, "Eve", "On a closed one", "2026-02-01T09:00:00Z", email="eve@example.org"),
]) + "\n"  # fmt: skip


def write(tmp_path: Path, text: str, name: str = "in.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def test_json_import_shows_threads_nesting_and_tombstones_as_the_file_has_them(
    api: Api, tmp_path: Path
) -> None:
    report = await run_import(api, "json", write(tmp_path, EXPORT))
    assert report.created == {"thread": 2, "comment": 7}
    count, shown = await visible(api, "/2026/story")
    assert count == 3  # Ann, Bob, Cy: the tombstone, the spam and the held comment are not counted
    assert shown == [
        (
            ("Ann", "<p>First <em>point</em></p>\n"),
            [(("Bob", "<p>A reply</p>\n"), [("deleted", [("Cy", "<p>Replying to a deleted one</p>\n")])])],
        )
    ]
    data = await api.thread("/2026/story", sort="oldest")
    assert data["thread"]["title"] == "A story"
    assert data["comments"][0]["score"] == 2
    assert "ann@example.org" not in json.dumps(data)
    other = await api.thread("story-42")
    assert other["thread"]["closed"] is True
    assert other["thread"]["count"] == 1


async def test_json_reimport_creates_nothing_and_updates_what_changed(api: Api, tmp_path: Path) -> None:
    await run_import(api, "json", write(tmp_path, EXPORT))
    again = await run_import(api, "json", write(tmp_path, EXPORT))
    assert again.created == {}
    assert again.updated == {}
    assert again.unchanged == {"thread": 2, "comment": 7}
    changed = (
        EXPORT.replace('"A reply"', '"A better reply"')
        .replace('"Held for review","up"', '"Held for review","up"')
        .replace('"status":"pending"', '"status":"approved"')
    )
    third = await run_import(api, "json", write(tmp_path, changed, "changed.jsonl"))
    assert third.updated == {"comment": 2}
    assert third.created == {}
    count, shown = await visible(api, "/2026/story")
    assert count == 4  # Dee's comment, approved in the source now
    assert shown[0][1][0][0] == ("Bob", "<p>A better reply</p>\n")
    assert shown[1] == ("Dee", "<p>Held for review</p>\n")


async def test_json_dry_run_writes_nothing_and_says_what_it_would_do(api: Api, tmp_path: Path) -> None:
    report = await run_import(api, "json", write(tmp_path, EXPORT), dry_run=True)
    assert report.created == {"thread": 2, "comment": 7}
    assert (await api.thread("/2026/story"))["thread"]["count"] == 0
    async with ctx_of(api).db.read() as tx:
        assert await tx.imports.runs("a") == []


async def test_replies_before_their_parents_are_nested_under_them(api: Api, tmp_path: Path) -> None:
    lines = EXPORT.splitlines()
    reordered = [lines[0], lines[1], lines[5], lines[4], lines[3], lines[2], *lines[6:]]
    await run_import(api, "json", write(tmp_path, "\n".join(reordered) + "\n"))
    _, shown = await visible(api, "/2026/story")
    assert shown[0][1][0][1][0] == ("deleted", [("Cy", "<p>Replying to a deleted one</p>\n")])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ('{"format":"disqus"}\n', "is not a Kibitz export header"),
        (line(**HEADER) + "\n{not json\n", "line 2 is not valid JSON"),
        (line(**HEADER) + '\n{"type":"comment","id":"x"}\n', "line 2: 'author' must be an object"),
        (EXPORT + comment("c8", "t1", None, "Z", "late", "2026-01-02") + "\n", "line 11: 'created' must be"),
        (
            EXPORT
            + comment("l1", "t1", "l2", "Loop", "a", "2026-01-02T10:00:00Z") + "\n"
            + comment("l2", "t1", "l1", "Loop", "b", "2026-01-02T10:00:00Z") + "\n",
            "loop (l1 → l2 → l1)",
        ),
    ],
)  # fmt: skip
async def test_bad_json_files_are_refused_and_nothing_is_written(
    api: Api, tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(Refused, match=message.replace("(", r"\(").replace(")", r"\)")):
        await run_import(api, "json", write(tmp_path, text))
    assert (await api.thread("/2026/story"))["thread"]["count"] == 0


async def test_invalid_utf8_is_refused_with_its_line(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(EXPORT.encode() + b'{"type":"comment","id":"\xff"}\n')
    with pytest.raises(Refused, match="line 11 is not valid UTF-8"):
        await run_import(api, "json", path)
    assert (await api.thread("/2026/story"))["thread"]["count"] == 0


async def test_json_export_of_an_import_is_the_file_again(tmp_path: Path, database_url: str) -> None:
    """json -> kibitz import -> kibitz export: the same bytes, valid against the published schema."""
    import jsonschema_rs

    config = str(write_config(tmp_path / "kibitz.toml", tmp_path, database_url))
    source = str(write(tmp_path, EXPORT))
    migrated = await cli("migrate", "--config", config)
    assert migrated.exit_code == 0, migrated.output
    first = await cli("import", "json", source, "--site", "a", "--config", config)
    assert first.exit_code == 0, first.output
    assert "comments: 7 created, 0 updated, 0 unchanged, 0 skipped" in first.stdout
    out = tmp_path / "out.jsonl"
    exported = await cli("export", "--site", "a", "--format", "json", "-o", str(out), "--config", config)
    assert exported.exit_code == 0, exported.output
    assert out.read_text(encoding="utf-8") == EXPORT
    schema = json.loads(
        (Path(__file__).parents[1] / "docs" / "export.schema.json").read_text(encoding="utf-8")
    )
    validator = jsonschema_rs.validator_for(schema)
    for text in EXPORT.splitlines():
        validator.validate(json.loads(text))
    dry = await cli("import", "json", source, "--site", "a", "--dry-run", "--config", config)
    assert dry.exit_code == 0, dry.output
    assert "comments: 0 would be created, 0 would be updated, 7 unchanged, 0 skipped" in dry.stdout
    assert dry.stdout.rstrip().endswith("dry run: nothing was written")
