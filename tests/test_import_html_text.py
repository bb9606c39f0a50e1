"""An imported HTML paragraph whose text would start a Markdown block (a list's number, a heading's
"#", a quote's ">") reads as the source shows it: kibitz/imports/html_text.py escapes the opener, and
the escape must not show (a backslash before a digit is no escape in CommonMark: it would be seen)."""

from __future__ import annotations

from html import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kibitz import markup
from kibitz.imports.html_text import to_markdown


def _shown(html: str) -> str:
    """The HTML readers get for an imported body, as kibitz/imports/normalise.py renders it."""
    return markup.render(to_markdown(html), allow_images=False)


@pytest.mark.parametrize(
    ("source", "shown"),
    [("<p>12. foo</p>", "<p>12. foo</p>\n"),
     ("<p>1) bar</p>", "<p>1) bar</p>\n"),
     ("<p>1. first</p><p>2. second</p>", "<p>1. first</p>\n<p>2. second</p>\n"),
     ("<p>see<br>3. below</p>", "<p>see<br>\n3. below</p>\n"),
     ("<p># not a heading</p>", "<p># not a heading</p>\n"),
     ("<p>- not a list</p>", "<p>- not a list</p>\n"),
     ("<p>2015 was a year</p>", "<p>2015 was a year</p>\n")],
)  # fmt: skip
def test_a_paragraph_that_starts_like_a_block_reads_as_the_source_shows_it(source: str, shown: str) -> None:
    """Mutations tried: the old escape before the number (``\\12. foo`` shown) and no escape at all
    (``1. first`` becomes an ordered list) each fail a case here."""
    assert _shown(source) == shown


_STARTS = ["1.", "12.", "007)", "3)", "-", "+", "#", "##", ">", "=", "|", "2015", "a"]
_WORDS = ["foo", "bar", "1.", "x)", "baz"]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    lines=st.lists(
        st.tuples(st.sampled_from(_STARTS), st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4)),
        min_size=1,
        max_size=4,
    )
)
def test_lines_that_start_like_blocks_are_shown_as_written(lines: list[tuple[str, list[str]]]) -> None:
    """Paragraph lines (joined by <br>) starting with any block opener come out as their text, escapes
    invisible. Mutation tried: the number's escape placed before the number: fails."""
    texts = [" ".join([start, *words]) for start, words in lines]
    shown = _shown("<p>" + "<br>".join(escape(t, quote=False) for t in texts) + "</p>")
    assert shown == "<p>" + "<br>\n".join(escape(t, quote=False) for t in texts) + "</p>\n"
