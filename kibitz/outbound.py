"""The one guard for every HTTP request the server makes on its own (page titles, webhooks).

A URL that a reader, a publisher's page or a site's owner hands us must never become a way into the
server's own network (server-side request forgery). So :func:`fetch` (GET) and :func:`send` (a POST
that follows no redirect, for webhooks):

- takes only ``http``/``https`` URLs without a user name or password, and, when the caller names the
  origins it expects, only URLs (and redirects) on those origins;
- resolves the host once and refuses it if *any* of its addresses is not a public unicast address
  (:func:`address_allowed`: IPv6 wrappers of IPv4 such as ``::ffff:127.0.0.1`` are unwrapped first),
  so a name that resolves to a public and a private address is refused too;
- connects to the address it checked (the IP is pinned; TLS still verifies the host name), so a DNS
  answer that changes between the check and the connection (DNS rebinding) gains nothing;
- follows a few redirects, each checked like the first URL (``send`` returns a 3xx as it is);
- is bounded: one timeout for the whole fetch, redirects included, a cap on header bytes, and a body
  read up to ``max_bytes`` and then cut off (``Response.truncated``), never an error;
- goes through a circuit breaker per destination (``scheme://host:port``, breaker.py; QUALITY R11):
  after BREAKER_FAILURES calls in a row that got no answer (a timeout, a refused or dropped
  connection, a name that does not resolve, a garbled answer), calls to that destination fail at
  once with OutboundError("breaker_open") for BREAKER_FIRST seconds, then one trial call goes; a
  failed trial doubles the wait (up to BREAKER_CAP), any answer closes the breaker. An HTTP error
  status is an answer: the caller judges it. Every caller already takes an OutboundError as a
  failure (a webhook is retried later, a page keeps its path as title, a sign-in fails);
- speaks HTTP/1.1 itself with h11 over asyncio streams (outbound_wire.py): no cookies, no
  credentials, no proxies from the environment, no content encodings.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Collection
from typing import TypeVar
from urllib.parse import quote, urljoin, urlsplit

from kibitz.breaker import Breakers
from kibitz.origins import DEFAULT_PORTS, MAX_URL, origin_of, split_http_url
from kibitz.outbound_wire import (
    REDIRECTS,
    Network,
    OutboundError,
    OutboundPolicy,
    Outgoing,
    Response,
    Target,
    close,
    exchange,
)

__all__ = [
    "BREAKERS",
    "REDIRECTS",
    "Network",
    "OutboundError",
    "OutboundPolicy",
    "Response",
    "address_allowed",
    "check_target",
    "fetch",
    "send",
]

_T = TypeVar("_T")
log = logging.getLogger(__name__)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Characters left as they are in a request target; everything else (spaces, controls, non-ASCII) is
# percent-encoded, and "%" stays so that escapes already in the URL survive.
_TARGET_SAFE = "/%:@!$&'()*+,;=-._~?"
BREAKER_FAILURES = 5  # calls in a row without an answer that open a destination's breaker
BREAKER_FIRST = 30.0  # seconds a destination is skipped then; doubled after each failed trial...
BREAKER_CAP = 600.0  # ...up to this
# The reasons that mean "no answer" (the breaker counts them); the rest are the guard's refusals.
NO_ANSWER = frozenset({"timeout", "connect_failed", "resolve_failed", "bad_response"})
# The process's breakers, one per destination, shared by every caller (webhooks, titles, feeds,
# sign-in, Akismet); a policy may bring its own (tests).
BREAKERS = Breakers(failures=BREAKER_FAILURES, first=BREAKER_FIRST, cap=BREAKER_CAP)


class _Hop:
    """The destination a request is talking to now, for its breaker (a timeout ends any hop)."""

    def __init__(self, breakers: Breakers) -> None:
        self.breakers = breakers
        self.key = ""
        self.ticket = 0

    def begin(self, target: Target) -> None:
        ticket = self.breakers.attempt(target.origin)
        if ticket is None:
            raise OutboundError(
                "breaker_open", f"{target.origin} did not answer repeatedly just now; not tried"
            )
        self.key, self.ticket = target.origin, ticket

    def failed(self) -> None:
        if self.key and self.breakers.failed(self.key, self.ticket):
            log.warning("outbound: %s does not answer; calls to it skipped for a while", self.key)
        self.key = ""

    def refused(self, exc: OutboundError, *, talked: bool) -> None:
        """An error on this hop: no answer counts against the destination; an answer the guard
        refused (too large, not HTML) shows it is up; the guard's own refusals tell nothing."""
        if exc.reason in NO_ANSWER:
            self.failed()
        elif talked:
            self.answered()
        self.key = ""

    def answered(self) -> None:
        if self.key and self.breakers.succeeded(self.key):
            log.info("outbound: %s answers again", self.key)
        self.key = ""


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


def _parse(url: str) -> Target:
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
    return Target(
        url=origin + path, origin=origin, scheme=scheme, host=host, port=port, host_header=netloc, path=path
    )


def _check_origin(target: Target, allowed: frozenset[str] | None, reason: str) -> None:
    if allowed is not None and target.origin not in allowed:
        raise OutboundError(reason, f"{target.origin} is not an allowed origin")


async def _resolve(target: Target, policy: OutboundPolicy) -> list[str]:
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
    private_ok = policy.allow_private or target.host.lower() in policy.allow_hosts
    for ip in found:
        if not address_allowed(ip, allow_private=private_ok, allow_networks=policy.allow_networks):
            raise OutboundError("blocked_address", f"{target.host} resolves to {ip}")
    return [str(ip) for ip in found]


async def _connect(
    target: Target, addresses: list[str], ssl_context: ssl.SSLContext | None
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


async def _fetch(
    url: str,
    policy: OutboundPolicy,
    allowed: frozenset[str] | None,
    outgoing: Outgoing,
    accept_types: frozenset[str] | None,
    ssl_context: ssl.SSLContext | None,
    hop: _Hop,
) -> Response:
    target = _parse(url)
    _check_origin(target, allowed, "bad_url")
    hops = 0
    while True:
        hop.begin(target)
        try:
            addresses = await _resolve(target, policy)
            reader, writer = await _connect(target, addresses, ssl_context)
        except OutboundError as exc:
            hop.refused(exc, talked=False)
            raise
        complete = False
        try:
            response = await exchange(
                target, reader, writer, policy=policy, outgoing=outgoing, accept_types=accept_types
            )
            # A redirect's body is left unread: no polite goodbye then either.
            complete = not response.truncated and not response.is_redirect
        except OutboundError as exc:
            hop.refused(exc, talked=True)
            raise
        finally:
            await close(writer, abort=not complete)
        hop.answered()
        location = response.header("location")
        if location is None or not response.is_redirect or not outgoing.follow_redirects:
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
    headers: Collection[tuple[str, str]] = (),
    ssl_context: ssl.SSLContext | None = None,
) -> Response:
    """GET ``url`` through the guard (see the module); raises :class:`OutboundError`.

    ``allowed_origins`` (``scheme://host[:port]``) limits the URL and every redirect to those origins.
    ``accept_types`` (media types such as ``text/html``) makes a 2xx answer of another type an
    OutboundError("not_html") before its body is read. Other statuses are returned as they are.
    ``headers`` go with the request too (a conditional GET's ``If-None-Match``, say)."""
    allowed = None
    if isinstance(allowed_origins, str):  # one origin given as a string, not its characters
        allowed_origins = [allowed_origins]
    if allowed_origins is not None:
        allowed = frozenset(o for o in map(origin_of, allowed_origins) if o is not None)
    wanted = None if accept_types is None else frozenset(t.strip().lower() for t in accept_types)
    outgoing = Outgoing(headers=(("Accept", accept), *headers))
    return await _guarded(
        policy, lambda hop: _fetch(url, policy, allowed, outgoing, wanted, ssl_context, hop)
    )


async def send(
    url: str,
    *,
    body: bytes,
    headers: Collection[tuple[str, str]],
    policy: OutboundPolicy,
    method: str = "POST",
    ssl_context: ssl.SSLContext | None = None,
) -> Response:
    """Send ``body`` to ``url`` through the guard (see the module); raises :class:`OutboundError`.

    No redirect is followed: a 3xx comes back like any other status, for the caller to judge, and
    its body is not read. The answer's body is kept up to ``policy.max_bytes``."""
    outgoing = Outgoing(method=method, headers=tuple(headers), body=body, follow_redirects=False)
    return await _guarded(policy, lambda hop: _fetch(url, policy, None, outgoing, None, ssl_context, hop))


async def check_target(url: str, *, policy: OutboundPolicy) -> None:
    """Whether a request to ``url`` would pass the guard now (its form and every address its host
    resolves to), without connecting; raises :class:`OutboundError`. A later request checks again."""
    await _bounded(policy, _resolve(_parse(url), policy))


async def _guarded(policy: OutboundPolicy, work: Callable[[_Hop], Awaitable[_T]]) -> _T:
    """``work`` within the policy's timeout, each of its hops through its destination's breaker."""
    hop = _Hop(policy.breakers or BREAKERS)
    try:
        return await _bounded(policy, work(hop))
    except OutboundError as exc:
        if exc.reason == "timeout":
            hop.failed()  # the hop that was talking when time ran out
        raise
    except BaseException:  # cancelled: neither an answer nor a failure of the destination
        hop.key = ""
        raise


async def _bounded(policy: OutboundPolicy, work: Awaitable[_T]) -> _T:
    try:
        async with asyncio.timeout(policy.timeout):
            return await work
    except TimeoutError:
        raise OutboundError("timeout", f"no complete answer within {policy.timeout:g} s") from None
