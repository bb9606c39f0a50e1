"""`kibitz import disqus` on every Disqus export in the shared fixtures (what readers see per page, as
the file has it), hostile XML refused with nothing written, and Disqus -> Kibitz -> Disqus -> Kibitz."""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest

from kibitz.imports.records import Refused
from tests.conftest import Api
from tests.imports_helpers import FIXTURES, cli, count, ctx_of, names, run_import, visible
from tests.server import write_config

pytestmark = pytest.mark.anyio
DISQUS = FIXTURES / "disqus"
NS = {"d": "http://disqus.com", "dsq": "http://disqus.com/disqus-internals"}
DSQ_ID = "{http://disqus.com/disqus-internals}id"


def parse(path: Path) -> ElementTree.Element:
    """The fixture read whole by the standard library (trusted files of our own choosing)."""
    data = path.read_bytes()
    return ElementTree.fromstring(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)  # noqa: S314


def expected_from_file(path: Path) -> dict[str, list[Any]]:
    """Read the export independently of the importer: per page (the link's path), the tree a reader
    should see, oldest first."""
    root = parse(path)
    pages: dict[str, str] = {}
    for thread in root.findall("d:thread", NS):
        link = (thread.findtext("d:link", "", NS) or "").strip()
        if link and thread.findtext("d:isDeleted", "false", NS) != "true":
            pages[thread.get(DSQ_ID, "")] = urlsplit(link).path.rstrip("/") or "/"
    posts: list[dict[str, Any]] = []
    for index, post in enumerate(root.findall("d:post", NS)):
        thread_el, parent_el = post.find("d:thread", NS), post.find("d:parent", NS)
        posts.append({
            "id": post.get(DSQ_ID),
            "page": pages.get(thread_el.get(DSQ_ID, "") if thread_el is not None else ""),
            "parent": parent_el.get(DSQ_ID) if parent_el is not None else None,
            "created": post.findtext("d:createdAt", "", NS), "order": index,
            "visible": post.findtext("d:isDeleted", "false", NS) != "true"
            and post.findtext("d:isSpam", "false", NS) != "true",
            "name": (post.findtext("d:author/d:name", "", NS) or "").strip(),
        })  # fmt: skip
    by_id = {p["id"]: p for p in posts if p["page"] is not None}
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for item in by_id.values():
        parent = item["parent"] if item["parent"] in by_id else None
        children[parent].append(item)

    def tree(post: dict[str, Any]) -> Any:
        below = [t for t in (tree(c) for c in sorted(children[post["id"]], key=by_time)) if t is not None]
        if not post["visible"] and not below:
            return None
        label = post["name"] if post["visible"] else "deleted"
        return (label, below) if below else label

    def by_time(post: dict[str, Any]) -> tuple[str, int]:
        return (post["created"], post["order"])

    result: dict[str, list[Any]] = defaultdict(list)
    for top in sorted(children[None], key=by_time):
        shown = tree(top)
        if shown is not None:
            result[top["page"]].append(shown)
    return dict(result)


@pytest.mark.parametrize(
    "name",
    [
        "comentario__disqus-ok-single.xml.gz",
        "comentario__disqus-ok-empty.xml.gz",
        "hashover-next__podcastlinux-2020-06-25-all.xml",
        "isso__disqus.xml",
        "schnack__disqus.xml",
    ],
)
async def test_each_disqus_fixture_shows_every_page_as_the_export_has_it(api: Api, name: str) -> None:
    path = DISQUS / name
    expected = expected_from_file(path)
    report = await run_import(api, "disqus", path)
    posts = len(parse(path).findall("d:post", NS))
    skipped = sum(n for (kind, _), n in report.skipped.items() if kind == "comment")
    assert report.created.get("comment", 0) == posts - skipped
    for page, shape in expected.items():
        shown_count, shown = await visible(api, page)
        assert names(shown) == shape, page
        assert shown_count == count(shape), page
    again = await run_import(api, "disqus", path)
    assert again.created == {}
    assert again.updated == {}


async def test_disqus_single_keeps_text_author_and_date(api: Api) -> None:
    await run_import(api, "disqus", DISQUS / "comentario__disqus-ok-single.xml.gz")
    data = await api.thread("/")
    (only,) = data["comments"]
    assert only["author"]["name"] == "Bugs Bunny"
    assert only["html"] == "<p>Yay, imported</p>\n"
    assert only["created"] == "2023-11-12T21:57:50.000Z"
    assert data["thread"]["title"] == "How XYZ are you"


async def test_the_podcast_export_skips_spam_and_threads_without_comments(api: Api) -> None:
    report = await run_import(api, "disqus", DISQUS / "hashover-next__podcastlinux-2020-06-25-all.xml")
    assert report.skipped[("thread", "no comments")] == 587
    async with ctx_of(api).db.read() as tx:
        runs = await tx.imports.runs("a")
    assert [r.source for r in runs] == ["disqus"]
    assert json.loads(runs[0].report)["created"]["comment"] == 53


@pytest.mark.parametrize(
    "name",
    [
        "comentario__disqus-bad-format.xml.gz",
        "remark42__disqus.xml",
        "remark42__disqus-deleted-post.xml",
        "remark42__disqus-deleted-thread.xml",
    ],
)
async def test_broken_disqus_files_are_refused_and_nothing_is_written(api: Api, name: str) -> None:
    with pytest.raises(Refused, match="is not well-formed XML"):
        await run_import(api, "disqus", DISQUS / name)
    async with ctx_of(api).db.read() as tx:
        assert await tx.threads.of_site("a", 0, 10) == []


HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'
ROOT = '<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">'
THREAD = '<thread dsq:id="1"><id/><link>https://news-a.example/story</link><title>T</title></thread>'


def post(pid: str, text: str, parent: str | None = None, **flags: str) -> str:
    more = "".join(f"<{k}>{v}</{k}>" for k, v in flags.items())
    ref = f'<parent dsq:id="{parent}"/>' if parent else ""
    return (
        f'<post dsq:id="{pid}"><message><![CDATA[{text}]]></message><createdAt>2020-01-0{pid[-1]}T10:00:00Z'
        f"</createdAt>{more}<author><name>N{pid}</name><email>n{pid}@example.org</email></author>"
        f'<thread dsq:id="1"/>{ref}</post>'
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            HEAD + '<!DOCTYPE disqus [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
            + ROOT + THREAD + post("p1", "&x;") + "</disqus>",
            "declares a DTD or entities",
        ),
        (
            HEAD + '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
            '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>' + ROOT + THREAD + post("p1", "&lol3;")
            + "</disqus>",
            "declares a DTD or entities",
        ),
        (ROOT + THREAD + post("p1", "a", "p2") + post("p2", "b", "p1") + "</disqus>", "loop (p1 → p2 → p1)"),
    ],
)  # fmt: skip
async def test_hostile_disqus_files_are_refused_with_nothing_written(
    api: Api, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "hostile.xml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(Refused, match=message.replace("(", r"\(").replace(")", r"\)")):
        await run_import(api, "disqus", path)
    assert (await api.thread("/story"))["thread"]["count"] == 0


async def test_invalid_utf8_and_a_huge_text_node_are_refused(api: Api, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes((HEAD + ROOT + THREAD).encode() + post("p1", "caf\xe9").encode("latin-1") + b"</disqus>")
    with pytest.raises(Refused, match="not well-formed XML"):
        await run_import(api, "disqus", bad)
    huge = tmp_path / "huge.xml"
    with huge.open("w", encoding="utf-8") as out:
        out.write(HEAD + ROOT + THREAD + post("p1", "fine") + '<post dsq:id="p2"><message>')
        for _ in range(11):
            out.write("x" * (1 << 20))  # one text node past libxml2's 10 MB cap
        out.write("</message></post></disqus>")
    with pytest.raises(Refused, match="not well-formed XML"):
        await run_import(api, "disqus", huge)
    assert (await api.thread("/story"))["thread"]["count"] == 0


MIXED = (
    HEAD + ROOT + THREAD
    + post("p4", "A reply that comes <b>first</b>", "p1")
    + post("p1", "<p>Top</p>")
    + post("p2", "gone", "p1", isDeleted="true")
    + post("p3", "under a deleted one", "p2")
    + post("p5", "buy", None, isSpam="true")
    + post("p6", "held", None, isApproved="false")
    + "</disqus>"
)  # fmt: skip


def normalised(export: str) -> list[Any]:
    """A JSON export without its ids: threads by page, comments with their parent's position."""
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
        out.append(
            (parent, a["name"], a["email"], data["created"], data["status"], data["deleted"], data["text"])
        )
    return out


async def test_disqus_import_export_import_keeps_threads_nesting_authors_dates_statuses(
    tmp_path: Path, database_url: str
) -> None:
    source = tmp_path / "mixed.xml"
    source.write_text(MIXED, encoding="utf-8")
    config = str(write_config(tmp_path / "kibitz.toml", tmp_path, database_url))
    assert (await cli("migrate", "--config", config)).exit_code == 0
    first = await cli("import", "disqus", str(source), "--site", "a", "--config", config)
    assert first.exit_code == 0, first.output
    assert "comments: 6 created, 0 updated, 0 unchanged, 0 skipped" in first.stdout
    out = tmp_path / "out.xml"
    exported = await cli("export", "--site", "a", "--format", "disqus", "-o", str(out), "--config", config)
    assert exported.exit_code == 0, exported.output
    second = await cli("import", "disqus", str(out), "--site", "b", "--config", config)
    assert second.exit_code == 0, second.output
    a = await cli("export", "--site", "a", "--format", "json", "--config", config)
    b = await cli("export", "--site", "b", "--format", "json", "--config", config)
    assert normalised(a.stdout) == normalised(b.stdout)
    kept = normalised(a.stdout)
    assert kept[0] == ("thread", "/story", "T", False)
    # Stored parents first: the reply that came before its parent in the file is written last.
    assert [row[1] for row in kept[1:]] == ["Np1", "", "Np3", "Np5", "Np6", "Np4"]
    assert [row[4:6] for row in kept[1:]] == [
        ("approved", False), ("approved", True), ("approved", False), ("spam", False),
        ("pending", False), ("approved", False),
    ]  # fmt: skip
    assert [row[0] for row in kept[1:]] == [None, 0, 1, None, None, 0]
    assert kept[1][2:4] == ("np1@example.org", "2020-01-01T10:00:00Z")


def thread(tid: str, link: str, **flags: str) -> str:
    more = "".join(f"<{k}>{v}</{k}>" for k, v in flags.items())
    return f'<thread dsq:id="{tid}"><id/><link>{link}</link><title>Story {tid}</title>{more}</thread>'


def on(tid: str, pid: str, name: str) -> str:
    return (
        f'<post dsq:id="{pid}"><message>Hi from {name}</message><createdAt>2020-01-01T10:00:0{pid[-1]}Z'
        f'</createdAt><author><name>{name}</name></author><thread dsq:id="{tid}"/></post>'
    )


async def test_map_query_pages_and_deleted_threads(api: Api, tmp_path: Path) -> None:
    """--map moves a test host's links onto the site; stories known by ?p=N never merge; a thread
    deleted in Disqus takes its posts with it, each counted with its reason."""
    path = tmp_path / "sites.xml"
    path.write_text(
        HEAD + ROOT
        + thread("1", "http://localhost:4000/2020/story/") + thread("2", "https://news-a.example/?p=1")
        + thread("3", "https://news-a.example/?p=2")
        + thread("4", "https://news-a.example/gone", isDeleted="true")
        + on("1", "p1", "Ann") + on("2", "p2", "Bob") + on("3", "p3", "Cy") + on("4", "p4", "Dee")
        + "</disqus>",
        encoding="utf-8",
    )  # fmt: skip
    dry = await run_import(
        api, "disqus", path, dry_run=True, maps=["http://localhost:4000=https://news-a.example"]
    )
    assert dry.created == {"thread": 3, "comment": 3}
    assert dry.skipped[("thread", "deleted in Disqus")] == 1
    assert dry.skipped[("comment", "its thread was skipped")] == 1
    await run_import(api, "disqus", path, maps=["http://localhost:4000=https://news-a.example"])
    story = await api.thread("/2020/story")
    assert story["thread"]["url"] == "https://news-a.example/2020/story/"
    assert [c["author"]["name"] for c in story["comments"]] == ["Ann"]
    assert (await visible(api, "https://news-a.example/?p=1"))[1] == [("Bob", "<p>Hi from Bob</p>\n")]
    assert (await visible(api, "https://news-a.example/?p=2"))[1] == [("Cy", "<p>Hi from Cy</p>\n")]
    assert (await api.thread("/"))["thread"]["count"] == 0
    assert (await api.thread("/gone"))["thread"]["count"] == 0
