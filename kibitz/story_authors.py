"""Who wrote a story, and the ``author`` badge on their comments there.

Only the publisher says who wrote a story, by the ``sub`` its own login (sso.py) gives that person:
the SSO token's ``author_of`` claim (pages the signed-in person wrote; it adds, never removes), or the
``publish`` API (``PUT /api/v1/admin/sites/{site}/pages`` with ``authors``: the page's whole list).
Nothing a reader sends is read: a guest who types an author's name, or an account signed in another
way, never gets the badge. The badge is stored with the comment like the other badges (so every
answer, cached or live, and the no-JS page carry it); a change of a story's authors re-badges that
account's comments on the page and tells live readers (``comment.updated``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from kibitz import errors, inputs
from kibitz.config import SiteConfig
from kibitz.events import EventKind, Events, ThreadEvent
from kibitz.store.db import Database
from kibitz.store.tx import Tx

AUTHOR = "author"
MAX_AUTHORS = 20  # subjects one page may name
MAX_AUTHOR_OF = 50  # pages one sign-in token may name
MAX_SUBJECT = 255


def subjects(values: Sequence[str]) -> list[str]:
    """The ``authors`` of a page as the API takes them: the publisher's ``sub`` of each, checked."""
    if len(values) > MAX_AUTHORS:
        raise errors.InvalidInput.field("authors", f"must list at most {MAX_AUTHORS} authors")
    found: list[str] = []
    for value in values:
        if not 0 < len(value) <= MAX_SUBJECT or not value.isprintable():
            rule = f"each must be the sub your login gives the author (1-{MAX_SUBJECT} characters)"
            raise errors.InvalidInput.field("authors", rule)
        if value not in found:
            found.append(value)
    return found


class StoryAuthors:
    def __init__(self, db: Database, events: Events, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.events = events
        self.clock = clock

    async def authors(self, site: SiteConfig, page: str) -> list[str]:
        async with self.db.read() as tx:
            return await tx.story_authors.subjects(site.id, inputs.page_key(page))

    async def replace(self, site: SiteConfig, page: str, names: Sequence[str], actor: str) -> list[str]:
        """The page's authors become ``names`` (the publisher's ``sub`` of each), audited; the list."""
        key, wanted = inputs.page_key(page), subjects(names)
        now = self.clock()
        async with self.db.write() as tx:
            added, removed = await tx.story_authors.replace(site.id, key, wanted, now, actor[:200])
            found: list[ThreadEvent] = []
            if added or removed:
                found = await self._badge(tx, site.id, key, added | removed)
                await tx.audit.record(
                    at=now, site=site.id, actor=actor, action="thread.authors", target=f"thread:{key}",
                    detail={"added": sorted(added), "removed": sorted(removed)},
                )  # fmt: skip
            current = await tx.story_authors.subjects(site.id, key)
        await self._dispatch(found)
        return current

    async def claimed(
        self, tx: Tx, site: SiteConfig, subject: str, pages: Iterable[str], now: datetime
    ) -> list[ThreadEvent]:
        """In the sign-in's transaction: the token says ``subject`` wrote ``pages``; the events to
        dispatch once it commits."""
        found: list[ThreadEvent] = []
        for page in await tx.story_authors.add_pages(site.id, subject, pages, now, "sso"):
            found.extend(await self._badge(tx, site.id, page, {subject}))
        return found

    async def dispatch(self, found: Sequence[ThreadEvent]) -> None:
        await self._dispatch(found)

    async def _badge(self, tx: Tx, site: str, page: str, changed: set[str]) -> list[ThreadEvent]:
        """Bring the badge of the accounts of ``changed`` subjects on the page up to date."""
        thread = await tx.threads.get(site, page)
        if thread is None:
            return []
        authors = set(await tx.story_authors.accounts_of(site, await tx.story_authors.subjects(site, page)))
        found: list[ThreadEvent] = []
        for account_id in await tx.story_authors.accounts_of(site, changed):
            for comment_id in await tx.story_authors.set_badge(thread.id, account_id, account_id in authors):
                thread = await tx.threads.bump(
                    thread.id, kind=EventKind.COMMENT_UPDATED, comment_id=comment_id
                )
                found.append(ThreadEvent.of(EventKind.COMMENT_UPDATED, thread, comment_id))
        return found

    async def _dispatch(self, found: Sequence[ThreadEvent]) -> None:
        for event in found:
            await self.events.dispatch(event)


async def badges_when_posting(
    tx: Tx, site: str, page: str, account_id: int, badges: tuple[str, ...]
) -> tuple[str, ...]:
    """A signed-in author's badges as stored with a new comment: ``author`` when the publisher says
    the account's login wrote the page (decided here, never from the request)."""
    clean = tuple(b for b in badges if b != AUTHOR)
    if await tx.story_authors.is_author(site, page, account_id):
        return (*clean, AUTHOR)
    return clean
