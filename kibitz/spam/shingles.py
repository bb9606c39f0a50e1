"""Near-duplicates: a sketch of each comment's words, and an index of the recent comments of every
site, kept in each worker and filled from the database, so that every worker sees the posts of
every other.

A sketch is the ``SKETCH`` smallest CRC-32 hashes of a comment's distinct words (folded text, quotes
and links left out, each link's host added as a word): a bottom-k sketch, whose overlap with
another's estimates the Jaccard similarity of the two sets of words (exactly, for comments of fewer
than ``SKETCH`` distinct words). Two comments are near-duplicates at ``NEAR`` or more. A comment of
fewer than ``MIN_WORDS`` distinct words has no sketch: short comments ("Well said.") coincide all
the time.

Words rather than pairs of words: spam bursts are written from templates whose every other word
varies ("{Hi|Hello} everyone, I {earn|make} ..."), and each changed word breaks two pairs. On the
corpus's training part, half of a burst's copies are within 0.5 of each other by words, 16 % by
pairs; of 350,000 pairs of legitimate comments, 0.06 % are (mostly replies whose own words are a
stock phrase: "Agree with every word.").

The index holds ``WINDOW`` of comments per site. It is refreshed in the transaction of each post
from the rows added since its last look (kibitz/spam/engine.py), so a burst spread over workers is
counted whole.
"""

from __future__ import annotations

import heapq
import zlib
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kibitz.spam.features import Parsed

SKETCH = 24
MIN_WORDS = 6
NEAR = 0.5
PER_HASH = 16  # a hash remembers the latest comments holding it: common words do not fan out
MAX_MATCHES = PER_HASH  # near() stops there: a burst that large is decided
WINDOW = timedelta(hours=1)
MAX_PER_SITE = 20_000  # the oldest go first beyond this (a flood larger than any window we need)


def sketch(parsed: Parsed) -> tuple[int, ...]:
    """The comment's bottom-k sketch, or () when it is too short to compare."""
    words = {*parsed.tokens, *(link.host for link in parsed.links)}
    if len(words) < MIN_WORDS:
        return ()
    hashes = (zlib.crc32(word.encode("utf-8", "surrogatepass")) for word in words)
    return tuple(sorted(heapq.nsmallest(SKETCH, hashes)))


def similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Estimated Jaccard similarity of two sketches' sets of word pairs."""
    if not a or not b:
        return 0.0
    ours = set(a)
    both = ours.intersection(b)
    if not both:
        return 0.0
    union = sorted(ours.union(b))[:SKETCH]  # the union's own bottom-k sketch
    return len(both.intersection(union)) / len(union)


@dataclass(frozen=True)
class Entry:
    comment_id: int
    created: datetime
    email: str
    reader_id: str
    name: str  # folded
    address: str  # keyed hash
    sketch: tuple[int, ...]


@dataclass
class SiteIndex:
    """The recent comments of one site, by sketch hash."""

    entries: dict[int, Entry] = field(default_factory=dict)
    order: deque[int] = field(default_factory=deque)
    by_hash: dict[int, deque[int]] = field(default_factory=dict)
    recent_ids: deque[int] = field(default_factory=lambda: deque(maxlen=4096))
    _recent_set: set[int] = field(default_factory=set)

    def seen(self, comment_id: int) -> bool:
        """Whether a comment was read already (indexed, or too short to index)."""
        return comment_id in self._recent_set

    def add(self, entry: Entry) -> None:
        """Index a comment (one too short to compare is only remembered as read)."""
        if len(self.recent_ids) == self.recent_ids.maxlen:
            self._recent_set.discard(self.recent_ids[0])
        self.recent_ids.append(entry.comment_id)
        self._recent_set.add(entry.comment_id)
        if entry.comment_id in self.entries or not entry.sketch:
            return
        self.entries[entry.comment_id] = entry
        self.order.append(entry.comment_id)
        for h in entry.sketch:
            ids = self.by_hash.get(h)
            if ids is None:
                ids = self.by_hash[h] = deque(maxlen=PER_HASH)
            ids.append(entry.comment_id)
        while len(self.order) > MAX_PER_SITE:
            self._drop(self.order.popleft())

    def expire(self, before: datetime) -> None:
        while self.order and self.entries[self.order[0]].created < before:
            self._drop(self.order.popleft())

    def _drop(self, comment_id: int) -> None:
        entry = self.entries.pop(comment_id)
        for h in entry.sketch:
            ids = self.by_hash.get(h)
            if ids is not None and comment_id in ids:
                ids.remove(comment_id)
                if not ids:
                    del self.by_hash[h]

    def near(self, probe: tuple[int, ...], since: datetime) -> list[Entry]:
        """The comments since ``since`` whose text is a near-duplicate of the sketch ``probe``."""
        if not probe:
            return []
        shared: dict[int, int] = {}
        for h in probe:
            for comment_id in self.by_hash.get(h, ()):
                shared[comment_id] = shared.get(comment_id, 0) + 1
        # At NEAR similarity two sketches share at least this many of their hashes.
        needed = max(1, int(NEAR * min(len(probe), SKETCH) * 0.5))
        out = []
        for comment_id, count in sorted(shared.items(), key=lambda item: -item[1]):
            entry = self.entries[comment_id]
            if count >= needed and entry.created >= since and similarity(probe, entry.sketch) >= NEAR:
                out.append(entry)
                if len(out) >= MAX_MATCHES:
                    break
        return out
