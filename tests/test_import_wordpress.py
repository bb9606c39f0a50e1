"""`kibitz import wordpress` on every WXR file in the shared fixtures (what readers see per page, as
the file has it), wpDiscuz votes, trashed comments, pingbacks and trackbacks skipped and counted."""

from __future__ import annotations

import html
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest

from tests.conftest import Api
from tests.imports_helpers import FIXTURES, count, cut, names, run_import, visible

pytestmark = pytest.mark.anyio
WORDPRESS = FIXTURES / "wordpress"
FILES = sorted(path.name for path in WORDPRESS.iterdir())


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def field(element: ElementTree.Element, name: str) -> str:
    return next(("".join(c.itertext()) for c in element if local(c.tag) == name), "")


def parse(path: Path) -> ElementTree.Element:
    """The fixture read whole by the standard library (trusted files of our own choosing)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            data = archive.read(archive.namelist()[0])
    else:
        data = path.read_bytes()
    return ElementTree.fromstring(data.lstrip())  # noqa: S314


def expected_from_file(path: Path) -> tuple[dict[str, list[Any]], dict[str, int]]:
    """Per page (the link's path, or the whole link when its query names the story): the tree a
    reader should see, oldest first, and the visible count; read independently of the importer."""
    trees: dict[str, list[Any]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    channel = next(c for c in parse(path) if local(c.tag) == "channel")
    for item in (c for c in channel if local(c.tag) == "item"):
        link = field(item, "link").strip()
        if not link:
            continue
        parts = urlsplit(link)
        page = link if parts.query else parts.path.rstrip("/") or "/"
        kept: dict[str, dict[str, Any]] = {}
        for order, el in enumerate(x for x in item if local(x.tag) == "comment"):
            approved = field(el, "comment_approved").strip() or "1"
            if field(el, "comment_type").strip() in ("pingback", "trackback"):
                continue
            kept[field(el, "comment_id").strip()] = {
                "parent": field(el, "comment_parent").strip(), "order": order,
                "when": field(el, "comment_date_gmt") or field(el, "comment_date"),
                "visible": approved == "1", "deleted": approved == "trash",
                "name": " ".join(html.unescape(field(el, "comment_author")).split()) or "Anonymous",
            }  # fmt: skip
        children: dict[str | None, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for cid, c in kept.items():
            children[c["parent"] if c["parent"] in kept else None].append((cid, c))

        def tree(cid: str, c: dict[str, Any], children: dict[str | None, list[Any]] = children) -> Any:
            below = [
                t
                for t in (
                    tree(*x) for x in sorted(children[cid], key=lambda x: (x[1]["when"], x[1]["order"]))
                )
                if t
            ]
            if not c["visible"] and not below:
                return None
            label = c["name"] if c["visible"] else "deleted"
            return (label, below) if below else label

        for cid, c in sorted(children[None], key=lambda x: (x[1]["when"], x[1]["order"])):
            shown = tree(cid, c)
            if shown is not None:
                trees[page].append(shown)
        counts[page] += sum(1 for c in kept.values() if c["visible"])
    return dict(trees), dict(counts)


@pytest.mark.parametrize("name", FILES)
async def test_each_wordpress_fixture_shows_every_page_as_the_export_has_it(api: Api, name: str) -> None:
    path = WORDPRESS / name
    trees, counts = expected_from_file(path)
    report = await run_import(api, "wordpress", path)
    for page, shape in trees.items():
        shown_count, shown = await visible(api, page)
        assert names(shown) == cut(shape), page
        assert shown_count == counts[page] == count(shape), page
    again = await run_import(api, "wordpress", path)
    assert again.created == {}
    assert again.updated == {}
    assert sum(report.created.values()) == sum(again.unchanged.values())


async def test_pingbacks_and_trackbacks_are_skipped_and_counted(api: Api) -> None:
    report = await run_import(api, "wordpress", WORDPRESS / "wordpress-importer__theme-unit-test-data.xml")
    assert report.skipped[("comment", "a pingback")] == 2
    assert report.skipped[("comment", "a trackback")] == 2
    assert report.created["comment"] == 29
    pinged = await run_import(api, "wordpress", WORDPRESS / "remark42__wordpress_test-xmlTestWP.xml")
    assert pinged.skipped[("comment", "a pingback")] == 1
    assert pinged.notes[
        ("comment", "its parent is not in the file (or was skipped): kept as a top-level comment")
    ] == 1  # fmt: skip


async def test_wordpress_text_keeps_backslashes_entities_and_is_cut_at_the_limit(api: Api) -> None:
    # Both files are exports of one blog (http://localhost/) whose first post and comment have id 1: by
    # their own account the same comment, so into different sites here (two blogs: the test below).
    await run_import(api, "wordpress", WORDPRESS / "wordpress-importer__slashes.xml", site="a")
    await run_import(api, "wordpress", WORDPRESS / "wordpress-importer__valid-wxr-1.1.xml", site="b")
    (slashes,) = (await api.thread("http://localhost/?p=1", site="a"))["comments"]
    assert slashes["html"] == "<p>\\o/ ¯\\_(ツ)_/¯</p>\n"
    (hello,) = (await api.thread("http://localhost/?p=1", site="b"))["comments"]
    assert "view the post&#x27;s comments" in hello["html"] or "view the post's comments" in hello["html"]
    long = await run_import(api, "wordpress", WORDPRESS / "comentario__wordpress-ok-long.zip")
    assert long.notes[("comment", "longer than Kibitz keeps: cut to 10,000 chars")] == 1


WXR = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:wp="http://wordpress.org/export/1.2/"><channel><item>
<title>Votes</title><link>https://news-a.example/2020/votes/</link><wp:post_id>9</wp:post_id>
<wp:comment><wp:comment_id>1</wp:comment_id><wp:comment_author>Ann</wp:comment_author>
<wp:comment_date_gmt>2020-01-01 10:00:00</wp:comment_date_gmt><wp:comment_content>Liked</wp:comment_content>
<wp:comment_approved>1</wp:comment_approved><wp:comment_parent>0</wp:comment_parent>
<wp:commentmeta><wp:meta_key>wpdiscuz_votes</wp:meta_key><wp:meta_value>2</wp:meta_value></wp:commentmeta>
<wp:commentmeta><wp:meta_key>wpdiscuz_votes_seperate</wp:meta_key>
<wp:meta_value><![CDATA[a:2:{s:4:"like";i:3;s:7:"dislike";i:1;}]]></wp:meta_value></wp:commentmeta>
</wp:comment>
<wp:comment><wp:comment_id>2</wp:comment_id><wp:comment_author>Bob</wp:comment_author>
<wp:comment_date_gmt>2020-01-01 11:00:00</wp:comment_date_gmt><wp:comment_content>Gone</wp:comment_content>
<wp:comment_approved>trash</wp:comment_approved><wp:comment_parent>0</wp:comment_parent></wp:comment>
<wp:comment><wp:comment_id>3</wp:comment_id><wp:comment_author>Cy</wp:comment_author>
<wp:comment_date_gmt>2020-01-01 12:00:00</wp:comment_date_gmt><wp:comment_content>Line one
line two

Second paragraph</wp:comment_content>
<wp:comment_approved>1</wp:comment_approved><wp:comment_parent>2</wp:comment_parent>
<wp:commentmeta><wp:meta_key>wpdiscuz_votes</wp:meta_key><wp:meta_value>-2</wp:meta_value></wp:commentmeta>
</wp:comment></item></channel></rss>
"""


def blog(base: str, link: str) -> str:
    """WXR above as the export of the blog at ``base``, its post at ``link``."""
    head = f"<channel><link>{base}/</link><wp:base_blog_url>{base}</wp:base_blog_url><item>"
    return WXR.replace("<channel><item>", head).replace("https://news-a.example/2020/votes/", link)


async def test_two_blogs_with_the_same_post_and_comment_ids_go_into_one_site(
    api: Api, tmp_path: Path
) -> None:
    one, two = tmp_path / "one.xml", tmp_path / "two.xml"
    one.write_text(blog("https://one.example", "https://news-a.example/2020/votes/"), encoding="utf-8")
    two.write_text(blog("https://two.example/blog", "https://news-a.example/2021/other/"), encoding="utf-8")
    for path in (one, two):
        report = await run_import(api, "wordpress", path)
        assert report.created == {"thread": 1, "comment": 3}
    for page in ("/2020/votes", "/2021/other"):
        assert names((await visible(api, page))[1]) == ["Ann", ("deleted", ["Cy"])]
    again = await run_import(api, "wordpress", two)
    assert again.unchanged == {"thread": 1, "comment": 3}
    assert again.examples == {}


async def test_wpdiscuz_votes_trash_and_paragraphs(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "wxr.xml"
    path.write_text(WXR, encoding="utf-8")
    await run_import(api, "wordpress", path)
    data = await api.thread("/2020/votes", sort="oldest")
    ann, gone = data["comments"]
    assert (ann["score"], ann["up"], ann["down"]) == (2, 3, 1)
    assert gone["deleted"] is True
    (cy,) = gone["replies"]
    assert (cy["score"], cy["down"]) == (-2, 2)
    assert cy["html"] == "<p>Line one<br>\nline two</p>\n<p>Second paragraph</p>\n"
    assert data["thread"]["count"] == 2
