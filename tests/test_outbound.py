"""The SSRF guard for outbound HTTP (kibitz.outbound), against raw HTTP servers on 127.0.0.1 whose every
byte the tests write: redirects, chunked bodies, huge headers, stalls, 10 MB bodies, TLS."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kibitz.outbound import OutboundError, OutboundPolicy, Response, address_allowed, fetch
from tests.conftest import missing
from tests.loopback import serving

pytestmark = pytest.mark.anyio

DEV = OutboundPolicy(allow_private=True, timeout=2.0)

# (request path, writer) -> writes the whole answer; the server closes the connection afterwards.
Handler = Callable[[str, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Server:
    port: int
    scheme: str = "http"
    requests: list[str] = field(default_factory=list)  # each request's head, decoded

    @property
    def origin(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.origin + path


@contextlib.asynccontextmanager
async def serve(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    found = Server(port=0, scheme="https" if tls else "http")

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        found.requests.append(head)
        await handler(head.split(" ")[1], writer)
        await writer.drain()

    async with serving(connection, tls) as port:
        found.port = port
        yield found


def answer(status: str = "200 OK", body: bytes = b"hello", *headers: str) -> Handler:
    async def handler(path: str, writer: asyncio.StreamWriter) -> None:
        lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    return handler


def redirect(location: str, status: str = "302 Found") -> Handler:
    return answer(status, b"", f"Location: {location}")


def routes(table: dict[str, Handler]) -> Handler:
    async def handler(path: str, writer: asyncio.StreamWriter) -> None:
        await table.get(path, answer("404 Not Found", b"nope"))(path, writer)

    return handler


async def fails(reason: str, url: str, policy: OutboundPolicy = DEV, **options: Any) -> OutboundError:
    with pytest.raises(OutboundError) as caught:
        await fetch(url, policy=policy, **options)
    assert caught.value.reason == reason, caught.value
    return caught.value


# -- addresses (no network) ---------------------------------------------------------------------------

BLOCKED = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",  # noqa: S104 - an address to refuse, not one to bind
    "0.1.2.3",
    "224.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "240.0.0.1",
    "::1",
    "::",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::",
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo for 10.0.0.1
    "64:ff9b::a00:1",  # NAT64 for 10.0.0.1
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
    "2001:db8::1",
]


@pytest.mark.parametrize("text", BLOCKED)
def test_private_and_special_addresses_are_refused(text: str) -> None:
    assert not address_allowed(ipaddress.ip_address(text))


@pytest.mark.parametrize(
    "text",
    ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8", "2002:808:808::", "64:ff9b::808:808"],
)
def test_public_unicast_addresses_are_allowed(text: str) -> None:
    assert address_allowed(ipaddress.ip_address(text))


@pytest.mark.parametrize(
    "text", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "fe80::1", "::ffff:127.0.0.1"]
)
def test_allow_private_lets_local_addresses_through(text: str) -> None:
    assert address_allowed(ipaddress.ip_address(text), allow_private=True)


@pytest.mark.parametrize(
    "text",
    ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "::ffff:0.0.0.0", "255.255.255.255"],  # noqa: S104
)
def test_allow_private_still_refuses_unspecified_and_multicast(text: str) -> None:
    assert not address_allowed(ipaddress.ip_address(text), allow_private=True)


def test_allowed_networks_let_only_their_addresses_through() -> None:
    nets = (ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("::1/128"))
    for ok in ("10.1.2.3", "::ffff:10.1.2.3", "::1", "8.8.8.8"):
        assert address_allowed(ipaddress.ip_address(ok), allow_networks=nets), ok
    for refused in ("10.2.0.1", "127.0.0.1", "169.254.169.254", "0.0.0.1"):  # 0.0.0.1 is ::1 as a number
        assert not address_allowed(ipaddress.ip_address(refused), allow_networks=nets), refused
    everything = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
    for never in ("0.0.0.0", "224.0.0.1", "::", "ff02::1"):  # noqa: S104 - addresses to refuse
        assert not address_allowed(ipaddress.ip_address(never), allow_networks=everything), never


async def test_a_policy_with_allowed_networks_reaches_them() -> None:
    async with serve(answer()) as server:
        only = OutboundPolicy(allow_networks=(ipaddress.ip_network("127.0.0.0/8"),))
        assert (await fetch(server.url(), policy=only)).status == 200
        other = OutboundPolicy(allow_networks=(ipaddress.ip_network("10.0.0.0/8"),))
        await fails("blocked_address", server.url(), other)


def test_response_header_helpers() -> None:
    r = Response("http://x/", 200, (("content-type", 'Text/HTML; Charset="ISO-8859-1"'),), b"", False)
    assert (r.header("Content-Type"), r.content_type, r.charset) == (
        r.headers[0][1],
        "text/html",
        "ISO-8859-1",
    )
    bare = Response("http://x/", 200, (), b"", False)
    assert (bare.header("content-type"), bare.content_type, bare.charset) == (None, "", None)


# -- URLs ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://user:secret@127.0.0.1/",
        "http://user@127.0.0.1/",
        "http:///no-host",
        "http://",
        "/relative",
        "http://127.0.0.1:0/",
        "http://127.0.0.1:65536/",
        "http://127.0.0.1:port/",
        "http://exa mple.org/",
        "http://127.0.0.1/" + "a" * 2048,
    ],
)
async def test_bad_urls_are_refused_before_any_connection(url: str) -> None:
    await fails("bad_url", url)


async def test_loopback_is_refused_by_default_and_never_contacted() -> None:
    async with serve(answer()) as server:
        await fails("blocked_address", server.url(), OutboundPolicy())
        await fails("blocked_address", f"http://[::ffff:127.0.0.1]:{server.port}/", OutboundPolicy())
        assert server.requests == []


@pytest.mark.parametrize(
    "url",
    ["http://localhost/", "http://LocalHost:8080/", "http://2130706433/", "http://0x7f.1/", "http://127.1/"],
)
async def test_names_resolving_to_loopback_are_refused_by_default(url: str) -> None:
    await fails("blocked_address", url, OutboundPolicy())


async def test_allow_private_fetches_and_sends_the_expected_request() -> None:
    async with serve(
        answer("200 OK", b"<title>Hi</title>", "Content-Type: text/html; charset=utf-8")
    ) as server:
        r = await fetch(server.url("/a b/é?q=1 2#frag"), policy=DEV)
    assert (r.status, r.body, r.truncated, r.content_type, r.charset) == (
        200,
        b"<title>Hi</title>",
        False,
        "text/html",
        "utf-8",
    )
    assert r.url == server.url("/a%20b/%C3%A9?q=1%202")
    [head] = server.requests
    lines = head.split("\r\n")
    assert lines[0] == "GET /a%20b/%C3%A9?q=1%202 HTTP/1.1"
    sent = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:] if line)}
    assert sent["host"] == f"127.0.0.1:{server.port}"
    assert sent["user-agent"] == "Kibitz (+page titles)"
    assert sent["accept-encoding"] == "identity"
    assert sent["connection"] == "close"
    assert sent["accept"].startswith("text/html")
    assert "cookie" not in sent
    assert "authorization" not in sent


async def test_other_statuses_are_returned_for_the_caller_to_judge() -> None:
    async with serve(answer("503 Service Unavailable", b"later")) as server:
        r = await fetch(server.url(), policy=DEV)
    assert (r.status, r.body) == (503, b"later")


# -- resolution and pinning ----------------------------------------------------------------------------


def fake_resolver(answers: dict[str, list[str]], calls: list[str]) -> Callable[..., Awaitable[list[Any]]]:
    async def getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
        calls.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        return [
            (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
            for ip in answers[host]
        ]

    return getaddrinfo


async def test_any_private_address_of_a_name_refuses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    answers = {
        "mixed.kibitz.test": ["8.8.8.8", "10.0.0.1"],
        "v6.kibitz.test": ["2001:4860:4860::8888", "::1"],
    }
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_resolver(answers, calls))
    await fails("blocked_address", "https://mixed.kibitz.test/", OutboundPolicy())
    await fails("blocked_address", "https://v6.kibitz.test/", OutboundPolicy())
    await fails("resolve_failed", "https://unknown.kibitz.test/", OutboundPolicy())


async def test_the_checked_address_is_the_one_connected_to(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    answers = {"news.kibitz.test": ["127.0.0.1"]}
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_resolver(answers, calls))
    async with serve(answer()) as server:
        r = await fetch(f"http://news.kibitz.test:{server.port}/story", policy=DEV)
    assert (r.status, r.url) == (200, f"http://news.kibitz.test:{server.port}/story")
    assert calls == ["news.kibitz.test"]  # resolved once, then connected to that address
    assert f"\r\nHost: news.kibitz.test:{server.port}\r\n" in server.requests[0]


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    await fails("connect_failed", f"http://127.0.0.1:{port}/")


# -- redirects -----------------------------------------------------------------------------------------


async def test_redirects_within_the_origin_are_followed() -> None:
    table = {"/a": redirect("/b", "301 Moved Permanently"), "/b": redirect("c?x=1", "308 Permanent Redirect")}
    table["/c?x=1"] = answer("200 OK", b"done")
    async with serve(routes(table)) as server:
        r = await fetch(server.url("/a"), policy=DEV, allowed_origins=[server.origin.upper() + "/"])
    assert (r.status, r.body, r.url) == (200, b"done", server.url("/c?x=1"))


async def test_a_first_url_off_the_allowed_origins_is_a_bad_url() -> None:
    async with serve(answer()) as server:
        await fails("bad_url", server.url(), allowed_origins=["https://news.example.org"])
        await fails("bad_url", server.url(), allowed_origins=[f"https://127.0.0.1:{server.port}"])
        assert server.requests == []
        r = await fetch(server.url("/x"), policy=DEV, allowed_origins=f"HTTP://127.0.0.1:{server.port}/")
        assert r.status == 200


async def test_redirects_off_the_allowed_origins_are_refused() -> None:
    async with serve(answer("200 OK", b"other")) as other, serve(redirect(other.url("/x"))) as first:
        await fails("redirect_off_origin", first.url(), allowed_origins=[first.origin])
        assert other.requests == []
        r = await fetch(first.url(), policy=DEV)  # without allowed_origins it is followed
        assert (r.body, r.url) == (b"other", other.url("/x"))


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://0.0.0.0:{port}/", "blocked_address"),
        ("http://[::]:{port}/", "blocked_address"),
        ("http://224.0.0.1:{port}/", "blocked_address"),
        ("ftp://127.0.0.1/", "bad_url"),
        ("http://user:pw@127.0.0.1:{port}/", "bad_url"),
    ],
)
async def test_every_redirect_goes_through_the_whole_guard(location: str, reason: str) -> None:
    ports: list[int] = []

    async def jump(path: str, writer: asyncio.StreamWriter) -> None:
        await redirect(location.format(port=ports[0]))(path, writer)

    async with serve(routes({"/": redirect("/jump"), "/jump": jump})) as server:
        ports.append(server.port)
        await fails(reason, server.url())
        assert len(server.requests) == 2


async def test_redirect_loops_are_capped() -> None:
    async with serve(redirect("/loop", "307 Temporary Redirect")) as server:
        await fails(
            "too_many_redirects", server.url("/loop"), OutboundPolicy(allow_private=True, max_redirects=3)
        )
        assert len(server.requests) == 4
        server.requests.clear()
        await fails(
            "too_many_redirects", server.url("/loop"), OutboundPolicy(allow_private=True, max_redirects=0)
        )
        assert len(server.requests) == 1


# -- bodies, headers, time -----------------------------------------------------------------------------


async def huge(path: str, writer: asyncio.StreamWriter) -> None:
    """10 MB of body, for as long as the client reads it."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\n")
    block = b"x" * 65536
    for _ in range(160):
        writer.write(block)
        await writer.drain()


async def test_a_huge_body_is_truncated_at_max_bytes_and_returns_quickly() -> None:
    async with serve(huge) as server:
        started = time.monotonic()
        r = await fetch(server.url(), policy=DEV)
        assert time.monotonic() - started < 2
    assert (len(r.body), r.truncated) == (512 * 1024, True)


@pytest.mark.parametrize(("size", "truncated"), [(10, False), (11, True)])
async def test_truncation_is_only_reported_beyond_max_bytes(size: int, truncated: bool) -> None:
    async with serve(answer("200 OK", b"y" * size)) as server:
        r = await fetch(server.url(), policy=OutboundPolicy(allow_private=True, max_bytes=10))
    assert (r.body, r.truncated) == (b"y" * min(size, 10), truncated)


async def test_a_chunked_body_is_decoded() -> None:
    async def chunked(path: str, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b"<html>", b"<title>chunked</title>", b"</html>"):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
        writer.write(b"0\r\n\r\n")

    async with serve(chunked) as server:
        r = await fetch(server.url(), policy=DEV)
    assert (r.body, r.truncated) == (b"<html><title>chunked</title></html>", False)


async def test_a_body_until_close_is_read() -> None:
    async def until_close(path: str, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nall of it")

    async with serve(until_close) as server:
        r = await fetch(server.url(), policy=DEV)
    assert r.body == b"all of it"


async def stall(path: str, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nsome")
    await writer.drain()
    await asyncio.sleep(60)


async def silent(path: str, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(60)


@pytest.mark.parametrize("handler", [stall, silent], ids=["headers-then-stall", "no-answer"])
async def test_a_stalling_server_times_out(handler: Handler) -> None:
    async with serve(handler) as server:
        started = time.monotonic()
        await fails("timeout", server.url(), OutboundPolicy(allow_private=True, timeout=0.5))
        assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("size", [20 * 1024, 64 * 1024])
async def test_huge_headers_are_too_large(size: int) -> None:
    pad = [f"X-Pad-{i}: {'p' * 1000}" for i in range(size // 1000)]
    async with serve(answer("200 OK", b"", *pad)) as server:
        await fails("too_large", server.url())


@pytest.mark.parametrize(
    "raw",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: nine\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
    ],
)
async def test_broken_answers_are_bad_responses(raw: bytes) -> None:
    async def broken(path: str, writer: asyncio.StreamWriter) -> None:
        writer.write(raw)

    async with serve(broken) as server:
        await fails("bad_response", server.url())


async def test_accept_types_refuse_other_content_before_the_body() -> None:
    async with serve(answer("200 OK", b"{}", "Content-Type: application/json")) as server:
        await fails("not_html", server.url(), accept_types=["text/html"])
    async with serve(answer("200 OK", b"ok", "Content-Type: TEXT/HTML; charset=utf-8")) as server:
        r = await fetch(server.url(), policy=DEV, accept_types=["text/html"])
        assert r.body == b"ok"


# -- TLS -----------------------------------------------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path, str]:
    """A certificate for localhost and 127.0.0.1: (cert file, key file, cert PEM)."""
    try:
        from cryptography import x509  # type: ignore[import-not-found, unused-ignore]
        from cryptography.hazmat.primitives import hashes, serialization  # type: ignore[import-not-found, unused-ignore]
        from cryptography.hazmat.primitives.asymmetric import ec  # type: ignore[import-not-found, unused-ignore]
        from cryptography.x509.oid import NameOID  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        missing("the cryptography package (to make a TLS certificate)")
        raise
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_text(pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file, pem


async def test_https_verifies_the_host_name_on_the_pinned_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_file, key_file, pem = self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    trusting = ssl.create_default_context(cadata=pem)
    async with serve(routes({"/": answer("200 OK", b"secret"), "/huge": huge}), tls=tls) as server:
        r = await fetch(server.url(), policy=DEV, ssl_context=trusting)
        assert (r.status, r.body, r.url) == (200, b"secret", server.url("/"))
        started = time.monotonic()  # a cut-off body waits for no TLS goodbye
        r = await fetch(server.url("/huge"), policy=DEV, ssl_context=trusting)
        assert (len(r.body), r.truncated) == (512 * 1024, True)
        assert time.monotonic() - started < 2
        r = await fetch(f"https://localhost:{server.port}/", policy=DEV, ssl_context=trusting)
        assert r.body == b"secret"
        await fails("connect_failed", server.url())  # the default context does not trust it
        calls: list[str] = []
        answers = {"wrong.kibitz.test": ["127.0.0.1"]}
        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_resolver(answers, calls))
        # The right address but another name: the certificate is checked against the name.
        await fails("connect_failed", f"https://wrong.kibitz.test:{server.port}/", ssl_context=trusting)
