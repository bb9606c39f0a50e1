"""The preference centre of the manage page (a link in every mail): each newsletter list of the site with
a checkbox, a pause of newsletter mail, and "Unsubscribe from everything"; changed by form posts with the
manage link, on both engines."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kibitz.preferences import INDEFINITELY
from kibitz.store.schema import subscriptions
from tests.conftest import Api, FakeClock, custom_api
from tests.test_newsletter_signup import ANN, confirm_latest, lists_of, sign_up, sites
from tests.test_subscriptions import form_post, link, rows, subscribe, subscriber

pytestmark = pytest.mark.anyio


@pytest.fixture
async def nl(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    """Site "a" with the lists daily (welcomes), weekly (no welcome) and offers."""
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as api:
        yield api


async def manage_link(api: Api, list_id: str = "daily") -> str:
    """Ann's manage link, from the page that confirmed her first list (issued now: fresh for an hour)."""
    assert (await sign_up(api, ANN, list_id)).status_code == 202
    return link((await confirm_latest(api, ANN)).text, "manage")


def boxes(html: str) -> dict[str, bool]:
    """The preference centre's checkboxes: list id → ticked."""
    found = re.findall(
        r'<input type="checkbox" id="list-([\w-]+)" name="list" value="[\w-]+"( checked)?', html
    )
    return {list_id: bool(checked) for list_id, checked in found}


def notice(html: str) -> str:
    found = re.search(r'<p class="notice" role="status">(.*?)</p>', html)
    assert found, html
    return found.group(1)


async def test_the_page_shows_every_list_of_the_site_ticked_when_subscribed(nl: Api) -> None:
    manage = await manage_link(nl)
    page = await nl.client.get(manage)
    assert page.status_code == 200
    assert boxes(page.text) == {"daily": True, "weekly": False, "offers": False}
    assert "<legend>Newsletters of Site a you get</legend>" in page.text
    assert '<label for="list-weekly">The week in review</label>' in page.text
    assert "Five stories &amp; a &lt;b&gt;map&lt;/b&gt;, every morning." in page.text
    assert "<legend>Pause newsletters</legend>" in page.text
    assert (
        'name="cancel" value="all"><button type="submit" class="danger">Unsubscribe from everything'
        in page.text
    )


async def test_ticking_and_unticking_lists_with_a_fresh_link(nl: Api) -> None:
    manage = await manage_link(nl)
    r = await form_post(nl, manage, "lists=save&list=daily&list=offers&list=weekly")
    assert r.status_code == 200
    assert notice(r.text) == "Subscribed to The week in review, Offers."
    assert boxes(r.text) == {"daily": True, "weekly": True, "offers": True}
    assert await lists_of(nl, ANN) == {
        "daily": (True, False),
        "weekly": (True, False),
        "offers": (True, False),
    }
    # In force at once (the link came in a mail to the address within the hour): welcomed if the list says so.
    assert sorted(m.subject for m in await rows(nl, kind="welcome")) == [
        "Welcome to Daily briefing",
        "Welcome to Offers",
    ]
    assert len(await rows(nl, kind="confirm")) == 1

    r = await form_post(nl, manage, "lists=save&list=offers")
    assert notice(r.text) == "Unsubscribed from Daily briefing, The week in review."
    assert boxes(r.text) == {"daily": False, "weekly": False, "offers": True}
    assert await lists_of(nl, ANN) == {
        "daily": (False, False),
        "weekly": (False, False),
        "offers": (True, False),
    }

    r = await form_post(nl, manage, "lists=save")
    assert notice(r.text) == "Unsubscribed from Offers."
    assert [active for active, _ in (await lists_of(nl, ANN)).values()] == [False, False, False]
    r = await form_post(nl, manage, "lists=save&list=daily")
    assert notice(r.text) == "Subscribed to Daily briefing."
    assert len(await rows(nl, kind="welcome")) == 2  # once per list, ever


async def test_a_list_the_site_does_not_have_changes_nothing(nl: Api) -> None:
    manage = await manage_link(nl)
    r = await form_post(nl, manage, "lists=save&list=offers&list=monthly")
    assert r.status_code == 422
    assert "List is not one of the site&#39;s lists." in r.text
    assert await lists_of(nl, ANN) == {"daily": (True, False)}


async def test_a_list_ticked_with_an_older_link_waits_for_the_address_to_confirm(
    nl: Api, clock: FakeClock
) -> None:
    manage = await manage_link(nl)
    clock.advance(hours=2)  # a forwarded or old mail's link
    r = await form_post(nl, manage, "lists=save&list=daily&list=offers")
    assert r.status_code == 200
    assert notice(r.text) == "Check your inbox to confirm Offers: nothing is sent until you do."
    assert boxes(r.text) == {"daily": True, "weekly": False, "offers": True}
    assert "Waiting for your confirmation" in r.text
    assert await lists_of(nl, ANN) == {"daily": (True, False), "offers": (True, True)}
    assert [m.subject for m in await rows(nl, kind="welcome")] == ["Welcome to Daily briefing"]
    latest = (await rows(nl, kind="confirm"))[-1]
    assert "the newsletter “Offers”" in latest.text_body
    await confirm_latest(nl, ANN)
    assert await lists_of(nl, ANN) == {"daily": (True, False), "offers": (True, False)}
    assert len(await rows(nl, kind="welcome")) == 2
    # Leaving a list takes any live link.
    r = await form_post(nl, manage, "lists=save&list=offers")
    assert await lists_of(nl, ANN) == {"daily": (False, False), "offers": (True, False)}


async def paused_until(api: Api) -> datetime | None:
    until: datetime | None = (await subscriber(api, ANN)).paused_until
    return until if until is None else until.astimezone(UTC)


async def test_pausing_for_a_week_a_month_or_until_resumed(nl: Api, clock: FakeClock) -> None:
    manage = await manage_link(nl)
    clock.advance(hours=2)  # any live link may pause
    r = await form_post(nl, manage, "pause=week")
    assert (r.status_code, notice(r.text)) == (200, "Paused.")
    assert await paused_until(nl) == clock.now + timedelta(days=7)
    assert "Newsletters are paused until 4 December 2026." in r.text
    assert "Resume newsletters" in r.text
    r = await form_post(nl, manage, "pause=resume")
    assert notice(r.text) == "Resumed."
    assert await paused_until(nl) is None
    await form_post(nl, manage, "pause=month")
    assert await paused_until(nl) == clock.now + timedelta(days=30)
    r = await form_post(nl, manage, "pause=resumed")
    assert await paused_until(nl) == INDEFINITELY
    assert "Newsletters are paused until you resume them." in r.text
    assert (await form_post(nl, manage, "pause=forever")).status_code == 400
    assert await paused_until(nl) == INDEFINITELY
    # A pause ends by itself.
    await form_post(nl, manage, "pause=week")
    clock.advance(days=8)
    page = await nl.client.get(manage)
    assert "Newsletters are paused" not in page.text
    assert "<legend>Pause newsletters</legend>" in page.text


async def test_no_welcome_goes_out_while_newsletters_are_paused(nl: Api) -> None:
    manage = await manage_link(nl, "weekly")
    await form_post(nl, manage, "pause=month")
    r = await form_post(nl, manage, "lists=save&list=weekly&list=offers")
    assert notice(r.text) == "Subscribed to Offers."
    assert await rows(nl, kind="welcome") == []


async def test_unsubscribe_from_everything_stops_every_subscription(nl: Api, clock: FakeClock) -> None:
    manage = await manage_link(nl)
    await form_post(nl, manage, "lists=save&list=daily&list=offers")
    assert (await subscribe(nl, ANN, topic="thread", page="/story")).status_code == 202
    r = await form_post(nl, manage, "cancel=all")
    assert r.status_code == 200
    assert "You follow nothing here." in r.text
    assert boxes(r.text) == {"daily": False, "weekly": False, "offers": False}
    assert "Unsubscribe from everything" not in r.text
    assert [s.active for s in await rows(nl, subscriptions)] == [False, False, False]
