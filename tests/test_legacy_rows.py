"""QUALITY R14: the migrations run over a database holding legacy rows, written before sanitising
(or imported with their HTML) by an older renderer, and a mail claimed before leases had owners.
The upgrade is idempotent, no unsafe stored HTML reaches a reader, and the old lease still ends."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, text

from kibitz import markup
from kibitz.migrate import alembic_config, head_revision, upgrade
from kibitz.models import Author, CommentStatus
from kibitz.rerender import rerender_stale
from kibitz.store.comments import NewComment, comment_values
from kibitz.store.db import Database
from kibitz.store.schema import comments
from kibitz.worker import LEASE
from tests.conftest import FakeClock, make_settings, open_api

pytestmark = pytest.mark.anyio
LEGACY = "0017"  # the schema before the outbox lease migration (0020) and reader accounts' (0018)
# The comment columns that schema has: reader accounts (0018) added badges and avatar_url.
LEGACY_COLUMNS = {c.name for c in comments.c} - {"badges", "avatar_url"}
# (text, the HTML an unsanitising renderer stored for it)
UNSAFE = [
    ("<script>alert(1)</script> first", "<p><script>alert(1)</script> first</p>"),
    ("[a link](javascript:alert(2))", '<p><a href="javascript:alert(2)">a link</a></p>'),
    ("![a picture](https://img.example/a.png)", '<p><img src="x" onerror="alert(3)"></p>'),
    ("<b onmouseover=alert(4)>bold</b>", "<p><b onmouseover=alert(4)>bold</b></p>"),
]


def to_legacy(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), LEGACY)


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every element of an HTML fragment, with its attributes, as a browser's parser finds them."""
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.found


def htmls(nodes: list[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    for node in nodes:
        found.append(node["html"])
        found += htmls(node.get("replies") or [])
    return found


async def test_migrations_over_legacy_unsafe_rows_render_them_safely_and_run_twice_harmlessly(
    tmp_path: Path, fresh_url: str, clock: FakeClock
) -> None:
    settings = make_settings(tmp_path, fresh_url)  # an empty database: the session's is at head already
    db = Database(settings.sqlalchemy_url)
    try:
        async with db.raw() as conn:
            await conn.run_sync(to_legacy)
            await conn.commit()
        async with db.write() as tx:
            thread = await tx.threads.get_or_create(
                "a", "/legacy", "Legacy", "https://news-a.example/legacy", clock()
            )
            for i, (source, stored) in enumerate(UNSAFE):
                new = NewComment(
                    thread_id=thread.id, parent=None, status=CommentStatus.APPROVED, text=source,
                    html=stored, renderer_version=1, author=Author(f"Old {i}", "", "", f"k{i}"),
                    reader_id=f"r{i}", created=clock() - timedelta(days=400), anchor=None,
                )  # fmt: skip
                # Only the columns the legacy schema has (later migrations add more).
                row = {k: v for k, v in comment_values(new, None).items() if k in LEGACY_COLUMNS}
                await tx.conn.execute(comments.insert(), row)
            # A mail a worker of the old release claimed for 5 minutes, then died.
            await tx.conn.execute(
                text(
                    "INSERT INTO outbox (site, kind, dedupe_key, recipient, subject, text_body, html_body, "
                    "status, attempts, next_attempt, locked_until, created) VALUES ('a', 'reply', 'old:1', "
                    "'reader@example.org', 'Old', 'Old', '<p>Old</p>', 'sending', 0, :now, :until, :now)"
                ),
                {"now": clock() - timedelta(minutes=10), "until": clock() - timedelta(minutes=5)},
            )
    finally:
        await db.dispose()

    async for api in open_api(settings, clock):  # the new release starts: migrates, renders again
        shown = htmls((await api.thread("/legacy"))["comments"])
        assert len(shown) == len(UNSAFE)
        for html in shown:
            for tag, attrs in elements(html):
                assert tag in markup.ALLOWED_TAGS, html
                assert not [name for name, _ in attrs if name.startswith("on")], html
                assert not [v for _, v in attrs if v and v.strip().lower().startswith("javascript:")], html
        assert "<p>&lt;script&gt;alert(1)&lt;/script&gt; first</p>" in [h.strip() for h in shown]

    db = Database(settings.sqlalchemy_url)
    try:
        await upgrade(db, settings)  # again: nothing to do
        assert await rerender_stale(db, settings) == 0
        async with db.read() as tx:
            revision = await tx.conn.scalar(text("SELECT version_num FROM alembic_version"))
            versions = set((await tx.conn.execute(text("SELECT renderer_version FROM comments"))).scalars())
            [old] = await tx.outbox.list("sending")
        assert revision == head_revision()
        assert versions == {markup.RENDERER_VERSION}
        assert old.lease_owner is None
        async with db.write() as tx:  # its lease ran out long ago: a worker of this release takes it
            [claimed] = await tx.outbox.claim(clock(), LEASE, 10, "new-worker")
        assert (claimed.id, claimed.lease_owner) == (old.id, "new-worker")
    finally:
        await db.dispose()
