"""Outgoing mail: the message built from an outbox row, and the SMTP client that sends it.

Failures come out as ``TransientMailError`` (try again later) or ``PermanentMailError`` (never).
"""

from __future__ import annotations

import asyncio
import email.policy
import logging
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol
from urllib.parse import urlsplit

import aiosmtplib

from kibitz.config import Settings, SmtpConfig, SmtpSecurity
from kibitz.store.outbox import OutboxRow

log = logging.getLogger(__name__)

# Notifications and confirmations are machine-made (RFC 3834): autoresponders must not answer them.
AUTO_SUBMITTED_KINDS = frozenset({"confirm", "reply", "thread", "digest", "manage", "moderation"})


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


def message_id(outbox_id: int, base_url: str) -> str:
    """Stable per outbox row, so a resend after a crash is recognisable as the same mail."""
    host = urlsplit(base_url).hostname or "localhost"
    return f"<kibitz.{outbox_id}@{host}>"


def build_message(row: OutboxRow, settings: Settings) -> EmailMessage:
    """The mail of an outbox row, text and HTML. A header value holding CR or LF raises ValueError
    (EmailMessage refuses it), so no header can be injected (QUALITY T43)."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = settings.smtp.sender
    msg["To"] = row.recipient
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(row.created)
    msg["Message-ID"] = message_id(row.id, settings.base_url)
    if row.list_unsubscribe:
        msg["List-Unsubscribe"] = f"<{row.list_unsubscribe}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if row.kind in AUTO_SUBMITTED_KINDS:
        msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(row.text_body)
    msg.add_alternative(row.html_body, subtype="html")
    return msg


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


class SmtpMailer:
    """Sends through the configured SMTP server, keeping a few idle connections for the next mails."""

    def __init__(self, config: SmtpConfig, *, keep: int = 5) -> None:
        self.config = config
        self.keep = keep
        self._idle: list[aiosmtplib.SMTP] = []

    async def send(self, message: EmailMessage, sender: str | None = None) -> None:
        try:
            async with asyncio.timeout(self.config.timeout):
                await self._send(message, sender)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise classify(exc) from exc

    async def _send(self, message: EmailMessage, sender: str | None) -> None:
        client = self._take()
        if client is not None:
            try:
                await client.send_message(message, sender=sender)
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
            await client.send_message(message, sender=sender)
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
