"""`kibitz demo`'s mailbox: mail sent to the demo's own SMTP server is kept on disk and shown at /demo/mail
(its HTML only inside a sandboxed frame), in-process and through the real command."""

from __future__ import annotations

import contextlib
import html
import re
import signal
import smtplib
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from html.parser import HTMLParser
from pathlib import Path

import aiosmtplib
import httpx
import pytest

from kibitz.config import Settings
from kibitz.demo import MAIL_SENDER, build_app, demo_settings
from kibitz.demo_mail import MAIL_NAME, MailServer, list_mails, mail_dir
from tests.server import KIBITZ, child_env, free_port

pytestmark = pytest.mark.anyio

BASE = "http://127.0.0.1:8000"
SANDBOX = "allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"


@dataclass
class Demo:
    client: httpx.AsyncClient
    server: MailServer
    settings: Settings


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    """The demo's app in-process, with its SMTP server on a free loopback port."""
    data = tmp_path / "demo-data"
    with MailServer(mail_dir(data)) as server:
        settings = demo_settings("127.0.0.1", 8000, data, env={}, smtp_port=server.port)
        app = build_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5555))
            async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
                yield Demo(client, server, settings)


def mail(
    to: str,
    subject: str,
    text: str,
    html_body: str,
    *,
    unsubscribe: str | None = None,
    auto: bool = True,
) -> EmailMessage:
    """A mail shaped like Kibitz's: text and HTML parts, the headers of the shared mail design."""
    message = EmailMessage()
    message["From"] = MAIL_SENDER
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid("kibitz.1", domain="127.0.0.1")
    if unsubscribe:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if auto:
        message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html_body, subtype="html")
    return message


async def send(server: MailServer, message: EmailMessage) -> None:
    await aiosmtplib.send(message, hostname="127.0.0.1", port=server.port, start_tls=False, timeout=10)


class Page(HTMLParser):
    """The elements a browser would build from a page (attribute values unescaped) and its text."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


async def test_mail_sent_to_the_demo_server_is_listed_newest_first(demo: Demo) -> None:
    empty = await demo.client.get("/demo/mail")
    assert empty.status_code == 200
    assert "No mail yet" in empty.text

    confirm = f"{BASE}/confirm/tok-1"
    await send(
        demo.server,
        mail(
            "ada@example.org",
            "Confirm your subscription to The Daily Kibitz",
            f"Confirm: {confirm}\n",
            f'<p><a href="{confirm}">Confirm</a></p>',
        ),
    )
    await send(
        demo.server,
        mail(
            "bo@example.org",
            "New reply to your comment",
            "Someone replied.\n",
            "<p>Someone replied.</p>",
            unsubscribe=f"{BASE}/unsubscribe/tok-2",
        ),
    )
    await send(
        demo.server,
        mail(
            "cy@example.org",
            "The Daily Kibitz: 3 new comments on The budget",
            "3 new comments\n",
            "<p>3</p>",
            auto=False,
        ),
    )

    r = await demo.client.get("/demo/mail")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    page = Page(r.text)
    rows = [" ".join(row.split()) for row in re.findall(r"<tr>(.*?)</tr>", r.text, re.DOTALL)[1:]]
    assert len(rows) == 3
    assert "cy@example.org" in rows[0]
    assert "The Daily Kibitz: 3 new comments on The budget" in rows[0]
    assert "digest" in rows[0]
    assert "bo@example.org" in rows[1]
    assert "notification" in rows[1]
    assert "ada@example.org" in rows[2]
    assert "confirmation" in rows[2]
    links = [a["href"] for a in page.all("a") if (a["href"] or "").startswith("/demo/mail/")]
    assert len(links) == 3
    assert all(MAIL_NAME.fullmatch(str(link).removeprefix("/demo/mail/")) for link in links)
    stored = sorted(p.name for p in mail_dir(demo.settings.data_dir).iterdir())
    assert [str(link).removeprefix("/demo/mail/") for link in links] == stored[::-1]

    front = await demo.client.get("/")
    assert 'href="/demo/mail"' in front.text  # every demo page leads to the mail


async def test_one_mail_shows_its_headers_text_links_and_html_in_a_sandbox(demo: Demo) -> None:
    confirm = f"{BASE}/confirm/abc.def"
    unsub = f"{BASE}/unsubscribe/s1.xyz"
    html_body = f'<p>Hello Ada,</p><p><a href="{confirm}">Yes, send me replies</a> &amp; more</p>'
    text = f"Hello Ada,\n\nConfirm your subscription: {confirm}.\nNot you? {unsub}\n"
    message = mail("Ada <ada@example.org>", "Confirm your subscription", text, html_body, unsubscribe=unsub)
    await send(demo.server, message)
    [stored] = list_mails(mail_dir(demo.settings.data_dir))

    r = await demo.client.get(f"/demo/mail/{stored.name}")
    assert r.status_code == 200
    assert "default-src 'none'" in r.headers["content-security-policy"]
    page = Page(r.text)
    words = page.words
    for key, value in [
        ("From", MAIL_SENDER),
        ("To", "Ada <ada@example.org>"),
        ("Subject", "Confirm your subscription"),
        ("Date", str(message["Date"])),
        ("Message-ID", str(message["Message-ID"])),
        ("List-Unsubscribe", f"<{unsub}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]:
        assert f"{key} {value}" in words, key
    [pre] = re.findall(r'<pre class="mail-text">(.*?)</pre>', r.text, re.DOTALL)
    assert html.unescape(pre).strip() == text.strip()
    hrefs = [a["href"] for a in page.all("a")]
    assert confirm in hrefs  # the trailing full stop is not part of the link
    assert unsub in hrefs
    [frame] = page.all("iframe")
    assert frame["sandbox"] == SANDBOX
    assert "allow-scripts" not in str(frame["sandbox"])
    assert "allow-same-origin" not in str(frame["sandbox"])
    srcdoc = str(frame["srcdoc"])
    assert srcdoc.startswith('<base target="_top">')  # its links open the page, not inside the frame
    assert html_body in srcdoc

    listed = await demo.client.get("/demo/mail")
    assert f'href="/demo/mail/{stored.name}"' in listed.text


async def test_hostile_mail_is_shown_escaped_and_its_html_only_in_the_sandbox(demo: Demo) -> None:
    hostile = (
        '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
        "<p>&quot; onload=&quot;x</p>\"'></iframe><script>parent.document.title='x'</script>"
    )
    subject = "<b>Bold</b> <script>alert(2)</script>"
    text = '<script>alert(3)</script> javascript:alert(4) https://evil.example/"><script>\n'
    await send(demo.server, mail('"<img src=x onerror=alert(5)>" <eve@example.org>', subject, text, hostile))
    [stored] = list_mails(mail_dir(demo.settings.data_dir))

    for path in ("/demo/mail", f"/demo/mail/{stored.name}"):
        r = await demo.client.get(path)
        assert r.status_code == 200
        page = Page(r.text)
        tags = {name for name, _ in page.tags}
        assert "script" not in tags, path
        assert "b" not in tags, path
        assert "img" not in tags, path
        assert all(not key.startswith("on") for _, attrs in page.tags for key in attrs), path
        assert "<b>Bold</b>" in page.words, path  # shown as text, escaped

    page = Page(r.text)
    [frame] = page.all("iframe")  # the closing </iframe> in the mail did not end the frame early
    assert frame["sandbox"] == SANDBOX
    assert hostile in str(frame["srcdoc"])
    hrefs = [str(a["href"]) for a in page.all("a")]
    assert not any(href.lower().startswith("javascript:") for href in hrefs)
    assert "https://evil.example/" in hrefs  # cut at the quote: nothing else comes with it


@pytest.mark.parametrize(
    "name",
    [
        "../secret.eml",
        "..%2Fsecret.eml",
        "%2e%2e%2fsecret.eml",
        "%2e%2e",
        "..",
        "kibitz.db",
        "20250101-120000-000000-0001.eml",  # well-formed, but no such mail
        "20250101-120000-000000-0001.eml%00",
        "20250101-120000-000000-0001.eml%0d%0aX-Injected:%20yes",
        ".incoming-0123",
        "x" * 300,
    ],
)
async def test_mail_names_that_are_not_stored_mails_are_not_found(demo: Demo, name: str) -> None:
    await send(demo.server, mail("ada@example.org", "Real mail", "hello\n", "<p>hello</p>"))
    # A file that looks like a mail, next to the mailbox but outside it.
    (demo.settings.data_dir / "secret.eml").write_text("Subject: the secret\n\nsecret body\n")
    (mail_dir(demo.settings.data_dir) / ".incoming-0123").write_text("Subject: half written\n\nx\n")
    r = await demo.client.get(f"/demo/mail/{name}")
    assert r.status_code == 404
    assert "secret" not in r.text
    assert "half written" not in r.text
    assert "X-Injected" not in str(r.headers)


async def test_mails_survive_a_restart_of_the_mail_server(tmp_path: Path) -> None:
    directory = mail_dir(tmp_path)
    with MailServer(directory) as first:
        await send(first, mail("ada@example.org", "Before the restart", "one\n", "<p>one</p>"))
    with MailServer(directory) as second:
        await send(second, mail("ada@example.org", "After the restart", "two\n", "<p>two</p>"))
        await send(second, mail("bo@example.org", "And another", "three\n", "<p>three</p>"))
    subjects = [m.subject for m in list_mails(directory)]
    assert subjects == ["And another", "After the restart", "Before the restart"]
    assert all(MAIL_NAME.fullmatch(p.name) for p in directory.iterdir())  # no temporary files left


def _read_line(proc: subprocess.Popen[str], prefix: str) -> str:
    assert proc.stdout is not None
    for _ in range(50):  # bounded: the demo prints a handful of lines at start-up
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"kibitz demo exited early: {proc.stderr.read() if proc.stderr else ''}")
        if line.startswith(prefix):
            return line
    pytest.fail(f"kibitz demo never printed {prefix!r}")


@contextlib.contextmanager
def running_demo(tmp_path: Path, data: Path) -> Iterator[tuple[str, int, subprocess.Popen[str]]]:
    """`kibitz demo` on a free port: (its base URL, its SMTP port, the process); stopped on exit."""
    port = free_port()
    command = [str(KIBITZ), "demo", "--port", str(port), "--data", str(data)]
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = _read_line(proc, "Its mail goes to")
        found = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert found is not None, line
        _read_line(proc, "Press Ctrl+C")
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):  # the server answers shortly after it says so
            try:
                httpx.get(f"{base}/healthz", timeout=5)
                break
            except httpx.TransportError:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.1)
                if proc.poll() is not None:
                    pytest.fail(f"kibitz demo exited early: {proc.stderr.read() if proc.stderr else ''}")
        yield base, int(found[1]), proc
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err


def test_kibitz_demo_command_shows_the_mail_it_received_across_restarts(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    with running_demo(tmp_path, data) as (base, smtp_port, _):
        first = mail("ada@example.org", "Confirm your subscription", f"{base}/confirm/t\n", "<p>c</p>")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
            smtp.send_message(first)
        listed = httpx.get(f"{base}/demo/mail", timeout=5)
        assert listed.status_code == 200
        assert "Confirm your subscription" in listed.text
        assert "ada@example.org" in listed.text
    confirm = f"{base}/confirm/t"  # the next start listens on another port
    with running_demo(tmp_path, data) as (base, smtp_port, _):
        second = mail("bo@example.org", "New reply to your comment", "hi\n", "<p>hi</p>")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
            smtp.send_message(second)
        listed = httpx.get(f"{base}/demo/mail", timeout=5)
        text = html.unescape(listed.text)
        assert text.index("New reply to your comment") < text.index("Confirm your subscription")
        # The seed's held and reported comments mailed the demo's owner too (moderator mail).
        assert "a comment waits for moderation on" in text
        # And its newsletter's digest of the newest articles from its own feed (demo_feed.py).
        assert "The Daily Kibitz newsletter: 2 new articles" in text
        names = re.findall(r'href="/demo/mail/([^"]+)"', listed.text)
        pages = [httpx.get(f"{base}/demo/mail/{name}", timeout=5) for name in names]
        assert all(page.status_code == 200 for page in pages)
        assert [page for page in pages if f'href="{confirm}"' in page.text]
