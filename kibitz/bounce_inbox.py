"""`kibitz bounces`: an SMTP endpoint (aiosmtpd, in this process's event loop) that takes the bounces
and complaints addressed to signed return paths of ``bounce_address`` and records them (bounces.py).

Only VERP addresses with a valid signature are accepted at RCPT; every other recipient is answered
550, so the endpoint relays nothing and a forged bounce address gets nowhere. A message is at most
``MAX_MESSAGE`` bytes (552 beyond). A message that states no bounce (a vacation reply, say) is taken
and forgotten; a database fault answers 451, so the sending server tries again later.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from aiosmtpd.smtp import SMTP, Envelope, Session

from kibitz.bounce_parse import parse
from kibitz.bounces import Recorded, Verp, record_report
from kibitz.config import Settings, split_listen
from kibitz.store.db import Database

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]

MAX_MESSAGE = 1024 * 1024  # bytes of one message
MAX_RECIPIENTS = 20  # per message
SESSION_TIMEOUT = 60.0  # seconds a client may stay silent
STOP_SECONDS = 5.0


class _Handler:
    """aiosmtpd's hooks: who may be written to, and what happens to a message."""

    def __init__(self, inbox: BounceInbox) -> None:
        self.inbox = inbox

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.inbox.verp.outbox_id(address) is None:
            return "550 5.1.1 No such recipient here"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        data = content.encode("utf-8", "replace") if isinstance(content, str) else bytes(content)
        try:
            await self.inbox.take(data, list(envelope.rcpt_tos))
        except Exception:  # the database, most likely: the sender keeps the report and tries again
            log.exception("could not record a report")
            return "451 4.3.0 Try again later"
        return "250 OK"


class BounceInbox:
    """The endpoint: ``await start(host, port)`` (port 0 picks a free one, then ``port`` says which),
    ``await stop()``."""

    def __init__(self, db: Database, settings: Settings, verp: Verp, clock: Clock) -> None:
        self.db = db
        self.settings = settings
        self.verp = verp
        self.clock = clock
        self.host = urlsplit(settings.base_url).hostname or "localhost"  # of our Message-IDs (mailer.py)
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    async def take(self, data: bytes, recipients: list[str]) -> list[Recorded]:
        """Record what the message ``data`` reports, for each signed return path it was sent to."""
        found = await asyncio.to_thread(parse, data, host=self.host, verp=self.verp.outbox_id)
        recorded: list[Recorded] = []
        for outbox_id in dict.fromkeys(self.verp.outbox_id(address) for address in recipients):
            if outbox_id is None:
                continue
            done = await record_report(
                self.db, found, outbox_id, self.clock(), soft_limit=self.settings.soft_bounce_limit
            )
            if done is None:
                log.info("a message to the return path of outbox %s states no bounce", outbox_id)
            else:
                log.info("outbox %s: %s bounce of %s recorded", outbox_id, done.kind, done.email)
                recorded.append(done)
        return recorded

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        handler = _Handler(self)
        domain = self.verp.domain

        def session() -> SMTP:
            return SMTP(
                handler,
                data_size_limit=MAX_MESSAGE,
                enable_SMTPUTF8=True,  # reports about internationalised addresses (RFC 6533)
                hostname=domain,
                ident="Kibitz bounces",
                timeout=SESSION_TIMEOUT,
                loop=loop,
            )

        self._server = await loop.create_server(session, host=host, port=port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            try:
                await asyncio.wait_for(server.wait_closed(), STOP_SECONDS)
            except TimeoutError:
                log.warning("bounces: sessions still open at stop")


async def serve_bounces(settings: Settings) -> None:
    """`kibitz bounces`: take reports on ``bounces_listen`` until SIGTERM or SIGINT. OSError when the
    address cannot be bound."""
    from kibitz.context import close_context, open_context

    ctx = await open_context(settings)
    try:
        inbox = BounceInbox(ctx.db, settings, Verp(settings.bounce_address, ctx.tokens), ctx.clock)
        await inbox.start(*split_listen(settings.bounces_listen))
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        log.info("bounces: taking reports for %s on %s", settings.bounce_address, settings.bounces_listen)
        await stopping.wait()
        await inbox.stop()
        log.info("bounces: stopped")
    finally:
        await close_context(ctx)
