"""Newsletter campaigns seen from outside the API: the public archive of a list (HTML pages and the
Atom feed, sent issues only) and `kibitz newsletter list|send [--follow]` (DESIGN.md §3b "Newsletter",
§4)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from kibitz.mailer import SmtpMailer
from kibitz.worker import Worker
from tests.conftest import FakeClock, custom_api, make_settings
from tests.mailserver import MailServer
from tests.server import KIBITZ, child_env, run_kibitz, write_config
from tests.test_campaigns import BASE, act, create, ctx_of, member, sites, state
from tests.test_subscriptions import rows
from tests.test_webhooks import key

pytestmark = pytest.mark.anyio


async def test_the_archive_lists_only_sent_issues_as_html_and_atom(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites(), base_url=BASE) as api:
        publish = await key(api, "a", "publish")
        sent = (await create(api, publish, subject="Sent issue"))["id"]
        await act(api, publish, sent, "send")
        await ctx_of(api).campaigns.run_due()  # nobody subscribed: all out at once
        assert (await state(api, publish, sent))["status"] == "sent"
        draft = (await create(api, publish, subject="Draft issue"))["id"]
        cancelled = (await create(api, publish, subject="Cancelled issue"))["id"]
        await act(api, publish, cancelled, "cancel")
        weekly = (await create(api, publish, subject="Weekly issue", list="weekly"))["id"]
        await act(api, publish, weekly, "send")
        await ctx_of(api).campaigns.run_due()

        r = await api.client.get("/newsletter/a/daily")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert "Sent issue" in r.text
        assert f"/newsletter/a/daily/{sent}" in r.text
        for hidden in ("Draft issue", "Cancelled issue", "Weekly issue"):
            assert hidden not in r.text

        r = await api.client.get(f"/newsletter/a/daily/{sent}")
        assert r.status_code == 200
        assert "<h1>Morning news</h1>" in r.text
        assert "<script>window" not in r.text
        assert 'href="javascript' not in r.text
        assert f'href="{BASE}/newsletter/a"' in r.text  # the placeholder link leads to the sign-up page
        for missing in (draft, cancelled, weekly, "999999", "x1"):
            assert (await api.client.get(f"/newsletter/a/daily/{missing}")).status_code == 404
        assert (await api.client.get("/newsletter/a/nope")).status_code == 404
        assert (await api.client.get("/newsletter/zz/daily")).status_code == 404
        assert (await api.client.get("/newsletter/a")).status_code == 200  # the sign-up page is still there

        for path in ("/newsletter/a/daily.atom", "/newsletter/a/daily?format=atom"):
            r = await api.client.get(path)
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("application/atom+xml")
            feed = ET.fromstring(r.content)  # noqa: S314 - our own output
            ns = {"a": "http://www.w3.org/2005/Atom"}
            titles = [e.findtext("a:title", namespaces=ns) for e in feed.findall("a:entry", ns)]
            assert titles == ["Sent issue"]
            content = feed.find("a:entry/a:content", ns)
            assert content is not None
            assert "<script" not in (content.text or "")
        r = await api.client.get("/newsletter/a/weekly.atom")
        weekly_feed = ET.fromstring(r.content)  # noqa: S314 - our own output
        assert len(weekly_feed.findall("{http://www.w3.org/2005/Atom}entry")) == 1


async def test_the_command_line_lists_and_sends_a_campaign(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as api:
        for name in ("ann", "bob"):
            await member(api, f"{name}@example.org")
        publish = await key(api, "a", "publish")
        campaign = (await create(api, publish, subject="From the shell"))["id"]
    config = write_config(tmp_path / "kibitz.toml", tmp_path, database_url, sites=sites())

    done = run_kibitz("newsletter", "send", campaign, "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.split("\t")[:5] == [campaign, "a", "daily", "sending", "total=2"]
    listed = run_kibitz("newsletter", "list", "--config", str(config), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [last]
    again = run_kibitz("newsletter", "send", campaign, "--config", str(config), cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.strip() == "error: A sending campaign cannot be sent"
    missing = run_kibitz("newsletter", "send", "999", "--config", str(config), cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: No campaign 999\n")
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as api:
        assert sorted(r.recipient for r in await rows(api, campaign_id=int(campaign))) == [
            "ann@example.org", "bob@example.org",
        ]  # fmt: skip


async def test_send_follow_shows_the_delivery_until_every_mail_is_out(
    tmp_path: Path, database_url: str, clock: FakeClock, mail_server: MailServer
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as api:
        for name in ("ann", "bob", "cid"):
            await member(api, f"{name}@example.org")
        publish = await key(api, "a", "publish")
        campaign = (await create(api, publish, subject="Followed"))["id"]
        config = write_config(tmp_path / "kibitz.toml", tmp_path, database_url, sites=sites())
        out = (tmp_path / "follow.out").open("wb")
        follower = subprocess.Popen(  # noqa: ASYNC220 - it runs beside the test's own worker
            [str(KIBITZ), "newsletter", "send", campaign, "--follow", "--config", str(config)],
            cwd=tmp_path, env=child_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        settings = make_settings(tmp_path, database_url, sites=sites(), smtp=mail_server.smtp)
        worker = Worker(ctx_of(api).db, SmtpMailer(settings.smtp), settings, clock)
        clock.now = datetime.now(UTC) + timedelta(minutes=1)  # the command queues by the real clock
        deadline = time.monotonic() + 60
        try:
            # The command waits while nothing is delivered, and ends once the worker has sent it all.
            while follower.poll() is None:
                assert time.monotonic() < deadline, "the command did not end"
                await worker.run_once()
                await asyncio.sleep(0.05)
        finally:
            if follower.poll() is None:
                follower.kill()
            follower.wait()
            out.close()
    output = (tmp_path / "follow.out").read_text()
    assert follower.returncode == 0, output
    assert "mails delivered" in output
    assert output.strip().splitlines()[-1].split("\t")[:5] == [campaign, "a", "daily", "sending", "total=3"]
    assert sorted(str(m["To"]) for m in mail_server.messages) == [
        f"{n}@example.org" for n in ("ann", "bob", "cid")
    ]
