"""Webhooks (DESIGN.md §3b, issue 13) on both engines, with no SMTP server configured: every event
reaches a receiver on 127.0.0.1 once, signed as Standard Webhooks say (checked with the
`standardwebhooks` package) and without an email, address, reader id or token; retried after a 500
and after a timeout with the same webhook-id; targets on loopback, private, link-local or metadata
addresses refused at registration and at delivery, redirects not followed (QUALITY T46); the secret
shown once; the delivery log and resend, in the API and the admin."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from kibitz.context import Context
from kibitz.store.schema import webhook_deliveries
from tests.conftest import ORIGIN_A, Api, FakeClock, custom_api
from tests.loopback import serving
from tests.test_subscriptions import confirm_address, form_post, name_page, rows, subscribe

pytestmark = pytest.mark.anyio
HOOKS = "/api/v1/admin/sites/a/webhooks"
ADMIN = "/api/v1/admin"
EVERY = [
    "comment.created",
    "comment.pending",
    "comment.approved",
    "comment.rejected",
    "comment.flagged",
    "subscription.confirmed",
]
WITHIN = 20.0  # seconds a condition may take before the test fails (never a measured time)


# -- a receiver --------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: tuple[str, ...] = ()
    stall: bool = False  # answer nothing, until the caller hangs up


@dataclass
class Call:
    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any] | None  # as standardwebhooks verified it; None when it did not verify
    answered: int | None  # the status it got; None when the receiver stalled
    target: str = ""  # the request's path and query


@dataclass
class Receiver:
    """A webhook receiver: each call is verified with ``standardwebhooks`` and answered as planned."""

    port: int = 0
    secret: str = ""
    plan: list[Reply] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/kibitz?src=test"

    @property
    def verified(self) -> list[dict[str, Any]]:
        return [c.payload for c in self.calls if c.payload is not None and c.answered == 200]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            payload: dict[str, Any] | None = Verifier(self.secret).verify(body, headers)
        except Exception:
            payload = None
        reply = self.plan.pop(0) if self.plan else Reply()
        target = head[0].split(" ")[1] if head[0].count(" ") >= 2 else ""
        self.calls.append(Call(headers, body, payload, None if reply.stall else reply.status, target))
        if reply.stall:
            await reader.read()  # until the caller gives up and hangs up
            return
        lines = [f"HTTP/1.1 {reply.status} X", f"Content-Length: {len(reply.body)}", *reply.headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body)
        await writer.drain()


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serving(receiver.handle) as port:
        receiver.port = port
        yield receiver


# -- helpers -----------------------------------------------------------------------------------------


def parse(when: str) -> datetime:
    return datetime.fromisoformat(when.replace("Z", "+00:00"))


def ctx_of(api: Api) -> Context:
    ctx: Context = api.app.state.ctx
    return ctx


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait for a condition (bounded): the delivery loop works in the background."""
    try:
        async with asyncio.timeout(WITHIN):
            while not await check():  # noqa: ASYNC110 - the database has no event to wait on
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"still waiting for {what}") from None


async def key(api: Api, site: str = "a", scope: str = "moderate") -> dict[str, str]:
    _, secret = await ctx_of(api).staff.create_key(site, scope, "tests", "tests")
    return {"Authorization": f"Bearer {secret}"}


async def register(api: Api, url: str, headers: dict[str, str], events: list[str] = EVERY) -> tuple[str, str]:
    r = await api.client.post(HOOKS, json={"url": url, "events": events}, headers=headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["secret"].startswith("whsec_")
    return body["webhook"]["id"], body["secret"]


async def log(api: Api, hook: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = await api.client.get(f"{HOOKS}/{hook}/deliveries", headers=headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def settled(api: Api, hook: str, headers: dict[str, str], count: int) -> Callable[[], Awaitable[bool]]:
    """True once ``count`` deliveries exist and none is waiting or in flight."""

    async def check() -> bool:
        items = await log(api, hook, headers)
        return len(items) == count and all(d["status"] in ("delivered", "failed") for d in items)

    return check


async def act(api: Api, headers: dict[str, str], comment: str, action: str) -> None:
    r = await api.client.post(
        f"{ADMIN}/comments/{comment}/moderate", json={"action": action}, headers=headers
    )
    assert r.status_code == 200, r.text


async def flag(api: Api, comment: str, reader: str | None = None) -> str:
    headers = {"Origin": ORIGIN_A, **({"X-Kibitz-Reader": reader} if reader else {})}
    r = await api.client.post(f"/api/v1/comments/{comment}/flag", json={"reason": "rude"}, headers=headers)
    assert r.status_code == 202, r.text
    return reader or r.headers["X-Kibitz-Reader"]


@pytest.fixture
async def hooked(tmp_path: Path, database_url: str, clock: FakeClock) -> AsyncIterator[Api]:
    """Sites "a" and "b" whose webhooks may call this machine's loopback (as a test's own receiver),
    with a short timeout; no SMTP server."""
    async with custom_api(
        tmp_path, database_url, clock, webhook_allow=["127.0.0.1"], webhook_timeout=0.5
    ) as api:
        yield api


# -- every event, once, signed, without personal data ---------------------------------------------------


async def test_every_event_is_delivered_once_signed_and_without_personal_data(hooked: Api) -> None:
    api = hooked
    assert ctx_of(api).settings.smtp.host == ""  # no mail server: webhooks go out all the same
    headers = await key(api)
    async with receiving() as rx:
        hook, rx.secret = await register(api, rx.url, headers)
        await name_page(api, "/story", "The publisher's title", f"{ORIGIN_A}/story")
        first = await api.post(text="Public words", author={"name": "Ann", "email": "ann@example.org"})
        assert first.status_code == 201
        public = first.json()
        story = {"page": "/held", "moderation": "all"}
        assert (
            await api.client.post(f"{ADMIN}/sites/a/threads", json=story, headers=headers)
        ).status_code == 200
        held = (
            await api.post(page="/held", text="Held words", author={"name": "Bo", "email": "bo@x.org"})
        ).json()
        rude = (await api.post(page="/held", text="Rude words", author={"name": "Cy"})).json()
        assert held["status"] == rude["status"] == "pending"
        await act(api, headers, held["comment"]["id"], "approve")
        await act(api, headers, rude["comment"]["id"], "reject")
        reader = await flag(api, public["comment"]["id"])
        await flag(api, public["comment"]["id"], reader)  # the same reader again: no new report
        await flag(api, public["comment"]["id"])
        assert (await subscribe(api, "dee@example.org")).status_code == 202
        await confirm_address(api, "dee@example.org")

        await until(settled(api, hook, headers, 9), "nine deliveries, all done")
        entries = await log(api, hook, headers)
        assert {d["status"] for d in entries} == {"delivered"}
        assert [d["attempts"] for d in entries] == [1] * 9
        assert len(rx.calls) == 9  # once each
        assert all(call.payload is not None for call in rx.calls)  # every signature verified
        kinds = Counter(call.payload["type"] for call in rx.calls if call.payload)
        assert kinds == Counter(
            {"comment.created": 2, "comment.pending": 2, "comment.approved": 1, "comment.rejected": 1,
             "comment.flagged": 2, "subscription.confirmed": 1}
        )  # fmt: skip
        assert len({call.headers["webhook-id"] for call in rx.calls}) == 9
        assert {call.headers["content-type"] for call in rx.calls} == {"application/json"}

    for call in rx.calls:
        text = call.body.decode()
        for secret in ("@example.org", "@x.org", "203.0.113", public["reader"], public["token"], rx.secret):
            assert secret not in text
        assert '"email"' not in text
    payloads = {(p["type"], p["data"].get("comment", {}).get("id")): p for p in rx.verified}
    created = payloads[("comment.created", public["comment"]["id"])]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", created["timestamp"])
    data = created["data"]
    assert (data["site"], data["page"], data["title"], data["url"]) == (
        "a", "/story", "The publisher's title", f"{ORIGIN_A}/story"
    )  # fmt: skip
    assert data["comment"]["author"]["name"] == "Ann"
    assert set(data["comment"]["author"]) == {"name", "avatar", "url", "badges"}
    assert data["comment"]["html"].strip() == "<p>Public words</p>"
    approved = payloads[("comment.approved", held["comment"]["id"])]["data"]
    assert approved["moderation"] == {"action": "approve", "reason": None}
    assert approved["comment"]["status"] == "approved"
    assert payloads[("comment.rejected", rude["comment"]["id"])]["data"]["comment"]["status"] == "rejected"
    flags = [p["data"]["report"] for p in rx.verified if p["type"] == "comment.flagged"]
    assert sorted(f["reports"] for f in flags) == [1, 2]
    [confirmed] = [p["data"] for p in rx.verified if p["type"] == "subscription.confirmed"]
    assert confirmed == {
        "site": "a", "topic": "thread", "list": None, "digest": "instant", "page": "/story",
        "title": "The publisher's title", "url": f"{ORIGIN_A}/story",
    }  # fmt: skip


async def test_a_webhook_gets_only_its_events_and_only_its_sites(hooked: Api) -> None:
    api = hooked
    async with receiving() as rx:
        hook, rx.secret = await register(api, rx.url, await key(api), events=["comment.pending"])
        await api.post(text="Public, so not asked for")
        await api.post(site="b", origin="https://news-b.example", text="Another site")
        story = {"page": "/held", "moderation": "all"}
        await api.client.post(f"{ADMIN}/sites/a/threads", json=story, headers=await key(api))
        await api.post(page="/held", text="Held")
        await until(settled(api, hook, await key(api), 1), "the one delivery")
    assert [p["type"] for p in rx.verified] == ["comment.pending"]


async def test_nothing_is_sent_for_a_change_that_rolled_back(hooked: Api) -> None:
    api = hooked
    ctx = ctx_of(api)
    headers = await key(api)
    async with receiving() as rx:
        hook, rx.secret = await register(api, rx.url, headers)
        posted = (await api.post(text="Kept")).json()
        await until(settled(api, hook, headers, 1), "the first delivery")

        async def change_that_fails() -> None:
            async with ctx.db.write() as tx:
                comment = await tx.comments.get(int(posted["comment"]["id"]))
                assert comment is not None
                await ctx.webhooks.moderated(tx, "a", comment.id, "reject", "", ctx.clock())
                assert len(await tx.webhooks.deliveries(int(hook), None, 10)) == 2  # written...
                raise RuntimeError("the change fails after its event was written")

        with pytest.raises(RuntimeError):
            await change_that_fails()
        assert len(await log(api, hook, headers)) == 1  # ...and gone with the change
        ctx.webhooks.wakeup.set()
        await api.post(text="Later")  # a later event still goes out, and only it
        await until(settled(api, hook, headers, 2), "the later delivery")
    assert [p["data"]["comment"]["html"].strip() for p in rx.verified] == ["<p>Kept</p>", "<p>Later</p>"]


async def test_a_subscription_confirmed_on_the_manage_page_is_an_event_too(
    hooked: Api, clock: FakeClock
) -> None:
    api = hooked
    headers = await key(api)
    async with receiving() as rx:
        hook, rx.secret = await register(api, rx.url, headers, events=["subscription.confirmed"])
        assert (await subscribe(api, "eve@example.org", page="/first")).status_code == 202
        manage = await confirm_address(api, "eve@example.org")  # the mail's link: /first
        clock.advance(minutes=5)
        assert (await subscribe(api, "eve@example.org", topic="newsletter", page=None)).status_code == 202
        assert (await form_post(api, manage, "confirm=all")).status_code == 200  # the manage page: the rest
        await until(settled(api, hook, headers, 2), "two confirmations")
    assert [(p["data"]["topic"], p["data"]["list"], p["data"]["page"]) for p in rx.verified] == [
        ("thread", None, "/first"),
        ("newsletter", "news", None),  # the site's only list, named by its id
    ]
    assert all("eve" not in call.body.decode() for call in rx.calls)


# -- retries ---------------------------------------------------------------------------------------------


async def test_a_500_and_a_timeout_are_retried_with_back_off_and_the_same_webhook_id(
    hooked: Api, clock: FakeClock
) -> None:
    api = hooked
    headers = await key(api)
    async with receiving() as rx:
        rx.plan = [Reply(500, b"down for maintenance"), Reply(stall=True)]
        hook, rx.secret = await register(api, rx.url, headers, events=["comment.created"])
        await api.post(text="Try, try again")

        async def attempts(n: int) -> bool:
            items = await log(api, hook, headers)
            return bool(items) and items[0]["attempts"] == n and items[0]["status"] == "pending"

        await until(lambda: attempts(1), "the first attempt")
        [first] = await log(api, hook, headers)
        assert first["response"] == {"status": 500, "body": "down for maintenance"}
        # Due again after a minute (±20 % jitter), by the server's clock.
        wait = parse(first["next_attempt"]) - parse(first["last_attempt"])
        assert timedelta(seconds=48) <= wait <= timedelta(seconds=72)
        clock.advance(seconds=75)
        ctx_of(api).webhooks.wakeup.set()
        await until(lambda: attempts(2), "the second attempt (the receiver stalls)")
        [second] = await log(api, hook, headers)
        assert second["response"] is None
        assert second["error"].startswith("timeout")
        clock.advance(minutes=3)
        ctx_of(api).webhooks.wakeup.set()
        await until(settled(api, hook, headers, 1), "the third attempt")
    [done] = await log(api, hook, headers)
    assert (done["status"], done["attempts"], done["response"]["status"]) == ("delivered", 3, 200)
    assert len(rx.calls) == 3
    assert len({call.headers["webhook-id"] for call in rx.calls}) == 1
    assert len({call.body for call in rx.calls}) == 1
    assert all(call.payload is not None for call in rx.calls)


async def test_a_4xx_or_a_redirect_is_given_up_at_once_and_a_429_is_retried(
    hooked: Api, clock: FakeClock
) -> None:
    api = hooked
    headers = await key(api)
    async with receiving() as other, receiving() as rx:
        hook, rx.secret = await register(api, rx.url, headers, events=["comment.created"])
        rx.plan = [
            Reply(404, b"x" * 5000),
            Reply(302, b"", (f"Location: http://127.0.0.1:{other.port}/stolen",)),
            Reply(429, b"slow down"),
        ]
        for n, text in enumerate(("one", "two", "three"), 1):
            await api.post(text=text)
            await until(functools.partial(_count, rx, n), f"call {n}")  # one at a time: replies in order

        async def recorded() -> bool:  # the 429's retry is booked before the clock moves past it
            return all(d["attempts"] == 1 for d in await log(api, hook, headers))

        await until(recorded, "every first attempt recorded")
        clock.advance(minutes=2)
        ctx_of(api).webhooks.wakeup.set()
        await until(settled(api, hook, headers, 3), "every delivery done")
    by_text = {d["payload"]["data"]["comment"]["html"].strip(): d for d in await log(api, hook, headers)}
    lost = by_text["<p>one</p>"]
    assert (lost["status"], lost["attempts"], lost["response"]["status"]) == ("failed", 1, 404)
    assert len(lost["response"]["body"].encode()) == 1024  # no more than 1 KB of an answer is kept
    moved = by_text["<p>two</p>"]
    assert (moved["status"], moved["attempts"], moved["response"]["status"]) == ("failed", 1, 302)
    assert "redirect not followed" in moved["error"]
    assert other.calls == []  # the redirect's target was never called
    retried = by_text["<p>three</p>"]
    assert (retried["status"], retried["attempts"]) == ("delivered", 2)


async def _count(rx: Receiver, n: int) -> bool:
    return len(rx.calls) >= n


async def test_a_delivery_claimed_by_a_loop_that_died_is_sent_when_its_lease_ends(
    hooked: Api, clock: FakeClock
) -> None:
    api = hooked
    ctx = ctx_of(api)
    headers = await key(api)
    async with receiving() as rx:
        hook, rx.secret = await register(api, rx.url, headers, events=["comment.created"])
        body = '{"type":"comment.created","timestamp":"2026-11-27T12:00:00.000Z","data":{}}'
        async with ctx.db.write() as tx:  # written and claimed at once, by a loop that then died
            await tx.webhooks.enqueue(int(hook), "msg_lost", "comment.created", "lost", body, clock())
            [claimed] = await tx.webhooks.claim(clock(), timedelta(minutes=1), 10)
        assert claimed.delivery.status == "sending"
        [row] = await rows(api, webhook_deliveries)
        assert row.status == "sending"  # held by its lease: no other loop takes it meanwhile
        clock.advance(minutes=2)  # the lease runs out
        ctx.webhooks.wakeup.set()
        await until(settled(api, hook, headers, 1), "the delivery")
    [call] = rx.calls
    assert (call.headers["webhook-id"], call.answered, call.body.decode()) == ("msg_lost", 200, body)


# -- where webhooks may call (QUALITY T46) ------------------------------------------------------------


def fake_resolver(answers: dict[str, list[str]]) -> Callable[..., Awaitable[list[Any]]]:
    """getaddrinfo for names under kibitz.test (what a DNS server would answer now); others as usual."""
    real = asyncio.get_running_loop().getaddrinfo

    async def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if not str(host).endswith("kibitz.test"):
            return await real(host, port, *args, **kwargs)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        family = {True: socket.AF_INET6, False: socket.AF_INET}
        return [(family[":" in ip], socket.SOCK_STREAM, 6, "", (ip, port)) for ip in answers[host]]

    return getaddrinfo


async def test_targets_on_local_private_or_metadata_addresses_are_refused(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"intranet.kibitz.test": ["10.1.2.3"], "mixed.kibitz.test": ["93.184.216.34", "192.168.0.9"]}
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_resolver(answers))
    headers = await key(api)
    async with receiving() as rx:
        for url in (
            rx.url,
            f"http://127.0.0.1:{rx.port}/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
            f"http://[::ffff:127.0.0.1]:{rx.port}/",
            "http://0x7f.1/",
            "http://2130706433/",
            f"http://localhost:{rx.port}/",
            "http://intranet.kibitz.test/hooks",
            "https://mixed.kibitz.test/hooks",
            "http://unknown.kibitz.test/hooks",
        ):
            r = await api.client.post(HOOKS, json={"url": url, "events": EVERY}, headers=headers)
            assert r.status_code == 422, (url, r.text)
            problem = r.json()
            assert problem["code"] == "webhook_target_refused", url
            assert [e["field"] for e in problem["errors"]] == ["url"]
            assert "10.1.2.3" not in r.text  # no oracle of internal names
            assert "192.168" not in r.text
        for url in ("ftp://example.org/", "http://user:pw@example.org/", "javascript:alert(1)", "/relative"):
            r = await api.client.post(HOOKS, json={"url": url, "events": EVERY}, headers=headers)
            assert (r.status_code, r.json()["code"]) == (422, "webhook_target_refused"), url
        listed = await api.client.get(HOOKS, headers=headers)
        assert listed.json() == {"webhooks": []}
    assert rx.calls == []


async def test_webhook_allow_lets_a_named_host_or_network_through(
    tmp_path: Path, database_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"hooks.kibitz.test": ["127.0.0.1"], "other.kibitz.test": ["127.0.0.1"]}
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_resolver(answers))
    allow = {"webhook_allow": ["hooks.kibitz.test", "10.0.0.0/8"], "webhook_timeout": 0.5}
    async with custom_api(tmp_path, database_url, clock, **allow) as api, receiving() as rx:
        headers = await key(api)
        hook, rx.secret = await register(api, f"http://hooks.kibitz.test:{rx.port}/in", headers)
        assert (await register(api, "http://10.9.8.7/in", headers, ["comment.flagged"]))[0]
        for url in (f"http://other.kibitz.test:{rx.port}/", f"http://127.0.0.1:{rx.port}/"):
            r = await api.client.post(HOOKS, json={"url": url, "events": EVERY}, headers=headers)
            assert r.json()["code"] == "webhook_target_refused", url
        await api.post(text="Through the allowed name")
        await until(settled(api, hook, headers, 1), "the delivery")
    [call] = rx.calls
    assert call.answered == 200
    assert call.headers["host"] == f"hooks.kibitz.test:{rx.port}"


async def test_a_name_that_turns_private_after_registration_is_refused_at_delivery(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"rebind.kibitz.test": ["93.184.216.34"]}
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_resolver(answers))
    headers = await key(api)
    async with receiving() as rx:
        hook, rx.secret = await register(api, f"http://rebind.kibitz.test:{rx.port}/in", headers)
        answers["rebind.kibitz.test"] = ["127.0.0.1"]  # DNS rebinding: now it points at us
        await api.post(text="Never to loopback")
        await until(settled(api, hook, headers, 1), "the refused delivery")
    [refused] = await log(api, hook, headers)
    assert (refused["status"], refused["attempts"], refused["response"]) == ("failed", 1, None)
    assert refused["error"] == "refused: the host resolves to a non-public address"
    assert rx.calls == []


# -- who may, the secret, the log and resend --------------------------------------------------------------


async def staff_cookie(api: Api, email: str, role: str, sites: list[str]) -> tuple[dict[str, str], str]:
    ctx = ctx_of(api)
    password = "a long enough password"
    await ctx.staff.add(email, role, sites, password, "tests")
    signed = await ctx.staff.sign_in(email, password, None, "tests", "pytest")
    return {"Cookie": f"kibitz_admin={signed.token}"}, signed.csrf


async def test_owners_and_moderate_keys_of_the_site_manage_webhooks_and_see_the_secret_once(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"hooks.kibitz.test": ["93.184.216.34"]}
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_resolver(answers))
    owner, csrf = await staff_cookie(api, "owner@example.org", "owner", [])
    desk, desk_csrf = await staff_cookie(api, "desk@example.org", "moderator", ["a"])
    body = {"url": "https://hooks.kibitz.test/kibitz", "events": ["comment.created"]}
    assert (await api.client.post(HOOKS, json=body)).status_code == 401
    for headers in (
        {**desk, "X-CSRF-Token": desk_csrf},  # a moderator of the site: not theirs to decide
        await key(api, "a", "publish"),
        await key(api, "b", "moderate"),
    ):
        for r in (
            await api.client.get(HOOKS, headers=headers),
            await api.client.post(HOOKS, json=body, headers=headers),
        ):
            assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    assert (await api.client.post(HOOKS, json=body, headers=owner)).json()["code"] == "csrf_failed"
    made = await api.client.post(HOOKS, json=body, headers={**owner, "X-CSRF-Token": csrf})
    assert made.status_code == 201
    secret = made.json()["secret"]
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
    hook = made.json()["webhook"]
    assert hook["url"] == body["url"]
    assert hook["events"] == ["comment.created"]
    for headers in (owner, await key(api)):
        listed = await api.client.get(HOOKS, headers=headers)
        assert listed.status_code == 200
        assert listed.headers["cache-control"] == "no-store"
        assert secret not in listed.text
        assert "secret" not in listed.text
        [shown] = listed.json()["webhooks"]
        assert shown["id"] == hook["id"]
        assert shown["deliveries"] == {"pending": 0, "sending": 0, "delivered": 0, "failed": 0}
    other_site = await api.client.get(f"{ADMIN}/sites/b/webhooks/{hook['id']}/deliveries", headers=owner)
    assert other_site.status_code == 404
    r = await api.client.post(
        HOOKS, json={"url": body["url"], "events": ["comment.voted"]}, headers=await key(api)
    )
    assert (r.status_code, r.json()["code"]) == (422, "invalid_input")
    gone = await api.client.delete(f"{HOOKS}/{hook['id']}", headers=await key(api))
    assert gone.status_code == 204
    assert (await api.client.get(HOOKS, headers=owner)).json() == {"webhooks": []}
    audit = (
        await api.client.get(f"{ADMIN}/audit", params={"target": f"webhook:{hook['id']}"}, headers=owner)
    ).json()
    assert [e["action"] for e in audit["items"]] == ["webhook.delete", "webhook.create"]
    assert audit["items"][1]["detail"] == {
        "origin": "https://hooks.kibitz.test",
        "events": ["comment.created"],
    }
    assert secret not in str(audit)


async def test_the_delivery_log_and_resend_in_the_api(hooked: Api) -> None:
    api = hooked
    headers = await key(api)
    async with receiving() as rx:
        hook, rx.secret = await register(api, rx.url, headers, events=["comment.created"])
        rx.plan = [Reply(410, b"unknown receiver")]
        await api.post(text="Sent twice")
        await until(settled(api, hook, headers, 1), "the refused delivery")
        [failed] = await log(api, hook, headers)
        assert (failed["status"], failed["attempts"], failed["error"]) == ("failed", 1, "HTTP 410")
        assert failed["response"] == {"status": 410, "body": "unknown receiver"}
        assert failed["payload"]["type"] == "comment.created"
        assert failed["event_id"] == rx.calls[0].headers["webhook-id"]
        resent = await api.client.post(
            f"{HOOKS}/{hook}/deliveries/{failed['id']}/resend", json={}, headers=headers
        )
        assert resent.status_code == 202, resent.text
        assert resent.json()["delivery"]["status"] == "pending"
        await until(settled(api, hook, headers, 1), "the delivery again")
        listed = await api.client.get(
            f"{HOOKS}/{hook}/deliveries", params={"status": "delivered"}, headers=headers
        )
        [done] = listed.json()["items"]
        assert (done["id"], done["status"], done["attempts"]) == (failed["id"], "delivered", 1)
        assert done["response"]["status"] == 200
        missing = await api.client.post(f"{HOOKS}/{hook}/deliveries/999999/resend", json={}, headers=headers)
        assert missing.status_code == 404
    assert [c.answered for c in rx.calls] == [410, 200]
    assert rx.calls[0].headers["webhook-id"] == rx.calls[1].headers["webhook-id"]
    assert rx.calls[0].body == rx.calls[1].body


async def test_the_log_keeps_finished_deliveries_thirty_days(hooked: Api, clock: FakeClock) -> None:
    api = hooked
    headers = await key(api)
    async with receiving() as rx:
        hook, rx.secret = await register(api, rx.url, headers, events=["comment.created"])
        await api.post(text="Old news")
        await until(settled(api, hook, headers, 1), "the delivery")
        clock.advance(days=29)
        await api.post(text="Recent news")
        await until(settled(api, hook, headers, 2), "the second delivery")
        clock.advance(days=2)  # the first is 31 days old now, the second 2
        ctx_of(api).webhooks.wakeup.set()

        async def first_forgotten() -> bool:
            return len(await log(api, hook, headers)) == 1

        await until(first_forgotten, "the old delivery forgotten")
    [kept] = await log(api, hook, headers)
    assert kept["payload"]["data"]["comment"]["html"].strip() == "<p>Recent news</p>"


def form_field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, name
    return found.group(1)


async def test_the_admin_page_adds_shows_the_secret_once_logs_resends_and_deletes(hooked: Api) -> None:
    api = hooked
    owner, csrf = await staff_cookie(api, "owner@example.org", "owner", [])
    desk, _ = await staff_cookie(api, "desk@example.org", "moderator", ["a"])
    form = {**owner, "Content-Type": "application/x-www-form-urlencoded"}
    page = "/admin/sites/a/webhooks"
    assert (await api.client.get(page, headers=desk)).status_code == 403
    assert "/webhooks" not in (await api.client.get("/admin/sites/a/queue", headers=desk)).text
    shown = await api.client.get(page, headers=owner)
    assert shown.status_code == 200
    assert 'href="/admin/sites/a/webhooks" aria-current="page"' in shown.text
    async with receiving() as rx:
        refused = await api.client.post(
            page,
            content=f"csrf={csrf}&url=http%3A%2F%2F169.254.169.254%2F&events=comment.created",
            headers=form,
        )
        assert refused.status_code == 422
        assert "Not added" in refused.text
        url = rx.url.replace(":", "%3A").replace("/", "%2F").replace("?", "%3F").replace("=", "%3D")
        added = await api.client.post(
            page, content=f"csrf={csrf}&url={url}&events=comment.created&events=comment.pending", headers=form
        )
        assert added.status_code == 200, added.text
        found = re.search(r"data-webhook-secret>(whsec_[^<]+)<", added.text)
        assert found
        rx.secret = found.group(1)
        again = await api.client.get(page, headers=owner)
        assert rx.url.replace("&", "&amp;") in again.text or rx.url in again.text
        assert rx.secret not in again.text
        [(made, _)] = await ctx_of(api).webhooks.listing(ctx_of(api).settings.site("a"))  # type: ignore[arg-type]
        assert made.events == ("comment.created", "comment.pending")

        rx.plan = [Reply(500, b"oops")]
        await api.post(text="Shown in the log")
        await until(functools.partial(_count, rx, 1), "the first call")
        headers = await key(api)
        await until(lambda: _first_attempted(api, str(made.id), headers), "the failed attempt recorded")
        log_page = await api.client.get(f"{page}/{made.id}", headers=owner)
        assert log_page.status_code == 200
        assert "comment.created" in log_page.text
        assert "HTTP 500" in log_page.text
        [delivery] = await log(api, str(made.id), headers)
        resent = await api.client.post(
            f"{page}/{made.id}/deliveries/{delivery['id']}/resend", content=f"csrf={csrf}", headers=form
        )
        assert resent.status_code == 303
        assert resent.headers["location"] == f"{page}/{made.id}?done=resent"
        await until(settled(api, str(made.id), headers, 1), "the resent delivery")
        assert "delivered" in (await api.client.get(f"{page}/{made.id}", headers=owner)).text
        deleted = await api.client.post(f"{page}/{made.id}/delete", content=f"csrf={csrf}", headers=form)
        assert (deleted.status_code, deleted.headers["location"]) == (303, f"{page}?done=deleted")
        assert "No webhooks." in (await api.client.get(page, headers=owner)).text
    assert [c.answered for c in rx.calls] == [500, 200]


async def _first_attempted(api: Api, hook: str, headers: dict[str, str]) -> bool:
    items = await log(api, hook, headers)
    return bool(items) and items[0]["attempts"] == 1
