"""Imported HTML into Markdown (kibitz/imports/html_text.py): well-formed HTML is read without
HTMLParser, and must give what HTMLParser's reading gives, on generated fragments and on the real
exports' comments."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kibitz import markup
from kibitz.imports import html_text
from kibitz.imports.disqus import DisqusSource
from kibitz.imports.records import CommentRecord, Refused
from kibitz.imports.wordpress import WordPressSource
from tests.imports_helpers import FIXTURES


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
