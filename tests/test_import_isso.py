"""`kibitz import isso`: Isso's SQLite database (schema 5, and the older one without votes), opened
read-only with its session key left alone, and Isso's generic JSON file from the shared fixtures."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from pathlib import Path

import anyio
import pytest

from kibitz.imports.records import Refused
from tests.conftest import Api
from tests.imports_helpers import FIXTURES, run_import, visible

pytestmark = pytest.mark.anyio

# Isso's own tables as its migrations leave them (schema version 5 has notification and votes).
SCHEMA = """
CREATE TABLE preferences (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE threads (id INTEGER PRIMARY KEY, uri VARCHAR(256) UNIQUE, title VARCHAR(256));
CREATE TABLE comments (
    tid REFERENCES threads(id), id INTEGER PRIMARY KEY, parent INTEGER, created FLOAT NOT NULL,
    modified FLOAT, mode INTEGER, remote_addr VARCHAR, text VARCHAR, author VARCHAR, email VARCHAR,
    website VARCHAR, likes INTEGER DEFAULT 0, dislikes INTEGER DEFAULT 0, voters BLOB NOT NULL{extra});
"""


def isso_db(path: Path, *, notification: bool = True) -> Path:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript(SCHEMA.format(extra=", notification INTEGER DEFAULT 0" if notification else ""))
        db.execute("INSERT INTO preferences VALUES ('session-key', 'secret-session-key')")
        db.execute("INSERT INTO threads VALUES (1, '/logs/helloworld/', 'Hello World')")
        db.execute("INSERT INTO threads VALUES (2, '/empty/', NULL)")
        rows = [
            # Id 1 is gone, as in a real database; 4 is deleted (mode 4) and keeps its reply.
            (
                1,
                2,
                None,
                1700000000.5,
                None,
                1,
                "1.2.3.0",
                "First **post**",
                "Owner",
                "me@example.org",
                "",
                5,
            ),
            (
                1,
                3,
                2,
                1700000100.0,
                1700000200.0,
                1,
                "1.2.3.0",
                "A reply",
                "油菜",
                None,
                "https://a.example",
                0,
            ),
            (1, 4, 2, 1700000300.0, None, 4, "1.2.3.0", "", None, None, None, 0),
            (1, 6, 4, 1700000400.0, None, 1, "1.2.3.0", "Under a deleted one", "Cy", "", "", 0),
            (1, 7, None, 1700000500.0, None, 2, "1.2.3.0", "Waiting", "Dee", "", "", 0),
        ]
        for row in rows:
            db.execute(
                "INSERT INTO comments (tid, id, parent, created, modified, mode, remote_addr, text, author,"
                " email, website, likes, voters) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, x'00')",
                row,
            )
        db.commit()
    return path


@pytest.mark.parametrize("notification", [True, False])
async def test_isso_database_shows_as_isso_had_it_and_is_left_untouched(
    api: Api, tmp_path: Path, notification: bool
) -> None:
    isso_dir = tmp_path / "isso"
    isso_dir.mkdir()
    path = isso_db(isso_dir / "comments.db", notification=notification)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    report = await run_import(api, "isso", path)
    assert report.created == {"thread": 1, "comment": 5}
    count, shown = await visible(api, "/logs/helloworld")
    assert count == 3
    assert shown == [
        (
            ("Owner", "<p>First <strong>post</strong></p>\n"),
            [("油菜", "<p>A reply</p>\n"), ("deleted", [("Cy", "<p>Under a deleted one</p>\n")])],
        )
    ]
    data = await api.thread("/logs/helloworld", sort="oldest")
    assert data["thread"]["title"] == "Hello World"
    assert data["comments"][0]["created"] == "2023-11-14T22:13:20.500Z"
    assert data["comments"][0]["score"] == 5
    assert data["comments"][0]["replies"][0]["edited"] is not None
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    # Nothing left beside it (no journal, no WAL): the file was only read.
    assert [p.name async for p in anyio.Path(isso_dir).iterdir()] == ["comments.db"]
    again = await run_import(api, "isso", path)
    assert again.created == {}
    assert again.unchanged == {"thread": 1, "comment": 5}


async def test_isso_generic_json_fixture(api: Api) -> None:
    report = await run_import(api, "isso", FIXTURES / "isso" / "isso__generic.json")
    assert report.created == {"thread": 2, "comment": 2}
    assert (await visible(api, "/posts/0007"))[1] == [
        ("Richard Crinshaw", "<p>Ja-make-a me crazzy mon :)</p>\n")
    ]
    assert (await api.thread("/posts/0007"))["thread"]["title"] == "Nat & Miguel"
    assert (await api.thread("/posts/0001"))["thread"]["count"] == 1


async def test_a_file_that_is_not_isso_is_refused(api: Api, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with contextlib.closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(Refused, match="not Isso's"):
        await run_import(api, "isso", other)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\xff\xfe not json")
    with pytest.raises(Refused, match="neither Isso's database nor its JSON format"):
        await run_import(api, "isso", junk)
