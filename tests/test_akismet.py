"""Optional Akismet (issue 13, QUALITY T35), against a fake Akismet on 127.0.0.1 that answers as each test
plans: off unless a site sets a key (nothing is sent); "spam" files the comment as spam, "ham" adds
nothing; a timeout, a 500, a name that does not resolve or an unreadable answer hold the comment for a
moderator and the post still succeeds; after repeated failures the breaker stops asking for a while; a
moderator's decision contrary to Akismet's is reported back through the outbox (retried after a 500)
with the fields of the original check, and a decision that agrees sends nothing."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from kibitz import akismet
from kibitz.models import CommentStatus
from kibitz.store.schema import webhook_deliveries
from tests.conftest import ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, site_table
from tests.test_webhooks import Call, Receiver, Reply, act, ctx_of, key, receiving, until

pytestmark = pytest.mark.anyio
KEY = "k-0123456789ab"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Kibitz-test"
SPAM = Reply(200, b"true")
HAM = Reply(200, b"false")
THANKS = Reply(200, akismet.REPORTED)


@contextlib.asynccontextmanager
async def with_akismet(
    tmp_path: Path, database_url: str, clock: FakeClock, url: str, *, key_a: str = KEY
) -> AsyncIterator[Api]:
    """Site "a" with Akismet on (unless ``key_a`` is empty), site "b" without; a short timeout."""
    sites = [site_table("a", ORIGIN_A, akismet_key=key_a), site_table("b", ORIGIN_B)]
    async with custom_api(
        tmp_path, database_url, clock, sites=sites, akismet_url=url, akismet_timeout=0.5,
        outbound_allow=["127.0.0.1/32"],
    ) as api:  # fmt: skip
        yield api


def endpoint(rx: Receiver) -> str:
    return f"http://127.0.0.1:{rx.port}/1.1"


def form(call: Call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.body.decode("ascii"), keep_blank_values=True).items()}


async def post(api: Api, text: str, site: str = "a", **extra: Any) -> tuple[int, str]:
    origin = ORIGIN_A if site == "a" else ORIGIN_B
    r = await api.post(
        site=site, origin=origin, text=text, headers={"User-Agent": BROWSER, "Referer": f"{origin}/story"},
        author={"name": "Ann", "email": "ann@example.org", "url": "https://ann.example.org/"}, **extra,
    )  # fmt: skip
    assert r.status_code in (201, 202), r.text
    return r.status_code, r.json()["comment"]["id"]


async def stored(api: Api, comment_id: str) -> tuple[CommentStatus, tuple[str, ...]]:
    async with ctx_of(api).db.read() as tx:
        comment = await tx.comments.get(int(comment_id))
    assert comment is not None
    return comment.status, comment.reasons


async def reports_of(api: Api) -> list[Any]:
    """The outbox's reports to Akismet (deliveries to no webhook)."""
    d = webhook_deliveries.c
    async with ctx_of(api).db.read() as tx:
        return list(await tx.conn.execute(select(webhook_deliveries).where(d.webhook_id.is_(None))))


# -- off by default ------------------------------------------------------------------------------------


async def test_nothing_is_sent_unless_the_site_sets_a_key(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with receiving() as rx, with_akismet(tmp_path, database_url, clock, endpoint(rx), key_a="") as api:
        assert (await post(api, "Plain words on site a"))[0] == 201
        assert (await post(api, "Plain words on site b", site="b"))[0] == 201
    assert rx.calls == []


# -- the verdict -----------------------------------------------------------------------------------------


async def test_spam_is_filed_as_spam_and_ham_is_published_with_the_fields_akismet_needs(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with receiving() as rx, with_akismet(tmp_path, database_url, clock, endpoint(rx)) as api:
        rx.plan = [Reply(200, b"true", ("X-akismet-pro-tip: discard",)), HAM, HAM]
        code, spam_id = await post(api, "Cheap pills, best prices, visit my shop today")
        assert code == 202  # the poster is told "pending", as for any comment that is not public
        status, reasons = await stored(api, spam_id)
        assert status is CommentStatus.SPAM
        assert "akismet" in reasons
        code, ham_id = await post(api, "The council's figures do not add up.")
        assert code == 201
        assert (await stored(api, ham_id))[0] is CommentStatus.APPROVED
        assert (await post(api, "They do, if you read the annex.", parent=ham_id))[0] == 201
        # Site b never set a key: its comments stay here.
        await post(api, "Words on site b", site="b")
    assert [call.target for call in rx.calls] == ["/1.1/comment-check"] * 3
    first, second = form(rx.calls[0]), form(rx.calls[2])
    assert first["api_key"] == KEY
    assert first["blog"] == ORIGIN_A
    assert first["user_ip"] == "203.0.113.7"
    assert first["user_agent"] == BROWSER
    assert first["referrer"] == f"{ORIGIN_A}/story"
    assert first["comment_type"] == "comment"
    assert first["comment_author"] == "Ann"
    assert first["comment_author_email"] == "ann@example.org"
    assert first["comment_author_url"] == "https://ann.example.org/"
    assert first["comment_content"] == "Cheap pills, best prices, visit my shop today"
    assert second["comment_type"] == "reply"
    assert rx.calls[0].headers["content-type"].startswith("application/x-www-form-urlencoded")


@pytest.mark.parametrize("outage", ["timeout", "500", "invalid", "dns"])
async def test_an_outage_holds_the_comment_and_the_post_still_succeeds(
    tmp_path: Path, database_url: str, clock: FakeClock, outage: str
) -> None:
    replies = {
        "timeout": Reply(stall=True),
        "500": Reply(500, b"oops"),
        "invalid": Reply(200, b"invalid", ("X-akismet-debug-help: Empty API key",)),
    }
    async with receiving() as rx:
        url = "http://akismet.invalid/1.1" if outage == "dns" else endpoint(rx)
        async with with_akismet(tmp_path, database_url, clock, url) as api:
            rx.plan = [replies.get(outage, HAM)]
            code, comment_id = await post(api, "A perfectly ordinary remark about the harbour plan.")
            assert code == 202
            status, reasons = await stored(api, comment_id)
            assert status is CommentStatus.PENDING
            assert "akismet_unavailable" in reasons
            # A moderator approves it: Akismet never judged it, so nothing is reported.
            headers = await key(api)
            await act(api, headers, comment_id, "approve")
            assert await reports_of(api) == []
    assert len(rx.calls) == (0 if outage == "dns" else 1)


async def test_repeated_failures_open_the_breaker_and_posts_are_held_without_asking(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with receiving() as rx, with_akismet(tmp_path, database_url, clock, endpoint(rx)) as api:
        rx.plan = [Reply(503, b"busy")] * akismet.BREAKER_FAILURES
        for n in range(akismet.BREAKER_FAILURES + 2):
            code, comment_id = await post(api, f"Comment number {n} about the budget, in earnest.")
            assert code == 202
            assert "akismet_unavailable" in (await stored(api, comment_id))[1]
        assert len(rx.calls) == akismet.BREAKER_FAILURES  # the last two were not sent
        # Once the breaker's time is over, Akismet is asked again (its monotonic clock moves on).
        breaker = ctx_of(api).akismet.breaker
        breaker.monotonic = lambda: time.monotonic() + akismet.BREAKER_OPEN
        rx.plan = [HAM]
        assert (await post(api, "Back to normal: a fine piece of reporting."))[0] == 201
    assert len(rx.calls) == akismet.BREAKER_FAILURES + 1


# -- reporting the desk's decisions back -------------------------------------------------------------------


async def test_a_contrary_decision_is_reported_through_the_outbox_and_an_agreeing_one_is_not(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with receiving() as rx, with_akismet(tmp_path, database_url, clock, endpoint(rx)) as api:
        ctx = ctx_of(api)
        headers = await key(api)
        rx.plan = [SPAM, HAM, SPAM]
        _, false_positive = await post(api, "My honest view on the new tram line, for what it is worth.")
        _, missed = await post(api, "Great article! Visit my page for cheap loans and more.")
        _, caught = await post(api, "Buy followers now, instant delivery, best rates online")
        checks = len(rx.calls)
        # Not spam after all: submit-ham, with the fields of the check; Akismet is down the first time.
        rx.plan = [Reply(500, b"down"), THANKS, THANKS]
        await act(api, headers, false_positive, "restore")
        await act(api, headers, false_positive, "approve")  # learned once already: no second report

        async def reports(n: int, status: str, attempts: int = 1) -> bool:
            rows = await reports_of(api)
            return len(rows) == n and all(r.status == status and r.attempts >= attempts for r in rows)

        await until(lambda: reports(1, "pending"), "the first attempt of submit-ham")
        assert rx.calls[checks].target == "/1.1/submit-ham"
        clock.advance(minutes=2)
        ctx.webhooks.wakeup.set()
        await until(lambda: reports(1, "delivered"), "submit-ham, after the retry")
        # Missed spam: submit-spam. Spam Akismet caught, marked spam again: nothing to say.
        await act(api, headers, missed, "spam")
        await act(api, headers, caught, "spam")
        await until(lambda: reports(2, "delivered"), "submit-spam")
        assert (await stored(api, false_positive))[0] is CommentStatus.APPROVED
    calls = rx.calls[checks:]
    assert [call.target for call in calls] == ["/1.1/submit-ham", "/1.1/submit-ham", "/1.1/submit-spam"]
    original, ham, spam = form(rx.calls[0]), form(calls[1]), form(calls[2])
    assert ham == original  # the same fields, the key read from the settings again
    assert spam["comment_content"] == "Great article! Visit my page for cheap loans and more."
    assert spam["user_agent"] == BROWSER


async def test_what_was_sent_is_forgotten_after_thirty_days(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    from kibitz.webhook_worker import WebhookWorker

    async with receiving() as rx, with_akismet(tmp_path, database_url, clock, endpoint(rx)) as api:
        ctx = ctx_of(api)
        rx.plan = [HAM]
        _, comment_id = await post(api, "Kept only as long as a report may follow.")
        async with ctx.db.read() as tx:
            assert await tx.spam.check_of(int(comment_id)) is not None
        clock.advance(days=31)
        await WebhookWorker(ctx.db, ctx.webhooks.policy, ctx.clock).prune()
        async with ctx.db.read() as tx:
            assert await tx.spam.check_of(int(comment_id)) is None
