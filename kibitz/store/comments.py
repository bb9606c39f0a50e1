"""Comments: insert, fetch a page of top-level comments by keyset, fetch reply subtrees, update."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, and_, case, false, literal, or_, select, true, tuple_, update

from kibitz.models import Anchor, Author, Comment, CommentStatus, Sort
from kibitz.store import fast
from kibitz.store.fast import Fast
from kibitz.store.schema import comments, threads

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

c = comments.c


def _anchor(raw: str | None) -> Anchor | None:
    if not raw:
        return None
    data = json.loads(raw)
    return Anchor(
        exact=data["exact"],
        prefix=data.get("prefix", ""),
        suffix=data.get("suffix", ""),
        start=data.get("start"),
        end=data.get("end"),
        hash=data.get("hash", ""),
    )


def anchor_json(anchor: Anchor | None) -> str | None:
    if anchor is None:
        return None
    data: dict[str, Any] = {"exact": anchor.exact, "prefix": anchor.prefix, "suffix": anchor.suffix}
    if anchor.start is not None:
        data["start"] = anchor.start
    if anchor.end is not None:
        data["end"] = anchor.end
    if anchor.hash:
        data["hash"] = anchor.hash
    return json.dumps(data, ensure_ascii=False)


def to_comment(row: Any) -> Comment:
    return Comment(
        id=row.id,
        thread_id=row.thread_id,
        parent_id=row.parent_id,
        root_id=row.root_id,
        path=row.path,
        depth=row.depth,
        status=CommentStatus(row.status),
        deleted=bool(row.deleted),
        text=row.text,
        html=row.html,
        renderer_version=row.renderer_version,
        author=Author(
            name=row.author_name,
            email=row.author_email,
            url=row.author_url,
            avatar_key=row.avatar_key,
            picture=row.avatar_url,
            badges=tuple(b for b in row.badges.split(",") if b),
        ),
        reader_id=row.reader_id,
        account_id=row.account_id,
        created=row.created,
        edited=row.edited,
        score=row.score,
        up=row.up,
        down=row.down,
        pinned=bool(row.pinned),
        anchor=_anchor(row.anchor),
        visible_descendants=row.visible_descendants,
        site=row.site,
        client_hash=row.client_hash,
        featured=bool(row.featured),
        mod_edited=bool(row.mod_edited),
        spam_score=float(row.spam_score),
        reasons=tuple(r for r in row.reasons.split(",") if r),
    )


@dataclass(frozen=True)
class NewComment:
    thread_id: int
    parent: Comment | None
    status: CommentStatus
    text: str
    html: str
    renderer_version: int
    author: Author
    reader_id: str
    created: datetime
    anchor: Anchor | None
    site: str = ""
    client_hash: str = ""
    spam_score: float = 0.0
    reasons: tuple[str, ...] = ()
    # What an import brings along (kibitz/imports/): a tombstone, the source's vote tallies, an edit.
    deleted: bool = False
    up: int = 0
    down: int = 0
    edited: datetime | None = None
    account_id: int | None = None  # a signed-in author's account (accounts.py)


@dataclass(frozen=True)
class SortKey:
    """Where a page of top-level comments ended: the keyset the next page starts after."""

    pinned: bool
    score: int
    created: datetime
    id: int


def _order(sort: Sort) -> list[tuple[Any, bool]]:
    """(column, descending) pairs; pinned comments first, then the chosen order."""
    if sort is Sort.OLDEST:
        return [(c.pinned, True), (c.created, False), (c.id, False)]
    if sort is Sort.VOTES:
        return [(c.pinned, True), (c.score, True), (c.created, True), (c.id, True)]
    return [(c.pinned, True), (c.created, True), (c.id, True)]


def _after(sort: Sort, key: SortKey) -> ColumnElement[bool]:
    """Rows strictly after ``key`` in ``sort`` order, as a lexicographic keyset condition."""
    values = {"pinned": key.pinned, "score": key.score, "created": key.created, "id": key.id}
    order = _order(sort)
    if sort is Sort.OLDEST:
        # Pinned first, then oldest: after an unpinned key, one range of the oldest-first index;
        # after a pinned one, the rest of the pinned range and then every unpinned comment.
        later = tuple_(c.created, c.id) > tuple_(
            literal(key.created, c.created.type), literal(key.id, c.id.type)
        )
        if not key.pinned:
            return and_(c.pinned == false(), later)
        return or_(and_(c.pinned == true(), later), c.pinned == false())
    if all(desc for _, desc in order):
        # One row comparison: the database can start the index scan at the key (an OR chain makes
        # it read every row before the key first).
        return tuple_(*[col for col, _ in order]) < tuple_(
            *[literal(values[col.key], col.type) for col, _ in order]
        )
    terms: list[ColumnElement[bool]] = []
    equal: list[ColumnElement[bool]] = []
    for column, desc in order:
        # A typed bind parameter: SQLAlchemy refuses `<` against a bare True/False.
        value = literal(values[column.key], column.type)
        terms.append(and_(*equal, column < value if desc else column > value))
        equal.append(column == value)
    return or_(*terms)


def _shown(publisher: ColumnElement[str], widget: ColumnElement[str]) -> ColumnElement[str]:
    return case((publisher != "", publisher), else_=widget)


def with_thread() -> Select[Any]:
    """Comments joined to their thread's page, title and url (as t_page, t_title, t_url): the
    publisher's title and url where known (Thread.shown_title), else the widget's."""
    return select(
        comments,
        threads.c.page.label("t_page"),
        _shown(threads.c.page_title, threads.c.title).label("t_title"),
        _shown(threads.c.page_url, threads.c.url).label("t_url"),
    ).join(threads, threads.c.id == c.thread_id)


def shown_clause() -> ColumnElement[bool]:
    """A comment readers see: visible itself, or a tombstone kept for its visible replies."""
    return or_(
        and_(c.status == CommentStatus.APPROVED.value, c.deleted == false()), c.visible_descendants > 0
    )


_COMMENT_LIST, _COMMENT_FIELDS, _COMMENT_TYPES = fast.columns_of(comments)
_INSERTS: dict[tuple[str, ...], Fast] = {}


def _insert_stmt(names: tuple[str, ...]) -> Fast:
    """INSERT ... RETURNING the whole row, for the columns comment_values() gives (built once)."""
    found = _INSERTS.get(names)
    if found is None:
        listed = ", ".join(f'"{name}"' for name in names)
        marks = ", ".join(f":{name}" for name in names)
        found = _INSERTS[names] = Fast(
            f"INSERT INTO comments ({listed}) VALUES ({marks}) RETURNING {_COMMENT_LIST}",  # noqa: S608
            binds={name: c[name].type for name in names},
            columns=_COMMENT_TYPES,
            fields=_COMMENT_FIELDS,
        )
    return found


@dataclass(frozen=True)
class Place:
    """Where a comment sits in its thread's tree: what a reply to it needs to be stored."""

    id: int
    root_id: int | None
    path: str
    depth: int

    @classmethod
    def of(cls, comment: Comment) -> Place:
        return cls(comment.id, comment.root_id, comment.path, comment.depth)

    @property
    def ancestor_ids(self) -> list[int]:
        return [int(part) for part in self.path.split("/")] if self.path else []

    def child(self, comment_id: int) -> Place:
        """The place of a reply to this comment stored under ``comment_id``."""
        path = f"{self.path}/{self.id}" if self.path else str(self.id)
        return Place(comment_id, self.root_id or self.id, path, self.depth + 1)


def comment_values(new: NewComment, parent: Place | None) -> dict[str, Any]:
    """A new comment as the row it is stored as (without its id); its root, path and depth follow
    from its parent's place."""
    return {
        "thread_id": new.thread_id,
        "parent_id": parent.id if parent else None,
        "root_id": (parent.root_id or parent.id) if parent else None,
        "path": (f"{parent.path}/{parent.id}" if parent.path else str(parent.id)) if parent else "",
        "depth": parent.depth + 1 if parent else 0,
        "status": new.status.value,
        "text": new.text,
        "html": new.html,
        "renderer_version": new.renderer_version,
        "author_name": new.author.name,
        "author_email": new.author.email,
        "author_url": new.author.url,
        "avatar_key": new.author.avatar_key,
        "avatar_url": new.author.picture,
        "badges": ",".join(new.author.badges),
        "account_id": new.account_id,
        "reader_id": new.reader_id,
        "created": new.created,
        "anchor": anchor_json(new.anchor),
        "site": new.site,
        "client_hash": new.client_hash,
        "spam_score": new.spam_score,
        "reasons": ",".join(new.reasons),
        "deleted": new.deleted,
        "up": new.up,
        "down": new.down,
        "score": new.up - new.down,
        "edited": new.edited,
    }


# Every post asks whether its author just posted the same text (guard.screen).
_REPEAT = (
    "SELECT id FROM comments WHERE site = :site AND {} = :who AND created >= :since AND text = :text LIMIT 1"
)
_REPEAT_BY_EMAIL = Fast(_REPEAT.format("author_email"), binds={"since": c.created.type})
_REPEAT_BY_READER = Fast(_REPEAT.format("reader_id"), binds={"since": c.created.type})


class CommentRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def insert(self, new: NewComment) -> Comment:
        """Store a comment; its root, path and depth follow from its parent."""
        parent = None if new.parent is None else Place.of(new.parent)
        values = comment_values(new, parent)
        row = await fast.first(self.tx, _insert_stmt(tuple(values)), values)
        assert row is not None
        return to_comment(row)

    async def get(self, comment_id: int, *, for_update: bool = False) -> Comment | None:
        stmt = select(comments).where(c.id == comment_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.tx.conn.execute(stmt)).first()
        return to_comment(row) if row else None

    async def site_of(self, comment_id: int) -> str | None:
        """The site a comment belongs to (for Origin checks on routes addressed by comment id)."""
        stmt = select(threads.c.site).join(comments, comments.c.thread_id == threads.c.id)
        return (await self.tx.conn.execute(stmt.where(c.id == comment_id))).scalar_one_or_none()

    async def top_level(
        self, thread_id: int, sort: Sort, after: SortKey | None, limit: int, *, inline_only: bool = False
    ) -> list[Comment]:
        """One page of shown top-level comments in ``sort`` order, starting after ``after``."""
        stmt = select(comments).where(c.thread_id == thread_id, c.parent_id.is_(None), shown_clause())
        if inline_only:
            stmt = stmt.where(c.anchor.is_not(None))
        if after is not None:
            stmt = stmt.where(_after(sort, after))
        stmt = stmt.order_by(*[col.desc() if desc else col.asc() for col, desc in _order(sort)]).limit(limit)
        return [to_comment(row) for row in await self.tx.conn.execute(stmt)]

    async def descendants(self, root_ids: Sequence[int]) -> list[Comment]:
        """Every reply (any status) under the given top-level comments, oldest first."""
        if not root_ids:
            return []
        stmt = select(comments).where(c.root_id.in_(root_ids)).order_by(c.created, c.id)
        return [to_comment(row) for row in await self.tx.conn.execute(stmt)]

    async def of_thread(self, thread_id: int, after_id: int, limit: int) -> list[Comment]:
        """Every comment of a thread (any status, tombstones too) in the order they were stored,
        after ``after_id``: a parent always before its replies (exports walk them)."""
        stmt = select(comments).where(c.thread_id == thread_id, c.id > after_id).order_by(c.id).limit(limit)
        return [to_comment(row) for row in await self.tx.conn.execute(stmt)]

    async def recent(self, site: str, page: str | None, limit: int) -> list[tuple[Comment, str, str, str]]:
        """The newest visible comments of a site or one page, with their thread's page, title and url."""
        stmt = (
            with_thread()
            .where(threads.c.site == site, c.status == CommentStatus.APPROVED.value, c.deleted == false())
            .order_by(c.created.desc(), c.id.desc())
            .limit(limit)
        )
        if page is not None:
            stmt = stmt.where(threads.c.page == page)
        rows = await self.tx.conn.execute(stmt)
        return [(to_comment(row), row.t_page, row.t_title, row.t_url) for row in rows]

    async def top_voted(self, thread_id: int, limit: int) -> list[Comment]:
        """A thread's most-voted public comments (replies too) that readers voted up, best first."""
        stmt = (
            select(comments)
            .where(
                c.thread_id == thread_id,
                c.status == CommentStatus.APPROVED.value,
                c.deleted == false(),
                c.score > 0,
            )
            .order_by(c.score.desc(), c.up.desc(), c.created, c.id)
            .limit(limit)
        )
        return [to_comment(row) for row in await self.tx.conn.execute(stmt)]

    async def recent_repeat(self, site: str, email: str, reader_id: str, text: str, since: datetime) -> bool:
        """Whether this author (by email when given, else reader id) posted this very text since."""
        stmt, who = (_REPEAT_BY_EMAIL, email) if email else (_REPEAT_BY_READER, reader_id)
        params = {"site": site, "who": who, "since": since, "text": text}
        return await fast.first(self.tx, stmt, params) is not None

    async def set_text(
        self, comment_id: int, text: str, html: str, renderer_version: int, edited: datetime
    ) -> None:
        await self.tx.conn.execute(
            update(comments)
            .where(c.id == comment_id)
            .values(text=text, html=html, renderer_version=renderer_version, edited=edited)
        )

    async def stale_renders(self, version: int, after_id: int, limit: int) -> list[Any]:
        """Up to ``limit`` comments after ``after_id`` whose HTML an older renderer made (rows
        ``id, site, text, deleted``, by id): to render again (rerender.py)."""
        stmt = (
            select(c.id, c.site, c.text, c.deleted)
            .where(c.renderer_version < version, c.id > after_id)
            .order_by(c.id)
            .limit(limit)
        )
        return list(await self.tx.conn.execute(stmt))

    async def set_render(self, comment_id: int, html: str, version: int) -> None:
        """The HTML of the current renderer for a comment's unchanged text (not an edit)."""
        await self.tx.conn.execute(
            update(comments).where(c.id == comment_id).values(html=html, renderer_version=version)
        )

    async def mark_deleted(self, comment_id: int) -> None:
        """Soft delete: the row stays (replies hang off it), its text, anchor and author go."""
        await self.tx.conn.execute(
            update(comments)
            .where(c.id == comment_id)
            .values(
                deleted=True, text="", html="", author_name="", author_email="", author_url="", anchor=None
            )
        )

    async def set_status(self, comment_id: int, status: CommentStatus) -> None:
        await self.tx.conn.execute(update(comments).where(c.id == comment_id).values(status=status.value))

    async def add_visible_descendants_many(self, deltas: Mapping[int, int]) -> None:
        """``add_visible_descendants`` for many comments at once: one statement per distinct delta."""
        by_delta: dict[int, list[int]] = {}
        for comment_id, delta in deltas.items():
            if delta:
                by_delta.setdefault(delta, []).append(comment_id)
        for delta, ids in sorted(by_delta.items()):
            for start in range(0, len(ids), 500):  # below SQLite's limit on bound parameters
                await self.add_visible_descendants(sorted(ids[start : start + 500]), delta)

    async def add_visible_descendants(self, comment_ids: Sequence[int], delta: int) -> None:
        if comment_ids and delta:
            await self.tx.conn.execute(
                update(comments)
                .where(c.id.in_(comment_ids))
                .values(visible_descendants=c.visible_descendants + delta)
            )

    async def add_votes(self, comment_id: int, up: int, down: int) -> tuple[int, int, int]:
        """Adjust the tallies by the given deltas; return (score, up, down) as stored now."""
        stmt = (
            update(comments)
            .where(c.id == comment_id)
            .values(up=c.up + up, down=c.down + down, score=c.score + up - down)
            .returning(c.score, c.up, c.down)
        )
        row = (await self.tx.conn.execute(stmt)).one()
        return int(row.score), int(row.up), int(row.down)
