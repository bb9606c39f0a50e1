"""Walking a site for an export: its threads in the order they were made, each followed by its
comments (a parent before its replies), under stable ids, a chunk at a time (bounded memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from kibitz.models import Comment, Thread
from kibitz.store.db import Database

CHUNK = 500
# Comments and threads imported from our own format keep their ids in later exports, so moving a site
# between Kibitz servers twice changes nothing, and json -> import -> export gives the file back.
SOURCE = "json"


@dataclass(frozen=True)
class ExportThread:
    id: str
    thread: Thread


@dataclass(frozen=True)
class ExportComment:
    id: str
    thread_id: str
    parent_id: str | None
    comment: Comment


async def walk(db: Database, site: str) -> AsyncIterator[ExportThread | ExportComment]:
    after_thread = 0
    while True:
        async with db.read() as tx:
            threads = await tx.threads.of_site(site, after_thread, CHUNK)
            names = await tx.imports.source_ids(site, SOURCE, "thread", [t.id for t in threads])
        if not threads:
            return
        for thread in threads:
            thread_id = names.get(thread.id, str(thread.id))
            yield ExportThread(thread_id, thread)
            ids: dict[int, str] = {}  # this thread's comments so far: a reply names its parent
            after = 0
            while True:
                async with db.read() as tx:
                    found = await tx.comments.of_thread(thread.id, after, CHUNK)
                    kept = await tx.imports.source_ids(site, SOURCE, "comment", [c.id for c in found])
                if not found:
                    break
                for comment in found:
                    ids[comment.id] = kept.get(comment.id, str(comment.id))
                    parent = None if comment.parent_id is None else ids.get(comment.parent_id)
                    yield ExportComment(ids[comment.id], thread_id, parent, comment)
                after = found[-1].id
        after_thread = threads[-1].id
