"""Threads: one per (site, page), created by their first comment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, literal, or_, select, update

from kibitz.models import Thread
from kibitz.store import fast
from kibitz.store.fast import Fast
from kibitz.store.schema import thread_events, threads
from kibitz.store.schema_base import in_lists

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

t = threads.c


def _thread(row: Any) -> Thread:
    return Thread(
        id=row.id,
        site=row.site,
        page=row.page,
        title=row.title,
        url=row.url,
        closed=bool(row.closed),
        count=row.count,
        version=row.version,
        created=row.created,
        moderation=row.moderation,
        page_title=row.page_title,
        page_url=row.page_url,
        page_checked=row.page_checked,
        page_source=row.page_source,
    )


# The posting path's statements (store/fast.py): a thread by page, made when new, and bumped.
_LISTED, _FIELDS, _TYPES = fast.columns_of(threads, tuple(Thread.__dataclass_fields__))
_BY_PAGE = Fast(
    f"SELECT {_LISTED} FROM threads WHERE site = :site AND page = :page",  # noqa: S608
    columns=_TYPES,
    fields=_FIELDS,
)
_CREATE = Fast(
    "INSERT INTO threads (site, page, title, url, created, page_due) "
    "VALUES (:site, :page, :title, :url, :now, :now) ON CONFLICT (site, page) DO NOTHING",
    binds={"now": t.created.type},
)
_BUMP = Fast(
    f"UPDATE threads SET version = version + 1, count = count + :delta WHERE id = :id RETURNING {_LISTED}",  # noqa: S608
    columns=_TYPES,
    fields=_FIELDS,
)
_EVENT = Fast(
    "INSERT INTO thread_events (thread_id, version, kind, comment_id) "
    "VALUES (:thread_id, :version, :kind, :comment_id)"
)


class ThreadRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def get(self, site: str, page: str) -> Thread | None:
        """The thread of (site, page), or None if nobody has commented there."""
        row = (await self.tx.conn.execute(select(threads).where(t.site == site, t.page == page))).first()
        return _thread(row) if row else None

    async def get_or_create(self, site: str, page: str, title: str, url: str, now: datetime) -> Thread:
        """The thread of (site, page), created with ``title`` and ``url`` when new (race-safe); a new
        thread's page is due to be read for the publisher's title at once (titles.py)."""
        key = {"site": site, "page": page}
        row = await fast.first(self.tx, _BY_PAGE, key)
        if row is None:  # the page's first comment (or a twin's, which the conflict leaves alone)
            await fast.rows(self.tx, _CREATE, {**key, "title": title, "url": url, "now": now})
            row = await fast.first(self.tx, _BY_PAGE, key)
        assert row is not None
        return _thread(row)

    async def get_many(self, site: str, pages: Sequence[str]) -> dict[str, Thread]:
        """The threads of these pages that exist, by page."""
        found: dict[str, Thread] = {}
        wanted = sorted(set(pages))
        for part in in_lists(wanted):
            stmt = select(threads).where(t.site == site, t.page.in_(part))
            found.update({row.page: _thread(row) for row in await self.tx.conn.execute(stmt)})
        return found

    async def create_many(
        self, site: str, new: Sequence[tuple[str, str, str, datetime]], now: datetime
    ) -> None:
        """``get_or_create`` for many (page, title, url, created) at once (imports); pages that have a
        thread already keep it."""
        if new:
            stmt = self.tx.upsert(threads).on_conflict_do_nothing(index_elements=["site", "page"])
            rows = [
                {"site": site, "page": page, "title": title, "url": url, "created": when, "page_due": now}
                for page, title, url, when in new
            ]
            await self.tx.conn.execute(stmt, rows)

    async def fill_missing(self, thread_id: int, *, title: str, url: str) -> None:
        """Set title and url where the thread has none yet (the first comment may not carry them)."""
        if title:
            await self.tx.conn.execute(
                update(threads).where(t.id == thread_id, t.title == "").values(title=title)
            )
        if url:
            await self.tx.conn.execute(update(threads).where(t.id == thread_id, t.url == "").values(url=url))

    # -- the publisher's title and URL of the page (titles.py) -----------------------------------------

    async def pages_due(self, now: datetime, limit: int) -> list[Thread]:
        """Threads whose page is due to be read, the longest waiting first."""
        stmt = select(threads).where(t.page_due <= now).order_by(t.page_due, t.id).limit(limit)
        return [_thread(row) for row in await self.tx.conn.execute(stmt)]

    async def set_page_due(self, thread_id: int, when: datetime | None) -> None:
        await self.tx.conn.execute(update(threads).where(t.id == thread_id).values(page_due=when))

    async def record_page(
        self, thread_id: int, *, title: str, url: str, source: str, now: datetime, due: datetime | None
    ) -> Thread | None:
        """Store what the publisher says the page is; a change a reader could see bumps the thread.
        A title set through the API is never replaced by one read from the page (None then)."""
        where = [t.id == thread_id]
        if source != "api":
            where.append(or_(t.page_source.is_(None), t.page_source != "api"))
        before = (await self.tx.conn.execute(select(t.page_title, t.page_url).where(*where))).first()
        if before is None:
            return None
        await self.tx.conn.execute(
            update(threads)
            .where(*where)
            .values(page_title=title, page_url=url, page_source=source, page_checked=now, page_due=due)
        )
        if (before.page_title, before.page_url) != (title, url):
            return await self.bump(thread_id, kind="thread.changed")
        row = (await self.tx.conn.execute(select(threads).where(t.id == thread_id))).one()
        return _thread(row)

    async def page_unreadable(self, thread_id: int, *, now: datetime, due: datetime | None) -> None:
        """The page could not be read now: try again at ``due`` (what was learned before stays)."""
        await self.tx.conn.execute(
            update(threads).where(t.id == thread_id).values(page_checked=now, page_due=due)
        )

    async def bump(
        self, thread_id: int, count_delta: int = 0, *, kind: str, comment_id: int | None = None
    ) -> Thread:
        """Record a visible change: adjust the visible count, raise the version, log the change as
        ``thread_events`` row (version, kind, comment); the thread as it is now.

        The row lock this takes also orders concurrent writes to one thread on PostgreSQL, so the
        versions are in commit order.
        """
        row = await fast.first(self.tx, _BUMP, {"id": thread_id, "delta": count_delta})
        assert row is not None, f"no thread {thread_id}"
        thread = _thread(row)
        params = {"thread_id": thread_id, "version": thread.version, "kind": kind, "comment_id": comment_id}
        await fast.rows(self.tx, _EVENT, params)
        return thread

    async def bump_many(self, deltas: Mapping[int, int], *, kind: str) -> None:
        """``bump`` for many threads at once (imports): three statements, however many threads."""
        if not deltas:
            return
        ordered = sorted(deltas)  # one lock order for every writer (PostgreSQL)
        await self.tx.conn.execute(
            update(threads)
            .where(t.id == bindparam("thread"))
            .values(version=t.version + 1, count=t.count + bindparam("delta")),
            [{"thread": thread_id, "delta": deltas[thread_id]} for thread_id in ordered],
        )
        versions: dict[int, int] = {}
        for part in in_lists(ordered):
            rows = await self.tx.conn.execute(select(t.id, t.version).where(t.id.in_(part)))
            versions.update({int(row.id): int(row.version) for row in rows})
        await self.tx.conn.execute(
            thread_events.insert(),
            [
                {"thread_id": thread_id, "version": versions[thread_id], "kind": kind, "comment_id": None}
                for thread_id in ordered
            ],
        )

    async def bump_site(self, site: str) -> None:
        """Raise the version of every thread of a site, each with a ``thread.changed`` event (a
        setting that every cached read of the site depends on has changed)."""
        await self.tx.conn.execute(update(threads).where(t.site == site).values(version=t.version + 1))
        await self.tx.conn.execute(
            thread_events.insert().from_select(
                ["thread_id", "version", "kind", "comment_id"],
                select(t.id, t.version, literal("thread.changed"), literal(None)).where(t.site == site),
            )
        )

    async def of_site(self, site: str, after_id: int, limit: int) -> list[Thread]:
        """A site's threads in the order they were made, after ``after_id`` (exports walk them)."""
        stmt = select(threads).where(t.site == site, t.id > after_id).order_by(t.id).limit(limit)
        return [_thread(row) for row in await self.tx.conn.execute(stmt)]

    async def set_moderation(self, thread_id: int, mode: str | None) -> None:
        await self.tx.conn.execute(update(threads).where(t.id == thread_id).values(moderation=mode))

    async def set_closed(self, thread_id: int, closed: bool, *, kind: str) -> Thread:
        await self.tx.conn.execute(update(threads).where(t.id == thread_id).values(closed=closed))
        return await self.bump(thread_id, kind=kind)

    async def for_article(self, site: str, pages: Sequence[str], url: str) -> Thread | None:
        """The thread of an article: its page key is one of ``pages``, or the publisher gave its page
        ``url``; of several, the one with the most comments."""
        stmt = (
            select(threads)
            .where(t.site == site, or_(t.page.in_(list(pages)), t.page_url == url))
            .order_by(t.count.desc(), t.id)
            .limit(1)
        )
        row = (await self.tx.conn.execute(stmt)).first()
        return _thread(row) if row else None

    async def counts(self, site: str, pages: Sequence[str]) -> dict[str, int]:
        """Visible comment counts of the pages that have a thread."""
        rows = await self.tx.conn.execute(select(t.page, t.count).where(t.site == site, t.page.in_(pages)))
        return {str(row.page): int(row[1]) for row in rows}

    async def events_after(
        self, thread_id: int, version: int, limit: int
    ) -> list[tuple[int, str, int | None]]:
        """The thread's changes after ``version``, oldest first: (version, kind, comment id)."""
        e = thread_events.c
        rows = await self.tx.conn.execute(
            select(e.version, e.kind, e.comment_id)
            .where(e.thread_id == thread_id, e.version > version)
            .order_by(e.version)
            .limit(limit)
        )
        return [
            (int(r.version), str(r.kind), None if r.comment_id is None else int(r.comment_id)) for r in rows
        ]
