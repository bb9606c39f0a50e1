"""How the command line finds its data (kibitz/cli_data.py): the settings `serve` and `demo` read,
``--data DIR`` for a demo's data directory, and never a new, empty database where the one meant is
elsewhere; `kibitz comments list`; `kibitz outbox list` counting the attempt that delivered a mail."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result

from kibitz.cli import main
from kibitz.config import load_settings
from kibitz.demo import articles, demo_settings, seed
from kibitz.store.db import Database
from kibitz.store.outbox import NewMail
from kibitz.worker import Worker
from tests.conftest import FakeClock
from tests.server import fresh_pg_database, write_config
from tests.test_cli import schema_state

LEAD = articles()[0]  # the demo's long discussion
MODERATED = next(a for a in articles() if a.moderation == "all")

# Every command that acts on data and so must find an existing database.
ACTING = [
    ("comments", "hide", "71"),
    ("comments", "restore", "71"),
    ("comments", "list"),
    ("threads", "close", "demo", "/story"),
    ("threads", "reopen", "demo", "/story"),
    ("outbox", "list"),
    ("outbox", "retry", "--failed"),
    ("admin", "list"),
    ("admin", "add", "ann@example.org", "--role", "owner"),
    ("admin", "remove", "ann@example.org"),
    ("admin", "reset", "ann@example.org"),
    ("admin", "totp", "ann@example.org"),
    ("apikey", "list"),
    ("apikey", "create", "--site", "demo", "--scope", "moderate"),
    ("apikey", "revoke", "1"),
]


def kibitz(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, in an environment without KIBITZ_* settings."""
    for name in list(os.environ):
        if name.startswith("KIBITZ_") and not name.startswith("KIBITZ_TEST_"):
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def files(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))


def no_database(result: Result, path: Path) -> str:
    """The message of a command that found no database at ``path``; its stderr."""
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert (
        lines[0] == f"error: there is no database at {path}, so nothing was done (and no database was made)."
    )
    assert "--data DIR" in lines[-1]
    assert "--config FILE" in lines[-1]
    assert "`kibitz migrate` or `kibitz serve` makes a new database." in lines[-1]
    return result.stderr


@pytest.mark.parametrize("args", ACTING, ids=" ".join)
def test_a_command_finds_no_database_says_where_it_looked_and_makes_none(
    here: Path, args: tuple[str, ...]
) -> None:
    said = no_database(kibitz(*args), here / "kibitz.db")
    assert (
        f"Looked there because of database_url 'sqlite:///kibitz.db' (the default) inside data_dir "
        f"'{here}' (the default); no configuration file was read (no --config, KIBITZ_CONFIG is not "
        f"set and there is no kibitz.toml in the working directory)."
    ) in said
    assert "The demo's data" not in said  # there is no demo here
    assert files(here) == []  # no database, no lock files


def test_the_worker_finds_no_database_and_makes_none(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIBITZ_SMTP__HOST", "127.0.0.1")
    no_database(kibitz("worker"), here / "kibitz.db")
    assert files(here) == []


def test_the_demo_data_in_the_working_directory_is_named_and_data_opens_it(here: Path) -> None:
    made = kibitz("migrate", "--data", "kibitz-demo")  # as `kibitz demo` would have made it
    assert made.exit_code == 0, made.output
    assert made.stderr.startswith(f"made a new database at {here / 'kibitz-demo' / 'kibitz.db'} (")
    again = kibitz("migrate", "--data", "kibitz-demo")
    assert (again.exit_code, again.stderr) == (0, "")

    said = no_database(kibitz("comments", "hide", "71"), here / "kibitz.db")
    assert "The demo's data is in ./kibitz-demo: add --data kibitz-demo." in said.splitlines()
    assert "kibitz.db" not in files(here)

    found = kibitz("comments", "hide", "71", "--data", "kibitz-demo")
    assert found.exit_code == 1
    first, where = found.stderr.splitlines()
    assert first == "error: No comment 71"
    assert where == (
        f"(in the database {here / 'kibitz-demo' / 'kibitz.db'}; --data DIR or --config FILE names another)"
    )
    listed = kibitz("comments", "list", "--data", str(here / "kibitz-demo"))
    assert (listed.exit_code, listed.stdout, listed.stderr) == (0, "", "no comments match\n")


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (
            {"file.toml": 'data_dir = "store"\n', "args": "--config file.toml"},
            "inside data_dir '{here}/store' (from {here}/file.toml); settings read from "
            "{here}/file.toml (--config).",
        ),
        (
            {"file.toml": 'data_dir = "store"\n', "KIBITZ_CONFIG": "file.toml"},
            "inside data_dir '{here}/store' (from {here}/file.toml); settings read from "
            "{here}/file.toml (KIBITZ_CONFIG).",
        ),
        (
            {"kibitz.toml": 'database_url = "sqlite:///other.db"\n'},
            "database_url 'sqlite:///other.db' (from {here}/kibitz.toml) inside data_dir '{here}' "
            "(the default); settings read from {here}/kibitz.toml (kibitz.toml in the working directory).",
        ),
        (
            {"KIBITZ_DATA_DIR": "store"},
            "inside data_dir '{here}/store' (from KIBITZ_DATA_DIR); no configuration file was read",
        ),
        (
            {"KIBITZ_DATABASE_URL": "sqlite:///{here}/abs.db"},  # {here} is absolute: four slashes
            "database_url 'sqlite:///{here}/abs.db' (from KIBITZ_DATABASE_URL); no configuration",
        ),
        (
            {"kibitz.toml": 'data_dir = "ignored"\n', "args": "--data store"},
            "database_url 'sqlite:///kibitz.db' (from --data) inside data_dir '{here}/store' (from --data); "
            "settings read from {here}/kibitz.toml (kibitz.toml in the working directory).",
        ),
    ],
    ids=["config-option", "config-variable", "kibitz.toml", "data-dir-variable", "absolute", "data-option"],
)
def test_the_message_names_what_led_to_the_path(
    here: Path, monkeypatch: pytest.MonkeyPatch, setup: dict[str, str], expected: str
) -> None:
    args = setup.get("args", "").split()
    for name, value in setup.items():
        if name.startswith("KIBITZ_"):
            monkeypatch.setenv(name, value.format(here=here))
        elif name != "args":
            (here / name).write_text(value, encoding="utf-8")
    result = kibitz("comments", "list", *args)
    assert result.exit_code == 1, result.output
    assert expected.format(here=here) in result.stderr.replace("\n", " ")
    assert not any(name.endswith(".db") for name in files(here))


def test_a_file_without_kibitz_tables_is_not_used(here: Path) -> None:
    (here / "kibitz.db").touch()
    result = kibitz("admin", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: the database {here / 'kibitz.db'} has no Kibitz tables, so nothing was done"
    )
    assert files(here) == ["kibitz.db"]
    assert (here / "kibitz.db").stat().st_size == 0


@pytest.mark.anyio
async def test_an_empty_postgresql_database_is_not_used_nor_migrated(tmp_path: Path) -> None:
    async with fresh_pg_database() as url:
        config = write_config(tmp_path / "kibitz.toml", tmp_path, url)
        result = await anyio.to_thread.run_sync(lambda: kibitz("comments", "list", "--config", str(config)))
        assert result.exit_code == 1
        assert result.stderr.startswith(
            "error: the PostgreSQL database of database_url has no Kibitz tables, so nothing was done"
        )
        assert f"database_url (from {config})" in result.stderr
        assert url.split("@")[-1] not in result.stderr  # the URL itself is never echoed
        assert await schema_state(tmp_path, url) == (None, set())


# -- kibitz comments list, on the demo's own data ---------------------------------------------------


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo data directory, seeded as `kibitz demo` seeds it."""
    data = tmp_path_factory.mktemp("demo-data")
    assert asyncio.run(seed(demo_settings("127.0.0.1", 8000, data, env={}), now=FakeClock().now))
    return data


def rows(result: Result) -> list[list[str]]:
    assert result.exit_code == 0, result.output
    found = [line.split("\t") for line in result.stdout.splitlines()]
    assert all(len(row) == 7 for row in found), result.stdout
    return found


def test_comments_list_shows_ids_pages_authors_status_times_and_excerpts(here: Path, demo_data: Path) -> None:
    newest = rows(kibitz("comments", "list", "--data", str(demo_data), "--page", LEAD.path, "--limit", "3"))
    assert len(newest) == 3
    for comment_id, site, page, author, status, created, excerpt in newest:
        assert comment_id.isdigit()
        assert (site, page) == ("demo", LEAD.path)
        assert author in {c.name for c in LEAD.comments} | {"-"}
        assert re.fullmatch(r"(approved|pending|spam|rejected|deleted)(,reported=[0-9]+)?", status)
        assert created.endswith("+00:00")
        assert 0 < len(excerpt) <= 60
    assert [row[5] for row in newest] == sorted((row[5] for row in newest), reverse=True)

    every = rows(kibitz("comments", "list", "--data", str(demo_data), "--limit", "1000"))
    assert {row[2] for row in every} == {a.path for a in articles() if a.comments}
    assert len(every) == sum(len(a.comments) for a in articles())
    long_ones = [row[6] for row in every if row[6].endswith("…")]
    assert long_ones
    assert all(len(text) <= 60 for text in long_ones)

    pending = rows(kibitz("comments", "list", "--data", str(demo_data), "--status", "pending"))
    assert sorted(row[3] for row in pending) == sorted(c.name for c in MODERATED.comments if c.held)
    assert {row[4] for row in pending} == {"pending"}
    reported = rows(kibitz("comments", "list", "--data", str(demo_data), "--status", "flagged"))
    assert reported
    assert all(",reported=" in row[4] for row in reported)

    unknown = kibitz("comments", "list", "--data", str(demo_data), "--site", "nope")
    assert (unknown.exit_code, unknown.stderr) == (
        1,
        "error: no site 'nope' in the configuration (sites: demo)\n",
    )


def test_an_id_from_the_list_is_hidden_and_restored_from_anywhere(here: Path, demo_data: Path) -> None:
    listed = kibitz("comments", "list", "--data", str(demo_data), "--status", "approved", "--limit", "1")
    [[comment_id, *_]] = rows(listed)
    hidden = kibitz("comments", "hide", comment_id, "--data", str(demo_data))
    assert (hidden.exit_code, hidden.stdout) == (0, f"comment {comment_id} hidden\n")
    rejected = rows(kibitz("comments", "list", "--data", str(demo_data), "--status", "rejected"))
    assert comment_id in [row[0] for row in rejected]
    restored = kibitz("comments", "restore", comment_id, "--data", str(demo_data))
    assert (restored.exit_code, restored.stdout) == (0, f"comment {comment_id} restored\n")
    assert files(here) == []  # nothing made in the working directory


# -- kibitz outbox list ---------------------------------------------------------------------------------


class FlakyMailer:
    """Refuses the first message to each address in ``flaky``, then delivers; ``down``: refuses all."""

    def __init__(self, flaky: set[str]) -> None:
        self.flaky = set(flaky)
        self.down = False
        self.sent: list[str] = []

    async def send(self, message: EmailMessage, sender: str | None = None) -> None:
        to = str(message["To"])
        if self.down or to in self.flaky:
            self.flaky.discard(to)
            raise ConnectionRefusedError("connection refused")
        self.sent.append(to)


def test_outbox_list_counts_the_attempt_that_delivered_and_says_when(here: Path) -> None:
    assert kibitz("migrate", "--data", "data").exit_code == 0
    settings = load_settings(None, env={}, overrides={"data_dir": str(here / "data")})
    clock = FakeClock()
    mailer = FlakyMailer({"later@example.org"})

    async def deliver() -> None:
        db = Database(settings.sqlalchemy_url)
        try:
            for n, to in enumerate(["first@example.org", "later@example.org", "never@example.org"]):
                mail = NewMail(
                    "demo", "reply", f"comment:{n}", to, "Re: a story", "A reply.\n", "<p>A reply.</p>"
                )
                async with db.write() as tx:
                    assert await tx.outbox.enqueue(mail, clock())
            worker = Worker(db, mailer, settings, clock)
            mailer.flaky.add("never@example.org")
            assert await worker.run_once() == 3  # first: sent; later, never: refused, retried later
            clock.advance(minutes=10)
            mailer.flaky.add("never@example.org")
            assert await worker.run_once() == 2  # later: sent at its second attempt; never: refused
        finally:
            await db.dispose()

    asyncio.run(deliver())
    assert mailer.sent == ["first@example.org", "later@example.org"]
    listed = kibitz("outbox", "list", "--data", "data")
    assert listed.exit_code == 0, listed.output
    first, later, never = [line.split("\t") for line in listed.stdout.splitlines()]
    sent_at = f"sent={clock.now - timedelta(minutes=10):%Y-%m-%dT%H:%M:%S}+00:00"
    assert first[1:6] == ["sent", "reply", "first@example.org", "attempts=1", sent_at]
    assert later[1:6] == [
        "sent",
        "reply",
        "later@example.org",
        "attempts=2",
        f"sent={clock.now:%Y-%m-%dT%H:%M:%S}+00:00",
    ]
    assert never[1:5] == ["pending", "reply", "never@example.org", "attempts=2"]
    assert never[5].startswith("next=")
    assert "connection refused" in never[6]
    sent = kibitz("outbox", "list", "--data", "data", "--status", "sent")
    assert [line.split("\t")[0] for line in sent.stdout.splitlines()] == [first[0], later[0]]
