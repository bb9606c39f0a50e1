"""Where settings come from: the TOML file, the KIBITZ_* environment variables laid over it, and, for
the command line's messages, which of them set a given key. kibitz/config.py reads the merged
result into typed settings."""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from kibitz.config import (
    _JSON_KEYS,
    _SMTP_KEYS,
    _TOP_KEYS,
    CONFIG_FILE,
    ENV_PREFIX,
)
from kibitz.config_values import ConfigError, _kind


def read_file(config_path: Path | None, cwd: Path) -> tuple[Path | None, dict[str, object]]:
    if config_path is None:
        path = cwd / CONFIG_FILE
        if not path.is_file():
            return None, {}
    else:
        path = cwd / config_path  # an absolute config_path stays as it is
        if not path.exists():
            raise ConfigError("config", f"{path}: no such file")
    try:
        with path.open("rb") as stream:
            return path, tomllib.load(stream)
    except OSError as exc:
        raise ConfigError("config", f"{path}: cannot be read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("config", f"{path}: not valid TOML: {exc}") from None


def env_layer(env: Mapping[str, str]) -> tuple[dict[str, object], dict[str, str], set[str]]:
    """The environment as a TOML-shaped table, which variable set each key, and the keys still strings."""
    whole: dict[str, object] = {}
    nested: dict[str, dict[str, object]] = {}
    sources: dict[str, str] = {}
    strings: set[str] = set()
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX):
            continue
        name = var[len(ENV_PREFIX) :].lower()
        if name in ("config", "metrics_sockets") or name.startswith("test_"):
            # The file's path (read above), where `kibitz serve` has its workers answer its
            # metrics listener (web/ops.py), and the test suite's switches: not settings.
            continue
        parts = name.split("__")
        key = ".".join(parts)
        if key not in _TOP_KEYS and not (key.startswith("smtp.") and key[5:] in _SMTP_KEYS):
            raise ConfigError(var, "unknown setting" + _env_hint(parts))
        if key in sources:
            raise ConfigError(var, f"is set twice (also as {sources[key]})")
        sources[key] = var
        value: object = env[var]
        if key in _JSON_KEYS:
            value = _env_json(var, key, env[var])
        else:
            strings.add(key)
        if len(parts) == 1:
            whole[key] = value
        else:
            nested.setdefault(parts[0], {})[parts[1]] = value
    for table, values in nested.items():
        # KIBITZ_SMTP__HOST wins over a "host" inside KIBITZ_SMTP, whatever the order of the variables.
        base = whole.get(table)
        whole[table] = {**base, **values} if isinstance(base, dict) else values
    return whole, sources, strings


def _env_hint(parts: list[str]) -> str:
    if parts[0] == "sites" and len(parts) > 1:
        return " (sites are set as a whole: KIBITZ_SITES holds a JSON array of site tables)"
    known = [f"{ENV_PREFIX}{key.upper()}" for key in _TOP_KEYS]
    known += [f"{ENV_PREFIX}SMTP__{key.upper()}" for key in _SMTP_KEYS]
    close = difflib.get_close_matches(ENV_PREFIX + "__".join(parts).upper(), known, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _env_json(var: str, key: str, text: str) -> object:
    wanted = _JSON_KEYS[key]
    what = "a JSON object" if wanted is dict else "a JSON array of tables"
    try:
        value: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(key, f"must be {what}: {exc} (from {var})") from None
    if not isinstance(value, wanted):
        raise ConfigError(key, f"must be {what}, not {_kind(value)} (from {var})")
    return value


def apply(raw: dict[str, object], layer: Mapping[str, object], prefix: str) -> list[str]:
    """Merge ``layer`` into ``raw``: tables key by key, anything else replaced; returns the keys written."""
    written: list[str] = []
    for name, value in layer.items():
        key = f"{prefix}{name}"
        current = raw.get(name)
        if isinstance(current, dict) and isinstance(value, Mapping):
            written += apply(current, value, key + ".")
        else:
            raw[name] = value
            written.append(key)
    return written


# -- discovery: where a setting came from, in words for the command line's messages ---------------------


def config_file_source(
    config_path: Path | None, found: Path | None, env: Mapping[str, str] | None = None
) -> str:
    """How the file the settings were read from (``found``) was chosen, given the ``--config`` path."""
    if found is None:
        return (
            f"no configuration file was read (no --config, KIBITZ_CONFIG is not set and there is no "
            f"{CONFIG_FILE} in the working directory)"
        )
    environ = os.environ if env is None else env
    if config_path is not None:
        how = "--config"
    elif environ.get("KIBITZ_CONFIG"):
        how = "KIBITZ_CONFIG"
    else:
        how = f"{CONFIG_FILE} in the working directory"
    return f"settings read from {found} ({how})"


def setting_source(key: str, found: Path | None, env: Mapping[str, str] | None = None) -> str | None:
    """Where a top-level setting (or, for ``smtp``, any key of its table) was set: the name of its
    KIBITZ_* variable, else the path of the file ``found`` when the file sets it; None for the default."""
    environ = os.environ if env is None else env
    for var in sorted(environ):
        name = var[len(ENV_PREFIX) :].lower() if var.startswith(ENV_PREFIX) else ""
        if name == key or name.startswith(key + "__"):
            return var
    if found is not None:
        try:
            with found.open("rb") as stream:
                if key in tomllib.load(stream):
                    return str(found)
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            return None
    return None
