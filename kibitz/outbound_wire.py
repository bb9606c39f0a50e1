"""HTTP/1.1 on a connection the guard in outbound.py opened to an address it checked: one request, and
an answer read within bounds (header bytes, body bytes), with the guard's policy and error type."""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import h11

if TYPE_CHECKING:
    from kibitz.breaker import Breakers

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

REDIRECTS = frozenset({301, 302, 303, 307, 308})
_READ_SIZE = 64 * 1024
_CLOSE_SECONDS = 1.0


class OutboundError(Exception):
    """A request that was refused or failed; ``reason`` is a stable short code (see outbound.py)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class OutboundPolicy:
    allow_private: bool = False
    # Non-public networks that may still be reached (the `outbound_allow` and `webhook_allow` settings).
    allow_networks: tuple[Network, ...] = ()
    # Host names (lower-case, IDNA) whose addresses may be private (the `webhook_allow` setting).
    allow_hosts: frozenset[str] = frozenset()
    timeout: float = 5.0
    max_bytes: int = 512 * 1024
    max_header_bytes: int = 16 * 1024
    max_redirects: int = 3
    user_agent: str = "Kibitz (+page titles)"
    # The circuit breakers of the destinations (breaker.py); None: the process's (outbound.BREAKERS).
    breakers: Breakers | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool

    def header(self, name: str) -> str | None:
        """The first header of that name (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    @property
    def content_type(self) -> str:
        """The media type, lower-case and without parameters; "" when there is none."""
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for param in (self.header("content-type") or "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset":
                return value.strip().strip("\"'").strip() or None
        return None

    @property
    def is_redirect(self) -> bool:
        return self.status in REDIRECTS and self.header("location") is not None


@dataclass(frozen=True)
class Target:
    url: str  # normalised, without fragment
    origin: str
    scheme: str
    host: str  # as for DNS and TLS: IDNA-encoded, IPv6 without brackets
    port: int
    host_header: str
    path: str  # request target: path and query


@dataclass(frozen=True)
class Outgoing:
    """What to send: a GET with its Accept, or a request with a body and the caller's headers."""

    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    follow_redirects: bool = True


async def close(writer: asyncio.StreamWriter, *, abort: bool) -> None:
    """Close the connection: politely after a complete answer, at once (no TLS goodbye to wait for
    while the peer is still sending) after a cut-off body or an error."""
    if abort:
        writer.transport.abort()
    else:
        writer.close()
    try:
        async with asyncio.timeout(_CLOSE_SECONDS):
            await writer.wait_closed()
    except OSError:  # TimeoutError included
        writer.transport.abort()


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> object:
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            if exc.error_status_hint == 431:
                raise OutboundError("too_large", "response headers too large") from None
            raise OutboundError("bad_response", str(exc)) from None
        if event is not h11.NEED_DATA:
            return event
        try:
            data = await reader.read(_READ_SIZE)
        except OSError as exc:
            raise OutboundError("connect_failed", f"while reading: {exc}") from None
        conn.receive_data(data)


async def exchange(
    target: Target,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    policy: OutboundPolicy,
    outgoing: Outgoing,
    accept_types: frozenset[str] | None,
) -> Response:
    """Send one request and read its answer (the body only when it is not a redirect)."""
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=policy.max_header_bytes)
    headers = [("Host", target.host_header), ("User-Agent", policy.user_agent), *outgoing.headers]
    if outgoing.method != "GET":
        headers.append(("Content-Length", str(len(outgoing.body))))
    headers += [("Accept-Encoding", "identity"), ("Connection", "close")]
    try:
        data = conn.send(h11.Request(method=outgoing.method, target=target.path, headers=headers)) or b""
        if outgoing.body:
            data += conn.send(h11.Data(data=outgoing.body)) or b""
        writer.write(data + (conn.send(h11.EndOfMessage()) or b""))
    except h11.LocalProtocolError as exc:
        raise OutboundError("bad_url", str(exc)) from None
    try:
        await writer.drain()
    except OSError as exc:
        raise OutboundError("connect_failed", f"while sending: {exc}") from None

    header_bytes = 0
    while True:
        event = await _next_event(conn, reader)
        if not isinstance(event, h11.InformationalResponse | h11.Response):
            raise OutboundError("bad_response", f"unexpected {type(event).__name__}")
        # (a status line counts too, or endless "100 Continue" heads would cost nothing)
        header_bytes += 32 + sum(len(name) + len(value) + 4 for name, value in event.headers)
        if header_bytes > policy.max_header_bytes:  # a whole head may arrive in one read
            raise OutboundError("too_large", "response headers too large")
        if isinstance(event, h11.Response):
            return await _read_rest(conn, reader, event, target, policy, accept_types)


async def _read_rest(
    conn: h11.Connection,
    reader: asyncio.StreamReader,
    event: h11.Response,
    target: Target,
    policy: OutboundPolicy,
    accept_types: frozenset[str] | None,
) -> Response:
    headers = tuple(
        (name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in event.headers
    )
    head = Response(url=target.url, status=event.status_code, headers=headers, body=b"", truncated=False)
    if head.is_redirect:
        return head
    if accept_types is not None and 200 <= event.status_code < 300 and head.content_type not in accept_types:
        raise OutboundError("not_html", f"content type {head.content_type or 'missing'!r}")

    body = bytearray()
    truncated = False
    while True:
        part = await _next_event(conn, reader)
        if isinstance(part, h11.Data):
            body += part.data
            if len(body) > policy.max_bytes:
                del body[policy.max_bytes :]
                truncated = True
                break
        else:  # EndOfMessage or ConnectionClosed
            break
    return Response(
        url=target.url, status=head.status, headers=headers, body=bytes(body), truncated=truncated
    )
