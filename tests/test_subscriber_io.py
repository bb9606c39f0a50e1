"""Subscribers in and out of a newsletter list as CSV (issue 14): import with consent (recorded, or a
confirmation mail over real SMTP), suppressed and departed addresses skipped, dry runs, idempotence,
files refused whole, export with CSV injection neutralised, a round trip to another site, who may do
it, and the command line."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from kibitz.cli import main
from kibitz.store.audit import AuditFilter
from kibitz.store.schema import outbox, subscribers, subscriptions
from kibitz.store.subscribers import SIGNED_UP
from tests.conftest import ORIGIN_A, ORIGIN_B, Api, FakeClock, custom_api, site_table
from tests.mailserver import MailServer
from tests.server import write_config
from tests.test_campaigns import ctx_of, member
from tests.test_input_xss import assert_problem
from tests.test_mail_flow import body as mail_body
from tests.test_subscriptions import confirm_address
from tests.test_webhooks import key, staff_cookie

pytestmark = pytest.mark.anyio

LISTS: list[dict[str, Any]] = [
    {"id": "daily", "name": "Daily briefing", "welcome": True},
    {"id": "weekly", "name": "The week", "welcome": True},
]
IMPORT = "/api/v1/admin/sites/a/lists/daily/import"
EXPORT = "/api/v1/admin/sites/a/lists/daily/export"
CSV = {"Content-Type": "text/csv"}


def sites() -> list[dict[str, Any]]:
    return [site_table("a", ORIGIN_A, lists=LISTS), site_table("b", ORIGIN_B, lists=LISTS[:1])]


async def send_csv(
    api: Api, text: str | bytes, headers: dict[str, str], path: str = IMPORT, **params: Any
) -> Any:
    body = text.encode() if isinstance(text, str) else text
    return await api.client.post(path, content=body, params=params, headers={**CSV, **headers})


async def imported(api: Api, text: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = await send_csv(api, text, headers, **params)
    assert r.status_code == 200, r.text
    report: dict[str, Any] = r.json()
    return report


async def people(api: Api, site: str = "a") -> dict[str, dict[str, Any]]:
    """Every newsletter subscription of the site by address: what the database holds."""
    stmt = (
        select(subscribers, subscriptions.c.list, subscriptions.c.active, subscriptions.c.pending,
               subscriptions.c.consent_at, subscriptions.c.consent_source, subscriptions.c.consent_via)
        .join(subscriptions, subscriptions.c.subscriber_id == subscribers.c.id)
        .where(subscribers.c.site == site, subscriptions.c.topic == "newsletter")
    )  # fmt: skip
    async with ctx_of(api).db.read() as tx:
        return {row.email: dict(row._mapping) for row in await tx.conn.execute(stmt)}


async def snapshot(api: Api) -> tuple[list[Any], ...]:
    """Subscribers, subscriptions and the mail queued (not its delivery, which a worker may be doing)."""
    mail = select(outbox.c.id, outbox.c.kind, outbox.c.recipient, outbox.c.dedupe_key).order_by(outbox.c.id)
    found: list[list[Any]] = []
    async with ctx_of(api).db.read() as tx:
        for stmt in (
            select(subscribers).order_by(subscribers.c.id),
            select(subscriptions).order_by(subscriptions.c.id),
            mail,
        ):
            found.append(list((await tx.conn.execute(stmt)).all()))
    return tuple(found)


async def audit(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    """The newsletter entries of the audit log, oldest first."""
    async with ctx_of(api).db.read() as tx:
        entries = await tx.audit.listing(AuditFilter(), None, 100)
    return [(e.action, e.target, e.detail) for e in reversed(entries) if e.action.startswith("newsletter.")]


async def signed_up(api: Api, address: str, list_id: str = "daily", **extra: Any) -> None:
    """A subscriber who signed up and confirmed the mail (their address confirmed now)."""
    await member(api, address, list_id, status="unconfirmed", **extra)
    async with ctx_of(api).db.write() as tx:
        found = await tx.subscribers.get_or_create("a", address, api.clock())
        await tx.subscribers.confirm_held(found.id, api.clock())


async def departed(api: Api) -> None:
    """Addresses an import must never subscribe: suppressed, gone from everything, gone from the list."""
    now = api.clock()
    async with ctx_of(api).db.write() as tx:
        await tx.suppressions.add("", "bounced@example.org", "hard_bounce", "550 5.1.1", now)
        await tx.suppressions.add("a", "complained@example.org", "complaint", "arf", now)
    await member(api, "gone@example.org", status="unsubscribed")
    await member(api, "left@example.org")
    async with ctx_of(api).db.write() as tx:
        left = (await tx.subscriber_io.held("a", ["left@example.org"], ["daily", ""]))["left@example.org"]
        assert left.subscription_id is not None
        await tx.subscribers.deactivate(left.subscription_id)


FILE = """Email,Name,Consent_At,consent_source,Favourite colour
ann@example.org,Ann Lee,2024-03-01,print form 2024,blue
bob@Example.ORG,,2025-06-30T09:15:00+02:00,,red
cid@example.org,Cid,,,
bounced@example.org,,2024-01-01,,
complained@example.org,,2024-01-01,,
gone@example.org,,2024-01-01,,
left@example.org,,2024-01-01,,
not-an-address,,2024-01-01,,

ann@example.org,Ann again,2024-03-01,,
dan@example.org,,yesterday,,
eve@example.org,,2027-01-01,,
"fay@example.org","Fay ""the pen"" Okoro",,"",
"""
SKIPPED = [
    {"line": 5, "reason": "suppressed (hard_bounce)"},
    {"line": 6, "reason": "suppressed (complaint)"},
    {"line": 7, "reason": "unsubscribed from everything"},
    {"line": 8, "reason": "unsubscribed from this list"},
    {"line": 9, "reason": "email: is not a valid email address"},
    {"line": 11, "reason": "duplicate of line 2"},
    {"line": 12, "reason": "consent_at: is not an ISO 8601 date or date-time"},
    {"line": 13, "reason": "consent_at: is later than the import"},
]


async def test_import_records_consent_asks_the_rest_by_mail_and_skips_who_left(
    tmp_path: Path, database_url: str, clock: FakeClock, mail_server: MailServer
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites(), smtp=mail_server.smtp) as api:
        await departed(api)
        publish = await key(api, "a", "publish")
        report = await imported(api, FILE, publish, send_confirmation=1, source="website 2023")
        assert report == {
            "created": 4, "updated": 0, "unchanged": 0, "skipped": SKIPPED, "skipped_total": 8,
            "confirmations": 2, "ignored_columns": ["Favourite colour"], "dry_run": False,
        }  # fmt: skip

        held = await people(api)
        ann, bob = held["ann@example.org"], held["bob@example.org"]
        assert (ann["status"], ann["pending"], ann["name"]) == ("confirmed", False, "Ann Lee")
        assert ann["consent_at"].isoformat() == "2024-03-01T00:00:00+00:00"
        assert ann["consent_source"] == "print form 2024"
        assert ann["consent_via"].startswith("import by key:")
        assert (bob["status"], bob["pending"]) == ("confirmed", False)
        assert bob["consent_at"].isoformat() == "2025-06-30T07:15:00+00:00"
        assert bob["consent_source"] == "website 2023"  # --source fills an empty consent_source
        for address, name in (("cid@example.org", "Cid"), ("fay@example.org", 'Fay "the pen" Okoro')):
            assert (held[address]["status"], held[address]["pending"]) == ("unconfirmed", True)
            assert held[address]["consent_at"] is None
            assert held[address]["name"] == name
        assert held["left@example.org"]["active"] is False  # still gone
        assert held["gone@example.org"]["status"] == "unsubscribed"
        assert "bounced@example.org" not in held
        assert "eve@example.org" not in held

        # Only the two without consent get a mail: the confirmation, never a welcome or an issue.
        mails = await mail_server.wait_for(2)
        await anyio.sleep(0.3)  # anything more would have arrived by now
        assert len(mail_server.messages) == 2
        assert sorted(str(m["To"]) for m in mails) == ["cid@example.org", "fay@example.org"]
        assert {str(m["Subject"]) for m in mails} == {"Confirm your subscription to Site a"}
        assert "Daily briefing" in mail_body(mails[0])

        before = await snapshot(api)
        again = await imported(api, FILE, publish, send_confirmation=1, source="website 2023")
        assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 4)
        assert (again["skipped"], again["confirmations"]) == (SKIPPED, 0)
        assert await snapshot(api) == before  # the second run changed nothing, mailed nobody

        # Consent arriving later puts a pending row in force; a consent on record is never rewritten.
        later = (
            "email,consent_at,consent_source\n"
            "cid@example.org,2026-11-01,phone call\nann@example.org,2020-01-01,x\n"
        )
        assert (await imported(api, later, publish))["updated"] == 1
        held = await people(api)
        assert (held["cid@example.org"]["status"], held["cid@example.org"]["pending"]) == ("confirmed", False)
        assert held["cid@example.org"]["consent_source"] == "phone call"
        assert held["ann@example.org"]["consent_source"] == "print form 2024"

        actions = [entry for entry in await audit(api) if entry[0] == "newsletter.import"]
        assert actions[0][1] == "list:daily"
        assert actions[0][2] == {
            "created": 4, "updated": 0, "unchanged": 0, "confirmations": 2, "skipped": 8,
            "source": "website 2023",
        }  # fmt: skip
        assert len(actions) == 3

        # Confirming by the mail's link is consent too, and is recorded as such, with when.
        clock.advance(hours=2)
        await confirm_address(api, "fay@example.org")
        fay = (await people(api))["fay@example.org"]
        assert (fay["status"], fay["pending"]) == ("confirmed", False)
        assert fay["consent_at"] == clock()
        assert (fay["consent_source"], fay["consent_via"]) == (SIGNED_UP, "confirmation link")


async def test_a_dry_run_reports_what_the_import_does_and_writes_nothing(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as api:
        await departed(api)
        await member(api, "cid@example.org", pending=True, status="unconfirmed")
        publish = await key(api, "a", "publish")
        before = await snapshot(api)
        dry = await imported(api, FILE, publish, dry_run=1, send_confirmation=1)
        assert await snapshot(api) == before
        assert await audit(api) == []  # nothing written, not even the log
        assert dry["dry_run"] is True
        real = await imported(api, FILE, publish, send_confirmation=1)
        assert {**dry, "dry_run": False} == real
        # cid waits already, and gains a name; fay is the one new address without consent.
        assert (real["created"], real["updated"], real["unchanged"], real["confirmations"]) == (3, 1, 0, 1)
        assert await imported(api, FILE, publish, dry_run=1) == {
            **real, "created": 0, "updated": 0, "unchanged": 4, "confirmations": 0, "dry_run": True,
        }  # fmt: skip


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_export_neutralises_formulas_and_imports_elsewhere_as_it_was(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as api:
        publish = await key(api, "a", "publish")
        await departed(api)
        await signed_up(api, "pat@example.org", "")  # signed up before lists: the first list's
        await signed_up(api, "pia@example.org", paused_until=clock() + timedelta(days=7))
        await member(api, "wes@example.org", "weekly")
        text = (
            "email,name,consent_at,consent_source\n"
            '=cmd@example.org,"=HYPERLINK(""https://evil.example"",""x"")",2024-05-01,+from a form\n'
            "-minus@example.org,@SUM(A1),2024-05-02,\tTabbed\n"
            "cid@example.org,Cid,,\n"
        )
        assert (await imported(api, text, publish))["created"] == 3

        r = await api.client.get(EXPORT, headers=publish)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.headers["content-disposition"] == 'attachment; filename="a-daily-subscribers.csv"'
        assert r.headers["cache-control"] == "no-store"
        exported = {row["email"]: row for row in rows_of(r.text)}
        assert list(rows_of(r.text)[0]) == [
            "email", "name", "list", "status", "subscribed_at", "confirmed_at", "consent_at",
            "consent_source", "suppressed",
        ]  # fmt: skip
        # Every cell a spreadsheet would run starts with an apostrophe.
        formula = exported["'=cmd@example.org"]
        assert formula["name"] == '\'=HYPERLINK("https://evil.example","x")'
        assert formula["consent_source"] == "'+from a form"
        assert (formula["status"], formula["consent_at"]) == ("confirmed", "2024-05-01T00:00:00Z")
        assert exported["'-minus@example.org"]["name"] == "'@SUM(A1)"
        for row in exported.values():
            for cell in row.values():
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
        assert exported["cid@example.org"]["status"] == "pending"
        assert exported["left@example.org"]["status"] == "unsubscribed"
        assert exported["gone@example.org"]["status"] == "unsubscribed"
        assert exported["pia@example.org"]["status"] == "paused"
        assert exported["pat@example.org"]["list"] == "daily"
        assert exported["pat@example.org"]["consent_source"] == "sign-up, address confirmed"
        assert "wes@example.org" not in exported  # another list's
        assert set(exported) == {
            "'=cmd@example.org", "'-minus@example.org", "cid@example.org", "left@example.org",
            "gone@example.org", "pat@example.org", "pia@example.org",
        }  # fmt: skip
        assert ("newsletter.export", "list:daily", {"rows": 7}) in await audit(api)

        # Site b imports the file as it came: who left stays out, consent comes along.
        b_key = await key(api, "b", "publish")
        report = await imported(api, r.text, b_key, path="/api/v1/admin/sites/b/lists/daily/import")
        assert (report["created"], report["skipped_total"]) == (5, 2)
        assert [s["reason"] for s in report["skipped"]] == ["unsubscribed (the file says so)"] * 2
        assert report["ignored_columns"] == ["subscribed_at", "confirmed_at"]
        again = await api.client.get("/api/v1/admin/sites/b/lists/daily/export", headers=b_key)
        copied = {row["email"]: row for row in rows_of(again.text)}
        for address in ("'=cmd@example.org", "'-minus@example.org", "pat@example.org", "cid@example.org"):
            for column in ("name", "list", "status", "consent_at", "consent_source"):
                assert copied[address][column] == exported[address][column], (address, column)
        assert copied["pia@example.org"]["status"] == "confirmed"  # a pause stays where its person set it
        assert set(copied) == set(exported) - {"left@example.org", "gone@example.org"}
        held = await people(api, "b")
        assert held["=cmd@example.org"]["name"] == '=HYPERLINK("https://evil.example","x")'

        # Suppressed addresses are marked in an export.
        await member(api, "late@example.org")
        async with ctx_of(api).db.write() as tx:
            await tx.suppressions.add("", "late@example.org", "complaint", "arf", clock())
        marked = {row["email"]: row for row in rows_of((await api.client.get(EXPORT, headers=publish)).text)}
        assert marked["late@example.org"]["suppressed"] == "complaint"
        assert marked["pat@example.org"]["suppressed"] == ""


async def test_files_that_cannot_be_read_are_refused_whole_and_change_nothing(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as api:
        publish = await key(api, "a", "publish")
        good = "email\nann@example.org\n"
        latin = "email,name\nann@example.org,Ann\nzoe@example.org,Zoë\n".encode("latin-1")
        for body, fragment in (
            (latin, "not UTF-8"),
            ("name,consent_at\nAnn,2024-01-01\n", "one of them email"),
            ("", "empty"),
            ('email,name\nann@example.org,"Ann\nbob@example.org,Bob\n', "line 2"),
            ("email,name\n" + "ann@example.org," + "x" * 200_000 + "\n", "line 2"),
        ):
            r = await send_csv(api, body, publish)
            problem = assert_problem(r, 400, "invalid_csv")
            assert fragment in problem["detail"], problem
        big = good + "x@example.org\n" * (10 * 1024 * 1024 // 14)
        problem = assert_problem(await send_csv(api, big, publish), 413, "payload_too_large")
        assert "10 MiB" in problem["detail"]
        assert "kibitz newsletter import" in problem["detail"]
        r = await api.client.post(IMPORT, json={"email": "ann@example.org"}, headers=publish)
        assert "text/csv" in assert_problem(r, 415, "unsupported_media_type")["detail"]
        r = await send_csv(api, good, publish, path="/api/v1/admin/sites/a/lists/nope/import")
        assert assert_problem(r, 422, "unknown_list")["errors"] == [
            {"field": "list", "message": "is not one of the site's lists"}
        ]
        r = await send_csv(api, good, publish, source="two\nlines")
        assert assert_problem(r, 422, "invalid_input")["errors"][0]["field"] == "source"
        assert await snapshot(api) == ([], [], [])
        assert await audit(api) == []
        r = await api.client.get("/api/v1/admin/sites/a/lists/nope/export", headers=publish)
        assert_problem(r, 422, "unknown_list")


async def test_only_publish_keys_and_owners_of_the_site_may_import_and_export(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as api:
        good = "email,consent_at\nann@example.org,2024-01-01\n"
        assert_problem(await send_csv(api, good, {}), 401, "unauthorized")
        assert_problem(await api.client.get(EXPORT), 401, "unauthorized")
        desk, desk_csrf = await staff_cookie(api, "desk@example.org", "moderator", ["a"])
        for headers in (
            await key(api, "b", "publish"),
            await key(api, "a", "moderate"),
            {**desk, "X-CSRF-Token": desk_csrf},
        ):
            assert (
                assert_problem(await send_csv(api, good, headers), 403, "forbidden")["detail"]
                == "Not allowed"
            )
            r = await send_csv(api, good, headers, path="/api/v1/admin/sites/a/lists/nope/import")
            assert assert_problem(r, 403, "forbidden")["detail"] == "Not allowed"  # the same, list or not
            assert_problem(await api.client.get(EXPORT, headers=headers), 403, "forbidden")
        assert await snapshot(api) == ([], [], [])

        owner, csrf = await staff_cookie(api, "owner@example.org", "owner", [])
        assert_problem(await send_csv(api, good, owner), 403, "csrf_failed")
        report = await imported(api, good, {**owner, "X-CSRF-Token": csrf})
        assert report["created"] == 1
        via = (await people(api))["ann@example.org"]["consent_via"]
        assert via.startswith("import by staff:"), via
        assert via.endswith(" owner@example.org"), via
        r = await api.client.get(EXPORT, headers=owner)
        assert r.status_code == 200
        assert [row["email"] for row in rows_of(r.text)] == ["ann@example.org"]


async def test_a_large_file_is_imported_a_thousand_rows_per_transaction(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as api:
        ctx = ctx_of(api)
        data = "email,consent_at\n" + "".join(f"p{n}@example.org,2024-01-01\n" for n in range(2500))
        from kibitz.subscriber_csv import text_source

        seen: list[tuple[int, int]] = []
        site = ctx.settings.site("a")
        assert site is not None
        report = await ctx.subscriber_io.import_csv(
            site, "weekly", text_source(data.encode()), "tests", progress=lambda d, t: seen.append((d, t))
        )
        assert (report.created, report.skipped_total) == (2500, 0)
        assert seen == [(1000, 2500), (2000, 2500), (2500, 2500)]
        assert len(await people(api)) == 2500


def cli(tmp_path: Path, database_url: str, *args: str) -> Result:
    config = write_config(tmp_path / "cli.toml", tmp_path, database_url, sites=sites())
    return CliRunner().invoke(main, [*args, "--config", str(config)])


async def test_kibitz_newsletter_import_and_export(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as api:
        await departed(api)
        file = tmp_path / "people.csv"
        file.write_text(FILE, encoding="utf-8")

        async def run(*args: str) -> Result:
            return await anyio.to_thread.run_sync(lambda: cli(tmp_path, database_url, *args))

        args = ("newsletter", "import", str(file), "--site", "a", "--list", "daily")
        dry = await run(*args, "--dry-run", "--send-confirmation")
        assert dry.exit_code == 0, dry.output
        lines = dry.stdout.splitlines()
        assert lines[:3] == [
            "created 4, updated 0, unchanged 0, skipped 8 (dry run: nothing was written)",
            "confirmation mails that would be queued: 2",
            "ignored columns: Favourite colour",
        ]
        assert lines[3:] == [f"line {s['line']}: {s['reason']}" for s in SKIPPED]
        assert set(await people(api)) == {"gone@example.org", "left@example.org"}  # the dry run wrote nothing

        done = await run(*args, "--send-confirmation", "--source", "print form")
        assert done.exit_code == 0, done.output
        assert done.stdout.splitlines()[:2] == [
            "created 4, updated 0, unchanged 0, skipped 8",
            "confirmation mails queued: 2",
        ]
        assert "importing subscribers" in done.stderr  # the progress bar
        held = await people(api)
        assert held["bob@example.org"]["consent_via"] == "import by cli"
        assert held["bob@example.org"]["consent_source"] == "print form"
        confirms = [row for row in (await snapshot(api))[2] if row.kind == "confirm"]
        assert sorted(row.recipient for row in confirms) == ["cid@example.org", "fay@example.org"]
        again = await run(*args)
        assert again.stdout.splitlines()[0] == "created 0, updated 0, unchanged 4, skipped 8"

        out = tmp_path / "out.csv"
        exported = await run("newsletter", "export", "--site", "a", "--list", "daily", "-o", str(out))
        assert exported.exit_code == 0, exported.output
        assert exported.stderr == f"6 subscriptions written to {out}\n"
        written = rows_of(out.read_text(encoding="utf-8"))
        assert {row["email"] for row in written} >= {"ann@example.org", "cid@example.org", "left@example.org"}
        everything = await run("newsletter", "export", "--site", "a")
        assert everything.exit_code == 0
        assert rows_of(everything.stdout) == written  # only the daily list has subscribers

        bad = tmp_path / "latin.csv"
        bad.write_bytes("email\nzoë@example.org\n".encode("latin-1"))
        refused = await run("newsletter", "import", str(bad), "--site", "a", "--list", "daily")
        assert refused.exit_code == 1
        assert "error: The file is not UTF-8 text" in refused.stderr
        unknown = await run("newsletter", "import", str(file), "--site", "zz", "--list", "daily")
        assert unknown.exit_code == 1
        assert unknown.stderr.startswith("error: No site 'zz' in the configuration\n")
        nolist = await run("newsletter", "export", "--site", "a", "--list", "nope")
        assert nolist.exit_code == 1
        assert "list: is not one of the site's lists" in nolist.stderr


async def test_the_openapi_description_shows_both_routes_with_their_csv_bodies(
    tmp_path: Path, database_url: str, clock: FakeClock
) -> None:
    async with custom_api(tmp_path, database_url, clock, sites=sites()) as api:
        described = (await api.client.get("/openapi.json")).json()
        paths = described["paths"]
        imports = paths["/api/v1/admin/sites/{site}/lists/{list}/import"]["post"]
        assert set(imports["requestBody"]["content"]) == {"text/csv"}
        assert {p["name"] for p in imports["parameters"]} == {
            "site", "list", "dry_run", "send_confirmation", "source",
        }  # fmt: skip
        report = imports["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[
            1
        ]
        assert set(described["components"]["schemas"][report]["properties"]) == {
            "created", "updated", "unchanged", "skipped", "skipped_total", "confirmations",
            "ignored_columns", "dry_run",
        }  # fmt: skip
        assert {"401", "403", "413", "415", "422"} <= set(imports["responses"])
        exports = paths["/api/v1/admin/sites/{site}/lists/{list}/export"]["get"]
        assert "text/csv" in exports["responses"]["200"]["content"]
