"""Akismet, for the sites that turn it on (an ``akismet_key`` in their [[sites]] table); off by default,
so nothing a reader writes leaves the server unless the publisher chose so.

When on, a new comment is checked before its transaction opens (``comment-check``, within
``akismet_timeout`` seconds): "spam" files it as spam; "ham" adds nothing; no answer, a 5xx, an
unreadable answer or a refused address holds it for a moderator (reason ``akismet_unavailable``)
instead of failing the post. After BREAKER_FAILURES failures in a row the breaker (breaker.py)
opens: for BREAKER_OPEN seconds posts are held at once, without a call, so an outage costs no post
its wait; then one post asks again, and while Akismet still fails the wait doubles, up to
BREAKER_CAP. (Calls that get no answer at all count too against Akismet's address in the breaker
every outgoing call goes through, outbound.py.)

What was sent (without the key) is kept with the comment for KEEP, and only for comments checked,
so that a moderator's contrary decision can be reported: approving or restoring a comment Akismet
called spam sends ``submit-ham``, marking as spam one it let through sends ``submit-spam``. Those
reports go through the outbox of outgoing HTTP calls (the webhook deliveries, with no webhook),
retried with back-off by the delivery loop; the key is read from the settings when sent.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from kibitz import __version__, outbound
from kibitz.breaker import Breaker
from kibitz.webhooks import new_event_id

if TYPE_CHECKING:
    from kibitz.config import Settings, SiteConfig
    from kibitz.models import Comment
    from kibitz.store.tx import Tx

log = logging.getLogger(__name__)
BREAKER_FAILURES = 3
BREAKER_OPEN = 60.0  # seconds, the first time
BREAKER_CAP = 600.0
KEEP = timedelta(days=30)
REPORTED = b"Thanks for making the web a better place."
HAM, SPAM = "submit-ham", "submit-spam"
EVENT_PREFIX = "akismet."  # the outbox rows of reports: "akismet.submit-ham", "akismet.submit-spam"
SIGNAL_SPAM = "akismet"
SIGNAL_UNAVAILABLE = "akismet_unavailable"


class Verdict(StrEnum):
    SPAM = "spam"
    HAM = "ham"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Checked:
    """Akismet's answer on one comment, and what it was asked (without the key)."""

    verdict: Verdict
    detail: str
    params: dict[str, str]
    discard: bool = False  # "X-akismet-pro-tip: discard": spam beyond doubt

    @property
    def signal(self) -> str | None:
        """What the screening of the post hears: guard.screen's signal, or None for ham."""
        if self.verdict is Verdict.SPAM:
            return SIGNAL_SPAM
        return SIGNAL_UNAVAILABLE if self.verdict is Verdict.UNAVAILABLE else None


def comment_params(
    site: SiteConfig,
    *,
    client_addr: str,
    user_agent: str,
    referrer: str,
    permalink: str | None,
    reply: bool,
    name: str,
    email: str | None,
    url: str | None,
    text: str,
    now: datetime,
) -> dict[str, str]:
    """The fields of a comment-check (and of a later report on the same comment)."""
    params = {
        "blog": site.origins[0],
        "user_ip": client_addr,
        "user_agent": user_agent[:500],
        "referrer": referrer[:500],
        "permalink": permalink or "",
        "comment_type": "reply" if reply else "comment",
        "comment_author": name,
        "comment_author_email": email or "",
        "comment_author_url": url or "",
        "comment_content": text,
        "comment_date_gmt": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "blog_charset": "UTF-8",
    }
    return {key: value for key, value in params.items() if value}


class Akismet:
    """The calls to Akismet of one process, behind one circuit breaker."""

    def __init__(self, settings: Settings, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.endpoint = settings.akismet_url
        self.policy = outbound.OutboundPolicy(
            allow_networks=settings.outbound_allow,
            timeout=settings.akismet_timeout,
            max_bytes=4096,
            max_redirects=0,
            user_agent=f"Kibitz/{__version__} | Akismet",
        )
        self.breaker = Breaker(BREAKER_FAILURES, BREAKER_OPEN, BREAKER_CAP, monotonic)

    def enabled(self, site: SiteConfig) -> bool:
        return bool(site.akismet_key)

    async def check(self, site: SiteConfig, params: dict[str, str]) -> Checked:
        """Akismet's verdict on a comment; never raises: anything but an answer is UNAVAILABLE."""
        ticket = self.breaker.attempt()
        if ticket is None:
            return Checked(Verdict.UNAVAILABLE, "not asked: Akismet failed repeatedly just now", params)
        try:
            response = await self._call("comment-check", site.akismet_key, params)
        except outbound.OutboundError as exc:
            return self._failed(site, params, str(exc), ticket)
        answer = response.body.strip()
        if response.status == 200 and answer in (b"true", b"false"):
            self.breaker.succeeded()
            if answer == b"false":
                return Checked(Verdict.HAM, "", params)
            discard = (response.header("x-akismet-pro-tip") or "").strip().lower() == "discard"
            return Checked(Verdict.SPAM, "discard" if discard else "", params, discard)
        help_text = response.header("x-akismet-debug-help") or answer[:100].decode("utf-8", "replace")
        return self._failed(site, params, f"HTTP {response.status}: {help_text}", ticket)

    async def report(self, site_id: str, kind: str, params: dict[str, str]) -> outbound.Response:
        """Send one report (submit-ham or submit-spam); raises OutboundError, or a ValueError when the
        site no longer has a key (nothing is sent then)."""
        site = self.settings.site(site_id)
        if site is None or not site.akismet_key:
            raise ValueError(f"Akismet is off for site {site_id!r} now")
        return await self._call(kind, site.akismet_key, params)

    async def _call(self, action: str, key: str, params: dict[str, str]) -> outbound.Response:
        body = urlencode({"api_key": key, **params}).encode("ascii")
        headers = (("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),)
        url = f"{self.endpoint}/{action}"
        return await outbound.send(url, body=body, headers=headers, policy=self.policy)

    def _failed(self, site: SiteConfig, params: dict[str, str], detail: str, ticket: int) -> Checked:
        if self.breaker.failed(ticket):
            wait = self.breaker.open_for
            log.warning("Akismet unavailable (%s): posts held without asking for %gs", detail, wait)
        else:
            log.warning("Akismet unavailable for site %s (%s): the comment is held", site.id, detail)
        return Checked(Verdict.UNAVAILABLE, detail, params)


# -- in the transactions of a post and of a moderator's decision --------------------------------------


async def remember(tx: Tx, comment: Comment, checked: Checked, now: datetime) -> None:
    """Keep what Akismet was asked about a new comment, to report a contrary decision later."""
    await tx.spam.put_check(comment.id, comment.site, checked.verdict.value, json.dumps(checked.params), now)


async def feedback(tx: Tx, comment: Comment, label: str, now: datetime) -> str | None:
    """Queue a report when a moderator's ``label`` ("spam" or "ham") contradicts Akismet's verdict on
    ``comment``; the kind queued, or None (not checked, or no contradiction)."""
    found = await tx.spam.check_of(comment.id)
    if found is None:
        return None
    verdict, params = found
    if label == "ham" and verdict == Verdict.SPAM:
        kind = HAM
    elif label == "spam" and verdict == Verdict.HAM:
        kind = SPAM
    else:
        return None
    payload = json.dumps({"site": comment.site, "comment": comment.id, "params": json.loads(params)})
    dedupe = f"{EVENT_PREFIX}{kind}:{comment.id}:{int(now.timestamp() * 1000)}"
    await tx.webhooks.enqueue(None, new_event_id(), EVENT_PREFIX + kind, dedupe, payload, now)
    return kind
