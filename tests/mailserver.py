"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd in its own thread), and one that never answers.

Not a test module. Use the ``mail_server`` fixture (tests/conftest.py) or ``MailServer()``::

    server.smtp              # the [smtp] settings to reach it: make_settings(..., smtp=server.smtp)
    server.messages          # every accepted mail, parsed (email.policy.default), in arrival order
    server.tempfail(2)       # the next 2 mails are answered 451 at DATA
    server.refuse("x@y")     # RCPT TO:<x@y> is answered 550
    server.delay = 0.5       # wait this long before answering DATA (a slow server)
    server.stop(); server.start()   # down (connection refused) and up again, same port
    await server.wait_for(3) # until 3 mails have arrived (bounded)
    server.hold(lambda rcpt: rcpt.endswith("@slow.example"))  # such mail waits in DATA until release()
    server.in_data, server.peak_in_data  # DATA sessions open now, and at most (per recipient domain)
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

WAIT_SECONDS = 20.0


class _Controller(Controller):
    """aiosmtpd's threaded controller, able to bind port 0 (it learns the port the kernel chose)."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class _Handler:
    def __init__(self, owner: MailServer) -> None:
        self.owner = owner

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.owner.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        owner = self.owner
        domains = [rcpt.rpartition("@")[2].lower() for rcpt in envelope.rcpt_tos]
        with owner.lock:
            for domain in domains:
                owner.in_data[domain] += 1
                owner.peak_in_data[domain] = max(owner.peak_in_data[domain], owner.in_data[domain])
        try:
            return await self._data(owner, envelope)
        finally:
            with owner.lock:
                for domain in domains:
                    owner.in_data[domain] -= 1

    async def _data(self, owner: MailServer, envelope: Envelope) -> str:
        held = owner.held
        if held is not None and any(held(rcpt) for rcpt in envelope.rcpt_tos):
            if owner.gate is None:
                owner.gate = asyncio.Event()
            with owner.lock:
                released = owner.released
            if not released:
                await owner.gate.wait()
        if owner.delay:
            await asyncio.sleep(owner.delay)
        with owner.lock:
            if owner.tempfails > 0:
                owner.tempfails -= 1
                owner.refusals += 1
                return "451 4.3.0 Try again later"
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with owner.lock:
            owner.messages.append(message)
            owner.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
        return "250 OK queued"


class MailServer:
    """An SMTP server that accepts everything unless told otherwise, and keeps what it got."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refused: set[str] = set()
        self.tempfails = 0
        self.refusals = 0  # DATA answered 451 so far
        self.delay = 0.0
        # Mail to recipients matching ``held`` waits in DATA until release() (then all goes on).
        self.held: Callable[[str], bool] | None = None
        self.released = False
        self.gate: asyncio.Event | None = None  # made and awaited in the server's loop
        self.in_data: Counter[str] = Counter()  # DATA sessions open now, by recipient domain
        self.peak_in_data: Counter[str] = Counter()  # the most at once, by recipient domain
        self.port = 0
        self._controller: _Controller | None = None

    @property
    def smtp(self) -> dict[str, Any]:
        """Settings for ``[smtp]`` (plain SMTP on loopback, a short timeout)."""
        return {"host": "127.0.0.1", "port": self.port, "security": "none", "timeout": 5}

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Listen (on the port of the previous start, if any)."""
        assert self._controller is None, "already running"
        controller = _Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        controller.start()
        self.port = controller.port
        self._controller = controller

    def stop(self) -> None:
        """Stop listening: clients now get "connection refused"."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def tempfail(self, count: int) -> None:
        with self.lock:
            self.tempfails = count

    def hold(self, recipients: Callable[[str], bool] = lambda _: True) -> None:
        """Keep mail for ``recipients`` in DATA (the client waits for its reply) until release()."""
        with self.lock:
            self.held, self.released = recipients, False

    def release(self) -> None:
        """Let every held mail, and all that comes later, go through."""
        with self.lock:
            self.released = True
        if self.gate is not None and self._controller is not None:
            self._controller.loop.call_soon_threadsafe(self.gate.set)

    def open_data(self) -> int:
        """DATA sessions open now, all domains together."""
        with self.lock:
            return sum(self.in_data.values())

    def refuse(self, *recipients: str) -> None:
        self.refused.update(r.lower() for r in recipients)

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]

    def to(self, recipient: str) -> list[EmailMessage]:
        """The mails received for ``recipient``."""
        with self.lock:
            return [m for m in self.messages if recipient in str(m["To"])]

    async def wait_for(self, count: int, within: float = WAIT_SECONDS) -> list[EmailMessage]:
        """Wait until at least ``count`` mails arrived (AssertionError after ``within`` seconds)."""
        deadline = time.monotonic() + within
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"{len(self.messages)} of {count} mails arrived"
            await asyncio.sleep(0.02)
        with self.lock:
            return list(self.messages)


class HangingServer:
    """A TCP port that accepts connections (the kernel's backlog does) and never says a word."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port: int = self._sock.getsockname()[1]

    @property
    def smtp(self) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.port, "security": "none", "timeout": 1}

    def close(self) -> None:
        self._sock.close()
