"""`kibitz demo`'s mailbox: an SMTP server (aiosmtpd, in its own thread) that keeps every mail it is
given as a file in ``<data_dir>/mail/``, and the pages at /demo/mail that show them to a newcomer."""

from __future__ import annotations

import asyncio
import email
import email.errors
import email.policy
import itertools
import os
import re
import threading
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from kibitz.demo import DEMO_SITE
from kibitz.templating import render_template
from kibitz.web.api import ctx_of, site_of

MAIL_DIR = "mail"  # under the data directory
# <received UTC: date-time-microseconds>-<sequence>.eml; anything else in a URL is not a mail of ours.
MAIL_NAME = re.compile(r"(?P<at>[0-9]{8}-[0-9]{6}-[0-9]{6})-[0-9]{4,9}\.eml")
_LINK = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_SHOWN_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Auto-Submitted",
)
# Links in the mail's HTML open at the top level (the confirm and unsubscribe pages must not be framed,
# and need forms), never inside the sandbox.
_BASE_TARGET = '<base target="_top">'


def mail_dir(data_dir: Path) -> Path:
    return data_dir / MAIL_DIR


# -- the SMTP server ------------------------------------------------------------------------------


class _Store:
    """aiosmtpd handler: each message is written to its own file, atomically (temporary file + rename)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()

    def save(self, content: bytes, now: datetime | None = None) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        at = (now or datetime.now(UTC)).astimezone(UTC)
        temporary = self.directory / f".incoming-{uuid.uuid4().hex}"
        with temporary.open("wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        with self._lock:
            while True:
                target = self.directory / f"{at:%Y%m%d-%H%M%S-%f}-{next(self._sequence):04d}.eml"
                if not target.exists():  # a restarted demo counts from 1 again
                    os.replace(temporary, target)
                    return target

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        self.save(content.encode("utf-8") if isinstance(content, str) else content)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's threaded controller, able to listen on port 0: the bound port replaces it."""

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        return self._bind()

    async def _bind(self) -> asyncio.AbstractServer:
        server = await self.loop.create_server(self._factory_invoker, host=self.hostname, port=self.port)
        self.port = server.sockets[0].getsockname()[1]
        return server


class MailServer:
    """An SMTP server on ``host`` (loopback) that stores what it receives in ``directory``.

    ``start()`` returns once it answers; ``port`` is then the bound port (``port=0`` picks a free one).
    """

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = directory
        self.host = host
        self._controller = _Controller(_Store(directory), hostname=host, port=port)

    @property
    def port(self) -> int:
        port: int = self._controller.port
        return port

    def start(self) -> MailServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop(no_assert=True)

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- reading the mails ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredMail:
    name: str
    received: datetime
    message: EmailMessage

    def header(self, name: str) -> str:
        try:
            value = self.message.get(name)
            return "" if value is None else " ".join(str(value).split())
        except (email.errors.MessageError, LookupError, ValueError, TypeError, AttributeError):
            return ""

    @property
    def subject(self) -> str:
        return self.header("Subject")

    @property
    def kind(self) -> str:
        """What the mail is, as the demo's reader would call it."""
        subject = self.subject.lower()
        if subject.startswith("confirm"):  # not "… replied on 'Confirm the budget'"
            return "confirmation"
        if self.header("Auto-Submitted").lower().startswith("auto-"):
            return "notification"
        if "digest" in subject or re.search(r"\b[0-9]+ new ", subject):  # "Site: 3 new comments on …"
            return "digest"
        return "mail"

    def body(self, subtype: str) -> str | None:
        """The text of the message's ``text/<subtype>`` part, if it has one that decodes."""
        try:
            part = self.message.get_body(preferencelist=(subtype,))
            if part is None:
                return None
            content = part.get_content()
        except (email.errors.MessageError, LookupError, ValueError, TypeError, AttributeError):
            return None
        # Mail travels with CRLF line ends; a page shows plain newlines.
        return content.replace("\r\n", "\n") if isinstance(content, str) else None

    def links(self) -> list[str]:
        """The web addresses in the text part, in order, each once."""
        found: dict[str, None] = {}
        for match in _LINK.findall(self.body("plain") or ""):
            found[match.rstrip(".,;:!?)]")] = None
        return list(found)


def _received(name: str) -> datetime | None:
    match = MAIL_NAME.fullmatch(name)
    if match is None:
        return None
    try:
        return datetime.strptime(match["at"], "%Y%m%d-%H%M%S-%f").replace(tzinfo=UTC)
    except ValueError:  # the right shape, not a real time (month 99): not a mail of ours
        return None


def read_mail(directory: Path, name: str) -> StoredMail | None:
    """The mail stored under ``name``; None for a name that is not one of ours or a file that is gone."""
    received = _received(name)
    if received is None:
        return None
    try:
        data = (directory / name).read_bytes()
    except OSError:
        return None
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # what policy.default builds
    return StoredMail(name, received, message)


def list_mails(directory: Path) -> list[StoredMail]:
    """Every stored mail, newest first."""
    try:
        names = [entry.name for entry in os.scandir(directory) if MAIL_NAME.fullmatch(entry.name)]
    except OSError:
        return []
    mails = (read_mail(directory, name) for name in sorted(names, key=_order, reverse=True))
    return [mail for mail in mails if mail is not None]


def _order(name: str) -> tuple[str, int]:
    stamp, _, rest = name.rpartition("-")
    return stamp, int(rest.removesuffix(".eml"))


# -- pages ----------------------------------------------------------------------------------------


def _page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    ctx = ctx_of(request)
    site = site_of(ctx, DEMO_SITE)
    body = render_template(
        template, site_name=site.name, site_id=site.id, docs=ctx.settings.public_docs, **values
    )
    # A mail's HTML may try to load remote images (or worse): nothing leaves this page.
    headers = {
        "Cache-Control": "no-cache",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'",
        "Referrer-Policy": "no-referrer",
    }
    return HTMLResponse(body, status_code=status, headers=headers)


async def mail_list_page(request: Request) -> Response:
    """GET /demo/mail — every mail the demo sent, newest first."""
    directory = mail_dir(ctx_of(request).settings.data_dir)
    return _page(request, "demo/mail_list.html", mails=list_mails(directory))


async def mail_page(request: Request, name: str) -> Response:
    """GET /demo/mail/{name} — one mail: its headers, its text, its HTML in a sandboxed frame."""
    mail = read_mail(mail_dir(ctx_of(request).settings.data_dir), name)
    if mail is None:
        return _page(request, "demo/mail_missing.html", status=404)
    html_body = mail.body("html")
    return _page(
        request,
        "demo/mail.html",
        mail=mail,
        headers=[(key, mail.header(key)) for key in _SHOWN_HEADERS if mail.header(key)],
        text=mail.body("plain"),
        srcdoc=None if html_body is None else _BASE_TARGET + html_body,
        links=mail.links(),
    )
