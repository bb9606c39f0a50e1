"""The second read of an import, done beside the writer (in a worker process for a big file,
render_pool.py): each comment read again in file order, put after its parent, fingerprinted, told
apart as new, changed or unchanged against what earlier runs stored (``KnownMap``), and, when new or
changed, cleaned and rendered (normalise.body) into the values of its row. The writer gets chunks of
plain tuples and does only the database's part.

Nothing here touches the database: what earlier runs stored comes in as a ``KnownMap``, read by the
writer before the plan and handed over with it."""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, NamedTuple

from kibitz.avatar import avatar_key
from kibitz.imports.normalise import Body, body, fingerprint
from kibitz.imports.plan import NONE, REASONS, Fate, key, order_by_key
from kibitz.imports.records import CommentRecord, Source

AVATARS = 4096  # authors whose avatar key is kept at hand (recomputing one takes a microsecond or two)
SKIP, NOTE = 0, 1


class Row(NamedTuple):
    """A new or changed comment's values, as stored (``visible``: counted in its thread)."""

    name: str
    email: str
    url: str
    avatar_key: str
    text: str
    html: str
    status: str
    deleted: bool
    truncated: bool
    visible: bool
    up: int
    down: int
    edited: datetime | None


class Item(NamedTuple):
    """One comment of a chunk: ``target`` the comment an earlier run made of it (0: none); ``row``
    None when that comment is unchanged (nothing rendered, nothing to write), or when ``record`` is
    left for the writer's process to render (``render_left``)."""

    ordinal: int
    target: int
    created: datetime
    source_id: str
    digest: str
    row: Row | None
    record: CommentRecord | None = None


class Chunk(NamedTuple):
    items: list[Item]
    # What the report says of records met on the way: (SKIP or NOTE, source id, Fate), in file order.
    remarks: list[tuple[int, str, int]]


@dataclass(frozen=True)
class KnownMap:
    """What an earlier run made of each source comment: the 64-bit key of its source id, the comment
    made and the first 8 bytes of its fingerprint, in the order the database gave them, with the
    positions sorted by key to look them up: 28 bytes a comment, where a dict of strings would take
    some 200. Two source ids under one key (odds near 1 in 10^7 for a million) can only make a
    comment look changed: the writer checks each changed one by its whole source id."""

    keys: array[int]
    targets: array[int]
    digests: array[int]  # a fingerprint's first 8 bytes, as a number (``digest8``)
    order: array[int]  # positions, by key

    EMPTY: ClassVar[KnownMap]

    def find(self, source_id: str) -> tuple[int, int]:
        """(the comment made of it, ``digest8`` of its fingerprint), (0, 0) when none was."""
        wanted, keys, order = key(source_id), self.keys, self.order
        low, high = 0, len(order)
        while low < high:
            middle = (low + high) // 2
            if keys[order[middle]] < wanted:
                low = middle + 1
            else:
                high = middle
        if low < len(order) and keys[order[low]] == wanted:
            return self.targets[order[low]], self.digests[order[low]]
        return 0, 0


KnownMap.EMPTY = KnownMap(array("q"), array("q"), array("q"), array("i"))


class KnownRows:
    """A KnownMap gathered a row, or a page of rows, at a time."""

    def __init__(self) -> None:
        self.keys: array[int] = array("q")
        self.targets: array[int] = array("q")
        self.digests: array[int] = array("q")

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, source_id: str, target: int, digest: str) -> None:
        self.keys.append(key(source_id))
        self.targets.append(target)
        self.digests.append(digest8(digest))

    def extend(self, page: KnownRows) -> None:
        self.keys.extend(page.keys)
        self.targets.extend(page.targets)
        self.digests.extend(page.digests)

    def done(self) -> KnownMap:
        return KnownMap(self.keys, self.targets, self.digests, order_by_key(self.keys))


def digest8(fingerprint_hex: str) -> int:
    """A fingerprint's first 8 bytes as a signed number; -1 for a value that is no fingerprint of ours
    (a comment then looks changed, unless its fingerprint starts with 16 "f"s: 1 in 2^64)."""
    if len(fingerprint_hex) < 16:
        return -1
    try:
        return int.from_bytes(bytes.fromhex(fingerprint_hex[:16]), "big", signed=True)
    except ValueError:
        return -1


@dataclass(frozen=True)
class Job:
    """Everything the second read needs (picklable: it is sent to the worker process)."""

    source: Source
    fate: bytes  # the plan's, by ordinal
    parent_of: array[int]  # the plan's, by ordinal
    known: KnownMap
    allow_images: bool
    avatar_secret: bytes
    site: str
    chunk: int  # comments per chunk
    # In a worker: every n-th body to render is left to the writer's process, which would otherwise
    # wait for the worker part of the time (0: none, as in process).
    leave_every: int = 0


def chunks(job: Job) -> Iterator[Chunk]:
    """The kept comments in an order that puts each after its parent, as chunks of ``job.chunk``.
    The file is read again as often as replies come before their parents (once, usually)."""
    fate, parent_of = job.fate, job.parent_of
    placed = bytearray(len(fate))
    total = sum(1 for f in fate if f <= Fate.STRANGER)
    avatars: dict[str, str] = {}
    prefix = f"import:{job.source.format}:"
    leave, rendered = job.leave_every, 0
    items: list[Item] = []
    remarks: list[tuple[int, str, int]] = []
    done, first_read = 0, True
    while done < total:
        at_start = done
        ordinal = -1
        for record in job.source.records():
            if not isinstance(record, CommentRecord):
                continue
            ordinal += 1
            f = fate[ordinal]
            if f > Fate.STRANGER:
                if first_read:
                    remarks.append((SKIP, record.source_id, f))
                continue
            if placed[ordinal]:
                continue
            parent = parent_of[ordinal]
            if parent != NONE and not placed[parent]:
                continue  # its parent comes later in the file: the next read takes it
            if f != Fate.KEEP:
                remarks.append((NOTE, record.source_id, f))
            placed[ordinal] = 1
            digest = fingerprint(record, record.parent_id if parent != NONE else None)
            target, before = job.known.find(record.source_id)
            if target and before == digest8(digest):
                items.append(Item(ordinal, target, record.created, record.source_id, digest, None))
            elif leave and (rendered := rendered + 1) % leave == 0:
                items.append(Item(ordinal, target, record.created, record.source_id, digest, None, record))
            else:
                row = _row(body(record, job.allow_images), record, job, avatars, prefix)
                items.append(Item(ordinal, target, record.created, record.source_id, digest, row))
            done += 1
            if len(items) >= job.chunk:
                yield Chunk(items, remarks)
                items, remarks = [], []
        first_read = False
        if done == at_start:
            break  # nothing more can be placed (the plan refuses loops: never reached)
    if items or remarks:
        yield Chunk(items, remarks)


def render_left(items: list[Item], job: Job, avatars: dict[str, str]) -> list[Item]:
    """``items`` with the bodies the worker left (``Job.leave_every``) rendered here."""
    prefix = f"import:{job.source.format}:"
    done = []
    for item in items:
        record = item.record
        if record is not None:
            row = _row(body(record, job.allow_images), record, job, avatars, prefix)
            item = item._replace(row=row, record=None)
        done.append(item)
    return done


def _row(stored: Body, record: CommentRecord, job: Job, avatars: dict[str, str], prefix: str) -> Row:
    """One avatar per source author (by address, else name): their comments look alike."""
    who = prefix + (stored.email or stored.name)
    avatar = avatars.get(who)
    if avatar is None:
        avatar = avatars[who] = avatar_key(job.avatar_secret, job.site, who)
        if len(avatars) > AVATARS:
            del avatars[next(iter(avatars))]
    return Row(
        stored.name, stored.email, stored.url, avatar, stored.text, stored.html, stored.status.value,
        stored.deleted, stored.truncated, stored.visible, record.up, record.down, record.edited,
    )  # fmt: skip


def reason(f: int) -> str:
    """What the report says of a comment of this Fate."""
    return REASONS[Fate(f)]
