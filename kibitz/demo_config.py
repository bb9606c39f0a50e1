"""The settings of `kibitz demo`: its one site and address from the command line, the settings of the
file and the environment it replaces (and the warnings that say so). Its pages live in demo.py."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from pathlib import Path

from kibitz.config import ENV_PREFIX, Settings, load_settings
from kibitz.config_layers import setting_source

DEMO_SITE = "demo"
SITE_NAME = "The Daily Kibitz"
MAIL_SENDER = f"{SITE_NAME} <comments@daily-kibitz.example>"
DEMO_DATABASE_URL = "sqlite:///kibitz.db"


def demo_sso_secret(data_dir: Path) -> str:
    from kibitz.demo_sso import sso_secret  # demo_sso imports the demo's pages, which import this

    return sso_secret(data_dir)


def _browser_host(host: str) -> str:
    """The host a browser on this machine uses for a server bound to ``host``."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - mapping a wildcard bind to a reachable address
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    if ":" in host:
        return f"[{host.strip('[]')}]"
    return host


def demo_settings(
    host: str,
    port: int,
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    database_url: str = DEMO_DATABASE_URL,
    smtp_port: int | None = None,
    origins: Sequence[str] = (),
) -> Settings:
    """The demo's settings: KIBITZ_* variables still apply, but the data directory, the database,
    ``base_url`` and the one site ``demo`` follow the command line (see OVERRIDDEN), and with
    ``smtp_port`` mail goes to the demo's own SMTP server on that loopback port. The site's origins
    are the demo's own address and ``origins`` (--origin: a publisher's page trying the widget)."""
    shown = _browser_host(host)
    base_url = f"http://{shown}:{port}"
    own = [base_url]
    if shown in ("127.0.0.1", "localhost"):
        # Readers type either name; both should be able to post.
        own += [f"http://{alias}:{port}" for alias in ("127.0.0.1", "localhost") if alias != shown]
    origins = list(dict.fromkeys([*own, *origins]))
    overrides: dict[str, object] = {
        "data_dir": str(data_dir.resolve()),
        "database_url": database_url,
        "base_url": base_url,
        "sites": [
            {
                "id": DEMO_SITE,
                "name": SITE_NAME,
                "origins": origins,
                "edit_window": "15m",
                # Its newsletter follows its own feed (demo_feed.py): a digest of the new articles.
                "lists": [{"id": "news", "name": f"{SITE_NAME} newsletter", "feed": f"{base_url}/feed.xml"}],
                # Its own login's key: /demo/subscriber signs its readers' tokens with it (demo_sso.py).
                "sso_secret": demo_sso_secret(data_dir.resolve()),
                # Its login's moderators moderate from the widget (the editor on /demo/subscriber).
                "sso_moderators": True,
            }
        ],
        # The demo is its own publisher: its article pages, read for their titles, are on this host.
        "outbound_allow": _own_networks(shown),
    }
    if smtp_port is not None:
        smtp = {"host": "127.0.0.1", "port": smtp_port, "security": "none", "sender": MAIL_SENDER}
        overrides["smtp"] = smtp
    return load_settings(None, env=env, overrides=overrides)


# Settings the demo sets itself whatever the file or the environment says, and what to do instead.
OVERRIDDEN = {
    "sites": "its one site 'demo' allows its own address and each --origin: to try the widget on a page "
    "of your own, add --origin with that page's origin, e.g. --origin http://127.0.0.1:8080",
    "data_dir": "its data is in the --data directory",
    "database_url": "its database is kibitz.db in the --data directory",
    "base_url": "its address follows --host and --port",
    "smtp": "its mail goes to its own SMTP server, shown at /demo/mail",
}


def ignored_settings(settings: Settings, env: Mapping[str, str] | None = None) -> list[str]:
    """A warning line for each setting of the file or the environment that the demo replaces."""
    lines = []
    for key, instead in OVERRIDDEN.items():
        source = setting_source(key, settings.config_path, env)
        if source is not None:
            what = source if source.startswith(ENV_PREFIX) else f"{key} in {source}"
            lines.append(f"warning: the demo ignores {what}: {instead}")
    return lines


def _own_networks(host: str) -> list[str]:
    """The networks of the demo's own address (outbound.py refuses non-public ones otherwise)."""
    if host == "localhost":
        return ["127.0.0.1/32", "::1/128"]
    try:
        return [str(ipaddress.ip_network(host))]
    except ValueError:
        return []
