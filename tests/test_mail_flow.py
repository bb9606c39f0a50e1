"""The whole "Notify of" story against a real SMTP server, with the worker running inside the app:
opt-in, a scanner's GET, confirm, a reply mail with its headers, one-click unsubscribe, digests."""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import pytest
from sqlalchemy import select

from kibitz.digest import send_digests
from kibitz.store.schema import outbox
from tests.conftest import ORIGIN_A, Api, FakeClock, custom_api
from tests.mailserver import MailServer
from tests.test_subscriptions import form_post

pytestmark = pytest.mark.anyio
ANN = "ann@example.org"


def body(message: EmailMessage, subtype: str = "plain") -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    text: str = part.get_content()
    return text


def link(message: EmailMessage, kind: str) -> str:
    """The path of the first link of ``kind`` (confirm, unsubscribe, manage) in the text part."""
    found = re.search(rf"https?://\S+/{kind}/\S+", body(message))
    assert found, f"no {kind} link in:\n{body(message)}"
    return urlsplit(found.group(0).rstrip(".>)")).path


async def rows_for(api: Api, recipient: str) -> int:
    async with api.app.state.ctx.db.read() as tx:
        rows = await tx.conn.execute(select(outbox.c.id).where(outbox.c.recipient == recipient))
        return len(rows.all())


async def test_opt_in_confirm_reply_mail_and_one_click_unsubscribe(
    tmp_path: Path, database_url: str, clock: FakeClock, mail_server: MailServer
) -> None:
    async with custom_api(tmp_path, database_url, clock, smtp=mail_server.smtp) as api:
        r = await api.post(
            text="Who maintains the lane?", author={"name": "Ann", "email": ANN}, notify="replies"
        )
        assert r.status_code == 201
        ann_comment = r.json()["comment"]["id"]
        await mail_server.wait_for(1)
        confirm = mail_server.messages[0]
        assert confirm["To"] == ANN
        assert confirm["Auto-Submitted"] == "auto-generated"
        confirm_path = link(confirm, "confirm")

        # A mail scanner fetches the link: nothing is confirmed, so a reply mails nobody yet.
        assert (await api.client.get(confirm_path)).status_code == 200
        r = await api.post(parent=ann_comment, text="The council does.", author={"name": "Bob"})
        assert r.status_code == 201
        assert await rows_for(api, ANN) == 1  # the confirmation only

        r = await form_post(api, confirm_path)
        assert r.status_code == 200
        assert (await form_post(api, confirm_path)).status_code == 410  # single use

        r = await api.post(parent=ann_comment, text="And <b>I</b> repaint it!", author={"name": "Bob"})
        await mail_server.wait_for(2)
        reply = mail_server.messages[1]
        assert reply["To"] == ANN
        assert reply["Message-ID"].startswith("<kibitz.")
        assert reply["Auto-Submitted"] == "auto-generated"
        assert reply["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert reply["List-Unsubscribe"].startswith("<http")
        assert reply["Date"]
        assert "And <b>I</b> repaint it!" in body(reply)  # the plain part shows the text as written
        html = body(reply, "html")
        assert "<b>I</b>" not in html
        assert "&lt;b&gt;I&lt;/b&gt;" in html
        assert "<img" not in html

        unsubscribe = urlsplit(reply["List-Unsubscribe"].strip("<>")).path
        assert (await api.client.get(unsubscribe)).status_code == 200  # a page, no change
        one_click = {"Content-Type": "application/x-www-form-urlencoded"}
        r = await api.client.post(unsubscribe, content=b"List-Unsubscribe=One-Click", headers=one_click)
        assert r.status_code == 200
        assert "location" not in r.headers
        again = await api.client.post(unsubscribe, content=b"List-Unsubscribe=One-Click", headers=one_click)
        assert again.status_code == 200

        r = await api.post(parent=ann_comment, text="Anyone there?", author={"name": "Bob"})
        assert r.status_code == 201
        assert await rows_for(api, ANN) == 2  # nothing new after the unsubscribe
        assert len(mail_server.messages) == 2

        # The worker's outcomes reach /metrics (counted once each mail is marked sent).
        registry = api.app.state.ctx.metrics.registry
        for _ in range(200):
            if registry.get_sample_value("kibitz_mail_total", {"outcome": "sent"}) == 2:
                break
            await anyio.sleep(0.05)  # bounded wait on a condition
        assert registry.get_sample_value("kibitz_mail_total", {"outcome": "sent"}) == 2


async def test_daily_digest_arrives_as_one_mail(
    tmp_path: Path, database_url: str, clock: FakeClock, mail_server: MailServer
) -> None:
    async with custom_api(tmp_path, database_url, clock, smtp=mail_server.smtp) as api:
        await api.post(text="Opening the thread")
        r = await api.client.post(
            "/api/v1/sites/a/subscriptions",
            json={"email": "dan@example.org", "topic": "thread", "page": "/story", "digest": "daily"},
            headers={"Origin": ORIGIN_A},
        )
        assert r.status_code == 202
        await mail_server.wait_for(1)
        assert (await form_post(api, link(mail_server.messages[0], "confirm"))).status_code == 200

        for n in range(3):
            assert (
                await api.post(text=f"Comment number {n}", author={"name": f"Reader {n}"})
            ).status_code == 201
        assert len(mail_server.messages) == 1  # daily: nothing yet

        ctx = api.app.state.ctx
        assert await send_digests(ctx.db, ctx.tokens, ctx.settings, ctx.clock) == 1
        await mail_server.wait_for(2)
        digest = mail_server.messages[1]
        assert digest["To"] == "dan@example.org"
        text = body(digest)
        assert all(f"Comment number {n}" in text for n in range(3))
        assert await send_digests(ctx.db, ctx.tokens, ctx.settings, ctx.clock) == 0
