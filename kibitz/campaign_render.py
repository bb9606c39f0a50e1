"""A campaign's Markdown as mail: sanitised HTML with its stylesheet inlined (mail clients drop
``<style>``), a text part, and the two per-recipient links (DESIGN.md §3b "Newsletter").

Staff write campaigns, so the allow-list is wider than comments' (headings, images, tables), but it
is still an allow-list: raw HTML is escaped by markdown-it, scripts, styles, event handlers and
``javascript:`` links are removed by nh3. Nothing tracks a reader: no pixel, no rewritten link.
The only personalisation is the recipient's own unsubscribe and manage links, written
``{{ unsubscribe_url }}`` and ``{{ manage_url }}`` in the Markdown and put in every footer.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import css_inline
import nh3
from markdown_it import MarkdownIt

from kibitz.templating import render_template

# Stand-ins for the per-recipient links while a campaign is stored: valid https URLs, so they live
# through Markdown and sanitising unchanged; swapped for each recipient's links when enqueued.
UNSUBSCRIBE = "https://unsubscribe.kibitz.invalid/"
MANAGE = "https://manage.kibitz.invalid/"
_FIELDS = {"unsubscribe_url": UNSUBSCRIBE, "manage_url": MANAGE}
_FIELD = re.compile(r"\{\{\s*(unsubscribe_url|manage_url)\s*\}\}")

TAGS = {
    "p", "br", "em", "strong", "s", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a", "hr",
    "h1", "h2", "h3", "h4", "h5", "h6", "img", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
}
_md = MarkdownIt("js-default", {"html": False, "linkify": True, "typographer": False})


@dataclass(frozen=True)
class Rendered:
    html: str  # the body: a sanitised fragment, with stand-in links
    text: str  # the text part's body, with stand-in links


def fill_fields(markdown: str) -> str:
    """The Markdown with ``{{ unsubscribe_url }}`` and ``{{ manage_url }}`` as stand-in links."""
    return _FIELD.sub(lambda m: _FIELDS[m.group(1)], markdown)


def render(markdown: str) -> Rendered:
    filled = fill_fields(markdown)
    return Rendered(html=sanitise(_md.render(filled)), text=filled.strip())


def sanitise(fragment: str) -> str:
    """An issue's HTML through the allow-list (the Markdown's rendering, a feed digest's template)."""
    cleaned: str = nh3.clean(
        fragment,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        clean_content_tags={"script", "style"},
        filter_style_properties={"text-align"},
    )
    return cleaned


def mail_html(subject: str, body_html: str, list_name: str, site_name: str) -> str:
    """The whole HTML mail of an issue, its stylesheet inlined into each element, stand-in links kept."""
    document = render_template(
        "email/campaign.html",
        subject=subject,
        body_html=body_html,
        list_name=list_name,
        site_name=site_name,
        unsubscribe_url=UNSUBSCRIBE,
        manage_url=MANAGE,
    )
    inlined: str = css_inline.inline(document, keep_style_tags=False)
    return inlined


def mail_text(text: str, list_name: str, site_name: str) -> str:
    return (
        f"{text}\n\n-- \nYou get this mail because you subscribed to {list_name} from {site_name}.\n"
        f"Unsubscribe from {list_name}: {UNSUBSCRIBE}\n"
        f"Choose your newsletters, pause them or unsubscribe from everything: {MANAGE}\n"
    )


def personal(body: str, unsubscribe_url: str, manage_url: str, *, is_html: bool) -> str:
    """A stored body with one recipient's links in place of the stand-ins."""
    quote = html.escape if is_html else str
    return body.replace(UNSUBSCRIBE, quote(unsubscribe_url)).replace(MANAGE, quote(manage_url))
