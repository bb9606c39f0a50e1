"""Issue 11, finding 1: consent per subscription, and mail worded only by the publisher.

The review's attack: once an address had confirmed one subscription, anyone could add more for it
(a new page, or a comment's ``notify`` with that address) and the site's real sender mailed it under
a subject the attacker wrote (the first poster's title). Now every subscription asked for without
proof of the address waits, pending, for a confirmation mail that lists it; and mail names a thread
only by the title the publisher gives the page. On both engines.
"""

from __future__ import annotations

from typing import Any

import pytest

from kibitz.store.schema import subscriptions
from tests.conftest import ORIGIN_A, Api, FakeClock
from tests.test_subscriptions import (
    SAME_ORIGIN,
    confirm_address,
    form_post,
    link,
    name_page,
    rows,
    subscribe,
    subscriber,
)

pytestmark = pytest.mark.anyio

VICTIM = "victim@news.example"
EVIL_TITLE = "Security notice: your Daily Kibitz account will be closed"
EVIL_URL = f"{ORIGIN_A}/restore-your-account"  # the widget url must be on an origin: its path is still theirs


async def mails_to(api: Api, email: str) -> list[Any]:
    return [m for m in await rows(api) if m.recipient == email]


async def attack(api: Api, page: str) -> None:
    """What the review did: a subscription for someone else's address on a new page, and a comment
    under a page title, author name and link of the attacker's choosing, with ``notify`` set to it."""
    assert (await subscribe(api, VICTIM, page=page)).status_code == 202
    r = await api.post(
        page=page,
        title=EVIL_TITLE,
        url=EVIL_URL,
        text="Restore it here: https://evil.example/restore",
        author={"name": "The Daily Kibitz Team", "email": VICTIM},
        notify="all",
    )
    assert r.status_code in (201, 202), r.text  # repeats are held for a moderator: notify still asks


async def test_an_address_that_confirmed_once_is_not_subscribed_to_anything_else_by_others(
    api: Api, clock: FakeClock
) -> None:
    assert (await subscribe(api, VICTIM, page="/weather")).status_code == 202
    await confirm_address(api, VICTIM)
    confirmed_mails = len(await mails_to(api, VICTIM))

    clock.advance(hours=2)
    await attack(api, "/notice")
    await api.post(page="/notice", text="A comment by someone else", author={"name": "Bob"})
    mails = (await mails_to(api, VICTIM))[confirmed_mails:]
    # One confirmation mail, worded by the site alone; no notification.
    assert [m.kind for m in mails] == ["confirm"]
    [mail] = mails
    for text in (mail.subject, mail.text_body, mail.html_body):
        assert "Security notice" not in text
        assert "evil.example" not in text
        assert "restore-your-account" not in text
        assert "Daily Kibitz Team" not in text
    assert mail.subject == "Confirm your subscription to Site a"
    assert "new comments on a story on Site a" in mail.text_body

    # More requests within the hour send nothing at all, however many pages they name.
    for n in range(5):
        await attack(api, f"/notice-{n}")
    assert len(await mails_to(api, VICTIM)) == confirmed_mails + 1

    # What the victim did confirm still works.
    await api.post(page="/weather", text="Rain tomorrow", author={"name": "Cid"})
    assert [m.kind for m in await mails_to(api, VICTIM)][-1] == "thread"


async def test_a_reader_title_never_enters_a_subject_and_the_publishers_does(api: Api) -> None:
    # The attacker posts first on the page, with their title and link.
    r = await api.post(page="/notice", title=EVIL_TITLE, url=EVIL_URL, author={"name": "Eve"})
    assert r.status_code == 201
    assert (await subscribe(api, VICTIM, page="/notice")).status_code == 202
    await confirm_address(api, VICTIM)  # the victim really does follow this story

    await api.post(page="/notice", text="First reply", author={"name": "Bob"})
    [mail] = [m for m in await mails_to(api, VICTIM) if m.kind == "thread"]
    assert mail.subject == "New comment by Bob on a story on Site a"
    assert "Security notice" not in mail.text_body + mail.html_body
    assert EVIL_URL not in mail.text_body + mail.html_body
    assert "http://127.0.0.1:8000/#comment-" in mail.text_body

    await name_page(api, "/notice", "Harbour works start Monday", f"{ORIGIN_A}/2026/harbour")
    await api.post(page="/notice", text="Second reply", author={"name": "Bob"})
    latest = [m for m in await mails_to(api, VICTIM) if m.kind == "thread"][-1]
    assert latest.subject == "New comment by Bob on Harbour works start Monday"
    assert f"{ORIGIN_A}/2026/harbour#comment-" in latest.text_body
    # Readers see the publisher's title and link from now on too.
    thread = (await api.thread("/notice"))["thread"]
    assert (thread["title"], thread["url"]) == ("Harbour works start Monday", f"{ORIGIN_A}/2026/harbour")


async def test_confirming_puts_in_force_exactly_what_the_mail_listed(api: Api, clock: FakeClock) -> None:
    await name_page(api, "/first", "The first story", f"{ORIGIN_A}/first")
    await name_page(api, "/second", "The second story", f"{ORIGIN_A}/second")
    assert (await subscribe(api, VICTIM, page="/first")).status_code == 202
    [mail] = await mails_to(api, VICTIM)
    assert "new comments on “The first story”" in mail.text_body
    clock.advance(minutes=5)
    assert (await subscribe(api, VICTIM, page="/second")).status_code == 202  # after the mail
    assert len(await mails_to(api, VICTIM)) == 1

    page = await api.client.get(link(mail.text_body, "confirm"))
    assert "The first story" in page.text
    assert "The second story" not in page.text
    manage = await confirm_address(api, VICTIM)
    first, second = await rows(api, subscriptions)
    assert (first.pending, second.pending) == (False, True)

    # The address's own manage page (a link from a mail to it) shows what waits, and confirms it.
    shown = await api.client.get(manage)
    assert "waiting for your confirmation" in shown.text
    r = await form_post(api, manage, f"confirm={second.id}")
    assert r.status_code == 200, r.text
    assert "Confirmed." in r.text
    assert [s.pending for s in await rows(api, subscriptions)] == [False, False]


async def test_an_old_manage_link_cannot_confirm_what_waits(api: Api, clock: FakeClock) -> None:
    assert (await subscribe(api, VICTIM, page="/first")).status_code == 202
    manage = await confirm_address(api, VICTIM)
    clock.advance(minutes=5)
    assert (await subscribe(api, VICTIM, page="/second")).status_code == 202
    clock.advance(hours=2)  # a forwarded mail's link, say
    r = await form_post(api, manage, "confirm=all")
    assert r.status_code == 403
    assert [s.pending for s in await rows(api, subscriptions)] == [False, True]


async def test_an_unproven_request_changes_nothing_in_force(api: Api, clock: FakeClock) -> None:
    assert (await subscribe(api, VICTIM, page="/story", digest="daily")).status_code == 202
    await confirm_address(api, VICTIM)
    sent = len(await mails_to(api, VICTIM))
    clock.advance(hours=2)
    assert (await subscribe(api, VICTIM, page="/story", digest="instant")).status_code == 202
    [row] = await rows(api, subscriptions)
    assert (row.digest, row.pending, row.active) == ("daily", False, True)
    assert len(await mails_to(api, VICTIM)) == sent


async def test_a_pending_subscription_of_a_bouncing_address_sends_nothing(api: Api, clock: FakeClock) -> None:
    assert (await subscribe(api, VICTIM, page="/story")).status_code == 202
    await confirm_address(api, VICTIM)
    async with api.app.state.ctx.db.write() as tx:
        await tx.subscribers.set_status((await subscriber(api, VICTIM)).id, "bounced")
    sent = len(await mails_to(api, VICTIM))
    clock.advance(hours=2)
    assert (await subscribe(api, VICTIM, page="/other")).status_code == 202
    assert len(await mails_to(api, VICTIM)) == sent


async def test_confirming_twice_is_refused_and_later_requests_wait(api: Api, clock: FakeClock) -> None:
    assert (await subscribe(api, VICTIM, page="/story")).status_code == 202
    [mail] = await mails_to(api, VICTIM)
    path = link(mail.text_body, "confirm")
    await confirm_address(api, VICTIM)
    again = await api.client.post(path, content=b"", headers=SAME_ORIGIN)
    assert again.status_code == 410

    # After the quiet hour, a new request gets a new mail listing only what still waits.
    clock.advance(hours=2)
    assert (await subscribe(api, VICTIM, page="/later")).status_code == 202
    latest = (await mails_to(api, VICTIM))[-1]
    assert latest.kind == "confirm"
    assert latest.text_body.count("new comments on") == 1
