"""Settings: where they come from, what they default to, and how a bad one is reported."""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest

from kibitz.config import (
    ConfigError,
    ListFeed,
    ModerationMode,
    NewsletterList,
    RateLimit,
    RateLimits,
    Settings,
    SiteConfig,
    SmtpConfig,
    SmtpSecurity,
    load_settings,
)

ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def config_error(
    tmp_path: Path,
    toml: str = "",
    env: dict[str, str] | None = None,
    overrides: dict[str, object] | None = None,
) -> ConfigError:
    """The error a configuration raises, checked to be the one line the process stops with."""
    if toml:
        write(tmp_path / "kibitz.toml", toml)
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env or {}, cwd=tmp_path, overrides=overrides)
    message = str(caught.value)
    assert "\n" not in message
    assert message == f"invalid configuration: {caught.value.key}: {caught.value.problem}"
    return caught.value


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings(env={}, cwd=tmp_path)

    assert settings.config_path is None
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.data_dir == tmp_path.resolve()
    assert settings.secret_key == ""
    assert settings.database_url == "sqlite:///kibitz.db"
    assert settings.redis_url == ""
    assert settings.trusted_proxies == ()
    assert settings.public_docs is True
    assert settings.metrics_allow == (ip_network("127.0.0.1/32"), ip_network("::1/128"))
    assert settings.smtp == SmtpConfig()
    assert settings.smtp.port == 587
    assert settings.smtp.security is SmtpSecurity.STARTTLS
    assert settings.smtp.sender == "Kibitz <noreply@example.org>"
    assert settings.sites == (
        SiteConfig(
            id="demo",
            name="Demo News",
            origins=("http://127.0.0.1:8000",),
            moderation=ModerationMode.NONE,
            edit_window=timedelta(minutes=15),
            close_after=None,
            allow_images=False,
            moderators=(),
            rate_limits=RateLimits(),
        ),
    )
    assert settings.site("demo") is settings.sites[0]
    assert settings.site("other") is None


def test_default_rate_limits_follow_the_design() -> None:
    limits = RateLimits()
    assert (str(limits.comments), str(limits.votes), str(limits.subscriptions), str(limits.flags)) == (
        "5/minute",
        "60/minute",
        "5/hour",
        "10/hour",
    )


def test_the_default_site_follows_base_url(tmp_path: Path) -> None:
    settings = load_settings(env={"KIBITZ_BASE_URL": "HTTP://Comments.Example.org:80/kibitz/"}, cwd=tmp_path)

    assert settings.base_url == "http://comments.example.org/kibitz"
    assert settings.sites[0].origins == ("http://comments.example.org",)


def test_kibitz_toml_in_the_working_directory_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "kibitz.toml", 'base_url = "https://comments.example.org"\n')

    settings = load_settings(env={}, cwd=tmp_path)

    assert settings.config_path == path
    assert settings.base_url == "https://comments.example.org"


def test_an_explicit_path_is_read_relative_to_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    write(tmp_path / "kibitz.toml", 'base_url = "https://ignored.example.org"\n')
    write(tmp_path / "etc" / "site.toml", "public_docs = false\n")

    settings = load_settings(Path("etc/site.toml"), env={}, cwd=tmp_path)

    assert settings.config_path == tmp_path / "etc" / "site.toml"
    assert settings.public_docs is False
    assert settings.base_url == "http://127.0.0.1:8000"


def test_an_explicit_path_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "missing.toml", env={}, cwd=tmp_path)

    assert caught.value.key == "config"
    assert "missing.toml" in str(caught.value)


def test_a_file_that_is_not_toml_is_an_error(tmp_path: Path) -> None:
    error = config_error(tmp_path, 'base_url = "https://example.org"\nsmtp host\n')

    assert error.key == "config"
    assert "line 2" in error.problem


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    write(tmp_path / "kibitz.toml", 'base_url = "https://file.example.org"\npublic_docs = true\n')

    settings = load_settings(
        env={
            "KIBITZ_BASE_URL": "https://env.example.org",
            "kibitz_public_docs": "ignored: not our prefix",
            "KIBITZ_public_docs": "no",
            "PATH": "/usr/bin",
        },
        cwd=tmp_path,
    )

    assert settings.base_url == "https://env.example.org"
    assert settings.public_docs is False


def test_nested_environment_variables_set_one_key_of_a_table(tmp_path: Path) -> None:
    write(tmp_path / "kibitz.toml", '[smtp]\nhost = "smtp.example.org"\nusername = "kibitz"\n')

    settings = load_settings(env={"KIBITZ_SMTP__PORT": "2525", "KIBITZ_SMTP__SECURITY": "TLS"}, cwd=tmp_path)

    assert settings.smtp.port == 2525
    assert settings.smtp.security is SmtpSecurity.TLS
    assert settings.smtp.host == "smtp.example.org"
    assert settings.smtp.username == "kibitz"


def test_environment_values_are_read_as_the_settings_type(tmp_path: Path) -> None:
    settings = load_settings(
        env={
            "KIBITZ_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7",
            "KIBITZ_METRICS_ALLOW": '["10.20.0.0/16"]',
            "KIBITZ_SMTP__TIMEOUT": "2.5",
            "KIBITZ_SMTP": '{"host": "smtp.example.org", "port": 25}',
        },
        cwd=tmp_path,
    )

    assert settings.trusted_proxies == (ip_network("10.0.0.0/8"), ip_network("192.168.1.7/32"))
    assert settings.metrics_allow == (ip_network("10.20.0.0/16"),)
    assert settings.smtp == SmtpConfig(host="smtp.example.org", port=25, timeout=2.5)


def test_kibitz_sites_holds_a_json_array_of_sites(tmp_path: Path) -> None:
    write(tmp_path / "kibitz.toml", '[[sites]]\nid = "from-file"\n')
    sites = [
        {"id": "news", "name": "News", "origins": ["https://www.example.org/"], "moderation": "all"},
        {"id": "blog", "allow_images": True, "rate_limits": {"comments": "2/minute"}},
    ]

    settings = load_settings(env={"KIBITZ_SITES": json.dumps(sites)}, cwd=tmp_path)

    assert [site.id for site in settings.sites] == ["news", "blog"]
    news, blog = settings.sites
    assert news.origins == ("https://www.example.org",)
    assert news.moderation is ModerationMode.ALL
    assert blog.name == "blog"
    assert blog.origins == ("http://127.0.0.1:8000",)
    assert blog.allow_images is True
    assert blog.rate_limits == RateLimits(comments=RateLimit(2, 60))


def test_test_switches_are_not_settings(tmp_path: Path) -> None:
    settings = load_settings(env={"KIBITZ_TEST_REQUIRE_ALL": "1"}, cwd=tmp_path)

    assert settings.config_path is None


def test_kibitz_config_names_the_file_when_no_path_is_given(tmp_path: Path) -> None:
    # How `kibitz serve --workers N` hands its --config file on to the worker processes.
    path = write(tmp_path / "elsewhere.toml", 'base_url = "http://127.0.0.1:9000"\n')

    settings = load_settings(env={"KIBITZ_CONFIG": str(path)}, cwd=tmp_path)

    assert settings.config_path == path
    assert settings.base_url == "http://127.0.0.1:9000"


def test_an_explicit_path_wins_over_kibitz_config(tmp_path: Path) -> None:
    write(tmp_path / "kibitz.toml", 'base_url = "http://127.0.0.1:7000"\n')

    settings = load_settings(
        tmp_path / "kibitz.toml", env={"KIBITZ_CONFIG": "/nonexistent.toml"}, cwd=tmp_path
    )

    assert settings.base_url == "http://127.0.0.1:7000"


def test_overrides_apply_last(tmp_path: Path) -> None:
    write(tmp_path / "kibitz.toml", '[smtp]\nhost = "smtp.example.org"\nport = 25\n')
    site = {"id": "demo", "name": "Demo News", "origins": ["http://127.0.0.1:9000"]}

    settings = load_settings(
        env={"KIBITZ_BASE_URL": "http://127.0.0.1:8000", "KIBITZ_SMTP__PORT": "2525"},
        cwd=tmp_path,
        overrides={"base_url": "http://127.0.0.1:9000", "smtp": {"port": 1025}, "sites": [site]},
    )

    assert settings.base_url == "http://127.0.0.1:9000"
    assert settings.smtp.port == 1025
    assert settings.smtp.host == "smtp.example.org"
    assert settings.sites[0].allows_origin("http://127.0.0.1:9000")


def test_an_override_is_not_read_as_an_environment_string(tmp_path: Path) -> None:
    error = config_error(tmp_path, env={"KIBITZ_SMTP__PORT": "2525"}, overrides={"smtp": {"port": "25"}})

    assert (error.key, error.problem) == ("smtp.port", "must be an integer, not a string")


def test_site_origins_are_normalised_and_compared_normalised(tmp_path: Path) -> None:
    write(
        tmp_path / "kibitz.toml",
        '[[sites]]\nid = "news"\norigins = ["HTTPS://WWW.Example.org:443", "http://[::1]:8080", "https://münchen.example"]\n',
    )

    site = load_settings(env={}, cwd=tmp_path).sites[0]

    assert site.origins == ("https://www.example.org", "http://[::1]:8080", "https://xn--mnchen-3ya.example")
    assert site.allows_origin("https://www.example.org")
    assert site.allows_origin("https://www.EXAMPLE.org:443")
    assert not site.allows_origin("http://www.example.org")
    assert not site.allows_origin("https://www.example.org.evil.example")
    assert not site.allows_origin("null")
    assert not site.allows_origin("")


def test_durations_and_rate_limits_are_read(tmp_path: Path) -> None:
    write(
        tmp_path / "kibitz.toml",
        """
[[sites]]
id = "news"
edit_window = "1h30m"
close_after = "30d"
moderators = ["desk@example.org"]
rate_limits = { comments = "10/5m", votes = "100/day", subscriptions = "1/second" }
""",
    )

    site = load_settings(env={}, cwd=tmp_path).sites[0]

    assert site.edit_window == timedelta(minutes=90)
    assert site.close_after == timedelta(days=30)
    assert site.moderators == ("desk@example.org",)
    assert site.rate_limits == RateLimits(
        comments=RateLimit(10, 300), votes=RateLimit(100, 86400), subscriptions=RateLimit(1, 1)
    )
    assert str(site.rate_limits.comments) == "10/5m"
    assert str(site.rate_limits.votes) == "100/day"


def test_zero_turns_editing_off_and_never_closes_threads(tmp_path: Path) -> None:
    write(tmp_path / "kibitz.toml", '[[sites]]\nid = "news"\nedit_window = "0"\nclose_after = "0"\n')

    site = load_settings(env={}, cwd=tmp_path).sites[0]

    assert site.edit_window == timedelta(0)
    assert site.close_after is None


def test_the_example_file_and_the_docs_name_every_setting() -> None:
    example = tomllib.loads((ROOT / "kibitz.example.toml").read_text(encoding="utf-8"))
    docs = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    site = example["sites"][0]
    tables: list[tuple[str, type[Any], dict[str, object]]] = [
        ("", Settings, example),
        ("smtp.", SmtpConfig, example["smtp"]),
        ("sites[0].", SiteConfig, site),
        ("sites[0].rate_limits.", RateLimits, site["rate_limits"]),
    ]

    def documented(name: str) -> bool:
        # As `name`, or as the [name] / [[name]] heading of its table.
        return re.search(rf"(`|\[){name}(`|\])", docs) is not None

    missing = [
        prefix + field.name
        for prefix, cls, table in tables
        for field in dataclasses.fields(cls)
        if field.name != "config_path" and (field.name not in table or not documented(field.name))
    ]

    assert missing == []


def test_the_example_file_loads_and_shows_the_defaults(tmp_path: Path) -> None:
    example = load_settings(ROOT / "kibitz.example.toml", env={}, cwd=tmp_path)

    assert example.config_path == ROOT / "kibitz.example.toml"
    assert dataclasses.replace(example, config_path=None) == load_settings(env={}, cwd=tmp_path)


def test_an_unknown_key_in_the_file_is_an_error(tmp_path: Path) -> None:
    assert config_error(tmp_path, 'base_ulr = "https://example.org"\n').key == "base_ulr"
    error = config_error(tmp_path, '[smtp]\nsecrity = "tls"\n')
    assert (error.key, error.problem) == ("smtp.secrity", "unknown key (did you mean 'security'?)")
    assert config_error(tmp_path, '[[sites]]\nid = "a"\nrate_limits = { comment = "1/hour" }\n').key == (
        "sites[0].rate_limits.comment"
    )
    assert config_error(tmp_path, '[[sites]]\nid = "a"\nedit_windw = "1h"\n').key == "sites[0].edit_windw"


def test_an_unknown_environment_variable_is_an_error(tmp_path: Path) -> None:
    error = config_error(tmp_path, env={"KIBITZ_SMPT__HOST": "smtp.example.org"})
    assert (error.key, error.problem) == (
        "KIBITZ_SMPT__HOST",
        "unknown setting (did you mean KIBITZ_SMTP__HOST?)",
    )
    assert config_error(tmp_path, env={"KIBITZ_HOST": "x"}).key == "KIBITZ_HOST"
    assert config_error(tmp_path, env={"KIBITZ_SITES__0__ID": "x"}).key == "KIBITZ_SITES__0__ID"


def test_a_setting_given_twice_in_the_environment_is_an_error(tmp_path: Path) -> None:
    error = config_error(
        tmp_path, env={"KIBITZ_SMTP__HOST": "a.example.org", "KIBITZ_smtp__host": "b.example.org"}
    )

    assert (error.key, error.problem) == ("KIBITZ_smtp__host", "is set twice (also as KIBITZ_SMTP__HOST)")


@pytest.mark.parametrize("value", ["fifteen", "15", "15 minutes", "-5m", "1w", ""])
def test_a_bad_duration_is_an_error(tmp_path: Path, value: str) -> None:
    error = config_error(tmp_path, f'[[sites]]\nid = "a"\nedit_window = "{value}"\n')

    assert error.key == "sites[0].edit_window"
    assert error.problem.startswith("must be a duration like")


def test_a_duration_that_is_not_a_string_is_an_error(tmp_path: Path) -> None:
    error = config_error(tmp_path, '[[sites]]\nid = "a"\nclose_after = 30\n')

    assert (error.key, error.problem) == ("sites[0].close_after", "must be a string, not an integer")


@pytest.mark.parametrize("value", ["5", "0/minute", "5/fortnight", "five/minute", "5/0s", "-1/hour", "/hour"])
def test_a_bad_rate_limit_is_an_error(tmp_path: Path, value: str) -> None:
    error = config_error(tmp_path, f'[[sites]]\nid = "a"\nrate_limits = {{ votes = "{value}" }}\n')

    assert error.key == "sites[0].rate_limits.votes"


@pytest.mark.parametrize(
    ("origin", "problem"),
    [
        ("https://example.org/blog", "must be an origin without a path"),
        ("ftp://example.org", "must start with http:// or https://"),
        ("example.org", "must start with http:// or https://"),
        ("https://example.org?x=1", "must not have a query or fragment"),
        ("https://user@example.org", "must not hold a user name or password"),
        ("https://", "must name a valid host"),
        ("https://exa mple.org", "must name a valid host"),
        ("https://example.org:99999", "must be a URL like"),
    ],
)
def test_a_bad_origin_is_an_error(tmp_path: Path, origin: str, problem: str) -> None:
    error = config_error(tmp_path, f'[[sites]]\nid = "a"\norigins = ["https://ok.example.org", "{origin}"]\n')

    assert error.key == "sites[0].origins[1]"
    assert error.problem.startswith(problem)


def test_a_bad_base_url_is_an_error(tmp_path: Path) -> None:
    assert config_error(tmp_path, env={"KIBITZ_BASE_URL": "comments.example.org"}).key == "base_url"


def test_a_duplicate_site_id_is_an_error(tmp_path: Path) -> None:
    error = config_error(tmp_path, '[[sites]]\nid = "news"\n[[sites]]\nid = "blog"\n[[sites]]\nid = "news"\n')

    assert (error.key, error.problem) == ("sites[2].id", "duplicate site id 'news' (also sites[0])")


@pytest.mark.parametrize("site_id", ["News", "-news", "news site", "", "a" * 65, "é"])
def test_a_site_id_that_is_not_a_slug_is_an_error(tmp_path: Path, site_id: str) -> None:
    error = config_error(tmp_path, env={"KIBITZ_SITES": json.dumps([{"id": site_id}])})

    assert error.key == "sites[0].id"
    assert error.problem.endswith("(from KIBITZ_SITES)")


def test_a_site_without_an_id_is_an_error(tmp_path: Path) -> None:
    assert config_error(tmp_path, '[[sites]]\nname = "News"\n').key == "sites[0].id"


@pytest.mark.parametrize(
    ("toml", "env", "problem"),
    [
        ("[smtp]\nport = 0\n", {}, "must be between 1 and 65535, not 0"),
        ("[smtp]\nport = 65536\n", {}, "must be between 1 and 65535, not 65536"),
        ('[smtp]\nport = "587"\n', {}, "must be an integer, not a string"),
        ("", {"KIBITZ_SMTP__PORT": "smtp"}, "must be an integer, not 'smtp' (from KIBITZ_SMTP__PORT)"),
        (
            "",
            {"KIBITZ_SMTP__PORT": "70000"},
            "must be between 1 and 65535, not 70000 (from KIBITZ_SMTP__PORT)",
        ),
    ],
)
def test_a_bad_port_is_an_error(tmp_path: Path, toml: str, env: dict[str, str], problem: str) -> None:
    error = config_error(tmp_path, toml, env)

    assert (error.key, error.problem) == ("smtp.port", problem)


@pytest.mark.parametrize(
    "url", ["mysql://kibitz:hunter2@db/kibitz", "postgresql+psycopg://db/kibitz", "kibitz.db", "sqlite://"]
)
def test_a_bad_database_url_is_an_error(tmp_path: Path, url: str) -> None:
    error = config_error(tmp_path, env={"KIBITZ_DATABASE_URL": url})

    assert error.key == "database_url"
    assert "hunter2" not in str(error)


@pytest.mark.parametrize(
    ("key", "value"), [("trusted_proxies", "10.0.0.0/33"), ("metrics_allow", "localhost")]
)
def test_a_bad_cidr_is_an_error(tmp_path: Path, key: str, value: str) -> None:
    error = config_error(tmp_path, f'{key} = ["127.0.0.1/32", "{value}"]\n')

    assert error.key == f"{key}[1]"
    assert value in error.problem


def test_a_bad_moderation_value_is_an_error(tmp_path: Path) -> None:
    error = config_error(tmp_path, '[[sites]]\nid = "a"\nmoderation = "sometimes"\n')

    assert (error.key, error.problem) == (
        "sites[0].moderation",
        "must be one of none, first, all, not 'sometimes'",
    )


def test_a_bad_smtp_security_value_is_an_error(tmp_path: Path) -> None:
    assert config_error(tmp_path, env={"KIBITZ_SMTP__SECURITY": "ssl"}).key == "smtp.security"


def test_a_short_secret_key_is_an_error_and_is_not_echoed(tmp_path: Path) -> None:
    error = config_error(tmp_path, env={"KIBITZ_SECRET_KEY": "hunter2"})

    assert error.key == "secret_key"
    assert "hunter2" not in str(error)


@pytest.mark.parametrize(
    ("toml", "key", "problem"),
    [
        ("public_docs = 1\n", "public_docs", "must be true or false, not an integer"),
        ('trusted_proxies = "10.0.0.0/8"\n', "trusted_proxies", "must be a list of strings, not a string"),
        ("metrics_allow = [1]\n", "metrics_allow[0]", "must be a string, not an integer"),
        ('smtp = "smtp.example.org"\n', "smtp", "must be a table, not a string"),
        ('[sites]\nid = "a"\n', "sites", "must be a list of site tables ([[sites]]), not a table"),
        ('[[sites]]\nid = "a"\nname = 3\n', "sites[0].name", "must be a string, not an integer"),
        ("[smtp]\ntimeout = 0\n", "smtp.timeout", "must be more than 0 seconds, not 0"),
        (
            '[smtp]\nsender = "nobody"\n',
            "smtp.sender",
            "must be an address like 'Kibitz <noreply@example.org>', not 'nobody'",
        ),
        (
            '[[sites]]\nid = "a"\nmoderators = ["desk"]\n',
            "sites[0].moderators[0]",
            "must be an email address, not 'desk'",
        ),
        (
            '[[sites]]\nid = "a"\norigins = []\n',
            "sites[0].origins",
            "must list at least one origin, like 'https://example.org'",
        ),
        (
            'redis_url = "localhost:6379"\n',
            "redis_url",
            "must start with redis://, rediss:// or unix:// (or be empty for no Redis)",
        ),
    ],
)
def test_a_value_of_the_wrong_shape_is_an_error(tmp_path: Path, toml: str, key: str, problem: str) -> None:
    error = config_error(tmp_path, toml)

    assert (error.key, error.problem) == (key, problem)


def test_a_bad_environment_value_names_its_variable(tmp_path: Path) -> None:
    error = config_error(tmp_path, env={"KIBITZ_PUBLIC_DOCS": "maybe"})
    assert (
        str(error)
        == "invalid configuration: public_docs: must be true or false, not 'maybe' (from KIBITZ_PUBLIC_DOCS)"
    )

    error = config_error(tmp_path, env={"KIBITZ_SITES": "[{'id': 'a'}]"})
    assert error.key == "sites"
    assert error.problem.startswith("must be a JSON array of tables")


def test_sqlite_paths_resolve_against_data_dir_which_resolves_against_the_working_directory(
    tmp_path: Path,
) -> None:
    settings = load_settings(env={"KIBITZ_DATA_DIR": "var/kibitz"}, cwd=tmp_path)

    assert settings.data_dir == tmp_path.resolve() / "var" / "kibitz"
    assert settings.is_sqlite
    assert settings.sqlalchemy_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/var/kibitz/kibitz.db"


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        ("sqlite:///data/comments.db", "sqlite+aiosqlite:///{data_dir}/data/comments.db"),
        ("sqlite:////srv/kibitz/kibitz.db", "sqlite+aiosqlite:////srv/kibitz/kibitz.db"),
        ("sqlite+aiosqlite:///kibitz.db?timeout=5", "sqlite+aiosqlite:///{data_dir}/kibitz.db?timeout=5"),
        ("sqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
        ("postgresql://kibitz@127.0.0.1:5432/kibitz", "postgresql+asyncpg://kibitz@127.0.0.1:5432/kibitz"),
        ("postgres://u:p@db/kibitz", "postgresql+asyncpg://u:p@db/kibitz"),
        ("postgresql+asyncpg://db/kibitz", "postgresql+asyncpg://db/kibitz"),
    ],
)
def test_database_url_maps_to_an_async_driver_url(tmp_path: Path, database_url: str, expected: str) -> None:
    settings = load_settings(env={}, cwd=tmp_path, overrides={"database_url": database_url})

    assert settings.sqlalchemy_url == expected.format(data_dir=tmp_path.resolve())
    assert settings.is_sqlite == database_url.startswith("sqlite")


def test_an_absolute_data_dir_is_kept(tmp_path: Path) -> None:
    settings = load_settings(env={}, cwd=Path("/"), overrides={"data_dir": tmp_path / "data"})

    assert settings.data_dir == (tmp_path / "data").resolve()


def test_secrets_stay_out_of_the_repr(tmp_path: Path) -> None:
    settings = load_settings(
        env={
            "KIBITZ_SECRET_KEY": "s3cret-s3cret-s3cret",
            "KIBITZ_SMTP__PASSWORD": "hunter2",
            "KIBITZ_DATABASE_URL": "postgresql://kibitz:pa55word@db/kibitz",
        },
        cwd=tmp_path,
    )

    assert settings.secret_key == "s3cret-s3cret-s3cret"
    for secret in ("s3cret", "hunter2", "pa55word"):
        assert secret not in repr(settings)


def test_newsletter_lists_are_read_in_order_and_a_site_without_any_has_one(tmp_path: Path) -> None:
    write(
        tmp_path / "kibitz.toml",
        '[[sites]]\nid = "news"\nname = "Example News"\n\n'
        '[[sites.lists]]\nid = "daily"\nname = "Daily  briefing"\ndescription = "Every morning."\n\n'
        '[[sites.lists]]\nid = "offers"\nwelcome = false\n\n'
        '[[sites]]\nid = "blog"\nname = "The Blog"\n',
    )
    news, blog = load_settings(env={}, cwd=tmp_path).sites

    assert news.lists == (
        NewsletterList("daily", "Daily briefing", True, "Every morning."),
        NewsletterList("offers", "offers", False, ""),
    )
    assert blog.lists == (NewsletterList("news", "The Blog newsletter"),)
    from_env = load_settings(
        env={"KIBITZ_SITES": json.dumps([{"id": "a", "lists": [{"id": "weekly", "name": "Weekly"}]}])},
        cwd=tmp_path,
    )
    assert from_env.sites[0].lists == (NewsletterList("weekly", "Weekly"),)


def test_a_list_may_follow_a_feed_on_its_site(tmp_path: Path) -> None:
    write(
        tmp_path / "kibitz.toml",
        '[[sites]]\nid = "news"\norigins = ["https://news.example"]\n\n'
        '[[sites.lists]]\nid = "daily"\nfeed = "https://news.example/feed.xml"\n\n'
        '[[sites.lists]]\nid = "week"\nfeed = "https://news.example/atom?all=1"\nfeed_every = "Weekly"\n'
        'feed_day = "friday"\nfeed_hour = 18\nfeed_top_comments = 0\n\n'
        '[[sites.lists]]\nid = "offers"\nfeed = ""\nfeed_every = "weekly"\n',
    )
    [news] = load_settings(env={}, cwd=tmp_path).sites

    assert [chosen.feed for chosen in news.lists] == [
        ListFeed("https://news.example/feed.xml", "daily", 7, 0, 3),
        ListFeed("https://news.example/atom?all=1", "weekly", 18, 4, 0),
        None,
    ]


@pytest.mark.parametrize(
    ("lists", "key", "problem"),
    [
        (
            '[[sites.lists]]\nid = "a"\nfeed = "https://elsewhere.example/feed.xml"\n',
            "sites[0].lists[0].feed",
            "must be on one of the site's origins (http://127.0.0.1:8000), "
            "not 'https://elsewhere.example/feed.xml'",
        ),
        (
            '[[sites.lists]]\nid = "a"\nfeed = "file:///etc/passwd"\n',
            "sites[0].lists[0].feed",
            "must start with http:// or https://, not 'file:///etc/passwd'",
        ),
        (
            '[[sites.lists]]\nid = "a"\nfeed = "http://127.0.0.1:8000/f"\nfeed_every = "hourly"\n',
            "sites[0].lists[0].feed_every",
            "must be one of daily, weekly, not 'hourly'",
        ),
        (
            '[[sites.lists]]\nid = "a"\nfeed = "http://127.0.0.1:8000/f"\nfeed_top_comments = 9\n',
            "sites[0].lists[0].feed_top_comments",
            "must be between 0 and 5, not 9",
        ),
        (
            '[[sites.lists]]\nid = "a"\nfeed = "http://127.0.0.1:8000/f"\nfeed_hour = 24\n',
            "sites[0].lists[0].feed_hour",
            "must be between 0 and 23, not 24",
        ),
        (
            '[[sites.lists]]\nid = "a"\nfeed = "http://127.0.0.1:8000/f"\nfeed_day = "funday"\n',
            "sites[0].lists[0].feed_day",
            "must be a day of the week, like 'monday', not 'funday'",
        ),
        ('[[sites.lists]]\nname = "No id"\n', "sites[0].lists[0].id", "is required"),
        (
            '[[sites.lists]]\nid = "a"\n[[sites.lists]]\nid = "a"\n',
            "sites[0].lists[1].id",
            "duplicate list id 'a' (also sites[0].lists[0])",
        ),
        (
            '[[sites.lists]]\nid = "Daily News"\n',
            "sites[0].lists[0].id",
            "must be 1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit, "
            "not 'Daily News'",
        ),
        (
            '[[sites.lists]]\nid = "subscribe"\n',
            "sites[0].lists[0].id",
            "'subscribe' is reserved (a path of the sign-up form)",
        ),
        (
            '[[sites.lists]]\nid = "a"\nwelcome = "yes"\n',
            "sites[0].lists[0].welcome",
            "must be true or false, not a string",
        ),
        ('[[sites.lists]]\nid = "a"\nname = " "\n', "sites[0].lists[0].name", "must be 1 to 120 characters"),
        (
            '[[sites.lists]]\nid = "a"\nwelcom = true\n',
            "sites[0].lists[0].welcom",
            "unknown key (did you mean 'welcome'?)",
        ),
        (
            'lists = "daily"\n',
            "sites[0].lists",
            "must be a list of list tables ([[sites.lists]]), not a string",
        ),
    ],
)
def test_a_bad_newsletter_list_is_an_error(tmp_path: Path, lists: str, key: str, problem: str) -> None:
    error = config_error(tmp_path, f'[[sites]]\nid = "news"\n{lists}')

    assert (error.key, error.problem) == (key, problem)
