"""Outgoing mail: the SMTP client that sends it (the message itself: kibitz/mail_wire.py).

Failures come out as ``TransientMailError`` (try again later) or ``PermanentMailError`` (never).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Protocol, runtime_checkable

import aiosmtplib
from aiosmtplib.typing import SMTPStatus

from kibitz.config import SmtpConfig, SmtpSecurity
from kibitz.mail_wire import message_id

__all__ = [
    "MailError",
    "Mailer",
    "PermanentMailError",
    "SmtpMailer",
    "TransientMailError",
    "WireMailer",
    "classify",
    "message_id",
]

log = logging.getLogger(__name__)


class MailError(Exception):
    """A send that did not succeed; ``code`` is the SMTP reply code when the server gave one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code} {self.message}" if self.code else self.message


class TransientMailError(MailError):
    """Worth another try later: connection refused or reset, a timeout, a 4xx reply."""


class PermanentMailError(MailError):
    """Never worth another try: a 5xx reply to this message or recipient."""


class Mailer(Protocol):
    async def send(self, message: EmailMessage, sender: str | None = None) -> None:
        """Send ``message`` to its ``To``; ``sender``: the envelope sender (MAIL FROM, where bounces
        go), else the ``From`` address. Never a header: the receiving server writes ``Return-Path``."""
        ...


@runtime_checkable
class WireMailer(Protocol):
    async def send_bytes(self, data: bytes, recipient: str, sender: str) -> None:
        """Send a finished message (CRLF line ends) to ``recipient`` from envelope ``sender``: what
        the worker uses, without an ``EmailMessage`` in between."""
        ...


def classify(exc: BaseException) -> MailError:
    """An aiosmtplib or network failure as transient or permanent.

    5xx replies to the message itself (RCPT, DATA) are permanent. Replies about the server session
    (greeting, EHLO, AUTH, MAIL FROM) say the server or our configuration is wrong, which an
    operator fixes: those stay transient so the mail goes once it is fixed.
    """
    if isinstance(exc, MailError):
        return exc
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(r.message for r in exc.recipients)
        if codes and all(500 <= code < 600 for code in codes):
            return PermanentMailError(text, codes[0])
        return TransientMailError(text, codes[0] if codes else None)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        message_level = isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError)
        if message_level and 500 <= exc.code < 600:
            return PermanentMailError(exc.message, exc.code)
        return TransientMailError(exc.message, exc.code)
    if isinstance(exc, TimeoutError):
        return TransientMailError(f"timed out: {exc}" if str(exc) else "timed out")
    return TransientMailError(f"{type(exc).__name__}: {exc}")


# A dot-atom address (RFC 5321) that needs neither parsing nor quoting: the envelope commands can be
# written as they are. Anything else goes through aiosmtplib's sendmail, which parses and quotes.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,255}")


async def _envelope_and_data(client: aiosmtplib.SMTP, sender: str, recipient: str, data: bytes) -> None:
    """MAIL, RCPT and DATA for one plain recipient, on a connection that has said EHLO: sendmail's
    transaction without its address parsing (four parses a mail, a fifth of the worker's CPU here).
    No per-command timeout: the caller bounds the whole transaction."""
    try:
        reply = await client.execute_command(b"MAIL", b"FROM:<" + sender.encode() + b">", timeout=None)
        if reply.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
        reply = await client.execute_command(b"RCPT", b"TO:<" + recipient.encode() + b">", timeout=None)
        if reply.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
            raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
        await client.data(data, timeout=None)
    except aiosmtplib.SMTPResponseException:
        # As sendmail does: reset the envelope, so the connection can carry the next mail.
        with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
            await client.rset(timeout=None)
        raise


class SmtpMailer:
    """Sends through the configured SMTP server, keeping up to ``keep`` idle connections for the next
    mails: the worker's send slots each find one open instead of connecting per mail."""

    def __init__(self, config: SmtpConfig, *, keep: int = 5) -> None:
        self.config = config
        self.keep = keep
        self._idle: list[aiosmtplib.SMTP] = []

    async def send(self, message: EmailMessage, sender: str | None = None) -> None:
        await self._guarded(lambda client: client.send_message(message, sender=sender))

    async def send_bytes(self, data: bytes, recipient: str, sender: str) -> None:
        plain = _PLAIN_ADDRESS.fullmatch(sender) and _PLAIN_ADDRESS.fullmatch(recipient)

        async def transaction(client: aiosmtplib.SMTP) -> None:
            if not plain or client.is_ehlo_or_helo_needed:
                await client.sendmail(sender, [recipient], data)
            else:
                await _envelope_and_data(client, sender, recipient, data)

        await self._guarded(transaction)

    async def _guarded(self, transaction: Callable[[aiosmtplib.SMTP], Awaitable[object]]) -> None:
        try:
            async with asyncio.timeout(self.config.timeout):
                await self._send(transaction)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise classify(exc) from exc

    async def _send(self, transaction: Callable[[aiosmtplib.SMTP], Awaitable[object]]) -> None:
        client = self._take()
        if client is not None:
            try:
                await transaction(client)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                # The server closed an idle connection in the meantime: once more on a new one.
                client.close()
            except BaseException:
                client.close()
                raise
            else:
                self._give(client)
                return
        client = await self._connect()
        try:
            await transaction(client)
        except BaseException:
            client.close()
            raise
        self._give(client)

    async def _connect(self) -> aiosmtplib.SMTP:
        c = self.config
        client = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            timeout=c.timeout,
            use_tls=c.security is SmtpSecurity.TLS,
            start_tls=c.security is SmtpSecurity.STARTTLS,
        )
        await client.connect()
        try:
            if c.username:
                await client.login(c.username, c.password)
        except BaseException:
            client.close()
            raise
        return client

    def _take(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
        return None

    def _give(self, client: aiosmtplib.SMTP) -> None:
        if len(self._idle) < self.keep and client.is_connected:
            self._idle.append(client)
        else:
            client.close()

    async def aclose(self) -> None:
        """Say QUIT on the idle connections."""
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                async with asyncio.timeout(min(self.config.timeout, 5)):
                    await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
