"""Issue 12, item 5: the pages for people. One layout with the site's name, a way back to the story
(the publisher's URL, never a reader's) or the site, a confirmation step before a comment is deleted,
an "already confirmed" answer to a used confirmation link, and mails that name the story by the
publisher's title. On both engines."""

from __future__ import annotations

import itertools
import re
from html import unescape
from urllib.parse import quote

import httpx
import pytest

from kibitz.digest import send_digests
from kibitz.events import ThreadEvent
from kibitz.web.pages_common import POLICY
from tests.conftest import ORIGIN_A, Api, FakeClock
from tests.test_manage import ANN, comment, manage_link, shown
from tests.test_subscriptions import (
    FORM,
    SAME_ORIGIN,
    confirm_address,
    follow,
    form_post,
    link,
    name_page,
    one_click,
    rows,
    subscribe,
    subscriber,
)

pytestmark = pytest.mark.anyio

READER = "reader@news.example"
TITLE = "Harbour works start Monday"
STORY = f"{ORIGIN_A}/2026/harbour"
EVIL_TITLE = "Security notice: your account will be closed"
EVIL_URL = f"{ORIGIN_A}/restore-your-account"


def text_of(page: str) -> str:
    """The words of the page's main part (or of a fragment), as a reader sees them."""
    main = page.split("<main", 1)[-1]
    inline = re.sub(r"</?(strong|em|a|span)\b[^>]*>", "", main)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", inline)).split())


def back_link(page: str) -> tuple[str, str]:
    """The layout's way back: (href, words)."""
    found = re.search(r'<p class="back"><a href="([^"]+)">(.*?)</a></p>', page)
    assert found, "no way back on the page"
    return unescape(found.group(1)), text_of(found.group(2)).lstrip("← ")


def headings(page: str) -> list[int]:
    return [int(level) for level in re.findall(r"<h([1-6])[\s>]", page)]


def form_token(page: str) -> str:
    found = re.search(r'name="form" value="([^"]+)"', page)
    assert found, "no form token on the page"
    return found.group(1)


async def confirm_mail_link(api: Api, email: str = READER) -> str:
    mails = [m for m in await rows(api, kind="confirm") if m.recipient == email]
    return link(mails[-1].text_body, "confirm")


async def reader_posted_first(api: Api, page: str = "/story") -> None:
    """Someone posts first on the page under a title and link of their choosing (the widget's)."""
    r = await api.post(page=page, title=EVIL_TITLE, url=EVIL_URL, author={"name": "Eve"})
    assert r.status_code == 201, r.text


# -- one layout ------------------------------------------------------------------------------------


async def test_every_page_has_the_layout_the_sites_name_a_main_and_headings_in_order(api: Api) -> None:
    ann = (await comment(api, "Something to say"))["comment"]["id"]
    manage = await manage_link(api)
    [mail] = await rows(api, kind="confirm")
    pages = {
        "manage": await api.client.get(manage),
        "unsubscribe": await api.client.get(link(mail.list_unsubscribe, "unsubscribe")),
        "already confirmed": await api.client.get(link(mail.text_body, "confirm")),
        "not valid": await api.client.get("/manage/not-a-token"),
        "delete": await form_post(api, f"{manage}/comments/{ann}/delete"),
    }
    assert (await subscribe(api, "new@news.example")).status_code == 202
    pages["confirm"] = await api.client.get(await confirm_mail_link(api, "new@news.example"))
    for name, r in pages.items():
        assert r.status_code in (200, 404), name
        html = r.text
        assert html.startswith("<!DOCTYPE html>"), name
        assert '<html lang="en">' in html, name
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html, name
        assert html.count("<main") == 1, name
        assert "prefers-color-scheme: dark" in html, name
        assert "<script" not in html.lower(), name
        assert "cols=" not in html, name  # nothing of a fixed width
        assert r.headers["content-security-policy"] == POLICY, name
        assert r.headers["cache-control"] == "no-store", name
        levels = headings(html)
        assert levels[0] == 1, (name, levels)
        assert levels.count(1) == 1, (name, levels)
        assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), (name, levels)
        if name != "not valid":  # a bad link names no site when there are several
            assert '<p class="site">Site a</p>' in html, name


# -- a way back to the story or the site -----------------------------------------------------------


async def test_the_confirm_page_of_one_story_leads_back_to_the_publishers_url_never_the_readers(
    api: Api,
) -> None:
    await reader_posted_first(api)
    await name_page(api, "/story", TITLE, STORY)
    assert (await subscribe(api, READER, page="/story")).status_code == 202
    page = await api.client.get(await confirm_mail_link(api))
    assert page.status_code == 200
    assert back_link(page.text) == (STORY, f"Back to “{TITLE}”")
    assert f"New comments on “{TITLE}”" in text_of(page.text)
    assert READER in text_of(page.text)
    for theirs in (EVIL_TITLE, EVIL_URL):
        assert theirs not in page.text

    r = await form_post(api, await confirm_mail_link(api))
    assert r.status_code == 200
    assert "Subscription confirmed" in r.text
    assert f"New comments on “{TITLE}”" in text_of(r.text)
    assert back_link(r.text) == (STORY, f"Back to “{TITLE}”")
    assert link(r.text, "manage")


async def test_a_story_the_publisher_has_not_named_yet_leads_back_to_the_site(api: Api) -> None:
    await reader_posted_first(api)
    assert (await subscribe(api, READER, page="/story")).status_code == 202
    page = await api.client.get(await confirm_mail_link(api))
    assert back_link(page.text) == (ORIGIN_A, "Back to Site a")
    assert "New comments on a story on Site a" in text_of(page.text)
    for theirs in (EVIL_TITLE, EVIL_URL):
        assert theirs not in page.text


async def test_the_newsletter_or_several_stories_lead_back_to_the_site(api: Api, clock: FakeClock) -> None:
    assert (await subscribe(api, READER, topic="newsletter", page=None)).status_code == 202
    page = await api.client.get(await confirm_mail_link(api))
    assert back_link(page.text) == (ORIGIN_A, "Back to Site a")

    await name_page(api, "/one", "The first story", f"{ORIGIN_A}/one")
    await name_page(api, "/two", "The second story", f"{ORIGIN_A}/two")
    assert (await subscribe(api, "many@news.example", page="/one")).status_code == 202
    clock.advance(hours=2)  # after the quiet hour the next mail lists everything that waits
    assert (await subscribe(api, "many@news.example", page="/two")).status_code == 202
    page = await api.client.get(await confirm_mail_link(api, "many@news.example"))
    words = text_of(page.text)
    assert "New comments on “The first story”" in words
    assert "New comments on “The second story”" in words
    assert back_link(page.text) == (ORIGIN_A, "Back to Site a")


async def test_unsubscribing_from_a_story_leads_back_to_it_and_from_everything_to_the_site(api: Api) -> None:
    await name_page(api, "/story", TITLE, STORY)
    await follow(api, READER)
    assert (await api.post(text="News!", author={"name": "Bob"})).status_code == 201
    [notification] = await rows(api, kind="thread")
    path = link(notification.list_unsubscribe, "unsubscribe")

    page = await api.client.get(path)
    assert page.status_code == 200
    assert f"Stop mail to {READER} about new comments on “{TITLE}”?" in text_of(page.text)
    assert back_link(page.text) == (STORY, f"Back to “{TITLE}”")
    done = await one_click(api, path)
    assert done.status_code == 200
    assert f"{READER} will get no more mail about new comments on “{TITLE}”." in text_of(done.text)
    assert back_link(done.text) == (STORY, f"Back to “{TITLE}”")
    again = await one_click(api, path)  # idempotent; the stopped subscription names no story now
    assert again.status_code == 200
    assert "no more of these notifications from Site a" in text_of(again.text)
    assert back_link(again.text) == (ORIGIN_A, "Back to Site a")

    [confirmation] = await rows(api, kind="confirm")
    everything = link(confirmation.list_unsubscribe, "unsubscribe")
    page = await api.client.get(everything)
    assert f"Stop every mail from Site a to {READER}?" in text_of(page.text)
    assert back_link(page.text) == (ORIGIN_A, "Back to Site a")


async def test_the_manage_page_links_each_story_by_the_publishers_title_and_url(api: Api) -> None:
    await reader_posted_first(api)
    await reader_posted_first(api, "/unnamed")
    await name_page(api, "/story", TITLE, STORY)
    named = (await comment(api, "On the named story"))["comment"]["id"]
    unnamed = (await comment(api, "On the other one", page="/unnamed"))["comment"]["id"]
    assert (await subscribe(api, ANN["email"], page="/story")).status_code == 202
    manage = await confirm_address(api, ANN["email"])

    page = (await api.client.get(manage)).text
    assert f'<a href="{STORY}">Read “{TITLE}”</a>' in page
    assert f'<a href="{STORY}#comment-{named}">“{TITLE}”</a>' in page
    item = page[page.index(f'data-comment-id="{unnamed}"') :]
    assert "On a story on Site a" in text_of(item[: item.index("</li>")])
    for theirs in (EVIL_TITLE, EVIL_URL):
        assert theirs not in page
    assert back_link(page) == (ORIGIN_A, "Back to Site a")


# -- "already confirmed" ---------------------------------------------------------------------------


async def test_a_used_confirmation_link_says_already_confirmed_and_hands_out_nothing(api: Api) -> None:
    assert (await subscribe(api, READER)).status_code == 202
    path = await confirm_mail_link(api)
    page = await api.client.get(path)
    token = form_token(page.text)
    first = await api.client.post(path, content=f"form={quote(token)}".encode(), headers=SAME_ORIGIN)
    assert first.status_code == 200
    assert "/manage/" in first.text  # the first press gives the manage link, once

    for again in (
        await api.client.get(path),  # a second click on the mail's link
        await api.client.post(path, content=f"form={quote(token)}".encode(), headers=SAME_ORIGIN),
    ):
        assert again.status_code in (200, 410)
        assert "Already confirmed" in again.text
        assert "nothing more is needed" in again.text
        assert "/manage/" not in again.text
        assert "<form" not in again.text
        assert READER not in again.text
        assert again.headers["cache-control"] == "no-store"
    assert (await api.client.get(path)).status_code == 200
    assert (await api.client.post(path, content=b"", headers=SAME_ORIGIN)).status_code == 410  # works once
    assert (await subscriber(api, READER)).status == "confirmed"


async def test_an_expired_or_replaced_confirmation_link_still_says_expired(
    api: Api, clock: FakeClock
) -> None:
    assert (await subscribe(api, READER, page="/one")).status_code == 202
    used = await confirm_mail_link(api)
    await confirm_address(api, READER)
    clock.advance(hours=2)
    assert (await subscribe(api, READER, page="/two")).status_code == 202  # a new mail: a new link waits
    latest = await confirm_mail_link(api)
    assert latest != used
    r = await api.client.get(used)
    assert r.status_code == 410
    assert "Link expired" in r.text

    assert (await form_post(api, latest)).status_code == 200
    assert (await api.client.get(used)).status_code == 200  # nothing waits now: the address is confirmed

    clock.advance(days=8)  # past the link's seven days
    for path in (used, latest):
        r = await api.client.get(path)
        assert r.status_code == 410
        assert "Link expired" in r.text


async def test_a_used_link_of_an_address_that_left_is_expired(api: Api) -> None:
    await follow(api, READER)
    [mail] = await rows(api, kind="confirm")
    assert (await one_click(api, link(mail.list_unsubscribe, "unsubscribe"))).status_code == 200
    r = await api.client.get(link(mail.text_body, "confirm"))
    assert r.status_code == 410
    assert "Already confirmed" not in r.text


# -- asking before deleting ------------------------------------------------------------------------


def listen(api: Api) -> list[ThreadEvent]:
    seen: list[ThreadEvent] = []

    async def record(event: ThreadEvent) -> None:
        seen.append(event)

    api.app.state.ctx.events.listen(record)
    return seen


async def press(api: Api, path: str, page: str, body: str = "") -> httpx.Response:
    """Press a button on ``page`` (its form token goes along), as a browser does."""
    fields = [f for f in (body, f"form={quote(form_token(page))}") if f]
    return await api.client.post(path, content="&".join(fields).encode(), headers=SAME_ORIGIN)


async def test_delete_asks_first_and_only_the_second_press_deletes(api: Api) -> None:
    await name_page(api, "/story", TITLE, STORY)
    ann = (await comment(api, "Words I *may* regret"))["comment"]["id"]
    manage = await manage_link(api)
    events = listen(api)
    path = f"{manage}/comments/{ann}/delete"

    asked = await press(api, path, (await api.client.get(manage)).text)
    assert asked.status_code == 200
    assert "<h1>Delete this comment?</h1>" in asked.text
    assert "Words I may regret" in asked.text
    assert f'<a href="{STORY}#comment-{ann}">“{TITLE}”</a>' in asked.text
    assert f'<form method="post" action="{path}">' in asked.text
    assert '<input type="hidden" name="sure" value="yes">' in asked.text
    assert re.search(rf'<a class="button quiet" href="{re.escape(manage)}">Keep it</a>', asked.text)
    assert asked.headers["content-security-policy"] == POLICY
    assert shown(await api.thread())[ann]["deleted"] is False
    assert (await api.thread())["thread"]["count"] == 1
    assert events == []

    kept = await api.client.get(manage)  # "Keep it": the manage page again, the comment still there
    assert "Words I may regret" in kept.text

    done = await press(api, path, asked.text, "sure=yes")
    assert done.status_code == 200
    assert "Comment deleted." in done.text
    assert ann not in shown(await api.thread())
    assert len(events) == 1


async def test_the_delete_step_keeps_the_same_site_form_token_and_fresh_link_rules(
    api: Api, clock: FakeClock
) -> None:
    ann = (await comment(api, "Still mine"))["comment"]["id"]
    bob = (await comment(api, "Bob's", author={"name": "Bob", "email": "bob@news.example"}))["comment"]["id"]
    manage = await manage_link(api)
    path = f"{manage}/comments/{ann}/delete"
    asked = await press(api, path, (await api.client.get(manage)).text)
    token = quote(form_token(asked.text))
    for headers in (
        {**SAME_ORIGIN, "Sec-Fetch-Site": "cross-site"},
        {**FORM, "Origin": "https://evil.example"},
    ):
        r = await api.client.post(path, content=f"sure=yes&form={token}".encode(), headers=headers)
        assert r.status_code == 403
    assert (await api.client.post(path, content=b"sure=yes", headers=SAME_ORIGIN)).status_code == 403
    # Someone else's comment: the first press finds nothing, with no hint why.
    not_found = await api.client.get("/manage/not-a-token")
    other = await press(api, f"{manage}/comments/{bob}/delete", asked.text)
    assert (other.status_code, other.content) == (404, not_found.content)
    assert shown(await api.thread())[ann]["deleted"] is False

    clock.advance(hours=1, seconds=1)  # the link is no longer fresh: neither press deletes
    for body in ("", "sure=yes"):
        r = await press(api, path, asked.text, body)
        assert r.status_code == 403
        assert "This needs a fresh link" in r.text
        assert '<p class="site">Site a</p>' in r.text
    assert shown(await api.thread())[ann]["deleted"] is False


# -- mail ------------------------------------------------------------------------------------------


async def test_the_confirmation_mail_lists_each_story_by_the_publishers_title(api: Api) -> None:
    await reader_posted_first(api)
    await name_page(api, "/story", TITLE, STORY)
    assert (await subscribe(api, READER, page="/story")).status_code == 202
    [mail] = await rows(api, kind="confirm")
    assert mail.subject == "Confirm your subscription to Site a"
    assert f"- new comments on “{TITLE}”" in mail.text_body
    assert f'<li style="margin: 0.25em 0;"><strong>new comments on “{TITLE}”</strong></li>' in mail.html_body
    assert link(mail.text_body, "confirm") in mail.html_body
    for part in (mail.subject, mail.text_body, mail.html_body):
        assert EVIL_TITLE not in part
        assert EVIL_URL not in part


async def test_notifications_and_digests_name_the_story_by_the_publishers_title(
    api: Api, clock: FakeClock
) -> None:
    await reader_posted_first(api)
    await name_page(api, "/story", TITLE, STORY)
    await follow(api, READER)
    await follow(api, "daily@news.example", digest="daily")
    bob = await api.post(text="A *fine* point", author={"name": "Bob"})
    assert bob.status_code == 201
    [mail] = await rows(api, kind="thread")
    assert mail.subject == f"New comment by Bob on {TITLE}"
    assert mail.text_body.startswith(f"Bob commented on “{TITLE}”:\n\nA fine point\n")
    assert f"because you follow the discussion on “{TITLE}”." in mail.text_body
    assert f"{STORY}#comment-{bob.json()['comment']['id']}" in mail.text_body

    ctx = api.app.state.ctx
    assert await send_digests(ctx.db, ctx.tokens, ctx.settings, clock) == 1
    [digest] = await rows(api, kind="digest")
    assert f"Bob on “{TITLE}”:" in digest.text_body
    assert f"on “{TITLE}”:" in digest.html_body
    for part in (
        mail.subject,
        mail.text_body,
        mail.html_body,
        digest.subject,
        digest.text_body,
        digest.html_body,
    ):
        assert EVIL_TITLE not in part
        assert EVIL_URL not in part
