"""Domain events, dispatched only after the transaction that caused them has committed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from kibitz.models import Thread

log = logging.getLogger(__name__)


class EventKind(StrEnum):
    COMMENT_CREATED = "comment.created"
    COMMENT_UPDATED = "comment.updated"
    COMMENT_DELETED = "comment.deleted"
    COMMENT_VOTED = "comment.voted"
    THREAD_CHANGED = "thread.changed"
    STORY_UPDATE = "story.update"  # comment_id holds the story update's id


@dataclass(frozen=True)
class ThreadEvent:
    kind: EventKind
    site: str
    page: str
    thread_id: int
    version: int  # the thread's version after the change
    comment_id: int | None = None

    @classmethod
    def of(cls, kind: EventKind, thread: Thread, comment_id: int | None = None) -> ThreadEvent:
        """The event of a change that left ``thread`` as it is now."""
        return cls(kind, thread.site, thread.page, thread.id, thread.version, comment_id)


Listener = Callable[[ThreadEvent], Awaitable[None]]


class Events:
    """Fans committed events out to listeners (live updates, caches, metrics); a failing listener
    is logged and never fails the write that already committed."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def dispatch(self, event: ThreadEvent) -> None:
        for listener in self._listeners:
            try:
                await listener(event)
            except Exception:  # a committed write must not fail because of a listener
                log.exception("event listener failed for %s", event.kind)
