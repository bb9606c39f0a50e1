"""Imports: the source id -> thread or comment map that makes a second run create nothing, the
changes an import makes to comments it made before, and the log of runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import and_, func, select, text, update

from kibitz.store.comments import NewComment, Place, comment_values
from kibitz.store.schema import comments, import_ids, import_runs
from kibitz.store.schema_base import in_lists

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

m = import_ids.c
# The columns of a comment an import stores, in the order ``insert_comment_rows`` takes them.
COMMENT_COLUMNS = (
    "id", "thread_id", "parent_id", "root_id", "path", "depth", "status", "deleted", "text", "html",
    "renderer_version", "author_name", "author_email", "author_url", "avatar_key", "reader_id", "created",
    "edited", "site", "reasons", "up", "down", "score",
)  # fmt: skip
REMEMBERED_COLUMNS = ("site", "source", "kind", "source_id", "target_id", "fingerprint", "created")
KNOWN_PAGE = 20_000  # source ids read at once by ``all_known``


@dataclass(frozen=True)
class Known:
    """A source record imported before: what it became and its fingerprint then."""

    target_id: int
    fingerprint: str


class Remembered(NamedTuple):
    """A source record and what it became, for ``remember_many``."""

    site: str
    source: str
    kind: str
    source_id: str
    target_id: int
    fingerprint: str
    created: datetime


@dataclass(frozen=True)
class ImportRun:
    id: int
    site: str
    source: str
    file_name: str
    actor: str
    dry_run: bool
    started: datetime
    finished: datetime
    report: str  # JSON


@dataclass(frozen=True)
class CommentChange:
    """What a later run of an import sets on a comment whose source record changed."""

    status: str
    deleted: bool
    text: str
    html: str
    renderer_version: int
    author_name: str
    author_email: str
    author_url: str
    up: int
    down: int
    edited: datetime | None


class ImportRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def known(self, site: str, source: str, kind: str, source_ids: Iterable[str]) -> dict[str, Known]:
        """The records among ``source_ids`` that an earlier run imported."""
        wanted = sorted(set(source_ids))
        found: dict[str, Known] = {}
        for part in in_lists(wanted):
            rows = await self.tx.conn.execute(
                select(m.source_id, m.target_id, m.fingerprint).where(
                    m.site == site,
                    m.source == source,
                    m.kind == kind,
                    m.source_id.in_(part),
                )
            )
            found.update({r.source_id: Known(int(r.target_id), r.fingerprint) for r in rows})
        return found

    async def all_known(self, site: str, source: str, kind: str) -> AsyncIterator[tuple[str, int, str]]:
        """(source id, target id, fingerprint) of every record of ``kind`` an earlier run of
        ``source`` imported into ``site``, a page at a time (by source id, off the unique index)."""
        after = ""
        while True:
            rows = (
                await self.tx.conn.execute(
                    select(m.source_id, m.target_id, m.fingerprint)
                    .where(m.site == site, m.source == source, m.kind == kind, m.source_id > after)
                    .order_by(m.source_id)
                    .limit(KNOWN_PAGE)
                )
            ).all()
            for row in rows:
                yield row[0], int(row[1]), row[2]
            if len(rows) < KNOWN_PAGE:
                return
            after = rows[-1][0]

    async def remember(
        self,
        site: str,
        source: str,
        kind: str,
        source_id: str,
        target_id: int,
        fingerprint: str,
        now: datetime,
    ) -> None:
        await self.tx.conn.execute(
            import_ids.insert().values(
                site=site, source=source, kind=kind, source_id=source_id, target_id=target_id,
                fingerprint=fingerprint, created=now,
            )
        )  # fmt: skip

    async def remember_many(self, rows: Sequence[Remembered]) -> None:
        """``remember`` for many records in one statement (executemany)."""
        if rows:
            await self.tx.insert_tuples(import_ids, REMEMBERED_COLUMNS, [tuple(row) for row in rows])

    async def reserve_comment_ids(self, count: int) -> list[int]:
        """``count`` ids for comments stored by ``insert_comments`` in this transaction (so replies
        in the same chunk can name their parents before anything is written)."""
        if count <= 0:
            return []
        if self.tx.dialect == "postgresql":
            rows = await self.tx.conn.execute(
                text("SELECT nextval(pg_get_serial_sequence('comments', 'id')) FROM generate_series(1, :n)"),
                {"n": count},
            )
            return sorted(int(row[0]) for row in rows)
        # SQLite: the write transaction holds the database's one write lock until it commits.
        top = (await self.tx.conn.execute(select(func.coalesce(func.max(comments.c.id), 0)))).scalar_one()
        return list(range(int(top) + 1, int(top) + 1 + count))

    async def insert_comments(self, rows: Sequence[tuple[int, NewComment, Place | None]]) -> None:
        """Store many comments under reserved ids in one statement (executemany): (id, comment,
        its parent's place or None)."""
        if rows:
            await self.tx.insert_rows(
                comments, [{"id": id_, **comment_values(new, parent)} for id_, new, parent in rows]
            )

    async def insert_comment_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """``insert_comments`` of rows already laid out as COMMENT_COLUMNS (the import's bulk path:
        no object per comment)."""
        await self.tx.insert_tuples(comments, COMMENT_COLUMNS, rows)

    async def places(self, comment_ids: Iterable[int]) -> dict[int, Place]:
        """Where these comments sit in their trees (parents of replies an import is about to store)."""
        c = comments.c
        wanted = sorted(set(comment_ids))
        found: dict[int, Place] = {}
        for part in in_lists(wanted):
            rows = await self.tx.conn.execute(select(c.id, c.root_id, c.path, c.depth).where(c.id.in_(part)))
            found.update({int(r.id): Place(int(r.id), r.root_id, r.path, int(r.depth)) for r in rows})
        return found

    async def analyse(self) -> None:
        """Bring the planner's statistics of what an import fills up to date (PostgreSQL; SQLite
        plans these look-ups off the primary key whatever it knows)."""
        if self.tx.dialect == "postgresql":
            await self.tx.conn.execute(text("ANALYZE import_ids"))
            await self.tx.conn.execute(text("ANALYZE comments"))

    async def refingerprint(
        self, site: str, source: str, kind: str, source_id: str, fingerprint: str, now: datetime
    ) -> None:
        key = and_(m.site == site, m.source == source, m.kind == kind, m.source_id == source_id)
        await self.tx.conn.execute(update(import_ids).where(key).values(fingerprint=fingerprint, updated=now))

    async def change_comment(self, comment_id: int, change: CommentChange) -> None:
        """Set what changed in the source on a comment an earlier run imported."""
        c = comments.c
        await self.tx.conn.execute(
            update(comments)
            .where(c.id == comment_id)
            .values(
                status=change.status, deleted=change.deleted, text=change.text, html=change.html,
                renderer_version=change.renderer_version, author_name=change.author_name,
                author_email=change.author_email, author_url=change.author_url,
                up=change.up, down=change.down, score=change.up - change.down, edited=change.edited,
            )
        )  # fmt: skip

    async def source_ids(
        self, site: str, source: str, kind: str, target_ids: Sequence[int]
    ) -> dict[int, str]:
        """The source ids under which ``source`` imported these threads or comments (for exports)."""
        found: dict[int, str] = {}
        wanted = list(target_ids)
        for part in in_lists(wanted):
            rows = await self.tx.conn.execute(
                select(m.target_id, m.source_id).where(
                    m.site == site,
                    m.source == source,
                    m.kind == kind,
                    m.target_id.in_(part),
                )
            )
            found.update({int(r.target_id): str(r.source_id) for r in rows})
        return found

    async def log_run(self, run: ImportRun) -> int:
        values: dict[str, Any] = {
            "site": run.site, "source": run.source, "file_name": run.file_name[:500],
            "actor": run.actor[:200],
            "dry_run": run.dry_run, "started": run.started, "finished": run.finished, "report": run.report,
        }  # fmt: skip
        result = await self.tx.conn.execute(import_runs.insert().values(**values).returning(import_runs.c.id))
        return int(result.scalar_one())

    async def runs(self, site: str, limit: int = 50, before: int | None = None) -> list[ImportRun]:
        """A site's import runs, the latest first (``before``: older than that run)."""
        r = import_runs.c
        query = select(import_runs).where(r.site == site)
        if before is not None:
            query = query.where(r.id < before)
        rows = await self.tx.conn.execute(query.order_by(r.id.desc()).limit(limit))
        return [_run(row) for row in rows]

    async def run(self, site: str, run_id: int) -> ImportRun | None:
        r = import_runs.c
        row = (await self.tx.conn.execute(select(import_runs).where(r.site == site, r.id == run_id))).first()
        return None if row is None else _run(row)


def _run(row: Any) -> ImportRun:
    return ImportRun(
        int(row.id), row.site, row.source, row.file_name, row.actor, bool(row.dry_run), row.started,
        row.finished, row.report,
    )  # fmt: skip
