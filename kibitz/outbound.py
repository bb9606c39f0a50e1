"""The one guard for every HTTP request the server makes on its own (page titles; webhooks and feeds later).

A URL that a reader or a publisher's page hands us must never become a way into the server's own
network (server-side request forgery). So :func:`fetch`:

- takes only ``http``/``https`` URLs without a user name or password, and, when the caller names the
  origins it expects, only URLs (and redirects) on those origins;
- resolves the host once and refuses it if *any* of its addresses is not a public unicast address
  (:func:`address_allowed`: IPv6 wrappers of IPv4 such as ``::ffff:127.0.0.1`` are unwrapped first),
  so a name that resolves to a public and a private address is refused too;
- connects to the address it checked (the IP is pinned; TLS still verifies the host name), so a DNS
  answer that changes between the check and the connection (DNS rebinding) gains nothing;
- follows a few redirects, each checked like the first URL;
- is bounded: one timeout for the whole fetch, redirects included, a cap on header bytes, and a body
  read up to ``max_bytes`` and then cut off (``Response.truncated``), never an error;
- speaks HTTP/1.1 itself with h11 over asyncio streams: no cookies, no credentials, no proxies from
  the environment, no content encodings.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

import h11

from kibitz.origins import DEFAULT_PORTS, MAX_URL, origin_of, split_http_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

REDIRECTS = frozenset({301, 302, 303, 307, 308})
_READ_SIZE = 64 * 1024
_CLOSE_SECONDS = 1.0
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Characters left as they are in a request target; everything else (spaces, controls, non-ASCII) is
# percent-encoded, and "%" stays so that escapes already in the URL survive.
_TARGET_SAFE = "/%:@!$&'()*+,;=-._~?"


class OutboundError(Exception):
    """A fetch that was refused or failed; ``reason`` is a stable short code (see the module)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class OutboundPolicy:
    allow_private: bool = False
    # Non-public networks that may still be reached (the `outbound_allow` setting).
    allow_networks: tuple[Network, ...] = ()
    timeout: float = 5.0
    max_bytes: int = 512 * 1024
    max_header_bytes: int = 16 * 1024
    max_redirects: int = 3
    user_agent: str = "Kibitz (+page titles)"


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


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_allowed(
    ip: IPAddress, *, allow_private: bool = False, allow_networks: Collection[Network] = ()
) -> bool:
    """Whether a request may go to ``ip``: by default only globally routable unicast addresses.

    IPv4 wrapped in IPv6 (mapped ``::ffff:a.b.c.d``, 6to4, Teredo, NAT64) is judged by its IPv4.
    With ``allow_private`` (tests, development) every address passes, and with ``allow_networks``
    (an intranet publisher, the demo's own host) those in the networks, but the unspecified address,
    broadcast and multicast never do."""
    judged = (_embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None) or ip
    if judged.is_unspecified or judged.is_multicast or judged == ipaddress.IPv4Address("255.255.255.255"):
        return False
    if allow_private:
        return True
    # (ipaddress compares the bare numbers: an IPv4 address is "in" ::/96 unless versions are checked)
    if any(a in net for net in allow_networks for a in (ip, judged) if a.version == net.version):
        return True
    return judged.is_global and not judged.is_reserved


@dataclass(frozen=True)
class _Target:
    url: str  # normalised, without fragment
    origin: str
    scheme: str
    host: str  # as for DNS and TLS: IDNA-encoded, IPv6 without brackets
    port: int
    host_header: str
    path: str  # request target: path and query


def _parse(url: str) -> _Target:
    if len(url) > MAX_URL:
        raise OutboundError("bad_url", f"longer than {MAX_URL} characters")
    try:
        origin, _ = split_http_url(url, allow_query=True)
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise OutboundError("bad_url", str(exc)) from None
    scheme, _, netloc = origin.partition("://")
    hostname = parts.hostname or ""
    # An IPv6 literal without its brackets, else the name as in the origin (no port).
    host = str(ipaddress.IPv6Address(hostname)) if ":" in hostname else netloc.partition(":")[0]
    port = parts.port or DEFAULT_PORTS[scheme]
    path = quote(parts.path or "/", safe=_TARGET_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_TARGET_SAFE)
    if not path.startswith("/"):
        path = "/" + path
    return _Target(
        url=origin + path, origin=origin, scheme=scheme, host=host, port=port, host_header=netloc, path=path
    )


def _check_origin(target: _Target, allowed: frozenset[str] | None, reason: str) -> None:
    if allowed is not None and target.origin not in allowed:
        raise OutboundError(reason, f"{target.origin} is not an allowed origin")


async def _resolve(target: _Target, policy: OutboundPolicy) -> list[str]:
    """Every address of the host, all checked; IP literals are used as they are."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        found = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (OSError, UnicodeError) as exc:
            raise OutboundError("resolve_failed", f"{target.host}: {exc}") from None
        found = []
        for _family, _type, _proto, _name, sockaddr in infos:
            try:
                ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            except ValueError:
                raise OutboundError("resolve_failed", f"{target.host}: odd address {sockaddr[0]!r}") from None
            if ip not in found:
                found.append(ip)
        if not found:
            raise OutboundError("resolve_failed", f"{target.host}: no addresses")
    for ip in found:
        if not address_allowed(ip, allow_private=policy.allow_private, allow_networks=policy.allow_networks):
            raise OutboundError("blocked_address", f"{target.host} resolves to {ip}")
    return [str(ip) for ip in found]


async def _connect(
    target: _Target, addresses: list[str], ssl_context: ssl.SSLContext | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a connection to one of the checked addresses, in order; never resolves the name again."""
    context: ssl.SSLContext | None = None
    if target.scheme == "https":
        context = ssl_context or ssl.create_default_context()
    failures: list[str] = []
    for address in addresses:
        try:
            if context is None:
                return await asyncio.open_connection(address, target.port)
            return await asyncio.open_connection(
                address, target.port, ssl=context, server_hostname=target.host
            )
        except OSError as exc:  # refused, reset, unreachable, certificate refused
            failures.append(f"{address}: {exc}")
    raise OutboundError("connect_failed", "; ".join(failures))


async def _close(writer: asyncio.StreamWriter, *, abort: bool) -> None:
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


async def _exchange(
    target: _Target,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    policy: OutboundPolicy,
    accept: str,
    accept_types: frozenset[str] | None,
) -> Response:
    """Send one GET and read its answer (the body only when it is not a redirect)."""
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=policy.max_header_bytes)
    request = h11.Request(
        method="GET",
        target=target.path,
        headers=[
            ("Host", target.host_header),
            ("User-Agent", policy.user_agent),
            ("Accept", accept),
            ("Accept-Encoding", "identity"),
            ("Connection", "close"),
        ],
    )
    try:
        writer.write((conn.send(request) or b"") + (conn.send(h11.EndOfMessage()) or b""))
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
    target: _Target,
    policy: OutboundPolicy,
    accept_types: frozenset[str] | None,
) -> Response:
    headers = tuple(
        (name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in event.headers
    )
    head = Response(url=target.url, status=event.status_code, headers=headers, body=b"", truncated=False)
    if _is_redirect(head):
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


def _is_redirect(response: Response) -> bool:
    return response.status in REDIRECTS and response.header("location") is not None


async def _fetch(
    url: str,
    policy: OutboundPolicy,
    allowed: frozenset[str] | None,
    accept: str,
    accept_types: frozenset[str] | None,
    ssl_context: ssl.SSLContext | None,
) -> Response:
    target = _parse(url)
    _check_origin(target, allowed, "bad_url")
    hops = 0
    while True:
        addresses = await _resolve(target, policy)
        reader, writer = await _connect(target, addresses, ssl_context)
        complete = False
        try:
            response = await _exchange(
                target, reader, writer, policy=policy, accept=accept, accept_types=accept_types
            )
            # A redirect's body is left unread: no polite goodbye then either.
            complete = not response.truncated and not _is_redirect(response)
        finally:
            await _close(writer, abort=not complete)
        location = response.header("location")
        if location is None or not _is_redirect(response):
            return response
        hops += 1
        if hops > policy.max_redirects:
            raise OutboundError("too_many_redirects", f"more than {policy.max_redirects} redirects")
        try:
            next_url = urljoin(target.url, location.strip())
        except ValueError:
            raise OutboundError("bad_url", f"redirect to {location!r}") from None
        target = _parse(next_url)
        _check_origin(target, allowed, "redirect_off_origin")


async def fetch(
    url: str,
    *,
    policy: OutboundPolicy,
    allowed_origins: Collection[str] | None = None,
    accept: str = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
    accept_types: Collection[str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Response:
    """GET ``url`` through the guard (see the module); raises :class:`OutboundError`.

    ``allowed_origins`` (``scheme://host[:port]``) limits the URL and every redirect to those origins.
    ``accept_types`` (media types such as ``text/html``) makes a 2xx answer of another type an
    OutboundError("not_html") before its body is read. Other statuses are returned as they are."""
    allowed = None
    if isinstance(allowed_origins, str):  # one origin given as a string, not its characters
        allowed_origins = [allowed_origins]
    if allowed_origins is not None:
        allowed = frozenset(o for o in map(origin_of, allowed_origins) if o is not None)
    wanted = None if accept_types is None else frozenset(t.strip().lower() for t in accept_types)
    try:
        async with asyncio.timeout(policy.timeout):
            return await _fetch(url, policy, allowed, accept, wanted, ssl_context)
    except TimeoutError:
        raise OutboundError("timeout", f"no complete answer within {policy.timeout:g} s") from None
