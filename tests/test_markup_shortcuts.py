"""markup.render's shortcuts agree with markdown-it: text that holds no link scheme is parsed without
linkify, and plain prose (nothing Markdown, linkify or HTML would read as markup) is made into
paragraphs without markdown-it at all. Each is checked against the full parser on generated texts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kibitz import markup
from kibitz.markup import render

# Characters that mean something to Markdown, to linkify or to HTML, with plain letters and blanks.
_MARKDOWN_ALPHABET = "ab :/.@*_`[]()<>!#-+=~|\\&;\n\t 1" + "mailto:http"


@settings(max_examples=400, deadline=None, derandomize=True)
@given(text=st.text(alphabet=_MARKDOWN_ALPHABET, max_size=80), allow_images=st.booleans())
def test_text_without_a_link_scheme_renders_the_same_without_linkify(text: str, allow_images: bool) -> None:
    # render() skips linkify for such text; the full parser must agree wherever it does.
    if markup._parser_for(text) is markup._MD:
        return
    assert markup._render(markup._MD, text, allow_images) == render(text, allow_images=allow_images)


@pytest.mark.parametrize(
    "text", ["see http://example.org now", "//example.org/x", "write MAILTO:me@example.org", "ftp://x.org"]
)
def test_text_with_a_link_scheme_is_parsed_with_linkify(text: str) -> None:
    assert markup._parser_for(text) is markup._MD


# Prose with the characters that would make it Markdown, and blanks of every kind, mixed in.
_PROSE_ALPHABET = "abc XYZ,.?!'\"():;@$%^{}|=+-#>0123456789\n\n*_`[]<&~\\/\t\r\xa0\u2003\u2028é😀"


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(text=st.text(alphabet=_PROSE_ALPHABET, max_size=60), allow_images=st.booleans())
def test_plain_prose_renders_as_markdown_it_renders_it(text: str, allow_images: bool) -> None:
    # render() makes plain prose's HTML itself; wherever it does, markdown-it must agree.
    if markup._plain(text) is None:
        return
    assert markup._render(markup._MD, text, allow_images) == render(text, allow_images=allow_images)


@pytest.mark.parametrize(
    "text",
    ["1. a list", "- a list", "# heading", "a *b*", "a  \nhard break", "    code", "> quote",
     "a\n===", "x &amp; y", "see https://example.org", "tab\there", "nbsp\xa0here", "a [b](c)"],
)  # fmt: skip
def test_anything_that_could_be_markup_is_left_to_markdown_it(text: str) -> None:
    assert markup._plain(text) is None


def test_plain_prose_is_paragraphs_of_escaped_lines() -> None:
    assert render('One "line"\nand > two\n\n\nNext') == '<p>One "line"\nand &gt; two</p>\n<p>Next</p>\n'


_PROSE_PIECES = ["word", "Word.", "it's", '"q"', "a>b", "x=1", "#3", "1.", "2)", "-", "+", "=", ">",
                 "!", "(x)", " ", "  ", "\n", "\n\n", "\n ", " \n", "é", "50%", "@me", "x:y", "/",
                 "a/b"]  # fmt: skip


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(text=st.lists(st.sampled_from(_PROSE_PIECES), max_size=30).map("".join))
def test_prose_made_of_words_renders_as_markdown_it_renders_it(text: str) -> None:
    if markup._plain(text) is None:
        return
    assert markup._render(markup._MD, text, False) == render(text)


# Simple prose: what an imported comment's HTML becomes (escapes, hard breaks, emphasis of words,
# [label](<url>) links), with every piece that could make it something else mixed in.
_SIMPLE_PIECES = [*_PROSE_PIECES, "**b**", "*i*", "**two words**", "*", "**", "***", "\\&", "\\<",
                  "\\*", "\\\\", "\\_", "\\\n", "\\", "\\[", "\\]", "\\!", "\\/", "[", "]", "(", ")",
                  "<", "&", "&amp;", "_", "é**x**é", "**x**y", "_a_", "\t", "~", "~~s~~", "http:",
                  "//", "mailto:", "![g](<https://x.org/i.png>)", "[src](<https://example.org/a?b=1&c=2>)",
                  "[example.org](<https://example.org/>)", "[x.com](<https://evil.org/>)",
                  "[a](<mailto:me@x.org>)", "[b](<javascript:x>)", "[c](<http://x.org/%20y>)", "[d](<>)",
                  "[e](<https://例え.jp/>)", "[f](<https://x.org/&amp;>)", "[g](<//x.org>)"]  # fmt: skip


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(text=st.lists(st.sampled_from(_SIMPLE_PIECES), max_size=16).map("".join), allow_images=st.booleans())
def test_simple_prose_renders_as_markdown_it_renders_it(text: str, allow_images: bool) -> None:
    if markup._simple(text) is None:
        return
    assert markup._render(markup._MD, text, allow_images) == render(text, allow_images=allow_images)


@pytest.mark.parametrize(
    "text",
    ["the **vote** was \\& \\<3 [source](<https://example.org/s?id=1&b=2>)", "a *b* c\\\nd",
     "[example.com](<https://evil.org/>)", "[x](<ftp://x.org/>) y", "\\*not\\* emphasis"],
)  # fmt: skip
def test_what_imports_make_takes_the_shortcut(text: str) -> None:
    # The shortcut is taken (so the property test above compares something) and agrees.
    assert markup._simple(text) is not None
    assert render(text) == markup._render(markup._MD, text, False)


@pytest.mark.parametrize(
    "text",
    ["a **b*", "**a** **", "![i](<https://x.org/i.png>)", "[a](<javascript:x>)", "a_b_", "`code`",
     "[a](b)", "see [x](<https://x.org>) //here", "a\\", "1. **x**", "**a**\tb", "x &amp; y"],
)  # fmt: skip
def test_anything_else_is_left_to_markdown_it(text: str) -> None:
    assert markup._simple(text) is None
