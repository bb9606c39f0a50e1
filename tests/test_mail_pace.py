"""The outbox worker's pace (issue 14): ``mail_rate`` (a token bucket on an injected clock),
``mail_domain_concurrency`` (counted as open DATA sessions at a real SMTP server that holds DATA until
released), and the mail's own bytes (kibitz/mail_wire.py) as a real server receives them."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kibitz.config import ConfigError, load_settings
from kibitz.send_limits import TokenBucket
from kibitz.worker import Worker
from tests.conftest import FakeClock, make_settings
from tests.mailserver import MailServer
from tests.test_worker import BASE_URL, Env

pytestmark = pytest.mark.anyio
WITHIN = 20.0  # seconds a condition may take to come true before the test fails


@pytest.fixture
async def paced(
    tmp_path: Path, database_url: str, clock: FakeClock, mail_server: MailServer
) -> AsyncIterator[Env]:
    """An Env whose settings vary per test: each test makes its own with ``settings_of``."""
    from kibitz.migrate import upgrade
    from kibitz.store.db import Database

    settings = make_settings(tmp_path, database_url, base_url=BASE_URL, smtp=mail_server.smtp)
    db = Database(settings.sqlalchemy_url)
    await upgrade(db, settings)
    try:
        yield Env(db, settings, clock, mail_server, tmp_path, database_url)
    finally:
        await db.dispose()


def settings_of(env: Env, **overrides: Any) -> Any:
    return make_settings(env.tmp_path, env.database_url, base_url=BASE_URL, smtp=env.server.smtp, **overrides)


async def until(condition: Any, what: str) -> None:
    """Wait (bounded) until ``condition()`` holds."""
    deadline = time.monotonic() + WITHIN
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


class FakeTime:
    """The bucket's clock and sleep: sleeping moves the test's clock on, at once."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.slept: list[float] = []

    def ticker(self) -> float:
        return self.clock().timestamp()

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds=seconds)
        await asyncio.sleep(0)


# -- mail_rate -------------------------------------------------------------------------------------------


async def test_mail_rate_spaces_the_sends_by_the_clock_and_claims_a_seconds_worth(paced: Env) -> None:
    ids = await paced.enqueue(11, dedupe_key="rate")
    fake = FakeTime(paced.clock)
    settings = settings_of(paced, mail_rate=5)
    worker = Worker(paced.db, _mailer(settings), settings, paced.clock, ticker=fake.ticker, sleep=fake.sleep)
    started = paced.clock()

    claimed = [await worker.run_once() for _ in range(4)]

    assert claimed == [5, 5, 1, 0]  # about a second's worth at a time
    await paced.server.wait_for(11)
    assert sorted(paced.server.message_ids()) == sorted(f"<kibitz.{i}@comments.example>" for i in ids)
    # One send may go at once (the burst), each of the other ten waits its fifth of a second.
    assert (paced.clock() - started).total_seconds() == pytest.approx(10 / 5)
    assert max(fake.slept) <= 1 / 5 + 1e-9
    assert {r.status for r in await paced.rows()} == {"sent"}


async def test_without_mail_rate_nothing_waits(paced: Env) -> None:
    await paced.enqueue(30, dedupe_key="fast")
    fake = FakeTime(paced.clock)
    worker = Worker(paced.db, _mailer(paced.settings), paced.settings, paced.clock, sleep=fake.sleep)
    assert await worker.run_once() == 30
    await paced.server.wait_for(30)
    assert fake.slept == []


def test_token_bucket_allows_its_burst_then_the_rate_and_survives_a_clock_going_back() -> None:
    now = [1000.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    async def scenario() -> None:
        bucket = TokenBucket(100, ticker=lambda: now[0], sleep=sleep)
        for _ in range(10):  # a burst of a tenth of a second's worth
            await bucket.take()
        assert waits == []
        await bucket.take()
        assert waits == [pytest.approx(0.01)]
        now[0] -= 3600  # the clock goes back an hour: no stall, no windfall
        await bucket.take()
        assert sum(waits) == pytest.approx(0.02)

    asyncio.run(scenario())


# -- mail_domain_concurrency -----------------------------------------------------------------------------


async def _to_domains(env: Env, per_domain: int, *domains: str) -> list[int]:
    ids: list[int] = []
    for domain in domains:
        for n in range(per_domain):
            ids += await env.enqueue(1, dedupe_key=f"d:{domain}:{n}", recipient=f"r{n}@{domain}")
    return ids


async def test_at_most_the_configured_sends_are_in_flight_to_one_domain(paced: Env) -> None:
    ids = await _to_domains(paced, 6, "a.example", "b.example")
    settings = settings_of(paced, mail_domain_concurrency=2)
    worker = Worker(paced.db, _mailer(settings), settings, paced.clock)
    paced.server.hold()
    task = asyncio.create_task(worker.run_once())
    try:
        # Two per domain reach DATA and wait there; the other eight wait for their domain's turn.
        # Without the limit all twelve would be in DATA (20 send slots): fail as soon as that shows.
        await until(
            lambda: (
                paced.server.open_data() > 4
                or (paced.server.open_data() == 4 and worker.domains.waiting() == 8)
            ),
            "four sends in DATA and eight waiting",
        )
        assert paced.server.open_data() == 4
        assert paced.server.in_data == Counter({"a.example": 2, "b.example": 2})
    finally:
        paced.server.release()
    assert await asyncio.wait_for(task, WITHIN) == 12
    await paced.server.wait_for(12)
    assert sorted(paced.server.message_ids()) == sorted(f"<kibitz.{i}@comments.example>" for i in ids)
    assert paced.server.peak_in_data == Counter({"a.example": 2, "b.example": 2})
    assert {r.status for r in await paced.rows()} == {"sent"}


async def test_a_slow_domain_holds_up_only_its_own_mail(paced: Env) -> None:
    await _to_domains(paced, 3, "slow.example", "fast.example")
    settings = settings_of(paced, mail_domain_concurrency=1)
    worker = Worker(paced.db, _mailer(settings), settings, paced.clock)
    paced.server.hold(lambda rcpt: rcpt.endswith("@slow.example"))
    task = asyncio.create_task(worker.run_once())
    try:
        arrived = await paced.server.wait_for(3)
        assert sorted(str(m["To"]) for m in arrived) == [f"r{n}@fast.example" for n in range(3)]
        assert paced.server.in_data["slow.example"] == 1  # the other two wait their turn
    finally:
        paced.server.release()
    assert await asyncio.wait_for(task, WITHIN) == 6
    await paced.server.wait_for(6)
    assert paced.server.peak_in_data["slow.example"] == 1


# -- settings --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"mail_rate": -1}, "mail_rate"),
        ({"mail_rate": "fast"}, "mail_rate"),
        ({"mail_domain_concurrency": -2}, "mail_domain_concurrency"),
        ({"mail_domain_concurrency": 1.5}, "mail_domain_concurrency"),
    ],
)
def test_a_bad_pace_setting_stops_the_start_naming_the_key(
    tmp_path: Path, values: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env={}, cwd=tmp_path, overrides=values)
    assert caught.value.key == key


def test_pace_settings_come_from_the_environment_too(tmp_path: Path) -> None:
    env = {"KIBITZ_MAIL_RATE": "12.5", "KIBITZ_MAIL_DOMAIN_CONCURRENCY": "3"}
    settings = load_settings(None, env=env, cwd=tmp_path)
    assert (settings.mail_rate, settings.mail_domain_concurrency) == (12.5, 3)
    defaults = load_settings(None, env={}, cwd=tmp_path)
    assert (defaults.mail_rate, defaults.mail_domain_concurrency) == (0, 5)


# -- the mail as it arrives ------------------------------------------------------------------------------


async def test_non_ascii_long_lines_and_a_long_unsubscribe_link_arrive_intact(paced: Env) -> None:
    link = f"{BASE_URL}/unsubscribe/" + "t" * 150
    subject = "Café news — an issue with a subject long enough to be folded over two lines, or three"
    text_body = "Grüße aus Köln\n" + "long " * 40 + "\n.a line starting with a dot\ntrailing space \n"
    html_body = "<p>Grüße</p>" + "<p>x</p>" * 50
    [row_id] = await paced.enqueue(
        1, kind="newsletter", subject=subject, text_body=text_body, html_body=html_body, list_unsubscribe=link
    )
    worker = Worker(paced.db, _mailer(paced.settings), paced.settings, paced.clock)
    assert await worker.run_once() == 1
    [mail] = await paced.server.wait_for(1)
    assert str(mail["Message-ID"]) == f"<kibitz.{row_id}@comments.example>"
    assert str(mail["Subject"]) == subject
    # Written as it is, not as an RFC 2047 encoded word (which no mail client takes for a link).
    assert dict(mail.raw_items())["List-Unsubscribe"] == f"<{link}>"
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert plain.get_content().replace("\r\n", "\n") == text_body
    assert html.get_content().replace("\r\n", "\n") == html_body + "\n"
    assert [mail.defects, plain.defects, html.defects] == [[], [], []]


def _mailer(settings: Any) -> Any:
    from kibitz.mailer import SmtpMailer

    return SmtpMailer(settings.smtp, keep=20)
