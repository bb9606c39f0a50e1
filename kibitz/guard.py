"""Abuse checks that hold across workers: per-address rate limits counted in the database, and the
screening of a new comment (bans, word lists, links, repeats, trust, and the spam score of
kibitz/spam) that decides its status."""

from __future__ import annotations

import logging
import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address, ip_network
from typing import TYPE_CHECKING

from kibitz import errors
from kibitz.config import ModerationMode
from kibitz.models import Ban, BanKind, CommentStatus
from kibitz.security import TokenError, Tokens
from kibitz.spam import engine as spam
from kibitz.wordlists import fold, folded_views

if TYPE_CHECKING:
    from kibitz.config import RateLimit, SiteConfig
    from kibitz.policy import Policies
    from kibitz.store.tx import Tx


SLIDING = "rate:"  # the key prefix of check_rate's sliding windows (their hits are by the millisecond)


async def check_rate(tx: Tx, *, site: str, action: str, limit: RateLimit, client: str, now: datetime) -> None:
    """Count this write for ``client`` and raise RateLimited beyond the limit: at most
    ``limit.count`` in any span of ``limit.seconds`` (a sliding window, so never twice the limit
    around a window's edge), with Retry-After the seconds until the oldest hit in the way leaves.

    The hit is counted in the caller's write transaction, so a refused or failed write is not
    counted, and concurrent requests of every worker and instance are counted exactly (the key's
    lock row serializes them: store/limits.py).
    """
    # A hit's time rounds up to its millisecond: it stays counted at least as long as it should.
    now_ms = math.ceil(now.timestamp() * 1000)
    key = f"{SLIDING}{site}:{action}:{client}"
    wait_ms = await tx.rates.hit_sliding(key, now_ms, limit.seconds * 1000, limit.count)
    if wait_ms is not None:
        retry = max(1, math.ceil(wait_ms / 1000))
        raise errors.RateLimited(f"At most {limit} {action} from one address", retry_after=retry)


async def forget_old_counters(tx: Tx, *, now: datetime, keep_seconds: int = 2 * 86400) -> None:
    """Drop counters of windows long over (the longest window we offer is a day)."""
    before = int(now.timestamp()) - keep_seconds
    await tx.rates.forget_before(before, sliding_prefix=SLIDING, window_ms=before * 1000)


# -- screening a post: bans, word lists, links, trust, repeats -----------------------------------

log = logging.getLogger(__name__)
FORM_TOKEN = "form"  # noqa: S105 - a token purpose, not a secret
FORM_TTL = timedelta(hours=24)
MIN_FILL = timedelta(seconds=2)  # nobody reads an article and writes a comment faster
_LINK = re.compile(r"(?:\bhttps?://|(?<![/\w.])www\.)", re.IGNORECASE)
REPEAT_WINDOW = timedelta(minutes=10)
# Posted without a form token (an API client, or a script): not a reason on its own, but it adds this
# much to evidence about the text itself of at least EVIDENCE_FOR_NO_FORM.
NO_FORM = "no_form_token"
NO_FORM_WEIGHT = 0.1
EVIDENCE_FOR_NO_FORM = 0.2
# A score summed from signals stops just short of 1, so that a threshold of 1 turns that threshold off
# (a filled honeypot, a blocked word, a shadow ban or Akismet's "spam" decide on their own).
SUMMED_MAX = 0.99
# Each rejection outweighs this many approvals when deciding whether an author is still trusted.
REJECTION_WEIGHT = 3


@dataclass(frozen=True)
class Screened:
    """What a post becomes: its stored status, why, and what its poster is told."""

    status: CommentStatus
    reasons: tuple[str, ...] = ()
    spam_score: float = 0.0
    shadow: bool = False  # shown to its author as published, to nobody else

    @property
    def public_status(self) -> str:
        """The status the poster is told: a shadow-banned or word-blocked poster learns nothing."""
        return (
            CommentStatus.APPROVED.value
            if self.shadow
            else (self.status.value if self.status is CommentStatus.APPROVED else CommentStatus.PENDING.value)
        )


@dataclass(frozen=True)
class Poster:
    email: str
    reader_id: str
    name: str
    address: str  # the client's address (never stored)
    address_hash: str
    url: str = ""  # the web address the author gave


def count_links(text: str) -> int:
    return len(_LINK.findall(text))


def trust_key(email: str, reader_id: str) -> str:
    """Whom trust counts for: an email when the author gave one, else their reader id."""
    return email or f"r:{reader_id}"


def ban_keys(poster: Poster) -> list[tuple[BanKind, str]]:
    return [
        (BanKind.EMAIL, poster.email.lower()),  # banned whatever case the local part is given in
        (BanKind.READER, poster.reader_id),
        (BanKind.ADDRESS, poster.address_hash),
        (BanKind.NAME, fold(poster.name)),
    ]


def ban_hits(bans: list[Ban], poster: Poster) -> list[Ban]:
    """The bans that match a poster (network bans by address, the rest matched in SQL)."""
    try:
        addr = ip_address(poster.address) if poster.address else None
    except ValueError:
        addr = None
    hits: list[Ban] = []
    for ban in bans:
        if ban.kind is BanKind.NETWORK:
            try:
                if addr is not None and addr in ip_network(ban.value, strict=False):
                    hits.append(ban)
            except ValueError:
                continue
        else:
            hits.append(ban)
    return hits


def issue_form_token(tokens: Tokens, site: str, now: datetime) -> str:
    """A signed token the widget fetches when it draws its form and sends with the post: when it was
    issued, and a nonce that works once (QUALITY T33)."""
    subject = f"{site}:{int(now.timestamp() * 1000)}:{secrets.token_urlsafe(9)}"
    return tokens.issue(FORM_TOKEN, subject, now=now, ttl=FORM_TTL)


async def automation_signals(
    tx: Tx, tokens: Tokens, site: str, honeypot: str, form: str | None, now: datetime
) -> list[str]:
    """Signs of a script rather than a person: the hidden field filled in, or a form token that is
    forged, for another site, used again, or sent back faster than anyone types. A post without a
    token (an API client) is only marked NO_FORM, which screen() counts as weak evidence."""
    reasons = ["honeypot"] if honeypot.strip() else []
    if form is None:
        marks = [NO_FORM]
    else:
        marks = []
        try:
            site_id, issued_ms, nonce = tokens.verify(FORM_TOKEN, form, now=now).split(":")
            issued = datetime.fromtimestamp(int(issued_ms) / 1000, UTC)
        except (TokenError, ValueError):
            reasons.append("form_token")
        else:
            if site_id != site:
                reasons.append("form_token")
            elif now - issued < MIN_FILL:
                reasons.append("too_fast")
            if await tx.rates.hit(f"form:{nonce}", int(issued.timestamp())) > 1:
                reasons.append("form_replayed")
    if reasons:
        log.warning("anti-automation trigger on site %s: %s", site, ", ".join(reasons))
    return reasons + marks


async def screen(
    tx: Tx,
    site: SiteConfig,
    policies: Policies,
    poster: Poster,
    text: str,
    now: datetime,
    signals: Sequence[str] = (),
) -> Screened:
    """Decide what a new comment becomes (DESIGN.md §3b): a plain ban refuses it; a shadow ban or
    a blocked word files it as spam while its poster is told otherwise; suspect words, too many
    links, a repeat (or a near-copy) of the author's own, moderation mode or low trust hold it for a
    moderator; and the spam score (kibitz/spam: classifier, links, look-alike and invisible
    characters, contact details, near-duplicate bursts) holds it at spam_hold and files it as spam
    at spam_reject. The reasons of the score are kept with every comment, held or not."""
    bans = ban_hits(await tx.bans.matching(site.id, ban_keys(poster), now), poster)
    if any(not ban.shadow for ban in bans):
        raise errors.Banned()
    if bans:
        return Screened(CommentStatus.SPAM, ("shadow_ban",), 1.0, shadow=True)
    no_form = NO_FORM in signals
    signals = [signal for signal in signals if signal != NO_FORM]
    if "honeypot" in signals or "akismet" in signals:  # Akismet's "spam" is decisive (QUALITY T35)
        return Screened(CommentStatus.SPAM, tuple(signals), 1.0)
    blocked_words, suspect_words = policies.words(site.blocked_words), policies.words(site.suspect_words)
    # Folded once for both lists (folding 10,000 characters is the costly part).
    views = folded_views(f"{poster.name}\n{text}") if blocked_words or suspect_words else ()
    blocked = blocked_words.matches_folded(views)
    if blocked:
        return Screened(CommentStatus.SPAM, tuple(f"blocked_word:{w}" for w in blocked[:5]), 1.0)
    reasons: list[str] = list(signals)
    score = 0.3 * len(signals)
    suspect = suspect_words.matches_folded(views)
    if suspect:
        reasons += [f"suspect_word:{w}" for w in suspect[:5]]
        score += 0.3
    links = count_links(text)
    if links > site.hold_links:
        reasons.append(f"links:{links}")
        score += min(0.5, 0.1 * (links - site.hold_links))
    who = spam.Poster(poster.email, poster.reader_id, poster.name, poster.address_hash, poster.url)
    found = await spam.engine_of(policies).assess(tx, site.id, site.hold_links, who, text, now)
    if await tx.comments.recent_repeat(site.id, poster.email, poster.reader_id, text, now - REPEAT_WINDOW):
        reasons.append("repeat")
        score += 0.3
    elif found.near_repeat:
        reasons.append("near_repeat")
        score += 0.3
    approved, rejected = await tx.trust.get(site.id, trust_key(poster.email, poster.reader_id))
    level = approved - REJECTION_WEIGHT * rejected
    if site.moderation is ModerationMode.ALL:
        reasons.append("moderation_all")
    elif site.moderation is ModerationMode.FIRST and level < site.trust_after:
        reasons.append("new_author" if not rejected else "low_trust")
    elif rejected and level < site.trust_after:
        reasons.append("low_trust")
    evidence = list(found.evidence)
    if no_form and sum(weight for _, weight in evidence) >= EVIDENCE_FOR_NO_FORM:
        evidence.append((NO_FORM, NO_FORM_WEIGHT))
    if found.burst is not None:
        evidence.append(found.burst)
    score = round(min(score + sum(weight for _, weight in evidence), SUMMED_MAX), 3)
    scored = tuple(code for code, _ in evidence)
    if score >= site.spam_reject:
        return Screened(CommentStatus.SPAM, (*reasons, *scored, "spam_score"), score)
    if reasons or score >= site.spam_hold:
        return Screened(CommentStatus.PENDING, (*reasons, *scored) or ("spam_score",), score)
    return Screened(CommentStatus.APPROVED, scored, score)
