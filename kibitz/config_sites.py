"""The [[sites]] tables of the configuration: each site's origins, moderation, word lists, limits.

Read with kibitz/config.py's typed reader, so a bad value stops the process with one line naming
the key and what is wrong with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta

from kibitz import origins as urls
from kibitz.config import (
    _EMAIL,
    _RATE_KEYS,
    _RATE_UNITS,
    _SITE_KEYS,
    _SLUG,
    AuthorPolicy,
    ErasePolicy,
    ListFeed,
    ModerationMode,
    NewsletterList,
    RateLimit,
    RateLimits,
    SiteConfig,
)
from kibitz.config_accounts import sso_key
from kibitz.config_values import (
    _MAX_DURATION,
    _bounded,
    _duration,
    _kind,
    _parse_duration,
    _Reader,
    _show,
)


def site_tables(r: _Reader, value: object, base_origin: str) -> tuple[SiteConfig, ...]:
    if not isinstance(value, list | tuple):
        r.fail("sites", f"must be a list of site tables ([[sites]]), not {_kind(value)}")
    if not value:
        return (_site(r, {"id": "demo", "name": "Demo News"}, "sites[0]", base_origin),)
    sites = [_site(r, item, f"sites[{index}]", base_origin) for index, item in enumerate(value)]
    ids = [site.id for site in sites]
    for index, site_id in enumerate(ids):
        if ids.index(site_id) != index:
            r.fail(f"sites[{index}].id", f"duplicate site id {site_id!r} (also sites[{ids.index(site_id)}])")
    return tuple(sites)


def _site(r: _Reader, value: object, key: str, base_origin: str) -> SiteConfig:
    table = r.table(value, key, _SITE_KEYS)
    if "id" not in table:
        r.fail(f"{key}.id", "is required")
    site_id = r.string(table["id"], f"{key}.id")
    if not _SLUG.fullmatch(site_id):
        rule = "1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
        r.fail(f"{key}.id", f"must be {rule}, not {_show(site_id)}")
    name = r.string(table.get("name", site_id), f"{key}.name").strip()
    if not name:
        r.fail(f"{key}.name", "must not be empty")
    origins: list[str] = []
    listed = r.strings(table.get("origins", [base_origin]), f"{key}.origins")
    if not listed:
        r.fail(f"{key}.origins", "must list at least one origin, like 'https://example.org'")
    for index, text in enumerate(listed):
        try:
            origin = urls.origin(text)
        except ValueError as exc:
            r.fail(f"{key}.origins[{index}]", f"{exc}, not {_show(text)}")
        if origin not in origins:
            origins.append(origin)
    moderators = [address.strip() for address in r.strings(table.get("moderators", []), f"{key}.moderators")]
    for index, address in enumerate(moderators):
        if not _EMAIL.fullmatch(address):
            r.fail(f"{key}.moderators[{index}]", f"must be an email address, not {_show(address)}")
    edit_window = _duration(r, table.get("edit_window", "15m"), f"{key}.edit_window")
    close_after = _duration(r, table.get("close_after", ""), f"{key}.close_after", optional=True)
    sso_secret, sso_public_key, _ = sso_key(
        r, table.get("sso_secret", ""), table.get("sso_public_key", ""), key
    )
    return SiteConfig(
        id=site_id,
        name=name,
        origins=tuple(origins),
        moderation=r.choice(ModerationMode, table.get("moderation", "none"), f"{key}.moderation"),
        edit_window=edit_window or timedelta(0),
        close_after=close_after,
        allow_images=r.boolean(table.get("allow_images", False), f"{key}.allow_images"),
        moderators=tuple(moderators),
        rate_limits=_rate_limits(r, table.get("rate_limits", {}), f"{key}.rate_limits"),
        hold_links=_bounded(r, table.get("hold_links", 2), f"{key}.hold_links", 0, 1000),
        blocked_words=_words(r, table.get("blocked_words", []), f"{key}.blocked_words"),
        suspect_words=_words(r, table.get("suspect_words", []), f"{key}.suspect_words"),
        trust_after=_bounded(r, table.get("trust_after", 1), f"{key}.trust_after", 0, 1000),
        spam_hold=_fraction(r, table.get("spam_hold", 0.5), f"{key}.spam_hold"),
        spam_reject=_fraction(r, table.get("spam_reject", 0.9), f"{key}.spam_reject"),
        authors=r.choice(AuthorPolicy, table.get("authors", "guests"), f"{key}.authors"),
        votes_per_address=_bounded(r, table.get("votes_per_address", 3), f"{key}.votes_per_address", 1, 1000),
        erase=r.choice(ErasePolicy, table.get("erase", "anonymise"), f"{key}.erase"),
        akismet_key=r.string(table.get("akismet_key", ""), f"{key}.akismet_key").strip(),
        lists=_lists(r, table.get("lists", []), f"{key}.lists", name, tuple(origins)),
        sso_secret=sso_secret,
        sso_public_key=sso_public_key,
        sso_moderators=r.boolean(table.get("sso_moderators", False), f"{key}.sso_moderators"),
    )


_FEED_KEYS = ("feed", "feed_every", "feed_hour", "feed_day", "feed_top_comments")
_LIST_KEYS = ("id", "name", "welcome", "description", *_FEED_KEYS)
FEED_PERIODS = ("daily", "weekly")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_TOP_COMMENTS = 5
MAX_LISTS = 50
MAX_LIST_NAME = 120
MAX_LIST_DESCRIPTION = 500
# Paths under /newsletter/{site}/ that a list id must leave free.
RESERVED_LIST_IDS = frozenset({"subscribe"})


def _lists(
    r: _Reader, value: object, key: str, site_name: str, origins: tuple[str, ...]
) -> tuple[NewsletterList, ...]:
    """The site's [[sites.lists]] tables; none: the one default list (SiteConfig makes it)."""
    if not isinstance(value, list | tuple):
        r.fail(key, f"must be a list of list tables ([[sites.lists]]), not {_kind(value)}")
    if len(value) > MAX_LISTS:
        r.fail(key, f"must hold at most {MAX_LISTS} lists, not {len(value)}")
    found: list[NewsletterList] = []
    for index, item in enumerate(value):
        where = f"{key}[{index}]"
        table = r.table(item, where, _LIST_KEYS)
        if "id" not in table:
            r.fail(f"{where}.id", "is required")
        list_id = r.string(table["id"], f"{where}.id")
        if list_id in RESERVED_LIST_IDS:
            r.fail(f"{where}.id", f"{list_id!r} is reserved (a path of the sign-up form)")
        if not _SLUG.fullmatch(list_id):
            rule = "1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
            r.fail(f"{where}.id", f"must be {rule}, not {_show(list_id)}")
        earlier = next((n for n, seen in enumerate(found) if seen.id == list_id), None)
        if earlier is not None:
            r.fail(f"{where}.id", f"duplicate list id {list_id!r} (also {key}[{earlier}])")
        name = " ".join(r.string(table.get("name", list_id), f"{where}.name").split())
        if not name or len(name) > MAX_LIST_NAME:
            r.fail(f"{where}.name", f"must be 1 to {MAX_LIST_NAME} characters")
        description = " ".join(r.string(table.get("description", ""), f"{where}.description").split())
        if len(description) > MAX_LIST_DESCRIPTION:
            r.fail(f"{where}.description", f"must be at most {MAX_LIST_DESCRIPTION} characters")
        welcome = r.boolean(table.get("welcome", True), f"{where}.welcome")
        feed = _feed(r, table, where, origins)
        found.append(NewsletterList(list_id, name, welcome, description, feed))
    return tuple(found)


def _feed(r: _Reader, table: Mapping[str, object], where: str, origins: tuple[str, ...]) -> ListFeed | None:
    """The list's feed digest, or None without ``feed``. The feed must be on one of the site's own
    origins: the server fetches it, and a publisher's list follows the publisher's feed."""
    url = r.string(table.get("feed", ""), f"{where}.feed").strip()
    if not url:
        return None
    try:
        origin, _ = urls.split_http_url(url, allow_query=True)
    except ValueError as exc:
        r.fail(f"{where}.feed", f"{exc}, not {_show(url)}")
    if origin not in origins:
        listed = ", ".join(origins)
        r.fail(f"{where}.feed", f"must be on one of the site's origins ({listed}), not {_show(url)}")
    every = r.string(table.get("feed_every", "daily"), f"{where}.feed_every").strip().lower()
    if every not in FEED_PERIODS:
        r.fail(f"{where}.feed_every", f"must be one of {', '.join(FEED_PERIODS)}, not {_show(every)}")
    day = r.string(table.get("feed_day", "monday"), f"{where}.feed_day").strip().lower()
    if day not in WEEKDAYS:
        r.fail(f"{where}.feed_day", f"must be a day of the week, like 'monday', not {_show(day)}")
    return ListFeed(
        url=url,
        every=every,
        hour=_bounded(r, table.get("feed_hour", 7), f"{where}.feed_hour", 0, 23),
        weekday=WEEKDAYS.index(day),
        top_comments=_bounded(
            r, table.get("feed_top_comments", 3), f"{where}.feed_top_comments", 0, MAX_TOP_COMMENTS
        ),
    )


def _words(r: _Reader, value: object, key: str) -> tuple[str, ...]:
    from kibitz.wordlists import validate_patterns

    try:
        return tuple(validate_patterns(r.strings(value, key)))
    except ValueError as exc:
        r.fail(key, str(exc))


def _fraction(r: _Reader, value: object, key: str) -> float:
    number = r.number(value, key)
    if not 0.0 <= number <= 1.0:
        r.fail(key, f"must be a number from 0 to 1, not {_show(value)}")
    return number


def _rate_limits(r: _Reader, value: object, key: str) -> RateLimits:
    table = r.table(value, key, _RATE_KEYS)
    return RateLimits(**{name: _rate_limit(r, item, f"{key}.{name}") for name, item in table.items()})


def _rate_limit(r: _Reader, value: object, key: str) -> RateLimit:
    """``"5/minute"`` (second, minute, hour or day) or a count per duration, like ``"10/5m"``."""
    count, _, window = r.string(value, key).strip().lower().partition("/")
    window = window.strip()
    seconds = _RATE_UNITS.get(window) or _RATE_UNITS.get(window.removesuffix("s"))
    if seconds is None:
        duration = _parse_duration(window)
        if duration is not None and timedelta(0) < duration <= _MAX_DURATION:
            seconds = int(duration.total_seconds())
    if seconds is None or not re.fullmatch(r"[0-9]{1,9}", count.strip()):
        units = "per second, minute, hour, day or a duration like '10m'"
        r.fail(key, f"must look like '5/minute' ({units}), not {_show(value)}")
    if int(count) < 1:
        r.fail(key, f"must allow at least 1 per window, not {_show(value)}")
    return RateLimit(int(count), seconds)
