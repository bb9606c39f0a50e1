"""Spam that stops itself (issue 13), through the API on both engines: automation signals (QUALITY
T33), repeats and links (T34), a near-duplicate burst from rotating identities, look-alike and
invisible characters, the classifier learning from moderators' decisions on one worker and scoring
on another, the spam check, and the learned state surviving a restart."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from kibitz.config import Settings
from tests.conftest import Api, FakeClock, make_settings, open_api

pytestmark = pytest.mark.anyio
ADMIN = "/api/v1/admin"


@asynccontextmanager
async def app_on(settings: Settings, clock: FakeClock) -> AsyncIterator[Api]:
    """An app on the settings' database (a second one stands for another worker or a restart)."""
    async for api in open_api(settings, clock):
        yield api


async def key(api: Api) -> dict[str, str]:
    _, secret = await api.app.state.ctx.staff.create_key("a", "moderate", "tests", "tests")
    return {"Authorization": f"Bearer {secret}"}


async def item(api: Api, headers: dict[str, str], comment_id: str) -> dict[str, Any]:
    queue = await api.client.get(f"{ADMIN}/sites/a/queue?status=all&limit=100", headers=headers)
    found: dict[str, Any] = next(i for i in queue.json()["items"] if i["id"] == comment_id)
    return found


async def check(api: Api, headers: dict[str, str], text: str, **author: str) -> dict[str, Any]:
    body = {"page": "/check", "text": text, "author": {"name": "Sam", **author}}
    r = await api.client.post(f"{ADMIN}/sites/a/spam/check", json=body, headers=headers)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def bulk(api: Api, headers: dict[str, str], ids: list[str], action: str) -> list[str]:
    r = await api.client.post(
        f"{ADMIN}/sites/a/moderate", json={"ids": ids, "action": action}, headers=headers
    )
    done: list[str] = r.json()["done"]
    return done


async def form(api: Api) -> str:
    token: str = (await api.client.get("/api/v1/sites/a/form")).json()["form"]
    return token


async def test_scripts_are_never_published_and_are_logged(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """QUALITY T33: the hidden field filled; the form sent back 0.3 s after it was drawn; a token
    used twice; a forged one. Each answers as held, nobody sees it, and the log says why."""
    caplog.set_level(logging.WARNING, logger="kibitz.guard")
    bot = await api.post(text="Visit my page", hp="http://spam.example")
    fast_token = await form(api)
    api.clock.advance(seconds=0.3)
    fast = await api.post(text="A quick one", form=fast_token)
    token = await form(api)
    api.clock.advance(seconds=40)
    person = await api.post(text="A considered reply", form=token)
    replayed = await api.post(text="The same form again", form=token)
    forged = await api.post(text="Forged", form=token[:-3] + "abc")
    assert [r.status_code for r in (bot, fast, person, replayed, forged)] == [202, 202, 201, 202, 202]
    assert [c["html"] for c in (await api.thread())["comments"]] == ["<p>A considered reply</p>\n"]
    headers = await key(api)
    held = {c.json()["comment"]["id"]: c for c in (bot, fast, replayed, forged)}
    reasons = {(await item(api, headers, cid))["reasons"][0] for cid in held}
    assert reasons == {"honeypot", "too_fast", "form_replayed", "form_token"}
    assert (await item(api, headers, bot.json()["comment"]["id"]))["status"] == "spam"
    logged = " ".join(r.getMessage() for r in caplog.records)
    for reason in ("honeypot", "too_fast", "form_replayed", "form_token"):
        assert reason in logged


async def test_repeats_near_repeats_and_many_links_are_held(api: Api) -> None:
    """QUALITY T34, and a near-copy of one's own comment: held, as the exact copy is."""
    ann = {"name": "Ann", "email": "ann@example.org"}
    text = "The council should publish the traffic counts for the side streets as well."
    assert (await api.post(text=text, author=ann)).status_code == 201
    again = await api.post(text=text, author=ann)
    assert again.status_code == 202
    near = await api.post(text=text.replace("as well", "too, please"), author=ann)
    assert near.status_code == 202
    links = " ".join(f"https://site{n}.example/page" for n in range(10))
    many = await api.post(text=f"Sources: {links}", author={"name": "Bo"})
    assert many.status_code == 202
    headers = await key(api)
    assert (await item(api, headers, again.json()["comment"]["id"]))["reasons"][0] == "repeat"
    assert "near_repeat" in (await item(api, headers, near.json()["comment"]["id"]))["reasons"]
    assert (await item(api, headers, many.json()["comment"]["id"]))["reasons"][0] == "links:10"


async def test_a_burst_of_near_duplicates_from_rotating_people_is_caught_after_the_first_few(
    api: Api,
) -> None:
    """Innocent-looking words, so that neither the classifier nor the links give it away: the burst
    alone holds every copy from the fourth on, and soon files them as spam."""
    openers = ["Thoughtful", "Interesting", "Good", "Great", "Fine"]
    kin = ["cousin", "brother", "sister", "friend"]
    names = ["Jessica", "Brandon", "Tiffany", "Marta", "Pierre", "Lucia", "Dev", "Quinn", "Rosa", "Uma"]
    statuses = []
    for n in range(20):
        text = (
            f"{openers[n % 5]} piece about the harbour plans. My {kin[n % 4]} wrote about the same thing "
            f"last year, worth a read: https://harbour-notes.example/p{n}"
        )
        author = {
            "name": f"{names[n % 10]} {['Smith', 'Jones', 'Brown'][n % 3]}",
            "email": f"u{n}@mail.example",
        }
        r = await api.post(text=text, author=author)
        statuses.append(r.status_code)
        api.clock.advance(seconds=20)
    assert statuses[0] == 201
    assert statuses[3:] == [202] * 17, statuses
    headers = await key(api)
    queue = (await api.client.get(f"{ADMIN}/sites/a/queue?status=all&limit=100", headers=headers)).json()
    newest = queue["items"][0]
    assert [r for r in newest["reasons"] if r.startswith("near_duplicates:")] == [
        "near_duplicates:16"
    ]  # counted to 16
    assert newest["status"] == "spam"


async def test_a_burst_spread_over_two_workers_is_counted_whole(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    settings = make_settings(tmp_path, database_url)
    async with app_on(settings, clock) as one, app_on(settings, clock) as two:
        statuses = []
        for n in range(8):
            text = f"Fine piece about the harbour plans. My friend {n} wrote about it, worth a read: https://notes.example"
            author = {"name": f"Person {n}", "email": f"p{n}@mail.example"}
            statuses.append((await (one, two)[n % 2].post(text=text, author=author)).status_code)
            clock.advance(seconds=20)
    assert statuses[0] == 201
    assert statuses[3:] == [202] * 5, statuses


async def test_one_name_posting_numbered_comments_is_not_a_burst(api: Api) -> None:
    """Tests and thread games post "Comment number 7 …" from one name: not held for that alone."""
    for n in range(12):
        r = await api.post(text=f"Comment number {n} with enough words to be worth compressing")
        assert r.status_code == 201, (n, r.text)


async def test_look_alike_invisible_and_styled_letters_are_held(api: Api) -> None:
    lookalike = await api.post(text="Вuy chеap vіagra оnline, fast dеlivery to your door")
    invisible = await api.post(text="Free cr\u200dypto sig\u2063nals, guaran\u2062teed profit, join today")
    styled = await api.post(text="𝐄𝐚𝐫𝐧 𝐦𝐨𝐧𝐞𝐲 𝐟𝐫𝐨𝐦 𝐡𝐨𝐦𝐞, message me on WhatsApp +1 805 555 0142")
    zero_width = await api.post(text="fr\u200bee mo\u200bney")
    assert [r.status_code for r in (lookalike, invisible, styled)] == [202, 202, 202]
    assert zero_width.status_code == 422  # refused by the input checks before any scoring
    headers = await key(api)
    for response, reason in ((lookalike, "lookalike"), (invisible, "invisible"), (styled, "styled")):
        assert reason in (await item(api, headers, response.json()["comment"]["id"]))["reasons"]
    for fine in (
        "Нова велодоріжка біля порту дуже зручна, їжджу нею щодня.",
        "Die Mieten in der Altstadt sind in fünf Jahren um ein Drittel gestiegen, schreibt Jürgen.",
        "Our family 👨\u200d👩\u200d👧 loved the festival, thank you to the volunteers!",
    ):
        assert (await api.post(text=fine)).status_code == 201, fine


async def test_legitimate_comments_about_money_crypto_medicine_and_betting_are_published(api: Api) -> None:
    for text in (
        "I bought a little crypto in 2021 and lost half of it, lesson learned.",
        "My doctor moved me from metformin to a newer drug and it has made a real difference.",
        "Every advert break during the match is a betting advert now, it is relentless.",
        "Pay day lenders charging 1,200 percent APR should have been banned years ago.",
        "The FCA warning list is where to check a firm before investing: https://www.fca.org.uk/scamsmart",
        "Gambling helpline: 0808 8020 133, free and confidential. It helped my dad.",
        "> The bike lane has made my commute shorter.\n\nYou clearly do not cycle in the rain.",
        "Perdí dinero con las criptomonedas en 2022 y aprendí la lección.",
        "This is an absolute DISGRACE and everyone responsible should resign!!!",
    ):
        r = await api.post(text=text, author={"name": "Reader"})
        assert r.status_code == 201, (text, r.text)


async def test_an_advertising_name_with_a_link_is_held(api: Api) -> None:
    author = {"name": "Cheap Viagra Online", "url": "https://pills-express.example"}
    r = await api.post(text="Great article, thanks for sharing.", author=author)
    assert r.status_code == 202
    headers = await key(api)
    assert "name_link" in (await item(api, headers, r.json()["comment"]["id"]))["reasons"]


async def test_the_spam_check_screens_the_authors_address_as_a_post_does(api: Api) -> None:
    headers = await key(api)
    author = {"name": "Cheap Viagra Online", "url": "https://pills-express.example"}
    text = "Great article, thanks for sharing."
    with_url = await check(api, headers, text, **author)
    without = await check(api, headers, text, name=author["name"])
    assert "name_link" in with_url["reasons"]
    assert with_url["verdict"] == "pending"  # as the same post is held (the test above)
    assert "name_link" not in without["reasons"]
    assert with_url["score"] > without["score"]
    r = await api.client.post(
        f"{ADMIN}/sites/a/spam/check",
        json={"page": "/check", "text": text, "author": {"name": "Sam", "url": "javascript:alert(1)"}},
        headers=headers,
    )
    assert (r.status_code, r.json()["code"]) == (422, "invalid_input")  # checked as a post's url is


async def test_spam_check_reflects_the_classifier_and_writes_nothing(api: Api) -> None:
    headers = await key(api)
    scam = (
        "I lost $45,000 to a fake trading platform until Recovery Expert Hack Wizard got it all back. "
        "Contact them on WhatsApp +1 805 555 0142"
    )
    verdict = await check(api, headers, scam)
    assert verdict["verdict"] in ("pending", "spam")
    assert verdict["score"] >= 0.5
    assert "classifier" in verdict["reasons"]
    fine = await check(
        api, headers, "The tram extension was promised in 2019 and there is still no spade in sight."
    )
    assert fine == {"verdict": "approve", "score": 0.0, "reasons": []}
    queue = (await api.client.get(f"{ADMIN}/sites/a/queue?status=all", headers=headers)).json()
    assert queue["items"] == []


NEW_PATTERN = [
    "Our gnome hatchery ships enchanted garden gnomes to your lawn, adopt a gnome family this week {n}",
    "Enchanted garden gnomes from the hatchery, adopt your gnome family today, shipping weekly {n}",
    "Adopt an enchanted gnome family, our hatchery ships garden gnomes to every lawn {n}",
]
UNSEEN = "The gnome hatchery has enchanted garden gnomes ready, adopt a family for your lawn"


async def test_ten_spam_decisions_on_one_worker_move_the_score_on_another_and_survive_a_restart(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    settings = make_settings(tmp_path, database_url)
    async with app_on(settings, clock) as one, app_on(settings, clock) as two:
        headers = await key(one)
        before = await check(two, headers, UNSEEN)  # the other worker reads (and caches) the model
        assert before["score"] < 0.5, before
        ids = []
        for n in range(10):
            text = NEW_PATTERN[n % 3].format(n=n)
            r = await one.post(text=text, author={"name": f"Seller {n}", "email": f"s{n}@gnomes.example"})
            ids.append(r.json()["comment"]["id"])
            clock.advance(minutes=7)
        clock.advance(hours=2)  # out of the near-duplicate window: the classifier alone now
        assert (await bulk(one, headers, ids, "spam")) == ids
        after = await check(two, headers, UNSEEN)
        assert after["score"] >= 0.5, after
        assert after["verdict"] in ("pending", "spam")
        assert "classifier" in after["reasons"]
        # A decision reversed is unlearned: approving them all back brings the score down again.
        await bulk(one, headers, ids, "approve")
        reversed_ = await check(two, headers, UNSEEN)
        assert reversed_["score"] < 0.5, reversed_
        await bulk(one, headers, ids, "spam")
        learned = await check(two, headers, UNSEEN)
    async with app_on(settings, clock) as restarted:
        assert await check(restarted, await key(restarted), UNSEEN) == learned


async def test_a_domain_moderators_marked_as_spam_counts_against_the_next_comment(api: Api) -> None:
    headers = await key(api)
    first = await api.post(
        text="Interesting, more on this at https://www.odd-deals.example/x", author={"name": "Kim"}
    )
    assert first.status_code == 201
    done = await api.client.post(
        f"{ADMIN}/comments/{first.json()['comment']['id']}/moderate", json={"action": "spam"}, headers=headers
    )
    assert done.status_code == 200
    api.clock.advance(hours=2)
    verdict = await check(
        api, headers, "The council budget is explained well at https://odd-deals.example/budget"
    )
    assert "spam_domain:odd-deals.example" in verdict["reasons"]
    assert verdict["score"] >= 0.35
