"""Bounces, complaints and suppression (issue 14): DSN (RFC 3464) and ARF (RFC 5965) reports read from
raw mail, signed return paths (VERP) as the envelope sender of every mail, `kibitz bounces`' SMTP
endpoint, the provider webhook, and suppression checked when each mail is sent (QUALITY R04, T41, and
the invariant "no email to a suppressed address")."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosmtplib
import anyio
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from kibitz.bounce_inbox import MAX_MESSAGE, BounceInbox
from kibitz.bounce_parse import Found, outbox_id_of, parse
from kibitz.bounces import Verp, record
from kibitz.cli import main
from kibitz.config import ConfigError
from kibitz.mailer import SmtpMailer
from kibitz.migrate import upgrade
from kibitz.security import Tokens
from kibitz.store.db import Database
from kibitz.store.meta import load_secret
from kibitz.store.outbox import NewMail
from kibitz.store.schema import bounces, subscribers
from kibitz.worker import Worker
from tests.bounce_samples import built_arf, built_dsn, nested, original, postfix_dsn
from tests.conftest import ORIGIN_A, Api, FakeClock, custom_api, make_settings
from tests.mailserver import MailServer
from tests.server import KIBITZ, child_env, free_port, write_config
from tests.test_input_xss import assert_problem
from tests.test_worker import BASE_URL, Env

pytestmark = pytest.mark.anyio
BOUNCE_ADDRESS = "bounces@news.example.org"
HOST = "comments.example"  # of BASE_URL: the host of Kibitz's Message-IDs
SECRET = "whsec-0123456789abcdef"
ANN = "ann@example.org"


def verp_of(secret: str = "s" * 32) -> Verp:
    return Verp(BOUNCE_ADDRESS, Tokens(secret))


# -- reading reports (pure) -------------------------------------------------------------------------------


def test_a_postfix_dsn_names_a_hard_bounce_of_its_recipient_and_its_outbox_row() -> None:
    verp = verp_of()
    dsn = postfix_dsn(verp.address_for(7), "gone@example.com", f"<kibitz.7@{HOST}>")

    [found] = parse(dsn, host=HOST)
    assert (found.email, found.kind, found.outbox_id) == ("gone@example.com", "hard", 7)
    assert found.detail.startswith("failed 5.1.1 smtp; 550 5.1.1 <gone@example.com>: Recipient")
    assert "\n" not in found.detail  # one line,
    assert "    " not in found.detail  # unfolded
    # Another host's Message-ID names no row of ours; the signed return path still does.
    assert parse(dsn, host="other.example")[0].outbox_id is None
    assert parse(dsn, host="other.example", verp=verp.outbox_id)[0].outbox_id == 7


def test_a_dsn_built_with_the_email_package_sorts_each_recipient() -> None:
    rows = [
        {"Final_Recipient": "rfc822; gone@example.com", "Action": "failed", "Status": "5.1.1"},
        {"Final_Recipient": "rfc822; late@example.com", "Action": "delayed", "Status": "4.4.1"},
        {"Final_Recipient": "rfc822; gaveup@example.com", "Action": "failed", "Status": "4.4.7"},
        {"Final_Recipient": "rfc822; full@example.com", "Action": "failed", "Status": "5.2.2"},
        {"Final_Recipient": "rfc822; fine@example.com", "Action": "delivered", "Status": "2.0.0"},
        {"Final_Recipient": "rfc822; relayed@example.com", "Action": "relayed", "Status": "2.0.0"},
        # No Status: the diagnostic's reply code decides; none at all: failed is for good.
        {
            "Final_Recipient": "rfc822; busy@example.com",
            "Action": "failed",
            "Diagnostic_Code": "smtp; 452 busy",
        },
        {"Original_Recipient": "rfc822;<bare@example.com>", "Action": "FAILED"},
        {"Final_Recipient": "utf-8; j\\x{00F6}rg@example.com", "Action": "failed", "Status": "5.1.1"},
        {"Final_Recipient": "rfc822; not an address", "Action": "failed", "Status": "5.1.1"},
        {"Action": "failed", "Status": "5.1.1"},  # whom? nobody
    ]
    dsn = built_dsn("bounces@news.example.org", rows, original("gone@example.com", f"<kibitz.31@{HOST}>"))

    found = parse(dsn, host=HOST)
    assert [(f.email, f.kind) for f in found] == [
        ("gone@example.com", "hard"),
        ("late@example.com", "soft"),
        ("gaveup@example.com", "soft"),
        ("full@example.com", "soft"),
        ("busy@example.com", "soft"),
        ("bare@example.com", "hard"),
        ("jörg@example.com", "hard"),
    ]
    assert {f.outbox_id for f in found} == {31}  # from the returned message's Message-ID


def test_an_arf_report_is_a_complaint_about_its_recipient() -> None:
    verp = verp_of()
    returned = original(ANN, f"<kibitz.12@{HOST}>", Return_Path=f"<{verp.address_for(12)}>")
    arf = built_arf("abuse@news.example.org", returned, Original_Rcpt_To=f"<{ANN}>")

    [found] = parse(arf, host=HOST)
    assert (found.email, found.kind, found.outbox_id) == (ANN, "complaint", 12)
    assert found.detail == "feedback-type abuse from ExampleFBL/1.0"

    # Without Original-Rcpt-To, the returned message's To says whom it was about.
    [found] = parse(built_arf("abuse@news.example.org", returned, feedback_type="fraud"), host=HOST)
    assert (found.email, found.kind) == (ANN, "complaint")
    # A provider that redacts the recipient: the outbox row (by its signed return path) knows.
    redacted = original("redacted", "<someone-else@mx.example>", Return_Path=f"<{verp.address_for(12)}>")
    [found] = parse(built_arf("x@news.example.org", redacted), verp=verp.outbox_id)
    assert (found.email, found.kind, found.outbox_id) == ("", "complaint", 12)
    # ... and without any way to know whom it was about, there is nothing to act on.
    assert parse(built_arf("x@news.example.org", redacted)) == []
    # "This is not spam" and authentication reports are no complaints.
    for kind in ("not-spam", "auth-failure"):
        assert parse(built_arf("x@news.example.org", returned, feedback_type=kind)) == []


def test_a_signed_return_path_in_the_report_wins_over_the_message_id() -> None:
    verp = verp_of()
    # ARF: Original-Mail-From is the envelope sender the mail had.
    returned = original(ANN, f"<kibitz.5@{HOST}>")
    arf = built_arf("fbl@news.example.org", returned, Original_Mail_From=f"<{verp.address_for(9)}>")
    assert [f.outbox_id for f in parse(arf, host=HOST, verp=verp.outbox_id)] == [9]
    # A forged return path is no return path: the Message-ID decides.
    forged = verp.address_for(9).replace("+9-", "+8-")
    arf = built_arf("fbl@news.example.org", returned, Original_Mail_From=f"<{forged}>")
    assert [f.outbox_id for f in parse(arf, host=HOST, verp=verp.outbox_id)] == [5]


def test_kibitz_message_ids_give_their_outbox_ids() -> None:
    assert outbox_id_of(f"<kibitz.42@{HOST}>") == 42
    assert outbox_id_of(f"kibitz.42@{HOST}", HOST) == 42  # providers often drop the brackets
    assert outbox_id_of(f"<KIBITZ.42@{HOST.upper()}>", HOST) == 42
    assert outbox_id_of(f"<kibitz.42@{HOST}>", "other.example") is None
    for other in ("<kibitz.0@h>", "<kibitz.x@h>", "<42@h>", "<kibitz.42>", "", "<kibitz.1@h> <kibitz.2@h>"):
        assert outbox_id_of(other) is None, other


def test_verp_addresses_sign_their_outbox_id_and_forgeries_are_refused() -> None:
    verp = verp_of()
    address = verp.address_for(42)
    local, _, domain = address.partition("@")
    assert local.startswith("bounces+42-")
    assert domain == "news.example.org"
    assert len(local) <= 64
    assert verp.outbox_id(address) == 42
    assert verp.outbox_id(f"<{address.upper()}>") == 42  # letter case changed on the way back
    assert verp_of().outbox_id(address) == 42  # the same secret: another process agrees
    signature = local.rpartition("-")[2]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    forged = [
        address.replace("+42-", "+43-"),  # another row with this row's signature
        address.replace(signature, flipped),
        address.replace(signature, signature[:-1]),
        address.replace("news.example.org", "evil.example"),
        address.replace("bounces+", "other+"),
        "bounces@news.example.org",
        f"bounces+42@{domain}",
        "",
        "garbage",
        address + "x" * 400,
    ]
    for address_forged in forged:
        assert verp.outbox_id(address_forged) is None, address_forged
    assert verp_of("t" * 32).outbox_id(address) is None  # another secret


def test_garbage_never_raises_and_finds_nothing_it_should_not() -> None:
    verp = verp_of()
    good = postfix_dsn(verp.address_for(3), "gone@example.com", f"<kibitz.3@{HOST}>")
    samples = [
        b"",
        b"\x00\xff" * 1000,
        b"Content-Type: multipart/report; boundary=\r\n\r\n--\r\n--",
        b"Content-Type: message/delivery-status\r\n\r\n:::\r\n\r\nAction:\r\nFinal-Recipient: ;\r\n",
        b"Content-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n",
        b"Content-Type: multipart/report; report-type=delivery-status\r\n\r\nno boundary at all",
        b"Subject: =?utf-8?b?invalid?=\r\nContent-Type: text/plain; charset=nonsense\r\n\r\n\xfe\xfe",
        b"Subject: I'm on vacation\r\n\r\nBack on Monday.",
        nested(60),
        good + b"\r\n" * 10,
        good.replace(b"\r\n", b"\n"),
        good.replace(b"\r\n", b"\r"),
        b"x" * (2 * 1024 * 1024 + 1),
    ]
    rng = random.Random(14)
    for cut in range(0, len(good), 97):
        samples.append(good[:cut])
    for _ in range(300):
        mutated = bytearray(good)
        for _ in range(rng.randint(1, 20)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        samples.append(bytes(mutated))
    for sample in samples:
        found = parse(sample, host=HOST, verp=verp.outbox_id)
        assert isinstance(found, list)
        assert all(isinstance(f, Found) and f.kind in ("hard", "soft", "complaint") for f in found)
    assert parse(b"Subject: I'm on vacation\r\n\r\nBack on Monday.") == []
    assert parse(nested(60)) == [Found("a@b.c", "hard", "failed", None)]  # deep, and still read


@given(st.binary(max_size=4000))
@hypothesis_settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_bytes_never_raise(data: bytes) -> None:
    assert isinstance(parse(data, host=HOST, verp=verp_of().outbox_id), list)


def test_bounce_settings_are_checked(tmp_path: Path) -> None:
    def problem(**values: Any) -> str:
        with pytest.raises(ConfigError) as caught:
            make_settings(tmp_path, "sqlite:///kibitz.db", **values)
        return str(caught.value)

    settings = make_settings(tmp_path, "sqlite:///kibitz.db")
    assert (settings.bounce_address, settings.bounces_listen) == ("", "127.0.0.1:2525")
    assert (settings.bounce_webhook_secret, settings.soft_bounce_limit) == ("", 3)
    assert "bounce_address: must be an address" in problem(bounce_address="Kibitz <bounces@x.example>")
    assert "bounce_address" in problem(bounce_address="b" * 33 + "@x.example")  # no room for the signature
    assert "bounces_listen: must be an address and port" in problem(bounces_listen="")
    assert "bounces_listen" in problem(bounces_listen="localhost:25")
    assert "bounce_webhook_secret: must be at least 16" in problem(bounce_webhook_secret="short")
    assert "soft_bounce_limit: must be between 1 and 100" in problem(soft_bounce_limit=0)
    chosen = make_settings(
        tmp_path, "sqlite:///kibitz.db", bounce_address=BOUNCE_ADDRESS, bounce_webhook_secret=SECRET
    )
    assert SECRET not in repr(chosen)
    env = {"KIBITZ_SOFT_BOUNCE_LIMIT": "5", "KIBITZ_BOUNCES_LISTEN": "[::1]:2526"}
    from kibitz.config import load_settings

    assert load_settings(None, env=env, cwd=tmp_path).soft_bounce_limit == 5
    assert load_settings(None, env=env, cwd=tmp_path).bounces_listen == "[::1]:2526"


# -- the envelope sender, the endpoint and suppression at send time (real SMTP on loopback) -------------


@pytest.fixture
async def env(
    tmp_path: Path, database_url: str, clock: FakeClock, mail_server: MailServer
) -> AsyncIterator[Env]:
    settings = make_settings(
        tmp_path, database_url, base_url=BASE_URL, smtp=mail_server.smtp, bounce_address=BOUNCE_ADDRESS
    )
    db = Database(settings.sqlalchemy_url)
    await upgrade(db, settings)
    try:
        yield Env(db, settings, clock, mail_server, tmp_path, database_url)
    finally:
        await db.dispose()


async def verp_for(env: Env) -> Verp:
    """The signer every Kibitz process of this database uses (its secret is kept in the database)."""
    return Verp(BOUNCE_ADDRESS, Tokens(await load_secret(env.db, env.settings.secret_key)))


@contextlib.asynccontextmanager
async def endpoint(env: Env, verp: Verp) -> AsyncIterator[BounceInbox]:
    """`kibitz bounces`' SMTP endpoint, in this process, on a free loopback port."""
    inbox = BounceInbox(env.db, env.settings, verp, env.clock)
    await inbox.start("127.0.0.1", 0)
    try:
        yield inbox
    finally:
        await inbox.stop()


async def deliver(port: int, recipient: str, data: bytes) -> None:
    """Hand a report to the endpoint as a mail server does: MAIL FROM:<> (a bounce never bounces)."""
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=10) as client:
        await client.sendmail("", [recipient], data)


async def subscriber_status(env: Env, site: str, address: str) -> str | None:
    async with env.db.read() as tx:
        found = await tx.conn.execute(
            select(subscribers.c.status).where(subscribers.c.site == site, subscribers.c.email == address)
        )
        return found.scalar_one_or_none()


async def test_mail_leaves_with_its_signed_return_path_as_envelope_sender(env: Env) -> None:
    [row_id] = await env.enqueue(1, recipient=ANN)
    assert await env.worker().run_once() == 1  # the worker makes its signer from the shared secret
    [mail] = await env.server.wait_for(1)
    verp = await verp_for(env)
    assert env.server.envelopes == [(verp.address_for(row_id), [ANN])]
    assert verp.outbox_id(env.server.envelopes[0][0]) == row_id
    # The envelope only: Return-Path is the receiving server's to write.
    assert mail["Return-Path"] is None
    assert mail["From"] == "Kibitz <noreply@example.org>"
    assert mail["Message-ID"] == f"<kibitz.{row_id}@{HOST}>"

    # Without bounce_address, the envelope sender is the From address, as before.
    plain = dataclasses.replace(env.settings, bounce_address="")
    [other] = await env.enqueue(1, recipient="bob@example.org", dedupe_key="comment:bob")
    assert await Worker(env.db, SmtpMailer(plain.smtp), plain, env.clock).run_once() == 1
    await env.server.wait_for(2)
    assert env.server.envelopes[1] == ("noreply@example.org", ["bob@example.org"])
    assert (await env.row(other)).status == "sent"


async def test_a_dsn_at_the_endpoint_suppresses_the_address_and_later_mail_is_never_sent(env: Env) -> None:
    verp = await verp_for(env)
    worker = env.worker(verp=verp)
    [first] = await env.enqueue(1, recipient=ANN)
    assert await worker.run_once() == 1
    await env.server.wait_for(1)
    return_path = env.server.envelopes[0][0]

    async with endpoint(env, verp) as inbox:
        await deliver(inbox.port, return_path, postfix_dsn(return_path, ANN, f"<kibitz.{first}@{HOST}>"))

    async with env.db.read() as tx:
        assert await tx.suppressions.reason("a", ANN) == "hard_bounce"
        assert await tx.suppressions.reason("b", ANN) == "hard_bounce"  # on every site
        [logged] = await tx.bounces.list(email=ANN)
        [suppression] = await tx.suppressions.list(email=ANN)
    assert (logged.kind, logged.source, logged.outbox_id, logged.site) == ("hard", "smtp", first, "a")
    assert (suppression.site, suppression.reason) == ("", "hard_bounce")
    assert "5.1.1" in suppression.detail
    assert await subscriber_status(env, "a", ANN) == "bounced"

    # Later: a reply mail on site a, and a confirmation on site b, for the same address.
    [later] = await env.enqueue(1, recipient=ANN, dedupe_key="comment:later")
    async with env.db.write() as tx:
        on_b = await tx.subscribers.get_or_create("b", ANN, env.clock())
    [confirm] = await env.enqueue(
        1, site="b", kind="confirm", dedupe_key="confirm:b", recipient=ANN, subscriber_id=on_b.id
    )
    assert await worker.run_once() == 2
    for row_id in (later, confirm):
        row = await env.row(row_id)
        assert (row.status, row.last_error) == ("dropped", "suppressed: hard_bounce")
    await anyio.sleep(0.2)
    assert len(env.server.messages) == 1  # nothing more reached the SMTP server


async def test_the_endpoint_takes_only_signed_return_paths_and_bounded_messages(env: Env) -> None:
    verp = await verp_for(env)
    [row_id] = await env.enqueue(1, recipient=ANN)
    good = verp.address_for(row_id)
    refused = [
        BOUNCE_ADDRESS,
        good.replace(f"+{row_id}-", f"+{row_id + 1}-"),  # another row, this row's signature
        "postmaster@news.example.org",
        "someone@elsewhere.example",  # never a relay
    ]
    async with endpoint(env, verp) as inbox:
        for recipient in refused:
            with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as caught:
                await deliver(inbox.port, recipient, postfix_dsn(recipient, ANN, "<x@y>"))
            assert [r.code for r in caught.value.recipients] == [550], recipient
        too_big = postfix_dsn(good, ANN, "<x@y>") + b"x" * MAX_MESSAGE
        with pytest.raises(aiosmtplib.SMTPResponseException) as caught_big:
            await deliver(inbox.port, good, too_big)
        assert caught_big.value.code == 552
    async with env.db.read() as tx:
        assert await tx.bounces.list() == []
        assert await tx.suppressions.list() == []


async def test_soft_bounces_count_once_per_message_and_suppress_at_the_limit(env: Env) -> None:
    verp = await verp_for(env)
    rows = await env.enqueue(4, recipient=ANN)

    async def soft(inbox: BounceInbox, row_id: int, action: str = "delayed", status: str = "4.4.1") -> None:
        path = verp.address_for(row_id)
        dsn = postfix_dsn(path, ANN, f"<kibitz.{row_id}@{HOST}>", action=action, status=status, diagnostic="")
        await deliver(inbox.port, path, dsn)

    async def suppressed() -> str | None:
        async with env.db.read() as tx:
            return await tx.suppressions.reason("a", ANN)

    async with endpoint(env, verp) as inbox:
        await soft(inbox, rows[0])
        await soft(inbox, rows[0])  # a second delay notice about the same mail
        await soft(inbox, rows[1])
        assert await suppressed() is None  # two messages of three
        env.clock.advance(days=31)  # those two are past the window now
        await soft(inbox, rows[2])
        await soft(inbox, rows[3], action="failed", status="4.4.7")  # given up after retries: soft
        assert await suppressed() is None
        await soft(inbox, rows[0])  # the third message within 30 days
        assert await suppressed() == "hard_bounce"
    async with env.db.read() as tx:
        logged = await tx.bounces.list(email=ANN)
        [suppression] = await tx.suppressions.list(email=ANN)
    assert [b.kind for b in logged] == ["soft"] * 6  # every report is logged
    assert suppression.detail.startswith("3 soft bounces within 30 days; last: delayed 4.4.1")
    assert await subscriber_status(env, "a", ANN) == "bounced"


async def test_an_arf_complaint_at_the_endpoint_suppresses_the_address_the_mail_went_to(env: Env) -> None:
    verp = await verp_for(env)
    [row_id] = await env.enqueue(1, recipient=ANN)
    path = verp.address_for(row_id)
    async with endpoint(env, verp) as inbox:
        # An auto-reply to the return path is taken and forgotten.
        await deliver(inbox.port, path, b"From: ann@example.org\r\nSubject: Away\r\n\r\nBack Monday.\r\n")
        async with env.db.read() as tx:
            assert await tx.bounces.list() == []
        # The report names a forwarding address: the signed return path says whose mail it was.
        returned = original(
            "forwarded@elsewhere.example", f"<kibitz.{row_id}@{HOST}>", Return_Path=f"<{path}>"
        )
        arf = built_arf(path, returned, Original_Rcpt_To="forwarded@elsewhere.example")
        await deliver(inbox.port, path, arf)
    async with env.db.read() as tx:
        assert await tx.suppressions.reason("b", ANN) == "complaint"
        assert await tx.suppressions.reason("a", "forwarded@elsewhere.example") is None
        [logged] = await tx.bounces.list()
    assert (logged.email, logged.kind, logged.outbox_id) == (ANN, "complaint", row_id)
    assert await subscriber_status(env, "a", ANN) == "bounced"


async def test_suppression_of_one_site_or_every_site_and_bounce_counts_by_outbox_ids(env: Env) -> None:
    now = env.clock()
    rows = await env.enqueue(3, recipient="x@example.org")
    [on_b] = await env.enqueue(1, site="b", recipient="x@example.org", dedupe_key="b:1", subscriber_id=None)
    async with env.db.write() as tx:
        assert await tx.suppressions.add("a", "x@example.org", "unsubscribed", "left site a", now)
        assert not await tx.suppressions.add(
            "a", "x@example.org", "complaint", "", now
        )  # the first reason stays
        assert await tx.suppressions.reason("a", "x@example.org") == "unsubscribed"
        assert await tx.suppressions.reason("b", "x@example.org") is None
        a_row, b_row = await tx.outbox.get(rows[0]), await tx.outbox.get(on_b)
        assert a_row is not None
        assert b_row is not None
        assert await tx.outbox.still_deliverable(a_row) == "suppressed: unsubscribed"
        assert await tx.outbox.still_deliverable(b_row) is None
        assert await tx.suppressions.add("", "y@example.org", "erased", "", now)
        assert await tx.suppressions.is_suppressed("a", "y@example.org")
        assert await tx.suppressions.is_suppressed("b", "y@example.org")
        assert [s.email for s in await tx.suppressions.list(site="a")] == ["x@example.org"]
        assert len(await tx.suppressions.list()) == 2

        # Bounces per outbox row: once per row and kind, however many reports.
        await record(tx, "X@example.org", "soft", "webhook", rows[0], "", now)
        await record(tx, "x@example.org", "soft", "webhook", rows[0], "", now)
        await record(tx, "x@example.org", "complaint", "webhook", rows[1], "", now)
        unknown = await record(tx, "z@example.org", "hard", "webhook", 999_999, "", now)
        assert (unknown.site, unknown.outbox_id, unknown.suppressed) == ("", None, True)
        assert await tx.bounces.counts_for(rows) == {"soft": 1, "complaint": 1}
        assert await tx.bounces.counts_for([rows[2]]) == {}
        assert await tx.bounces.counts_between(rows[1], rows[2]) == {"complaint": 1}
        assert await tx.bounces.counts_for(range(1, 2000)) == {"soft": 1, "complaint": 1}  # in chunks

        assert await tx.suppressions.remove("x@example.org", "a") == 1
        assert await tx.suppressions.reason("a", "x@example.org") == "complaint"  # the every-site one
        assert await tx.suppressions.remove("y@example.org") == 1
    with pytest.raises(ValueError, match="unknown"):
        async with env.db.write() as tx:
            await record(tx, "x@example.org", "bounce", "smtp", None, "", now)


def _cli(env: Env, *args: str) -> Result:
    config = write_config(env.tmp_path / "cli.toml", env.tmp_path, env.database_url, base_url=BASE_URL)
    return CliRunner().invoke(main, [*args, "--config", str(config)])


async def test_kibitz_bounces_list_log_and_lift(env: Env) -> None:
    async with env.db.write() as tx:
        await record(tx, ANN, "hard", "webhook", None, "550 5.1.1 unknown\nuser", env.clock())
    assert await subscriber_status(env, "a", ANN) is None  # no subscriber yet: nothing to mark
    await env.subscriber(ANN)
    async with env.db.write() as tx:
        await tx.suppressions.mark_subscribers_bounced(ANN)

    listed = await anyio.to_thread.run_sync(lambda: _cli(env, "bounces", "list"))
    assert listed.exit_code == 0, listed.output
    assert (
        listed.output
        == f"{ANN}\t*\thard_bounce\t{env.clock().isoformat(timespec='seconds')}\t550 5.1.1 unknown user\n"
    )

    [entry] = (await anyio.to_thread.run_sync(lambda: _cli(env, "bounces", "log"))).output.splitlines()
    assert entry.split("\t")[1:] == [
        env.clock().isoformat(timespec="seconds"),
        "hard",
        "webhook",
        ANN,
        "-",
        "-",
        "550 5.1.1 unknown user",
    ]
    other = await anyio.to_thread.run_sync(lambda: _cli(env, "bounces", "log", "--email", "bob@example.org"))
    assert (other.exit_code, other.output) == (0, "")
    bad = await anyio.to_thread.run_sync(lambda: _cli(env, "bounces", "log", "--email", "not-an-address"))
    assert bad.exit_code == 1
    assert "not a valid email address" in bad.output

    lifted = await anyio.to_thread.run_sync(lambda: _cli(env, "bounces", "lift", ANN))
    assert (lifted.exit_code, lifted.output) == (0, f"{ANN}: 1 suppression lifted\n")
    assert await subscriber_status(env, "a", ANN) == "unconfirmed"  # must confirm again
    again = await anyio.to_thread.run_sync(lambda: _cli(env, "bounces", "lift", ANN))
    assert again.exit_code == 1
    assert "is not suppressed" in again.output
    empty = await anyio.to_thread.run_sync(lambda: _cli(env, "bounces", "list", "--email", ANN))
    assert (empty.exit_code, empty.output) == (0, "")
    async with env.db.read() as tx:
        audited = (await tx.conn.execute(text("SELECT action, target FROM audit_log"))).all()
    assert [tuple(row) for row in audited] == [("suppression.lift", f"email:{ANN}")]


def start_kibitz(args: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """A kibitz process in the background, its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(KIBITZ), *args], cwd=cwd, env=child_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )


async def test_kibitz_bounces_runs_the_endpoint_until_sigterm(env: Env) -> None:
    verp = await verp_for(env)  # the secret kept in the database, which the process reads too
    [row_id] = await env.enqueue(1, recipient=ANN)
    no_address = await anyio.to_thread.run_sync(lambda: _cli(env, "bounces"))
    assert no_address.exit_code == 2
    assert "bounce_address: not set" in no_address.output

    port = free_port()
    config = write_config(
        env.tmp_path / "bounces.toml",
        env.tmp_path,
        env.database_url,
        base_url=BASE_URL,
        bounce_address=BOUNCE_ADDRESS,
        bounces_listen=f"127.0.0.1:{port}",
    )
    log = env.tmp_path / "bounces.log"
    process = start_kibitz(["bounces", "--config", str(config)], env.tmp_path, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                await anyio.sleep(0.05)  # polling a condition, bounded by the deadline
        path = verp.address_for(row_id)
        await deliver(port, path, postfix_dsn(path, ANN, f"<kibitz.{row_id}@{HOST}>"))
        process.send_signal(signal.SIGTERM)
        assert await anyio.to_thread.run_sync(lambda: process.wait(timeout=20)) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    async with env.db.read() as tx:
        assert await tx.suppressions.reason("a", ANN) == "hard_bounce"


# -- the provider webhook -----------------------------------------------------------------------------------

URL = "/api/v1/bounces"
AUTH = {"Authorization": f"Bearer {SECRET}"}


async def bounce_rows(api: Api) -> list[tuple[Any, ...]]:
    async with api.app.state.ctx.db.read() as tx:
        found = await tx.conn.execute(
            select(
                bounces.c.email, bounces.c.kind, bounces.c.source, bounces.c.outbox_id, bounces.c.site
            ).order_by(bounces.c.id)
        )
        return [tuple(row) for row in found]


def _raw(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("ascii")


async def test_the_webhook_is_not_there_without_a_secret_and_refuses_wrong_credentials(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    body = {"events": [{"email": ANN, "kind": "hard"}]}
    async with custom_api(tmp_path, database_url, clock) as api:
        assert_problem(await api.client.post(URL, json=body, headers=AUTH), 404, "not_found")
    async with custom_api(tmp_path, database_url, clock, bounce_webhook_secret=SECRET) as api:
        for authorization in (
            None,
            f"Bearer {SECRET}x",
            f"Bearer {SECRET[:-1]}",
            f"Basic {SECRET}",
            SECRET,
            "Bearer ünïcode-0123456789".encode("latin-1"),  # not ASCII
        ):
            headers = {} if authorization is None else {b"Authorization": _raw(authorization)}
            assert_problem(await api.client.post(URL, json=body, headers=headers), 401, "unauthorized")
        # Credentials first: a caller without them learns nothing about the body.
        r = await api.client.post(URL, content=b"{", headers={"Content-Type": "application/json"})
        assert_problem(r, 401, "unauthorized")
        assert await bounce_rows(api) == []


async def test_the_webhook_refuses_bad_input_and_records_nothing(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, bounce_webhook_secret=SECRET) as api:
        for body, field in (
            ({"events": [{"email": ANN, "kind": "bounced"}]}, "events[0].kind"),
            (
                {"events": [{"email": ANN, "kind": "hard"}, {"email": "not-an-address", "kind": "hard"}]},
                "events[1].email",
            ),
            ({"events": [{"email": ANN}]}, "events[0].kind"),
            ({"events": [{"email": ANN, "kind": "hard", "extra": 1}]}, "events[0].extra"),
            ({"events": [{"email": ANN, "kind": "hard", "detail": "x" * 501}]}, "events[0].detail"),
            ({"events": [{"email": f"u{i}@example.org", "kind": "soft"} for i in range(1001)]}, "events"),
            ({"events": {"email": ANN}}, "events"),
            ({}, "events"),
            ([], "body"),
        ):
            problem = assert_problem(
                await api.client.post(URL, json=body, headers=AUTH), 422, "invalid_input"
            )
            assert field in [e["field"] for e in problem["errors"]], problem
        r = await api.client.post(URL, content=b"{nope", headers={**AUTH, "Content-Type": "application/json"})
        assert_problem(r, 400, "malformed_request")
        r = await api.client.post(URL, content=b"email=x", headers={**AUTH, "Content-Type": "text/plain"})
        assert_problem(r, 415, "unsupported_media_type")
        huge = b'{"events": [' + b" " * (1024 * 1024) + b"]}"
        r = await api.client.post(URL, content=huge, headers={**AUTH, "Content-Type": "application/json"})
        assert_problem(r, 413, "payload_too_large")
        assert await bounce_rows(api) == []


async def test_the_webhook_records_events_and_suppresses_hard_bounces_and_complaints(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(
        tmp_path, database_url, clock, base_url=BASE_URL, bounce_webhook_secret=SECRET
    ) as api:
        db = api.app.state.ctx.db
        async with db.write() as tx:
            mail = NewMail("b", "newsletter", "issue:1", ANN, "Letter", "Hi\n", "<p>Hi</p>")
            assert await tx.outbox.enqueue(mail, clock())
            [row] = await tx.outbox.list()
        events = [
            {"email": ANN, "kind": "hard", "message_id": f"<kibitz.{row.id}@{HOST}>", "detail": "550 5.1.1"},
            {"email": "bob@Example.ORG.", "kind": "soft", "message_id": f"kibitz.{row.id}@{HOST}"},
            {"email": "bob@example.org", "kind": "soft", "message_id": "<other@mx.example>"},
            {"email": "carol@example.org", "kind": "complaint"},
        ]
        # No Origin: a provider's server is no browser page; no CORS grant either.
        r = await api.client.post(URL, json={"events": events}, headers=AUTH)
        assert r.status_code == 200, r.text
        assert r.json() == {"recorded": 4}
        assert r.headers["cache-control"] == "no-store"
        assert "access-control-allow-origin" not in r.headers
        assert await bounce_rows(api) == [
            (ANN, "hard", "webhook", row.id, "b"),
            ("bob@example.org", "soft", "webhook", row.id, "b"),
            ("bob@example.org", "soft", "webhook", None, ""),
            ("carol@example.org", "complaint", "webhook", None, ""),
        ]
        async with db.read() as tx:
            assert await tx.suppressions.reason("a", ANN) == "hard_bounce"
            assert await tx.suppressions.reason("a", "carol@example.org") == "complaint"
            assert await tx.suppressions.reason("a", "bob@example.org") is None  # two soft of three
        r = await api.client.post(URL, json={"events": []}, headers={**AUTH, "Origin": ORIGIN_A})
        assert (r.status_code, r.json()) == (200, {"recorded": 0})
        r = await api.client.post(
            URL, json={"events": [{"email": "bob@example.org", "kind": "soft"}]}, headers=AUTH
        )
        assert r.json() == {"recorded": 1}
        async with db.read() as tx:
            assert await tx.suppressions.reason("b", "bob@example.org") == "hard_bounce"
