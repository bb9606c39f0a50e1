"""The typed readers behind kibitz.config: each checks one value and names the key when it is wrong.

``_Reader`` knows where each value came from (the file or a KIBITZ_* variable) and coerces the
environment's strings; the functions below read one kind of value each (durations, networks, listen
addresses, database URLs) for config.py and config_sites.py.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Collection, Mapping
from datetime import timedelta
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path, PurePath
from typing import NoReturn, TypeVar

from kibitz import origins as urls

MIN_SECRET_KEY_LENGTH = 16

_DURATION = re.compile(r"(?:[0-9]{1,9}[smhd])+")
_DURATION_PART = re.compile(r"([0-9]+)([smhd])")
_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_MAX_DURATION = timedelta(days=36500)
_TRUE = ("true", "1", "yes", "on")
_BOOLEANS = {word: word in _TRUE for word in (*_TRUE, "false", "0", "no", "off")}
_KINDS = {"bool": "a boolean", "int": "an integer", "float": "a number", "str": "a string", "dict": "a table"}

_E = TypeVar("_E", bound=StrEnum)
Network = IPv4Network | IPv6Network


class ConfigError(Exception):
    """A setting that cannot be used; ``str()`` is the one line the process stops with."""

    key: str
    problem: str

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(key, problem)
        self.key = key
        self.problem = problem

    def __str__(self) -> str:
        # One line whatever the problem text holds (TOML parser messages, echoed values).
        return " ".join(f"invalid configuration: {self.key}: {self.problem}".split())


def _covers(written: str, key: str) -> bool:
    return key == written or key.startswith((written + ".", written + "["))


class _Reader:
    """Typed reads of the merged settings; errors name the dotted key and any variable that set it."""

    def __init__(self, sources: Mapping[str, str], env_strings: Collection[str]) -> None:
        self._sources = sources
        self._env_strings = env_strings

    def fail(self, key: str, problem: str) -> NoReturn:
        matches = [path for path in self._sources if _covers(path, key)]
        if matches:
            problem += f" (from {self._sources[max(matches, key=len)]})"
        raise ConfigError(key, problem)

    def table(self, value: object, key: str, allowed: Collection[str]) -> Mapping[str, object]:
        if not isinstance(value, Mapping):
            self.fail(key, f"must be a table, not {_kind(value)}")
        for name in value:
            if not isinstance(name, str):
                self.fail(key, f"has a key that is not a string: {_show(name)}")
            if name not in allowed:
                close = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.fail(f"{key}.{name}" if key else name, "unknown key" + hint)
        return value

    def string(self, value: object, key: str) -> str:
        if not isinstance(value, str):
            self.fail(key, f"must be a string, not {_kind(value)}")
        return value

    def boolean(self, value: object, key: str) -> bool:
        if isinstance(value, str) and key in self._env_strings:
            if value.strip().lower() in _BOOLEANS:
                return _BOOLEANS[value.strip().lower()]
            self.fail(key, f"must be true or false, not {_show(value)}")
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {_kind(value)}")
        return value

    def integer(self, value: object, key: str) -> int:
        if isinstance(value, str) and key in self._env_strings:
            if not re.fullmatch(r"[+-]?[0-9]{1,18}", value.strip()):
                self.fail(key, f"must be an integer, not {_show(value)}")
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be an integer, not {_kind(value)}")
        return value

    def number(self, value: object, key: str) -> float:
        if isinstance(value, str) and key in self._env_strings:
            try:
                value = float(value)
            except ValueError:
                self.fail(key, f"must be a number, not {_show(value)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(key, f"must be a number, not {_kind(value)}")
        return float(value)

    def strings(self, value: object, key: str) -> list[str]:
        if isinstance(value, str) and key in self._env_strings:
            text = value.strip()
            if not text.startswith("["):
                return [item.strip() for item in text.split(",") if item.strip()]
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                self.fail(key, f"must be a JSON array or a comma-separated list: {exc}")
        if not isinstance(value, list | tuple):
            self.fail(key, f"must be a list of strings, not {_kind(value)}")
        for index, item in enumerate(value):
            self.string(item, f"{key}[{index}]")
        return list(value)

    def choice(self, enum: type[_E], value: object, key: str) -> _E:
        text = self.string(value, key).strip().lower()
        try:
            return enum(text)
        except ValueError:
            names = ", ".join(member.value for member in enum)
            self.fail(key, f"must be one of {names}, not {_show(value)}")


def _secret(r: _Reader, value: object, key: str) -> str:
    text = r.string(value, key)
    if text and len(text) < MIN_SECRET_KEY_LENGTH:
        r.fail(key, f"must be at least {MIN_SECRET_KEY_LENGTH} characters, or empty")
    return text


def _http_url(r: _Reader, value: object, key: str) -> str:
    text = r.string(value, key).strip()
    try:
        urls.split_http_url(text)
    except ValueError as exc:
        r.fail(key, f"{exc}, not {_show(text)}")
    return text.rstrip("/")


def split_listen(value: str) -> tuple[str, int]:
    """``host:port`` (an IP address, IPv6 in brackets) as (host, port); ValueError when it is not."""
    host, sep, port_text = value.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if ip_address(host).version != 6:
            raise ValueError("only an IPv6 address goes in brackets")
    elif ":" in host or ip_address(host).version != 4:
        raise ValueError("an IPv6 address goes in brackets: its colons are ambiguous")
    if not sep or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError("needs a port from 1 to 65535")
    return host, int(port_text)


def _listen(r: _Reader, value: object, key: str, *, empty: bool = True) -> str:
    text = r.string(value, key).strip()
    if not text and empty:
        return ""
    try:
        host, port = split_listen(text)
    except ValueError:
        also = ", or empty" if empty else ""
        r.fail(
            key, f"must be an address and port like '127.0.0.1:9108' or '[::1]:9108'{also}, not {_show(text)}"
        )
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bounded(r: _Reader, value: object, key: str, low: int, high: int) -> int:
    number = r.integer(value, key)
    if not low <= number <= high:
        r.fail(key, f"must be between {low} and {high}, not {number}")
    return number


def _data_dir(r: _Reader, value: object, cwd: Path) -> Path:
    text = str(value) if isinstance(value, PurePath) else r.string(value, "data_dir")
    try:
        return (cwd / text).resolve()
    except (OSError, ValueError) as exc:
        r.fail("data_dir", f"is not a usable path: {exc}")


def _networks(r: _Reader, value: object, key: str) -> tuple[Network, ...]:
    networks: list[Network] = []
    for index, text in enumerate(r.strings(value, key)):
        try:
            networks.append(ip_network(text.strip(), strict=False))
        except ValueError:
            r.fail(f"{key}[{index}]", f"must be an IP network like '10.0.0.0/8', not {_show(text)}")
    return tuple(networks)


def _hosts_or_networks(r: _Reader, value: object, key: str) -> tuple[str, ...]:
    """Host names (lower-case, IDNA) and networks (canonical), e.g. ``hooks.internal``, ``10.0.0.0/8``."""
    found: list[str] = []
    for index, text in enumerate(r.strings(value, key)):
        entry = text.strip().lower().rstrip(".")
        try:
            found.append(str(ip_network(entry, strict=False)))
            continue
        except ValueError:
            pass
        try:
            name = entry.encode("idna").decode("ascii")
        except UnicodeError:
            name = ""
        if not re.fullmatch(
            r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*", name
        ):
            r.fail(
                f"{key}[{index}]", f"must be a host name or a network like '10.0.0.0/8', not {_show(text)}"
            )
        found.append(name)
    return tuple(dict.fromkeys(found))


def _seconds(r: _Reader, value: object, key: str, most: float) -> float:
    number = r.number(value, key)
    if not 0 < number <= most:
        r.fail(key, f"must be more than 0 and at most {most:g} seconds, not {number:g}")
    return number


def _duration(r: _Reader, value: object, key: str, *, optional: bool = False) -> timedelta | None:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"30d"`` or a sum like ``"1h30m"``; ``"0"``; ``""`` when optional."""
    text = r.string(value, key).strip().lower()
    parsed = timedelta(0) if text in ("", "0") else _parse_duration(text)
    if parsed is None or (text == "" and not optional):
        empty = " or empty" if optional else " or '0'"
        r.fail(key, f"must be a duration like '90s', '15m', '2h' or '30d'{empty}, not {_show(value)}")
    if parsed > _MAX_DURATION:
        r.fail(key, f"must be at most {_MAX_DURATION.days} days")
    return None if optional and not parsed else parsed


def _parse_duration(text: str) -> timedelta | None:
    if not _DURATION.fullmatch(text):
        return None
    seconds = sum(int(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(text))
    return timedelta(seconds=seconds)


def _async_database_url(url: str, data_dir: Path) -> str:
    scheme, separator, rest = url.strip().partition("://")
    scheme = scheme.lower()
    if separator and scheme in ("sqlite", "sqlite+aiosqlite"):
        file, question, query = rest.partition("?")
        if not file.startswith("/") or file == "/":
            raise ValueError(
                "must be 'sqlite:///FILE' (a FILE inside data_dir), 'sqlite:////ABSOLUTE/FILE' "
                "or 'sqlite:///:memory:'"
            )
        file = file[1:]
        if file != ":memory:":
            file = os.path.normpath(data_dir / file)
        return f"sqlite+aiosqlite:///{file}{question}{query}"
    if separator and scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        return f"postgresql+asyncpg://{rest}"
    # The URL itself may hold a password: name only its scheme.
    shown = f"{scheme}://" if separator else "a value without a scheme"
    raise ValueError(f"must start with sqlite:/// or postgresql://, not {shown}")


def _kind(value: object) -> str:
    name = "list" if isinstance(value, list | tuple) else type(value).__name__
    return _KINDS.get(name, f"a {name}")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_duration_setting(value: object, key: str, *, optional: bool = False) -> timedelta | None:
    """A duration given outside the file (the admin's site settings), checked as the file's are."""
    return _duration(_Reader({}, ()), value, key, optional=optional)
