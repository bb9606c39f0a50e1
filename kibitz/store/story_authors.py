"""Who wrote a story, by the subject the publisher's own login gives them, and the ``author`` badge on
their comments there (SQL only; the rules are in kibitz/story_authors.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from kibitz.store.schema import account_identities, comments, story_authors
from kibitz.store.schema_base import in_lists

if TYPE_CHECKING:
    from kibitz.store.tx import Tx

sa_, i, c = story_authors.c, account_identities.c, comments.c
SSO = "sso"  # the identity kind of the publisher's own login (accounts.py)
AUTHOR = "author"


class StoryAuthorRepo:
    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    async def subjects(self, site: str, page: str) -> list[str]:
        stmt = select(sa_.subject).where(sa_.site == site, sa_.page == page).order_by(sa_.subject)
        return list((await self.tx.conn.execute(stmt)).scalars())

    async def replace(
        self, site: str, page: str, subjects: Iterable[str], now: datetime, by: str
    ) -> tuple[set[str], set[str]]:
        """The page's authors become ``subjects``: (added, removed)."""
        before = set(await self.subjects(site, page))
        after = set(subjects)
        removed, added = before - after, after - before
        if removed:
            await self.tx.conn.execute(
                delete(story_authors).where(
                    sa_.site == site, sa_.page == page, sa_.subject.in_(sorted(removed))
                )
            )
        if added:
            await self._insert([(page, subject) for subject in sorted(added)], site, now, by)
        return added, removed

    async def add_pages(
        self, site: str, subject: str, pages: Iterable[str], now: datetime, by: str
    ) -> list[str]:
        """``subject`` wrote each of ``pages`` (kept when known already): the pages newly added."""
        wanted = sorted(set(pages))
        if not wanted:
            return []
        stmt = select(sa_.page).where(sa_.site == site, sa_.subject == subject, sa_.page.in_(wanted))
        known = set((await self.tx.conn.execute(stmt)).scalars())
        new = [page for page in wanted if page not in known]
        if new:
            await self._insert([(page, subject) for page in new], site, now, by)
        return new

    async def _insert(self, pairs: list[tuple[str, str]], site: str, now: datetime, by: str) -> None:
        """(page, subject) rows; one a concurrent request stored first is kept as it is."""
        rows = [
            {"site": site, "page": page, "subject": subject, "created": now, "created_by": by}
            for page, subject in pairs
        ]
        await self.tx.conn.execute(self.tx.upsert(story_authors).values(rows).on_conflict_do_nothing())

    async def is_author(self, site: str, page: str, account_id: int) -> bool:
        """Whether the account signs in with the publisher's login as one of the page's authors."""
        stmt = (
            select(sa_.subject)
            .join(account_identities, (i.site == sa_.site) & (i.subject == sa_.subject))
            .where(sa_.site == site, sa_.page == page, i.kind == SSO, i.account_id == account_id)
            .limit(1)
        )
        return (await self.tx.conn.execute(stmt)).first() is not None

    async def accounts_of(self, site: str, subjects: Iterable[str]) -> list[int]:
        """The accounts that sign in with the publisher's login as these subjects."""
        found: list[int] = []
        for chunk in in_lists(sorted(set(subjects))):
            stmt = select(i.account_id).where(i.site == site, i.kind == SSO, i.subject.in_(chunk))
            found.extend((await self.tx.conn.execute(stmt)).scalars())
        return found

    async def set_badge(self, thread_id: int, account_id: int, on: bool) -> list[int]:
        """Add (or take away) the ``author`` badge on the account's comments in the thread: the ids
        of the comments changed."""
        stmt = select(c.id, c.badges).where(c.thread_id == thread_id, c.account_id == account_id)
        changed: list[int] = []
        for row in (await self.tx.conn.execute(stmt)).all():
            badges = [b for b in row.badges.split(",") if b]
            if (AUTHOR in badges) == on:
                continue
            badges = [*badges, AUTHOR] if on else [b for b in badges if b != AUTHOR]
            await self.tx.conn.execute(update(comments).where(c.id == row.id).values(badges=",".join(badges)))
            changed.append(row.id)
        return changed
