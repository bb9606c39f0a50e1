"""Settings from a TOML file and KIBITZ_* environment variables: the only reader of the environment.

A bad configuration raises ConfigError, whose one line names the key and what is wrong with it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from email.utils import parseaddr
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from kibitz import origins as urls
from kibitz.config_accounts import OidcProvider, oidc_tables
from kibitz.config_values import (
    _DURATION_UNITS,
    _async_database_url,
    _bounded,
    _covers,
    _data_dir,
    _duration,
    _hosts_or_networks,
    _http_url,
    _listen,
    _networks,
    _Reader,
    _seconds,
    _secret,
    _show,
)
from kibitz.config_values import (
    MIN_SECRET_KEY_LENGTH as MIN_SECRET_KEY_LENGTH,
)
from kibitz.config_values import (
    ConfigError as ConfigError,
)
from kibitz.config_values import (
    Network as Network,
)
from kibitz.config_values import (
    parse_duration_setting as parse_duration_setting,
)
from kibitz.config_values import (
    split_listen as split_listen,
)

ENV_PREFIX = "KIBITZ_"
CONFIG_FILE = "kibitz.toml"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_DATABASE_URL = "sqlite:///kibitz.db"
DEFAULT_METRICS_ALLOW = ("127.0.0.1/32", "::1/128")

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_RATE_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_EMAIL = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")


class ModerationMode(StrEnum):
    NONE = "none"
    FIRST = "first"
    ALL = "all"


class AuthorPolicy(StrEnum):
    GUESTS = "guests"
    VERIFIED = "verified"
    ACCOUNTS = "accounts"


class ErasePolicy(StrEnum):
    """What erasing a reader does to their comments (privacy.py): keep the words without the name,
    or take the words too (a tombstone where replies hang)."""

    ANONYMISE = "anonymise"
    REMOVE = "remove"


class SmtpSecurity(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` actions per client address in any window of ``seconds``."""

    count: int
    seconds: int

    def __str__(self) -> str:
        for unit, size in _RATE_UNITS.items():
            if self.seconds == size:
                return f"{self.count}/{unit}"
        unit, size = next((u, n) for u, n in _DURATION_UNITS.items() if self.seconds % n == 0)
        return f"{self.count}/{self.seconds // size}{unit}"


@dataclass(frozen=True)
class RateLimits:
    comments: RateLimit = RateLimit(5, 60)
    votes: RateLimit = RateLimit(60, 60)
    subscriptions: RateLimit = RateLimit(5, 3600)
    flags: RateLimit = RateLimit(10, 3600)
    edits: RateLimit = RateLimit(30, 60)
    previews: RateLimit = RateLimit(60, 60)
    sign_ins: RateLimit = RateLimit(10, 3600)  # sign-in links and tokens asked for (accounts.py)


@dataclass(frozen=True)
class ListFeed:
    """The publisher's feed a list follows (the ``feed*`` keys of [[sites.lists]]; feed_digests.py)."""

    url: str  # on one of the site's origins
    every: str = "daily"  # daily | weekly
    hour: int = 7  # the UTC hour the digest goes out
    weekday: int = 0  # a weekly digest's day: 0 Monday ... 6 Sunday
    top_comments: int = 3  # the most-voted comments quoted under each article


@dataclass(frozen=True)
class NewsletterList:
    """One of a site's newsletter lists ([[sites.lists]]): ``id`` is its slug in the API and forms."""

    id: str
    name: str
    welcome: bool = True  # mail a welcome when a subscription to it is confirmed
    description: str = ""
    feed: ListFeed | None = None  # a digest of the publisher's new articles


@dataclass(frozen=True)
class SiteConfig:
    id: str
    name: str
    origins: tuple[str, ...]
    moderation: ModerationMode
    edit_window: timedelta
    close_after: timedelta | None
    allow_images: bool
    moderators: tuple[str, ...]
    rate_limits: RateLimits
    # Moderation (DESIGN.md §3b); the admin may override each of these per site, in the database.
    hold_links: int = 2
    blocked_words: tuple[str, ...] = ()
    suspect_words: tuple[str, ...] = ()
    trust_after: int = 1
    spam_hold: float = 0.5
    spam_reject: float = 0.9
    authors: AuthorPolicy = field(default_factory=lambda: AuthorPolicy.GUESTS)
    votes_per_address: int = 3
    # What "Erase me" does to the reader's comments (privacy.py): anonymise | remove.
    erase: ErasePolicy = field(default_factory=lambda: ErasePolicy.ANONYMISE)
    # Akismet (akismet.py): off unless a key is set; then its verdict is one more spam signal.
    akismet_key: str = field(default="", repr=False)
    # Newsletter lists, the first being the default; none given: one, "news", named after the site.
    lists: tuple[NewsletterList, ...] = ()
    # The publisher's own login (sso.py): an HS256 secret, or a PEM public key (RS256 or EdDSA).
    sso_secret: str = field(default="", repr=False)
    sso_public_key: str = ""
    # Whether the publisher's login may grant moderator rights (reader_moderation.py): an account it
    # marks ``moderator`` then moderates this site's comments from the widget. Off unless set.
    sso_moderators: bool = False

    def __post_init__(self) -> None:
        if not self.lists:
            object.__setattr__(self, "lists", (NewsletterList("news", f"{self.name} newsletter"),))

    def allows_origin(self, origin: str) -> bool:
        """Whether a request's ``Origin`` header names one of this site's origins."""
        try:
            return urls.origin(origin) in self.origins
        except ValueError:
            return False


@dataclass(frozen=True)
class SmtpConfig:
    host: str = ""
    port: int = 587
    username: str = ""
    password: str = field(default="", repr=False)
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    sender: str = "Kibitz <noreply@example.org>"
    timeout: float = 30.0


@dataclass(frozen=True)
class Settings:
    base_url: str
    data_dir: Path
    secret_key: str = field(repr=False)
    database_url: str = field(repr=False)
    redis_url: str = field(repr=False)
    trusted_proxies: tuple[Network, ...]
    public_docs: bool
    metrics_allow: tuple[Network, ...]
    # The read cache (readcache.py) and the Cache-Control of anonymous reads.
    cache_max_age: int
    cache_stale: int
    cache_mb: int
    smtp: SmtpConfig
    sites: tuple[SiteConfig, ...]
    config_path: Path | None
    # "host:port" of the listener that serves /metrics of every worker (web/ops.py); "" for none,
    # when /metrics is on the public port for the clients metrics_allow lists.
    metrics_listen: str = ""
    # Private or loopback networks the server may still fetch from (outbound.py): an intranet
    # publisher's pages, a test's own server. Everything else non-public is refused.
    outbound_allow: tuple[Network, ...] = ()
    # Webhook targets allowed although not public: host names (lower-case) and networks, as text.
    webhook_allow: tuple[str, ...] = ()
    webhook_timeout: float = 5.0  # seconds a webhook's receiver has to answer
    # Where the sites that set an akismet_key send comments (a test's fake server, say), and how
    # long a post waits for the verdict before it is held for a moderator instead.
    akismet_url: str = "https://rest.akismet.com/1.1"
    akismet_timeout: float = 2.0
    # Bounces (bounces.py): VERP return paths under this address ("" = off), where `kibitz bounces`
    # listens, the provider webhook's bearer secret ("" = no webhook), soft bounces before suppression.
    bounce_address: str = ""
    bounces_listen: str = "127.0.0.1:2525"
    bounce_webhook_secret: str = field(default="", repr=False)
    soft_bounce_limit: int = 3
    # The outbox worker's pace (worker.py, send_limits.py), per worker process: mails a second
    # (0 = as fast as it goes) and sends in flight to one recipient domain at once (0 = no limit).
    mail_rate: float = 0.0
    mail_domain_concurrency: int = 5
    # OpenID Connect providers readers may sign in with (config_accounts.py, oidc.py).
    oidc: tuple[OidcProvider, ...] = ()
    # How long the keyed hashes of client addresses stay on comments, votes and Akismet records
    # before the retention job (privacy.py) drops them.
    client_address_retention: timedelta = timedelta(days=30)

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        return split_listen(self.metrics_listen) if self.metrics_listen else None

    def site(self, site_id: str) -> SiteConfig | None:
        return next((site for site in self.sites if site.id == site_id), None)

    @property
    def sqlalchemy_url(self) -> str:
        """The URL for SQLAlchemy's async engine, with relative SQLite files inside ``data_dir``."""
        try:
            return _async_database_url(self.database_url, self.data_dir)
        except ValueError as exc:
            raise ConfigError("database_url", str(exc)) from None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.strip().partition("://")[0].lower().startswith("sqlite")


_TOP_KEYS = tuple(f.name for f in fields(Settings) if f.name != "config_path")
_SMTP_KEYS = tuple(f.name for f in fields(SmtpConfig))
_SITE_KEYS = tuple(f.name for f in fields(SiteConfig))
_RATE_KEYS = tuple(f.name for f in fields(RateLimits))
# Settings whose environment variable holds JSON: a table, or an array of tables.
_JSON_KEYS = {"smtp": dict, "sites": list, "oidc": list}


def load_settings(
    config_path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Read the file (or ``./kibitz.toml`` when it exists), then the environment, then ``overrides``."""
    base = Path.cwd() if cwd is None else Path(cwd).absolute()
    environ = os.environ if env is None else env
    if config_path is None and environ.get("KIBITZ_CONFIG"):
        config_path = Path(environ["KIBITZ_CONFIG"])  # how `serve --workers N` hands its file on
    from kibitz.config_layers import apply, env_layer, read_file  # they need this module's names

    path, raw = read_file(config_path, base)
    layer, sources, env_strings = env_layer(environ)
    apply(raw, layer, "")
    if overrides:
        # A value set here no longer comes from the environment, nor needs coercing from a string.
        for written in apply(raw, overrides, ""):
            for key in [k for k in sources if _covers(written, k)]:
                del sources[key]
            env_strings.difference_update([k for k in env_strings if _covers(written, k)])
    return _build(raw, _Reader(sources, env_strings), base, path)


def _build(raw: Mapping[str, object], r: _Reader, cwd: Path, config_path: Path | None) -> Settings:
    from kibitz.config_sites import site_tables  # it reads values with this module's _Reader

    top = r.table(raw, "", _TOP_KEYS)
    base_url = r.string(top.get("base_url", DEFAULT_BASE_URL), "base_url")
    try:
        base_origin, base_path = urls.split_http_url(base_url)
    except ValueError as exc:
        r.fail("base_url", f"{exc}, not {_show(base_url)}")
    data_dir = _data_dir(r, top.get("data_dir", "."), cwd)
    secret_key = _secret(r, top.get("secret_key", ""), "secret_key")
    database_url = r.string(top.get("database_url", DEFAULT_DATABASE_URL), "database_url").strip()
    try:
        _async_database_url(database_url, data_dir)
    except ValueError as exc:
        r.fail("database_url", str(exc))
    redis_url = r.string(top.get("redis_url", ""), "redis_url").strip()
    if redis_url and urlsplit(redis_url).scheme.lower() not in ("redis", "rediss", "unix"):
        r.fail("redis_url", "must start with redis://, rediss:// or unix:// (or be empty for no Redis)")
    return Settings(
        base_url=base_origin + base_path.rstrip("/"),
        data_dir=data_dir,
        secret_key=secret_key,
        database_url=database_url,
        redis_url=redis_url,
        trusted_proxies=_networks(r, top.get("trusted_proxies", []), "trusted_proxies"),
        public_docs=r.boolean(top.get("public_docs", True), "public_docs"),
        metrics_allow=_networks(r, top.get("metrics_allow", list(DEFAULT_METRICS_ALLOW)), "metrics_allow"),
        cache_max_age=_bounded(r, top.get("cache_max_age", 5), "cache_max_age", 0, 3600),
        cache_stale=_bounded(r, top.get("cache_stale", 30), "cache_stale", 0, 86400),
        cache_mb=_bounded(r, top.get("cache_mb", 32), "cache_mb", 0, 4096),
        smtp=_smtp(r, top.get("smtp", {})),
        sites=site_tables(r, top.get("sites", []), base_origin),
        config_path=config_path,
        metrics_listen=_listen(r, top.get("metrics_listen", ""), "metrics_listen"),
        outbound_allow=_networks(r, top.get("outbound_allow", []), "outbound_allow"),
        webhook_allow=_hosts_or_networks(r, top.get("webhook_allow", []), "webhook_allow"),
        webhook_timeout=_seconds(r, top.get("webhook_timeout", 5.0), "webhook_timeout", 30.0),
        akismet_url=_http_url(r, top.get("akismet_url", "https://rest.akismet.com/1.1"), "akismet_url"),
        akismet_timeout=_seconds(r, top.get("akismet_timeout", 2.0), "akismet_timeout", 10.0),
        bounce_address=_bounce_address(r, top.get("bounce_address", "")),
        bounces_listen=_listen(r, top.get("bounces_listen", "127.0.0.1:2525"), "bounces_listen", empty=False),
        bounce_webhook_secret=_secret(r, top.get("bounce_webhook_secret", ""), "bounce_webhook_secret"),
        soft_bounce_limit=_bounded(r, top.get("soft_bounce_limit", 3), "soft_bounce_limit", 1, 100),
        mail_rate=_mail_rate(r, top.get("mail_rate", 0)),
        mail_domain_concurrency=_bounded(
            r, top.get("mail_domain_concurrency", 5), "mail_domain_concurrency", 0, 1000
        ),
        oidc=oidc_tables(r, top.get("oidc", [])),
        client_address_retention=_retention(r, top.get("client_address_retention", "30d")),
    )


def _retention(r: _Reader, value: object) -> timedelta:
    found = _duration(r, value, "client_address_retention")
    if found is None or found < timedelta(hours=1):
        r.fail("client_address_retention", "must be at least an hour, like '30d'")
    return found


def _mail_rate(r: _Reader, value: object) -> float:
    number = r.number(value, "mail_rate")
    if not 0 <= number <= MAX_MAIL_RATE:
        r.fail("mail_rate", f"must be between 0 (no limit) and {MAX_MAIL_RATE} a second, not {number:g}")
    return number


MAX_MAIL_RATE = 100_000


def _bounce_address(r: _Reader, value: object) -> str:
    """A bare address whose local part leaves room for ``+<outbox id>-<signature>`` (at most 64)."""
    text = r.string(value, "bounce_address").strip()
    if text and (not _EMAIL.fullmatch(text) or len(text.rpartition("@")[0]) > 32):
        like = "an address like 'bounces@news.example.org' (a local part of at most 32 characters)"
        r.fail("bounce_address", f"must be {like}, or empty, not {_show(text)}")
    return text


def _smtp(r: _Reader, value: object) -> SmtpConfig:
    table = r.table(value, "smtp", _SMTP_KEYS)
    default = SmtpConfig()
    port = r.integer(table.get("port", default.port), "smtp.port")
    if not 1 <= port <= 65535:
        r.fail("smtp.port", f"must be between 1 and 65535, not {port}")
    sender = r.string(table.get("sender", default.sender), "smtp.sender").strip()
    if not _EMAIL.fullmatch(parseaddr(sender)[1]):
        r.fail("smtp.sender", f"must be an address like 'Kibitz <noreply@example.org>', not {_show(sender)}")
    timeout = r.number(table.get("timeout", default.timeout), "smtp.timeout")
    if timeout <= 0:
        r.fail("smtp.timeout", f"must be more than 0 seconds, not {timeout:g}")
    return SmtpConfig(
        host=r.string(table.get("host", default.host), "smtp.host").strip(),
        port=port,
        username=r.string(table.get("username", default.username), "smtp.username"),
        password=r.string(table.get("password", default.password), "smtp.password"),
        security=r.choice(SmtpSecurity, table.get("security", default.security.value), "smtp.security"),
        sender=sender,
        timeout=timeout,
    )
