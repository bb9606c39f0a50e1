"""Signed links for mails and pages (confirm, unsubscribe, manage, view a comment), and header text.

Tokens (kibitz.security.Tokens) carry the subject of each link: "confirm" → "{subscriber}.{nonce}"
(7 days, single use), "unsubscribe" → "{subscription}" or "s{subscriber}" (every subscription),
"manage" → "{subscriber}.{issued, ms}" (30 days; revocable). Tokens are signed, expiring and never
derived from the address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kibitz.config import NewsletterList, Settings
from kibitz.models import Thread
from kibitz.security import Tokens

CONFIRM, UNSUBSCRIBE, MANAGE = "confirm", "unsubscribe", "manage"
TTL = {CONFIRM: timedelta(days=7), UNSUBSCRIBE: timedelta(days=400), MANAGE: timedelta(days=30)}


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def one_line(value: str, limit: int = 250) -> str:
    """Header text on one line (inputs are validated already; this holds whatever comes)."""
    flat = " ".join(value.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Links:
    """Signed links for mails and pages, all under ``base_url``."""

    tokens: Tokens
    base_url: str
    site_names: dict[str, str]
    # Each site's newsletter lists as configured, the first being the default.
    site_lists: dict[str, tuple[NewsletterList, ...]] = field(default_factory=dict)

    def _url(self, kind: str, subject: str, now: datetime) -> str:
        token = self.tokens.issue(kind, subject, now=now, ttl=TTL[kind])
        return f"{self.base_url.rstrip('/')}/{kind}/{token}"

    def confirm(self, subscriber_id: int, nonce: str, now: datetime) -> str:
        return self._url(CONFIRM, f"{subscriber_id}.{nonce}", now)

    def unsubscribe(self, subscription_id: int, now: datetime) -> str:
        return self._url(UNSUBSCRIBE, str(subscription_id), now)

    def unsubscribe_all(self, subscriber_id: int, now: datetime) -> str:
        return self._url(UNSUBSCRIBE, f"s{subscriber_id}", now)

    def manage(self, subscriber_id: int, now: datetime) -> str:
        # The issue time rides in the subject: "sign out everywhere" voids every link issued before it.
        return self._url(MANAGE, f"{subscriber_id}.{ms(now)}", now)

    def comment(self, thread: Thread, comment_id: int) -> str:
        """The "view comment" link: the article's URL as the publisher gave it (titles.py), else the
        server's base URL; never a url a reader sent."""
        return f"{thread.page_url or self.base_url.rstrip('/') + '/'}#comment-{comment_id}"

    def site_name(self, site: str) -> str:
        return self.site_names.get(site, site)

    def lists(self, site: str) -> tuple[NewsletterList, ...]:
        return self.site_lists.get(site, ())

    def newsletter_list(self, site: str, list_id: str) -> NewsletterList | None:
        """The list a newsletter subscription names: "" (stored before lists existed) is the
        site's first list; None for a list the site no longer has."""
        lists = self.lists(site)
        if not list_id:
            return lists[0] if lists else None
        return next((item for item in lists if item.id == list_id), None)


def links_for(tokens: Tokens, settings: Settings) -> Links:
    return Links(
        tokens,
        settings.base_url,
        {site.id: site.name for site in settings.sites},
        {site.id: site.lists for site in settings.sites},
    )
