"""The first read of an import: every record checked and the whole shape known (threads, who replies
to whom, loops) before anything is written.

It keeps no text and no source-id strings per comment: each comment is known by its ordinal (its
place among the file's comments) and its source id by a 64-bit hash, in flat arrays of machine
integers. A file of a million comments is planned in about 30 MB; a dict of strings would take
hundreds. Two different ids sharing a hash (odds near 1 in 10^7 for a million ids) would be read
as one id given twice: the second is skipped and reported, never misplaced.
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

from kibitz.imports.normalise import PageMap, ThreadTarget, thread_target
from kibitz.imports.records import (
    CommentRecord,
    CommentShape,
    Record,
    Refused,
    SkippedRecord,
    Source,
    ThreadRecord,
)
from kibitz.imports.report import Report

if TYPE_CHECKING:  # not imported by the import's worker, which needs no configuration code
    from kibitz.config import SiteConfig

Progress = Callable[[int], None]  # records read so far
NONE = -1  # no parent / no thread


class Fate(IntEnum):
    """What becomes of one comment record; the reasons are reported, with its id, when the second
    read meets it."""

    KEEP = 0
    ORPHAN = 1  # kept as a top-level comment: its parent is not in the file (or was skipped)
    STRANGER = 2  # kept as a top-level comment: its parent is in another thread
    TWICE = 3  # skipped: the file has this comment id twice
    THREAD_SKIPPED = 4  # skipped: its thread was skipped
    NO_THREAD = 5  # skipped: its thread is not in the file


REASONS = {
    Fate.ORPHAN: "its parent is not in the file (or was skipped): kept as a top-level comment",
    Fate.STRANGER: "its parent is in another thread: kept as a top-level comment",
    Fate.TWICE: "the file has this comment id twice: the first is kept",
    Fate.THREAD_SKIPPED: "its thread was skipped",
    Fate.NO_THREAD: "its thread is not in the file",
}


def key(source_id: str) -> int:
    """A source id as a signed 64-bit number (blake2b): what the plan keeps instead of the string."""
    digest = hashlib.blake2b(source_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


@dataclass
class Plan:
    threads: dict[str, ThreadTarget] = field(default_factory=dict)  # source thread id -> target
    thread_ids: list[str] = field(default_factory=list)  # a comment's thread number -> source id
    thread_of: array[int] = field(default_factory=lambda: array("i"))  # ordinal -> thread number
    parent_of: array[int] = field(default_factory=lambda: array("i"))  # ordinal -> parent ordinal
    fate: bytearray = field(default_factory=bytearray)  # ordinal -> Fate
    records: int = 0

    @property
    def comments(self) -> int:
        """Comment records in the file (ordinals run from 0 to this)."""
        return len(self.fate)

    def kept(self) -> int:
        return sum(1 for f in self.fate if f <= Fate.STRANGER)


def scan(source: Source, site: SiteConfig, maps: list[PageMap], report: Report, progress: Progress) -> Plan:
    """Read the whole file once; raises Refused (nothing written yet) when it cannot be imported."""
    plan = Plan()
    skipped_threads: set[str] = set()
    numbers: dict[str, int] = {}  # a comment's thread source id -> thread number
    keys = array("q")
    parent_keys = array("q")
    has_parent = bytearray()
    shapes: Callable[[], Iterator[Record | CommentShape]] | None = getattr(source, "shapes", None)
    for record in shapes() if shapes is not None else source.records():
        plan.records += 1
        if plan.records % 1000 == 0:
            progress(plan.records)
        if isinstance(record, CommentRecord | CommentShape):
            keys.append(key(record.source_id))
            number = numbers.get(record.thread_id)
            if number is None:
                # Interned, as the thread's own id is: one string for both, not one each.
                number = numbers[record.thread_id] = len(plan.thread_ids)
                plan.thread_ids.append(sys.intern(record.thread_id))
            plan.thread_of.append(number)
            parent = record.parent_id
            parent_keys.append(key(parent) if parent is not None else 0)
            has_parent.append(parent is not None)
        elif isinstance(record, ThreadRecord):
            if record.source_id in plan.threads or record.source_id in skipped_threads:
                twice = "the file has this thread id twice: the first is kept"
                report.skip("thread", record.source_id, twice)
                continue
            target = thread_target(record, site, maps)
            if isinstance(target, str):
                skipped_threads.add(record.source_id)
                report.skip("thread", record.source_id, target)
            else:
                plan.threads[sys.intern(record.source_id)] = target
        elif isinstance(record, SkippedRecord):
            report.skip(record.kind, record.source_id, record.reason)
            if record.kind == "thread":
                skipped_threads.add(record.source_id)
    progress(plan.records)
    count = len(keys)
    plan.fate = bytearray(count)
    for ordinal, number in enumerate(plan.thread_of):
        thread = plan.thread_ids[number]
        if thread not in plan.threads:
            plan.fate[ordinal] = Fate.THREAD_SKIPPED if thread in skipped_threads else Fate.NO_THREAD
    order, sorted_keys = index(keys)
    del keys
    for at in range(1, count):
        if sorted_keys[at] == sorted_keys[at - 1]:  # the later of two records under one id
            plan.fate[order[at]] = Fate.TWICE
    plan.parent_of = array("i", [NONE]) * count
    for ordinal in range(count):
        if has_parent[ordinal] and plan.fate[ordinal] <= Fate.STRANGER:
            at = bisect_left(sorted_keys, parent_keys[ordinal])
            if at < count and sorted_keys[at] == parent_keys[ordinal] and plan.fate[order[at]] == Fate.KEEP:
                plan.parent_of[ordinal] = order[at]
    del sorted_keys, order, parent_keys
    _refuse_loops(plan, source)
    for ordinal in range(count):
        up = plan.parent_of[ordinal]
        if plan.fate[ordinal] != Fate.KEEP or not has_parent[ordinal]:
            continue
        if up == NONE:
            plan.fate[ordinal] = Fate.ORPHAN
        elif plan.thread_of[up] != plan.thread_of[ordinal]:
            plan.fate[ordinal] = Fate.STRANGER
            plan.parent_of[ordinal] = NONE
    used = {plan.thread_ids[plan.thread_of[o]] for o in range(count) if plan.fate[o] <= Fate.STRANGER}
    for sid in sorted(set(plan.threads) - used):
        report.skip("thread", sid, "no comments")
        del plan.threads[sid]
    return plan


def index(keys: array[int]) -> tuple[array[int], array[int]]:
    """(ordinals sorted by key, the keys in that order): see ``order_by_key``."""
    order = order_by_key(keys)
    return order, array("q", (keys[o] for o in order))


def order_by_key(keys: array[int]) -> array[int]:
    """The ordinals sorted by key: a stable sort, so of two records under one id the first in the
    file comes first. Sorted a sixteenth at a time, by the keys' top four bits, so at most a
    sixteenth of the comments is ever held as Python numbers (a million at once would take some
    70 MB more)."""
    buckets = [array("i") for _ in range(16)]  # by a signed key's top four bits: ascending keys
    for ordinal, key_ in enumerate(keys):
        buckets[(key_ >> 60) + 8].append(ordinal)
    order = array("i")
    for at, bucket in enumerate(buckets):
        order.extend(sorted(bucket, key=keys.__getitem__))
        buckets[at] = array("i")
    return order


def _refuse_loops(plan: Plan, source: Source) -> None:
    """Raise Refused when replies form a loop (a comment that is its own ancestor)."""
    state = bytearray(plan.comments)  # 0: not seen, 1: on the chain being walked, 2: settled
    for start in range(plan.comments):
        chain: list[int] = []
        node = start
        while node != NONE and state[node] != 2:
            if state[node] == 1:
                loop = [*chain[chain.index(node) :], node]
                shown = _names(source, loop)
                raise Refused(f"comments reply to each other in a loop ({shown}); nothing was imported")
            state[node] = 1
            chain.append(node)
            node = plan.parent_of[node]
        for node in chain:
            state[node] = 2


def _names(source: Source, ordinals: list[int]) -> str:
    """The source ids of a loop's comments, read again from the file (only ever for a refusal)."""
    wanted = set(ordinals[:10])
    names: dict[int, str] = {}
    ordinal = 0
    for record in source.records():
        if isinstance(record, CommentRecord):
            if ordinal in wanted:
                names[ordinal] = record.source_id
            ordinal += 1
    shown = " → ".join(names.get(o, "?") for o in ordinals[:10])
    return shown + (" → …" if len(ordinals) > 10 else "")
