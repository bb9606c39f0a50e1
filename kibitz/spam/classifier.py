"""The text classifier: multinomial naive Bayes over hashed words, pairs of words and the shape of
the comment (kibitz/spam/features.py), each counted once per comment.

Why this model: it learns from a single example in one addition per feature, so a moderator's
decision changes the next score at once, and unlearning a reversed decision is one subtraction; its
whole state is two counts per bucket, which add up across sources (the shipped base model, then
each site's decisions) and live in plain database rows every worker reads; scoring a comment is a
few hundred array reads and additions, well under a millisecond in pure Python, with no numpy or
scikit-learn. Hashing keeps memory fixed (2^18 buckets) whatever the vocabulary, in every language.
Its weakness, overconfidence from correlated features, is tamed by dividing the log-likelihood ratio
by the square root of the number of features (long comments do not win by length) and by mapping it
to a score only past a margin (``contribution``); the structural signals (links, repeats,
look-alike letters) cover what words alone cannot.

Character n-grams were tried and left out: with them (runs of 4, 5 or 6 characters of each word),
the spam caught at zero false positives on the held-out fifth of an earlier version of the corpus
fell from 164 of 190 to between 117 and 145. They learn which language a comment is in more than
what it says (its non-English spam and ham share their letters), while folding (kibitz/wordlists.py)
already undoes the look-alike letters, accents and leetspeak they would have caught. The words of a
link's host are counted as words ("cheap-meds-online.shop": cheap, meds, online).

MARGIN, HOLD_AT and SHRINK, like the signals' weights, were chosen by five-fold cross-validation on
the corpus's training part.

A site's decisions weigh ``SITE_WEIGHT`` times a corpus example: what this desk calls spam
counts for more than what the project's corpus says.
"""

from __future__ import annotations

import json
import math
import sys
import zlib
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from kibitz.spam.features import BUCKETS, FEATURES_VERSION, bucket

ALPHA = 0.5  # additive smoothing per bucket
SITE_WEIGHT = 3
SHRINK = 5  # features of no weight added to every comment: a short text's ratio shrinks
MIN_TOKENS = 4  # a text of fewer words says too little to judge by its words
FULL_TOKENS = 10  # below this many words, the classifier's weight shrinks in proportion
# contribution(): no score up to MARGIN (normalised log-likelihood ratio), then rising linearly
# through HOLD_WEIGHT (the default spam_hold) at HOLD_AT, to at most CAP.
MARGIN = 0.7
HOLD_AT = 1.7
HOLD_WEIGHT = 0.5
CAP = 0.85
SPAMMY_WORD = math.log(4)  # spammy_words(): four times likelier in spam
BASE_FILE = "base_model.bin"


@dataclass
class Counts:
    """Per-bucket counts of spam and ham comments holding a feature, and the totals."""

    spam: array[int] = field(default_factory=lambda: array("I", bytes(4 * BUCKETS)))
    ham: array[int] = field(default_factory=lambda: array("I", bytes(4 * BUCKETS)))
    spam_docs: int = 0
    ham_docs: int = 0
    spam_total: int = 0
    ham_total: int = 0

    def add(self, features: Iterable[int], spam: bool) -> None:
        target = self.spam if spam else self.ham
        n = 0
        for f in features:
            target[f] += 1
            n += 1
        if spam:
            self.spam_docs += 1
            self.spam_total += n
        else:
            self.ham_docs += 1
            self.ham_total += n

    def to_bytes(self) -> bytes:
        """Nonzero buckets only: (bucket, spam, ham) as little-endian uint32, compressed."""
        rows = array("I")
        for i in range(BUCKETS):
            if self.spam[i] or self.ham[i]:
                rows.extend((i, self.spam[i], self.ham[i]))
        header = {
            "features_version": FEATURES_VERSION, "buckets": BUCKETS, "spam_docs": self.spam_docs,
            "ham_docs": self.ham_docs, "spam_total": self.spam_total, "ham_total": self.ham_total,
        }  # fmt: skip
        if rows.itemsize != 4:
            raise RuntimeError("this platform's unsigned int is not 32 bits")
        if sys.byteorder == "big":
            rows.byteswap()
        return zlib.compress(json.dumps(header).encode() + b"\n" + rows.tobytes(), 9)

    @classmethod
    def from_bytes(cls, data: bytes) -> Counts:
        raw = zlib.decompress(data)
        head, _, body = raw.partition(b"\n")
        header = json.loads(head)
        if header["features_version"] != FEATURES_VERSION or header["buckets"] != BUCKETS:
            raise ValueError("the base model counts other features: python -m bench.spam_corpus.make")
        rows = array("I")
        rows.frombytes(body)
        if sys.byteorder == "big":
            rows.byteswap()
        counts = cls(spam_docs=header["spam_docs"], ham_docs=header["ham_docs"],
                     spam_total=header["spam_total"], ham_total=header["ham_total"])  # fmt: skip
        for i in range(0, len(rows), 3):
            counts.spam[rows[i]] = rows[i + 1]
            counts.ham[rows[i]] = rows[i + 2]
        return counts


class Base:
    """The shipped model: its counts, and each bucket's log-ratio precomputed."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        log = math.log
        self.ratio = ratio = array("d", bytes(8 * BUCKETS))  # 0.0 where neither class saw the bucket
        for i, (s, h) in enumerate(zip(counts.spam, counts.ham, strict=True)):
            if s or h:
                ratio[i] = log(s + ALPHA) - log(h + ALPHA)


@cache
def base() -> Base:
    """The base model shipped in this package (loaded once per process, about 0.1 s)."""
    data = resources.files("kibitz.spam").joinpath(BASE_FILE).read_bytes()
    return Base(Counts.from_bytes(data))


@dataclass(frozen=True)
class SiteCounts:
    """One site's learned counts (from its moderators' decisions): bucket -> (spam, ham)."""

    buckets: Mapping[int, tuple[int, int]] = field(default_factory=dict)
    spam_total: int = 0
    ham_total: int = 0


EMPTY_SITE = SiteCounts()


def _sum(model: Base, site: SiteCounts, features: list[int]) -> tuple[float, int]:
    """The summed log-likelihood ratio (spam over ham) of the features either class has seen, and
    how many those are. A feature neither saw is left out: multinomial naive Bayes would give it the
    ratio of the classes' totals, so that a long text of unknown words (or any language the counts
    never met) would drift toward the class with fewer words in its counts."""
    c = model.counts
    w = SITE_WEIGHT
    spam_total = c.spam_total + w * site.spam_total
    ham_total = c.ham_total + w * site.ham_total
    # Same smoothing denominators for every feature: their log-ratio, once per feature.
    per_feature = math.log(ham_total + ALPHA * BUCKETS) - math.log(spam_total + ALPHA * BUCKETS)
    ratio, spam, ham = model.ratio, c.spam, c.ham
    learned = site.buckets
    log = math.log
    total = 0.0
    known = 0
    for f in features:
        mine = learned.get(f) if learned else None
        if mine is not None and (mine[0] or mine[1]):
            total += log(spam[f] + w * mine[0] + ALPHA) - log(ham[f] + w * mine[1] + ALPHA)
            known += 1
        elif spam[f] or ham[f]:
            total += ratio[f]
            known += 1
    return total + known * per_feature, known


def log_ratio(model: Base, site: SiteCounts, features: list[int]) -> float:
    """The comment's log-likelihood ratio (spam over ham), divided by the square root of the number
    of its features the counts know (plus SHRINK)."""
    total, known = _sum(model, site, features)
    return total / math.sqrt(known + SHRINK) if known else 0.0


def spammy_words(model: Base, site: SiteCounts, words: list[str]) -> int:
    """How many of ``words`` (folded tokens) the counts say are at least SPAMMY_WORD times likelier
    in spam than in ham (words never seen count as neither)."""
    return sum(_sum(model, site, [bucket("w:" + word)])[0] >= SPAMMY_WORD for word in words if len(word) > 1)


def contribution(ratio: float, tokens: int) -> float:
    """What the classifier adds to a comment's spam score: nothing under MARGIN or for a text of
    fewer than MIN_TOKENS words, HOLD_WEIGHT (the default spam_hold) at HOLD_AT, at most CAP; a
    text of fewer than FULL_TOKENS words weighs in proportion to its words ("Typed without a mouse.
    [keyboard-post]" is six words of weak evidence, not a verdict)."""
    if tokens < MIN_TOKENS or ratio <= MARGIN:
        return 0.0
    short = min(1.0, tokens / FULL_TOKENS)
    return min(CAP, HOLD_WEIGHT * (ratio - MARGIN) / (HOLD_AT - MARGIN)) * short
