"""Spam scoring's rows: each site's learned classifier counts (versioned, so workers read only what
changed), the link domains moderators marked, what was learned from each decided comment, and the
recent comments the near-duplicate index is filled from."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, select, update

from kibitz.store import fast
from kibitz.store.fast import Fast
from kibitz.store.schema import akismet_checks, comments, spam_domains, spam_features, spam_labels, spam_model

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

STATUSES = ("approved", "pending", "rejected", "spam")
_m, _c = spam_model.c, comments.c
# The two reads of every post, built once (building a statement costs more than running it here).
_HEAD = select(_m.version, _m.stamp, _m.spam_total, _m.ham_total).where(_m.site == bindparam("site"))
_COLUMNS = (
    _c.id,
    _c.site,
    _c.created,
    _c.text,
    _c.author_email,
    _c.reader_id,
    _c.author_name,
    _c.client_hash,
)
_RECENT = (
    select(*_COLUMNS)
    .where(
        _c.site == bindparam("site"),
        _c.status.in_(STATUSES),
        _c.created >= bindparam("since"),
        _c.deleted.is_(False),
    )
    .order_by(_c.created.desc(), _c.id.desc())
    .limit(bindparam("limit"))
)
# After the first look: the rows of every site past the last id seen, straight off the primary key.
_AFTER = select(*_COLUMNS).where(_c.id > bindparam("after")).order_by(_c.id).limit(bindparam("limit"))
# The same, with the site's model head in every row, and one row of NULLs when there are no comments:
# the two reads of a post in one statement.
_NEW = ", ".join(f'comments."{column.name}"' for column in _COLUMNS)
_LOOK = Fast(  # column names only: every value is bound
    "SELECT spam_model.version, spam_model.stamp, spam_model.spam_total, spam_model.ham_total, "  # noqa: S608
    "new.* FROM (SELECT 1 AS one) AS one LEFT OUTER JOIN spam_model ON spam_model.site = :site "
    f"LEFT OUTER JOIN (SELECT {_NEW} FROM comments WHERE comments.id > :after "
    "ORDER BY comments.id LIMIT :limit) AS new ON 1 = 1",
    columns=(None, None, None, None, *(column.type for column in _COLUMNS)),
)


@dataclass(frozen=True)
class ModelHead:
    version: int
    stamp: str
    spam_total: int
    ham_total: int


@dataclass(frozen=True)
class Label:
    label: str  # spam | ham
    features: list[int]
    domains: list[str]


@dataclass(frozen=True)
class Recent:
    id: int
    site: str
    created: datetime
    text: str
    email: str
    reader_id: str
    name: str
    client_hash: str


class SpamRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def head(self, site: str) -> ModelHead | None:
        """The site's learned model's version and totals (None: nothing learned yet)."""
        row = (await self.tx.conn.execute(_HEAD, {"site": site})).first()
        if row is None:
            return None
        return ModelHead(int(row.version), row.stamp, int(row.spam_total), int(row.ham_total))

    async def features_since(self, site: str, version: int) -> list[tuple[int, int, int]]:
        """(bucket, spam, ham) of every feature changed after ``version`` (all for -1)."""
        f = spam_features.c
        stmt = select(f.bucket, f.spam, f.ham).where(f.site == site, f.version > version)
        return [(int(r.bucket), int(r.spam), int(r.ham)) for r in await self.tx.conn.execute(stmt)]

    async def domains_since(self, site: str, version: int) -> list[tuple[str, int, int]]:
        d = spam_domains.c
        stmt = select(d.domain, d.spam, d.ham).where(d.site == site, d.version > version)
        return [(r.domain, int(r.spam), int(r.ham)) for r in await self.tx.conn.execute(stmt)]

    async def bump(self, site: str, spam_total: int, ham_total: int, *, now: datetime) -> int:
        """Add to the site's totals and move its version on; the new version."""
        m = spam_model.c
        insert = self.tx.upsert(spam_model).values(site=site, version=0, stamp="", updated=now)
        await self.tx.conn.execute(insert.on_conflict_do_nothing())
        stmt = (
            update(spam_model)
            .where(m.site == site)
            .values(
                version=m.version + 1,
                stamp=secrets.token_hex(8),
                spam_total=m.spam_total + spam_total,
                ham_total=m.ham_total + ham_total,
                updated=now,
            )
            .returning(m.version)
        )
        return int((await self.tx.conn.execute(stmt)).scalar_one())

    async def add_features(self, site: str, deltas: Mapping[int, tuple[int, int]], version: int) -> None:
        """Add (spam, ham) to each bucket's counts (negative to unlearn), stamped ``version``."""
        await self._add(spam_features, "bucket", site, deltas, version)

    async def add_domains(self, site: str, deltas: Mapping[str, tuple[int, int]], version: int) -> None:
        await self._add(spam_domains, "domain", site, deltas, version)

    async def _add(
        self, table: Any, key: str, site: str, deltas: Mapping[Any, tuple[int, int]], version: int
    ) -> None:
        if not deltas:
            return
        stmt = self.tx.upsert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["site", key],
            set_={
                "spam": table.c.spam + stmt.excluded.spam,
                "ham": table.c.ham + stmt.excluded.ham,
                "version": stmt.excluded.version,
            },
        )
        rows = [
            {"site": site, key: k, "spam": s, "ham": h, "version": version}
            for k, (s, h) in sorted(deltas.items())
        ]
        await self.tx.conn.execute(stmt, rows)

    async def label(self, comment_id: int) -> Label | None:
        lab = spam_labels.c
        stmt = select(lab.label, lab.features, lab.domains).where(lab.comment_id == comment_id)
        row = (await self.tx.conn.execute(stmt)).first()
        if row is None:
            return None
        features = [int(f) for f in row.features.split(",") if f]
        return Label(row.label, features, row.domains.split())

    async def put_label(
        self,
        comment_id: int,
        site: str,
        label: str,
        features: Sequence[int],
        domains: Sequence[str],
        now: datetime,
    ) -> None:
        values = {
            "label": label,
            "features": ",".join(map(str, features)),
            "domains": " ".join(domains),
            "updated": now,
        }
        stmt = self.tx.upsert(spam_labels).values(comment_id=comment_id, site=site, **values)
        await self.tx.conn.execute(stmt.on_conflict_do_update(index_elements=["comment_id"], set_=values))

    # -- what Akismet was asked (akismet.py) ---------------------------------------------------------

    async def put_check(self, comment_id: int, site: str, verdict: str, params: str, now: datetime) -> None:
        values = {"site": site, "verdict": verdict, "params": params, "created": now}
        await self.tx.conn.execute(akismet_checks.insert().values(comment_id=comment_id, **values))

    async def check_of(self, comment_id: int) -> tuple[str, str] | None:
        """(verdict, params as JSON) of the comment's check, if it had one."""
        a = akismet_checks.c
        stmt = select(a.verdict, a.params).where(a.comment_id == comment_id)
        row = (await self.tx.conn.execute(stmt)).first()
        return (row.verdict, row.params) if row else None

    async def forget_checks(self, before: datetime) -> int:
        result = await self.tx.conn.execute(delete(akismet_checks).where(akismet_checks.c.created < before))
        return int(result.rowcount or 0)

    async def recent(self, site: str, since: datetime, limit: int) -> list[Recent]:
        """The site's comments created at or after ``since`` (not deleted), newest first."""
        rows = await self.tx.conn.execute(_RECENT, {"site": site, "since": since, "limit": limit})
        return [Recent(*row) for row in rows]

    async def look(self, site: str, after: int, limit: int) -> tuple[ModelHead | None, list[Recent]]:
        """head(site) and after(after, limit) in one statement."""
        rows = await fast.rows(self.tx, _LOOK, {"site": site, "after": after, "limit": limit})
        first = rows[0]
        head = None if first[0] is None else ModelHead(int(first[0]), first[1], int(first[2]), int(first[3]))
        return head, [Recent(*row[4:]) for row in rows if row[4] is not None]

    async def newest_id(self) -> int:
        """The highest comment id (0 when there is none)."""
        return int((await self.tx.conn.execute(select(func.max(_c.id)))).scalar_one() or 0)

    async def after(self, comment_id: int, limit: int) -> list[Recent]:
        """Comments of every site with an id above ``comment_id``, oldest first (deleted ones too:
        their text is empty)."""
        return [
            Recent(*row) for row in await self.tx.conn.execute(_AFTER, {"after": comment_id, "limit": limit})
        ]
