"""An SMTP server that stops answering (QUALITY R05, R11): a send is bounded by ``[smtp] timeout`` as a
whole, whether the server never greets (a port that accepts and says nothing) or goes quiet after the
envelope, in DATA; the mailer says so with a transient error the worker retries with back-off."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kibitz.mailer import SmtpMailer, TransientMailError
from tests.conftest import make_settings
from tests.mailserver import HangingServer, MailServer

pytestmark = pytest.mark.anyio
MAIL = b"From: news@example.com\r\nTo: reader@example.org\r\nSubject: Hi\r\n\r\nHello.\r\n"
BOUND = 20.0  # seconds after which the test fails instead of hanging (never a measured time)


async def test_a_server_that_goes_quiet_in_data_costs_a_send_its_timeout_not_more(
    tmp_path: Path, mail_server: MailServer
) -> None:
    """The second mail goes on the pooled connection of the first, whose commands carry no timeout
    of their own. Mutation tried: no timeout around the whole transaction (mailer._guarded): the
    send hangs until the server lets go, and this test fails."""
    smtp = {**mail_server.smtp, "timeout": 2}  # room for the first mail on a busy machine
    mailer = SmtpMailer(make_settings(tmp_path, "sqlite:///kibitz.db", smtp=smtp).smtp)
    await mailer.send_bytes(MAIL, "first@example.org", "news@example.com")
    assert len(mail_server.messages) == 1
    mail_server.hold(lambda rcpt: rcpt.endswith("@held.example"))  # DATA taken, never answered
    try:
        with pytest.raises(TransientMailError, match="timed out"):
            await asyncio.wait_for(mailer.send_bytes(MAIL, "reader@held.example", "news@example.com"), BOUND)
        # The server took DATA and held it, and the client gave up there (once it has hung up, the
        # server may already have closed that DATA: its peak says it was open).
        assert mail_server.peak_in_data["held.example"] == 1
    finally:
        mail_server.release()
        await mailer.aclose()


async def test_a_port_that_accepts_and_never_greets_costs_a_send_its_timeout(tmp_path: Path) -> None:
    """Mutation tried: connecting without a timeout (aiosmtplib's ``timeout`` left out and the
    transaction unbounded): the send hangs, and this test fails."""
    hanging = HangingServer()
    mailer = SmtpMailer(make_settings(tmp_path, "sqlite:///kibitz.db", smtp=hanging.smtp).smtp)
    try:
        with pytest.raises(TransientMailError, match="timed out"):
            await asyncio.wait_for(mailer.send_bytes(MAIL, "reader@example.org", "news@example.com"), BOUND)
    finally:
        hanging.close()
        await mailer.aclose()
