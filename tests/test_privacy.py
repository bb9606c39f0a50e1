"""Privacy, self-service (privacy.py): "Download my data" and "Erase me" from the manage link, the
owners' CLI, the suppression that keeps mail from an erased address, and the retention of client
address hashes; on both engines. The last test searches every table for the erased person."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import pytest
from sqlalchemy import select, text

from kibitz.config import ErasePolicy
from kibitz.security import suppression_key
from kibitz.store.schema import (
    comments,
    metadata,
    outbox,
    subscribers,
    suppressions,
    votes,
    webhook_deliveries,
    webhooks,
)
from kibitz.worker import default_jobs
from tests.conftest import LOOSE, ORIGIN_A, Api, FakeClock, custom_api, site_table
from tests.mailserver import MailServer
from tests.test_manage import shown
from tests.test_subscriptions import confirm_address, form_post, subscribe

pytestmark = pytest.mark.anyio

NAME = "Zephyrine Quillfeather"
EMAIL = "zephyrine.q@reader.example"
ANN = {"name": NAME, "email": EMAIL}


async def post(api: Api, text_: str, author: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    r = await api.post(text=text_, author=author or ANN, **extra)
    assert r.status_code == 201, r.text
    posted: dict[str, Any] = r.json()
    return posted


async def ann_with_link(api: Api, **extra: Any) -> tuple[dict[str, Any], str]:
    """Ann posts (following replies), confirms by the mail's link; her post and her manage link."""
    posted = await post(api, "The harbour plan needs a second look.", notify="replies", **extra)
    return posted, await confirm_address(api, EMAIL)


async def erase_from_manage(api: Api, manage: str) -> Any:
    asked = await form_post(api, f"{manage}/erase")
    assert asked.status_code == 200, asked.text
    assert "Erase me now" in asked.text
    return await form_post(api, f"{manage}/erase", "sure=yes")


async def test_download_my_data_holds_comments_votes_subscriptions_and_consent(api: Api) -> None:
    bob = (await post(api, "Bob's view.", {"name": "Bob"}))["comment"]["id"]
    mine, manage = await ann_with_link(api, title="A story", url=f"{ORIGIN_A}/story")
    assert (await api.vote(bob, 1, reader=mine["reader"])).status_code == 200
    assert (await subscribe(api, EMAIL, topic="newsletter", page=None)).status_code == 202
    r = await form_post(api, f"{manage}/data")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["content-disposition"] == 'attachment; filename="kibitz-a-my-data.json"'
    assert r.headers["cache-control"] == "no-store"
    data = r.json()
    assert data["site"] == "a"
    assert data["email"] == EMAIL
    [comment] = data["comments"]
    assert comment["id"] == mine["comment"]["id"]
    assert comment["text"] == "The harbour plan needs a second look."
    assert comment["name"] == NAME
    assert comment["page"] == "/story"
    assert comment["created"].endswith("Z")
    assert [(v["comment"], v["value"]) for v in data["votes"]] == [(bob, 1)]
    [replies] = data["subscriptions"]
    assert replies["topic"] == "replies"
    assert replies["active"] is True
    assert replies["consent"]["via"] == "confirmation link"
    assert replies["consent"]["at"] is not None
    [news] = data["newsletter"]
    assert news["topic"] == "newsletter"
    assert data["subscriber"]["status"] == "confirmed"
    assert {m["kind"] for m in data["mails"]} >= {"confirm"}
    assert "Bob's view." not in r.text  # nobody else's words


async def test_download_needs_the_pages_form_token_and_a_get_does_nothing(api: Api) -> None:
    _, manage = await ann_with_link(api)
    assert (await api.client.get(f"{manage}/data")).status_code == 405
    forged = await api.client.post(
        f"{manage}/data", content=b"", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert forged.status_code == 403
    assert EMAIL not in forged.text


async def test_erase_anonymises_comments_keeps_the_words_and_drops_subscriptions(api: Api) -> None:
    mine, manage = await ann_with_link(api)
    ann = mine["comment"]["id"]
    bob = (await post(api, "I agree.", {"name": "Bob", "email": "bob@reader.example"}, parent=ann))["comment"]
    before = shown(await api.thread())[ann]
    r = await erase_from_manage(api, manage)
    assert r.status_code == 200, r.text
    assert "You are erased" in r.text
    after = await api.thread()
    seen = shown(after)
    assert seen[ann]["author"]["name"] == "deleted"
    assert seen[ann]["author"]["url"] is None
    assert seen[ann]["author"]["avatar"] != before["author"]["avatar"]
    assert seen[ann]["html"] == before["html"]  # the words stay
    assert seen[bob["id"]]["author"]["name"] == "Bob"
    assert after["thread"]["count"] == 2
    ctx = api.app.state.ctx
    async with ctx.db.read() as tx:
        assert (
            await tx.conn.execute(select(subscribers).where(subscribers.c.email == EMAIL))
        ).first() is None
        rows = (await tx.conn.execute(select(suppressions))).all()
    assert [(s.site, s.email, s.reason) for s in rows] == [
        ("a", suppression_key(ctx.tokens, EMAIL), "erased")
    ]
    # The link held by the erased address leads nowhere now.
    assert (await api.client.get(manage)).status_code == 404


async def test_an_erased_authors_edit_token_no_longer_changes_the_comment(api: Api) -> None:
    """The browser that posted keeps the comment's edit token; after the erasure it edits and
    deletes nothing (the comment is nobody's now). Mutation tried: without the reader-id check in
    CommentEdits._owned the PATCH answers 200 and the erased comment's words change."""
    mine, manage = await ann_with_link(api)
    ann, token = mine["comment"]["id"], mine["token"]
    assert (await erase_from_manage(api, manage)).status_code == 200
    headers = {"Origin": ORIGIN_A, "Authorization": f"Bearer {token}"}
    edited = await api.client.patch(f"/api/v1/comments/{ann}", json={"text": "Changed"}, headers=headers)
    deleted = await api.client.delete(f"/api/v1/comments/{ann}", headers=headers)
    assert (edited.status_code, deleted.status_code) == (403, 403)
    seen = shown(await api.thread())[ann]
    assert "harbour plan" in seen["html"]
    assert seen["author"]["name"] == "deleted"


async def test_erase_in_remove_mode_leaves_tombstones_where_replies_hang(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    sites = [site_table("a", ORIGIN_A, erase="remove"), site_table("b", "https://b.example")]
    async with custom_api(tmp_path, database_url, clock, sites=sites) as api:
        mine, manage = await ann_with_link(api)
        ann = mine["comment"]["id"]
        lone = (await post(api, "A second thought."))["comment"]["id"]
        reply = (await post(api, "Answering Ann.", {"name": "Bob"}, parent=ann))["comment"]["id"]
        deeper = (await post(api, "And me to Bob.", parent=reply))["comment"]["id"]
        assert (await api.thread())["thread"]["count"] == 4
        assert (await erase_from_manage(api, manage)).status_code == 200
        after = await api.thread()
        seen = shown(after)
        assert lone not in seen  # no replies: gone from the listing
        assert deeper not in seen
        assert seen[ann]["deleted"] is True
        assert seen[ann]["html"] == ""
        assert seen[ann]["author"]["name"] == ""
        assert seen[reply]["author"]["name"] == "Bob"  # the reply keeps hanging on the tombstone
        assert seen[reply]["parent"] == ann
        assert after["thread"]["count"] == 1


async def test_erase_needs_a_fresh_link_and_this_sites_form(api: Api, clock: FakeClock) -> None:
    mine, manage = await ann_with_link(api)
    cross = await api.client.post(
        f"{manage}/erase",
        content=b"sure=yes",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403
    clock.advance(hours=2)
    stale = await form_post(api, f"{manage}/erase", "sure=yes")
    assert stale.status_code == 403
    assert "last hour" in stale.text
    assert shown(await api.thread())[mine["comment"]["id"]]["author"]["name"] == NAME


async def test_erase_withdraws_the_persons_votes(api: Api) -> None:
    bob = (await post(api, "Bob's view.", {"name": "Bob"}))["comment"]["id"]
    mine, manage = await ann_with_link(api)
    assert (await api.vote(bob, 1, reader=mine["reader"])).status_code == 200
    assert shown(await api.thread())[bob]["up"] == 1
    assert (await erase_from_manage(api, manage)).status_code == 200
    assert shown(await api.thread())[bob]["up"] == 0
    async with api.app.state.ctx.db.read() as tx:
        assert (await tx.conn.execute(select(votes))).all() == []


async def test_no_mail_reaches_an_erased_address_again(
    tmp_path: Path, database_url: str, clock: FakeClock, mail_server: MailServer
) -> None:
    async with custom_api(tmp_path, database_url, clock, smtp=mail_server.smtp) as api:
        await post(api, "Mail me replies.", notify="replies")
        await mail_server.wait_for(1)  # the confirmation, before erasure
        ctx = api.app.state.ctx
        await ctx.privacy.erase(ctx.privacy.identity(ctx.settings.site("a"), EMAIL), ErasePolicy.ANONYMISE)
        # Someone subscribes the address again, then another reader; only the other's mail goes.
        assert (await subscribe(api, EMAIL, topic="newsletter", page=None)).status_code == 202
        assert (
            await subscribe(api, "other@reader.example", topic="newsletter", page=None)
        ).status_code == 202
        await mail_server.wait_for(2)
        for _ in range(200):  # bounded wait: the worker settles the erased address's row
            async with ctx.db.read() as tx:
                row = (await tx.conn.execute(select(outbox).where(outbox.c.recipient == EMAIL))).first()
            if row is not None and row.status not in ("pending", "sending"):
                break
            await anyio.sleep(0.05)
        assert row is not None
        assert (row.status, row.last_error) == ("dropped", "suppressed: erased")
        assert [m["To"] for m in mail_server.messages] == [EMAIL, "other@reader.example"]


async def test_asking_for_a_link_by_address_answers_alike_and_mails_only_known_addresses(api: Api) -> None:
    await post(api, "I never subscribed.", {"name": "Cy", "email": "cy@reader.example"})
    page = await api.client.get("/privacy/a")
    assert page.status_code == 200
    answers = []
    for address in ("cy@reader.example", "nobody@reader.example"):
        r = await form_post(api, "/privacy/a", f"email={quote(address)}")
        assert r.status_code == 200
        answers.append(r.text.replace(re.search(r'name="form" value="([^"]+)"', r.text)[1], ""))  # type: ignore[index]
    assert answers[0] == answers[1]
    async with api.app.state.ctx.db.read() as tx:
        mails = (await tx.conn.execute(select(outbox.c.recipient, outbox.c.kind))).all()
    assert [(m.recipient, m.kind) for m in mails] == [("cy@reader.example", "manage")]
    assert (await api.client.get("/privacy/nosuch")).status_code == 404


async def test_asking_for_links_is_rate_limited_per_client_address(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    tight = {**LOOSE, "subscriptions": "2/hour"}
    sites = [site_table("a", ORIGIN_A, rate_limits=tight), site_table("b", "https://b.example")]
    async with custom_api(tmp_path, database_url, clock, sites=sites) as api:
        statuses = [
            (await form_post(api, "/privacy/a", f"email=n{i}%40reader.example")).status_code for i in range(3)
        ]
        assert statuses == [200, 200, 429]


async def test_retention_job_drops_old_client_address_hashes(api: Api, clock: FakeClock) -> None:
    old = (await post(api, "Old words."))["comment"]["id"]
    assert (await api.vote(old, 1)).status_code == 200
    clock.advance(days=31)
    new = (await post(api, "New words."))["comment"]["id"]
    assert (await api.vote(new, 1)).status_code == 200
    ctx = api.app.state.ctx
    [job] = [j for j in default_jobs(ctx) if j.name == "address-retention"]
    await job.fn()
    async with ctx.db.read() as tx:
        rows = (await tx.conn.execute(select(comments.c.id, comments.c.client_hash))).all()
        cast = (await tx.conn.execute(select(votes.c.comment_id, votes.c.client_hash))).all()
    hashes = {str(r.id): r.client_hash for r in rows}
    assert hashes[old] == ""
    assert hashes[new] != ""
    voted = {str(r.comment_id): r.client_hash for r in cast}
    assert voted == {old: "", new: hashes[new]}  # one address: the same keyed hash while kept
    assert ctx.settings.client_address_retention == timedelta(days=30)


async def test_cli_exports_and_erases_for_a_request_by_post(api: Api) -> None:
    from click.testing import CliRunner

    from kibitz.cli import main

    await post(api, "Written on paper too.")
    ctx = api.app.state.ctx
    settings = ctx.settings
    config = Path(settings.data_dir) / "kibitz.toml"
    config.write_text(
        f'data_dir = "{settings.data_dir}"\ndatabase_url = "{settings.database_url}"\n'
        '[[sites]]\nid = "a"\nname = "A"\norigins = ["https://news-a.example"]\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    out = Path(settings.data_dir) / "out.json"
    r = await anyio.to_thread.run_sync(
        lambda: runner.invoke(
            main,
            ["privacy", "export", "--config", str(config), "--site", "a", "--email", EMAIL, "-o", str(out)],
        )
    )
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["comments"][0]["text"] == "Written on paper too."
    r = await anyio.to_thread.run_sync(
        lambda: runner.invoke(
            main, ["privacy", "erase", "--config", str(config), "--site", "a", "--email", EMAIL, "--yes"]
        )
    )
    assert r.exit_code == 0, r.output
    assert "1 comments" in r.output
    assert shown(await api.thread())[next(iter(shown(await api.thread())))]["author"]["name"] == "deleted"
    async with ctx.db.read() as tx:
        audit = (await tx.conn.execute(text("SELECT action, target, detail FROM audit_log"))).all()
    assert [a.action for a in audit] == ["privacy.export", "privacy.erase"]
    assert all(EMAIL not in f"{a.target}{a.detail}" for a in audit)


# -- the whole-database search ------------------------------------------------------------------------


async def everything(api: Api) -> str:
    """Every row of every table (SQLite: the whole dump), and what readers get: the thread's JSON,
    HTML fragment and Atom feeds."""
    ctx = api.app.state.ctx
    parts: list[str] = []
    async with ctx.db.read() as tx:
        if tx.dialect == "sqlite":
            raw = await tx.conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            lines = await anyio.to_thread.run_sync(lambda: list(driver._conn.iterdump()))
            parts.extend(lines)
        else:
            for table in metadata.sorted_tables:
                parts.extend(repr(tuple(row)) for row in await tx.conn.execute(select(table)))
            parts.extend(repr(tuple(row)) for row in await tx.conn.execute(select(outbox)))
    for path in (
        "/api/v1/sites/a/comments?page=/story",
        "/api/v1/sites/a/comments.html?page=/story",
        "/api/v1/sites/a/feed.atom?page=/story",
        "/api/v1/sites/a/feed.atom",
    ):
        r = await api.client.get(path)
        assert r.status_code == 200, path
        parts.append(r.text)
    return "\n".join(parts)


async def webhook_delivery_of(api: Api, comment_id: str) -> None:
    """A webhook of the site and the delivery of its comment.created for ``comment_id`` (written as
    webhooks.py writes it; the receiver is never called here)."""
    ctx = api.app.state.ctx
    now = api.clock()
    async with ctx.db.write() as tx:
        await tx.conn.execute(
            webhooks.insert().values(
                site="a",
                url="https://hooks.example/in",
                events="comment.created",
                secret="whsec_x",
                created=now,
            )
        )
        comment = await tx.comments.get(int(comment_id))
        thread = await tx.threads.get("a", "/story")
        assert comment is not None
        assert thread is not None
        await ctx.webhooks.posted(tx, thread, comment, now)
        [delivery] = (await tx.conn.execute(select(webhook_deliveries.c.payload))).all()
    assert NAME in delivery.payload


async def test_erase_leaves_no_trace_of_the_address_or_name_anywhere(api: Api) -> None:
    mine, manage = await ann_with_link(api, title="A story", url=f"{ORIGIN_A}/story")
    ann = mine["comment"]["id"]
    bob = await post(
        api, "Answering.", {"name": "Bob", "email": "bob@reader.example"}, notify="replies", parent=ann
    )
    await confirm_address(api, "bob@reader.example")
    # Ann answers Bob (a reply mail to Bob quotes her name), votes, reports, follows the newsletter.
    await post(api, "Thanks Bob.", parent=bob["comment"]["id"], notify="all")
    assert (await api.vote(bob["comment"]["id"], 1, reader=mine["reader"])).status_code == 200
    flag = await api.client.post(
        f"/api/v1/comments/{bob['comment']['id']}/flag",
        json={"reason": "just testing"},
        headers={"Origin": ORIGIN_A, "X-Kibitz-Reader": mine["reader"]},
    )
    assert flag.status_code == 202
    assert (await subscribe(api, EMAIL, topic="newsletter", page=None)).status_code == 202
    await webhook_delivery_of(api, ann)
    before = (await everything(api)).lower()
    assert "203.0.113.7" not in before  # the client's address is never stored in clear (only hashed)
    assert EMAIL in before
    assert NAME.lower() in before
    assert (await erase_from_manage(api, manage)).status_code == 200
    after = (await everything(api)).lower()
    assert EMAIL not in after
    assert NAME.lower() not in after
    assert "zephyrine" not in after
    assert "quillfeather" not in after
    assert "bob" in after  # others stay


# -- the owners' page --------------------------------------------------------------------------------


async def test_owners_export_and_erase_from_the_admin_moderators_may_not_and_csrf_is_checked(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    from tests.test_admin_pages import MOD_A, OWNER, PASSWORD, browser, sign_in

    sites = [site_table("a", ORIGIN_A), site_table("b", "https://b.example")]
    async with custom_api(tmp_path, database_url, clock, sites=sites) as api:
        ctx = api.app.state.ctx
        await ctx.staff.add(OWNER, "owner", [], PASSWORD, "test")
        await ctx.staff.add(MOD_A, "moderator", ["a"], PASSWORD, "test")
        ann = (await post(api, "A letter to the editor."))["comment"]["id"]
        async with browser(api) as mod:
            mod_csrf = await sign_in(mod, MOD_A)
            assert (await mod.get("/admin/sites/a/privacy")).status_code == 403
            r = await mod.post(
                "/admin/sites/a/privacy/erase", data={"csrf": mod_csrf, "email": EMAIL, "confirm": "erase"}
            )
            assert r.status_code == 403
        csrf = await sign_in(api.client, OWNER)
        page = await api.client.get("/admin/sites/a/privacy")
        assert page.status_code == 200
        assert "Privacy requests" in page.text
        no_csrf = await api.client.post(
            "/admin/sites/a/privacy/erase", data={"email": EMAIL, "confirm": "erase"}
        )
        assert no_csrf.status_code == 403
        unconfirmed = await api.client.post(
            "/admin/sites/a/privacy/erase", data={"csrf": csrf, "email": EMAIL}
        )
        assert unconfirmed.status_code == 422
        assert shown(await api.thread())[ann]["author"]["name"] == NAME  # nothing changed yet
        exported = await api.client.post("/admin/sites/a/privacy/export", data={"csrf": csrf, "email": EMAIL})
        assert exported.status_code == 200
        assert exported.json()["comments"][0]["text"] == "A letter to the editor."
        erased = await api.client.post(
            "/admin/sites/a/privacy/erase", data={"csrf": csrf, "email": EMAIL, "confirm": "erase"}
        )
        assert erased.status_code == 303
        assert shown(await api.thread())[ann]["author"]["name"] == "deleted"
        listed = await api.client.get("/admin/sites/a/newsletter/suppressions")
        assert "An erased reader" in listed.text  # a keyed hash: nothing to lift, no address shown
        assert EMAIL not in listed.text
        async with ctx.db.read() as tx:
            audit = (
                await tx.conn.execute(
                    text(
                        "SELECT site, actor, action, target, detail FROM audit_log"
                        " WHERE action LIKE 'privacy.%' ORDER BY id"
                    )
                )
            ).all()
        assert [(a.site, a.action) for a in audit] == [("a", "privacy.export"), ("a", "privacy.erase")]
        assert all(a.actor.startswith("staff:") for a in audit)
        assert all(EMAIL not in f"{a.target}{a.detail}" and a.target.startswith("person:") for a in audit)


async def test_live_readers_see_the_erasure_and_never_the_name_again(
    tmp_path: Path, database_url: str
) -> None:
    """`kibitz privacy erase` in its own process: a reader's open stream (polling the database, no
    Redis) gets comment.updated with "deleted"; a replay from before shows no name either."""
    from tests.server import run_kibitz, serve
    from tests.test_live import client, stream

    with serve(tmp_path, database_url) as server:
        async with client(server.url) as writer:
            posted = await writer.post("/erased", "Words that stay.")  # by "Bo", bo@example.org
            first = posted["comment"]["id"]
            async with stream(server.url, "/erased") as reader:
                done = await anyio.to_thread.run_sync(
                    lambda: run_kibitz(
                        "privacy", "erase", "--config", str(server.config), "--site", "a",
                        "--email", "bo@example.org", "--yes", cwd=tmp_path,
                    )
                )  # fmt: skip
                assert done.returncode == 0, done.stderr
                event = await reader.event()
                assert event.kind == "comment.updated"
                assert event.json()["comment"]["id"] == first
                assert event.json()["comment"]["author"]["name"] == "deleted"
                assert "Bo" not in event.data
            async with stream(server.url, "/erased", headers={"Last-Event-ID": "0"}) as replay:
                created = await replay.event()
                assert created.kind == "comment.created"
                assert created.json()["comment"]["author"]["name"] == "deleted"
