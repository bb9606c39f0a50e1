"""The import's shortcuts give what the long way gives: well-formed HTML read into Markdown without
HTMLParser (kibitz/imports/html_text.py), on generated fragments and on the real exports' comments;
the plan read from Disqus comments' places alone; the fingerprint written out without json.dumps."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kibitz import markup
from kibitz.imports import html_text, normalise, plan
from kibitz.imports.disqus import DisqusSource
from kibitz.imports.records import CommentRecord, Record, Refused
from kibitz.imports.report import Report
from kibitz.imports.wordpress import WordPressSource
from kibitz.models import CommentStatus
from tests.conftest import make_settings
from tests.imports_helpers import FIXTURES

bench_generate = importlib.import_module("bench.import").generate


def _through_htmlparser(html: str) -> str:
    builder = html_text._TreeBuilder()
    builder.feed(html)
    builder.close()
    return "\n\n".join(html_text._blocks(builder.root.children)).strip()


_PIECES = ["<p>", "</p>", "<b>", "</b>", "<B>", "<i>", "</I>", "<br>", "<br/>", "<br />", "</br>",
           '<a href="https://x.org/?a=1&amp;b=2">', '<a HREF="javascript:x" rel="nofollow">', "</a>",
           "text", " ", "\n", "\t", "\xa0", "&amp;", "&lt;", "&#39;", "&nbsp;", "&bogus", "&", "<", ">",
           "*", "_", "`", "1.", "- ", "# ", "\u0663. ", "<ul>", "<li>", "</li>", "</ul>", "<ol>",
           "<blockquote>", "</blockquote>", "<pre>", "</pre>", "<code>", "</code>", "<script>",
           "</script>", "<!-- c -->", '<div class="x">', "</div>", "<p/>", "</p >", "< p>", "<a href='x'>",
           "<a href=x>", '<img src="https://x.org/i.png" alt="a&amp;b"/>', "<hr>", "<title>", "</title>",
           "<textarea>", "<?x?>", "<![CDATA[x]]>", '<p\n class="a">', '</p class="a">']  # fmt: skip


@settings(max_examples=2000, deadline=None, derandomize=True)
@given(html=st.lists(st.sampled_from(_PIECES), max_size=20).map("".join))
def test_html_read_without_htmlparser_gives_the_same_markdown(html: str) -> None:
    assert html_text.to_markdown(html) == _through_htmlparser(html)


@pytest.mark.parametrize(
    ("html", "simple"),
    [('<p>a <b>b</b> &amp; <a href="https://x.org/?a=1&amp;b=2">c</a><br/>d</p>', True),
     ("<P>Shouting</P>", True), ("<p>a < b</p>", False), ("<!-- x --><p>a</p>", False),
     ("<script>x</script>", False), ("<p class=x>a</p>", False), ("a</p >b", True)],
)  # fmt: skip
def test_which_html_is_read_without_htmlparser(html: str, simple: bool) -> None:
    assert html_text._fed_simply(html_text._TreeBuilder(), html) is simple
    assert html_text.to_markdown(html) == _through_htmlparser(html)


def _bodies() -> list[str]:
    found: list[str] = []
    for folder, reader in (("disqus", DisqusSource), ("wordpress", WordPressSource)):
        for path in sorted((FIXTURES / folder).glob("*.xml")):
            try:
                found += [r.html for r in reader(path).records() if isinstance(r, CommentRecord)]
            except Refused:
                continue  # the broken files the import tests refuse
    return [html for html in found if html]


def test_the_real_exports_comments_read_the_same_and_render_the_same() -> None:
    bodies = _bodies()
    assert len(bodies) > 30
    for html in bodies:
        text = html_text.to_markdown(html)
        assert text == _through_htmlparser(html), html
        assert markup.render(text) == markup._render(markup._MD, text, False), text


# The plan reads a Disqus comment's place only (DisqusSource.shapes): it must plan what reading the
# whole records plans, skips and their reasons included.
@pytest.mark.parametrize(
    "name", [*sorted(p.name for p in (FIXTURES / "disqus").glob("*.xml")), "bench"]
)  # fmt: skip
def test_the_plan_from_shapes_is_the_plan_from_records(tmp_path: Path, name: str) -> None:
    if name == "bench":
        path = tmp_path / "bench.xml"
        bench_generate(path, 400)
        posts = path.read_text(encoding="utf-8").split("<post ")  # and posts the plan must skip
        posts[3] = posts[3].replace("</message><createdAt>", "</message><createdAt>x")
        posts[5] = re.sub(r"<message>.*</message>", "<message> </message>", posts[5]).replace(
            "<isDeleted>true", "<isDeleted>false"
        )
        posts[7] = posts[7].replace('dsq:id="p6"', "")  # no id
        path.write_text("<post ".join(posts), encoding="utf-8")
    else:
        path = FIXTURES / "disqus" / name
    site = make_settings(tmp_path, f"sqlite:///{tmp_path}/unused.db").site("a")
    assert site is not None

    class Whole:
        format = "disqus"

        def records(self) -> Iterator[Record]:
            return DisqusSource(path).records()

    reports = [Report("disqus", name, True), Report("disqus", name, True)]
    try:
        by_shape = plan.scan(DisqusSource(path), site, [], reports[0], lambda _n: None)
    except Refused as exc:
        with pytest.raises(Refused, match=re.escape(exc.detail)):
            plan.scan(Whole(), site, [], reports[1], lambda _n: None)
        return
    by_record = plan.scan(Whole(), site, [], reports[1], lambda _n: None)
    assert by_shape == by_record
    assert reports[0] == reports[1]
    assert by_shape.comments > 0 or name.startswith("comentario__disqus-ok-empty")
    if name == "bench":
        assert sum(reports[0].skipped.values()) == 3


def _record(draw: st.DrawFn) -> CommentRecord:
    text = st.text(alphabet='ab"\\\n\t\x00\x1f\x7fé😀\ud800<>&/ ', max_size=12)
    when = st.datetimes(timezones=st.just(UTC))
    return CommentRecord(
        source_id=draw(text), thread_id=draw(text), parent_id=None, author_name=draw(text),
        created=draw(when), author_email=draw(text), author_url=draw(text), text=draw(text),
        html=draw(text), status=draw(st.sampled_from(CommentStatus)), deleted=draw(st.booleans()),
        up=draw(st.integers(-(10**20), 10**20)), down=draw(st.integers(0, 9)),
        edited=draw(st.none() | when),
    )  # fmt: skip


@settings(max_examples=500, deadline=None, derandomize=True)
@given(record=st.composite(_record)(), parent=st.none() | st.text(max_size=8))
def test_the_fingerprint_is_json_dumps_hashed(record: CommentRecord, parent: str | None) -> None:
    # Written out field by field for speed: the bytes must stay json.dumps's, or every comment an
    # earlier version imported would read as changed.
    assert normalise.fingerprint(record, parent) == normalise._fingerprint_dumped(record, parent)
