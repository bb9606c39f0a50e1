"""The spam pipeline of one process: it assesses a new comment (classifier, links, characters,
contact details, the poster's name, near-duplicates) inside the post's transaction, and learns from
moderators' decisions.

Every worker reads the same database. A site's learned counts are cached here and checked against
the site's model version on every assessment, and only the rows changed since are read again, so a
decision on one worker moves the next score on every other. The recent comments of each site are
indexed here too (kibitz/spam/shingles.py): a worker's first look at a site reads its last hour,
later looks read every comment past the highest id seen, in the same statement as the version
check. On PostgreSQL ids are read again GRACE_IDS back, for transactions that commit after a later
id; a comment that commits later still is missed by this worker's index, which a burst of many
copies does not notice. SQLite has one writer at a time, so its ids commit in order: none is read
twice there.
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from kibitz.spam import classifier, signals
from kibitz.spam.classifier import SiteCounts
from kibitz.spam.features import Parsed, fast_fold, host_of, host_words, registrable
from kibitz.spam.shingles import WINDOW, Entry, SiteIndex, sketch

if TYPE_CHECKING:
    from kibitz.models import Comment
    from kibitz.store.spam import ModelHead, Recent
    from kibitz.store.tx import Tx

FULL_RELOAD_SECONDS = 3600.0  # besides following versions, read a site's counts afresh this often
RECENT_LIMIT = 5000  # at most this many comments read into the indexes in one look
GRACE_IDS = 8  # ids read again at each look: a transaction that got its id earlier may commit later
SKETCHES_KEPT = 512
SAME_AUTHOR_WINDOW = 600.0  # seconds: a near-copy of one's own comment within this is a repeat
BURST_NAMES = 3  # a burst signs with at least this many different names (the post's own included)
K = TypeVar("K", int, str)


@dataclass(frozen=True)
class Poster:
    """Who posts, as the spam pipeline needs it."""

    email: str
    reader_id: str
    name: str
    address_hash: str
    url: str = ""


@dataclass(frozen=True)
class Assessment:
    """What the pipeline found: evidence about the comment itself (code, weight), the near-duplicate
    burst it belongs to (code, weight) if any, and whether its author posted a near-copy lately."""

    evidence: tuple[tuple[str, float], ...]
    burst: tuple[str, float] | None
    near_repeat: bool
    ratio: float  # the classifier's normalised log-likelihood ratio (for tests and the benchmark)


@dataclass
class SiteModel:
    head: ModelHead
    buckets: dict[int, tuple[int, int]] = field(default_factory=dict)
    domains: dict[str, int] = field(default_factory=dict)  # spam decisions over ham ones, if more
    loaded: float = field(default_factory=time.monotonic)

    @property
    def counts(self) -> SiteCounts:
        return SiteCounts(self.buckets, self.head.spam_total, self.head.ham_total)


class Engine:
    """Per-process caches of learned counts and recent comments, per site."""

    def __init__(self) -> None:
        self.models: dict[str, SiteModel] = {}
        self.indexes: dict[str, SiteIndex] = {}
        self.after: int | None = None  # the highest comment id the indexes read (every site)
        self._sketches: OrderedDict[str, tuple[int, ...]] = OrderedDict()

    # -- scoring ----------------------------------------------------------------------------------

    async def assess(
        self, tx: Tx, site: str, hold_links: int, poster: Poster, text: str, now: datetime
    ) -> Assessment:
        """Read what the site learned and the comments posted since the last look (one query, once
        both are known to this process), then judge."""
        parsed = Parsed(text, poster.name, poster.url)
        probe = self._sketch(text, parsed)
        index = self.indexes.get(site)
        if probe and index is not None and self.after is not None:
            head, rows = await tx.spam.look(site, self._from(tx), RECENT_LIMIT)
            self._take(rows)
            index.expire(now - WINDOW)
            model = await self._model(tx, site, head)
        else:
            model = await self.model(tx, site)
            index = await self.index(tx, site, now) if probe else None
        return self.judge(parsed, probe, model, index, hold_links, poster, now)

    def judge(
        self,
        parsed: Parsed,
        probe: tuple[int, ...],
        model: SiteModel | None,
        index: SiteIndex | None,
        hold_links: int,
        poster: Poster,
        now: datetime,
    ) -> Assessment:
        """The scoring itself, on what assess() read: CPU only."""
        counts = model.counts if model else classifier.EMPTY_SITE
        base = classifier.base()
        ratio = classifier.log_ratio(base, counts, parsed.features)
        evidence: list[tuple[str, float]] = []
        weight = classifier.contribution(ratio, len(parsed.tokens))
        if weight:
            evidence.append(("classifier", round(weight, 3)))
        evidence += signals.links(parsed, hold_links, model.domains if model else {})
        evidence += signals.characters(parsed.raw)
        evidence += signals.contact(parsed)
        if poster.url:  # the name, and the words of the address's host
            name = Parsed(poster.name).tokens
            host = host_words(host_of(poster.url))
            spammy = classifier.spammy_words(base, counts, name), classifier.spammy_words(base, counts, host)
            evidence += signals.name_link(parsed, len(name), *spammy)
        burst, near_repeat = _near(index, poster, probe, now) if index is not None else (None, False)
        return Assessment(tuple(evidence), burst, near_repeat, ratio)

    def _sketch(self, text: str, parsed: Parsed | None = None) -> tuple[int, ...]:
        found = self._sketches.get(text)
        if found is None:
            found = sketch(parsed or Parsed(text))
            self._sketches[text] = found
            if len(self._sketches) > SKETCHES_KEPT:
                self._sketches.popitem(last=False)
        return found

    # -- shared state, read from the database ------------------------------------------------------

    async def model(self, tx: Tx, site: str) -> SiteModel | None:
        """The site's learned counts as committed now (None: its moderators taught nothing yet)."""
        return await self._model(tx, site, await tx.spam.head(site))

    async def _model(self, tx: Tx, site: str, head: ModelHead | None) -> SiteModel | None:
        cached = self.models.get(site)
        if head is None:
            self.models.pop(site, None)
            return None
        if cached is not None and cached.head.stamp == head.stamp and cached.head.version == head.version:
            return cached
        if (
            cached is None
            or head.version <= cached.head.version  # a version read in a rolled-back transaction
            or time.monotonic() - cached.loaded > FULL_RELOAD_SECONDS
        ):
            cached, since = SiteModel(head), -1
        else:
            since = cached.head.version
        features = await tx.spam.features_since(site, since)
        domains = await tx.spam.domains_since(site, since)
        # Rows hold whole counts, not increments: applying them twice changes nothing.
        for bucket, spam, ham in features:
            cached.buckets[bucket] = (max(spam, 0), max(ham, 0))
        for domain, spam, ham in domains:
            if spam > ham:
                cached.domains[domain] = spam - ham
            else:
                cached.domains.pop(domain, None)
        cached.head = head
        self.models[site] = cached
        return cached

    async def index(self, tx: Tx, site: str, now: datetime) -> SiteIndex:
        """The site's recent comments, brought up to date: on the first look its last WINDOW of
        comments, after that every site's comments past the highest id read (on PostgreSQL less
        GRACE_IDS, for transactions that commit out of order)."""
        window_start = now - WINDOW
        index = self.indexes.get(site)
        if index is None:
            index = self.indexes[site] = SiteIndex()
            if self.after is None:
                self.after = await tx.spam.newest_id()
            for row in reversed(await tx.spam.recent(site, window_start, RECENT_LIMIT)):
                index.add(self._entry(row))
        else:
            self._take(await tx.spam.after(self._from(tx), RECENT_LIMIT))
        index.expire(window_start)
        return index

    def _from(self, tx: Tx) -> int:
        grace = GRACE_IDS if tx.dialect == "postgresql" else 0
        return max(self.after or 0, grace) - grace

    def _take(self, rows: list[Recent]) -> None:
        """Index newly read comments into their sites' indexes (sites not looked at yet skip them:
        their first look reads their whole window)."""
        for row in sorted(rows, key=lambda row: row.id):
            found = self.indexes.get(row.site)
            if found is not None and not found.seen(row.id):
                found.add(self._entry(row))
            self.after = max(self.after or 0, row.id)

    def _entry(self, row: Recent) -> Entry:
        sketched = self._sketch(row.text)
        name = fast_fold(row.name)
        return Entry(row.id, row.created, row.email, row.reader_id, name, row.client_hash, sketched)


# What a moderator's act teaches the classifier: approve and restore say "not spam".
LABELS = {"approve": "ham", "restore": "ham", "spam": "spam"}


async def learn(tx: Tx, comment: Comment, label: str, now: datetime) -> bool:
    """Count a moderator's decision on ``comment`` (``label`` spam or ham) for its site, undoing an
    earlier opposite one; False when there was nothing to change. Every worker's next assessment
    on the site reads it (Engine.model)."""
    previous = await tx.spam.label(comment.id)
    if comment.deleted or (previous is not None and previous.label == label):
        return False
    parsed = Parsed(comment.text, comment.author.name, comment.author.url)
    features = sorted(parsed.features)
    domains = {link.domain for link in parsed.links}
    if comment.author.url and (host := host_of(comment.author.url)):
        domains.add(registrable(host))
    feature_deltas: dict[int, tuple[int, int]] = {}
    domain_deltas: dict[str, tuple[int, int]] = {}
    totals = [0, 0]
    if previous is not None:
        _count(feature_deltas, previous.features, previous.label, -1, totals)
        _count(domain_deltas, previous.domains, previous.label, -1, None)
    _count(feature_deltas, features, label, 1, totals)
    _count(domain_deltas, sorted(domains), label, 1, None)
    version = await tx.spam.bump(comment.site, totals[0], totals[1], now=now)
    await tx.spam.add_features(comment.site, feature_deltas, version)
    await tx.spam.add_domains(comment.site, domain_deltas, version)
    await tx.spam.put_label(comment.id, comment.site, label, features, sorted(domains), now)
    return True


def _count(
    deltas: dict[K, tuple[int, int]], keys: list[K], label: str, sign: int, totals: list[int] | None
) -> None:
    for key in keys:
        spam, ham = deltas.get(key, (0, 0))
        deltas[key] = (spam + sign, ham) if label == "spam" else (spam, ham + sign)
    if totals is not None:
        totals[label != "spam"] += sign * len(keys)


def _near(
    index: SiteIndex, poster: Poster, probe: tuple[int, ...], now: datetime
) -> tuple[tuple[str, float] | None, bool]:
    """The burst a comment belongs to: (code, weight) or None; and whether its author posted a
    near-copy within SAME_AUTHOR_WINDOW. Many people's near-copies weigh 0.2 each (to 0.9) when
    they sign with BURST_NAMES names or more, else 0.1 each (to 0.3): thirty readers' "Comment
    number 7 with enough words" from one name is a test script or a thread game, not spam."""
    matches = index.near(probe, now - WINDOW)
    mine = [m for m in matches if _same_author(m, poster)]
    near_repeat = any((now - m.created).total_seconds() <= SAME_AUTHOR_WINDOW for m in mine)
    others = [m for m in matches if not _same_author(m, poster)]
    identities = {m.email or f"r:{m.reader_id}" for m in others}
    if not identities:
        return None, near_repeat
    names = {m.name for m in others} | {fast_fold(poster.name)}
    n = len(identities)
    weight = min(0.9, 0.2 * n) if len(names) >= BURST_NAMES else min(0.3, 0.1 * n)
    return (f"near_duplicates:{n}", round(weight, 3)), near_repeat


def _same_author(entry: Entry, poster: Poster) -> bool:
    by_email = poster.email and entry.email == poster.email
    return bool(by_email or (poster.reader_id and entry.reader_id == poster.reader_id))


_engines: weakref.WeakKeyDictionary[object, Engine] = weakref.WeakKeyDictionary()


def engine_of(owner: object) -> Engine:
    """The engine of one app (keyed by its Policies, which every path that posts or moderates
    holds): two apps in one process, as in tests, keep their own caches, as two workers do."""
    found = _engines.get(owner)
    if found is None:
        found = _engines[owner] = Engine()
    return found
