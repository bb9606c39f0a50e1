"""Run `kibitz serve` as a real process on a free loopback port, for tests over real HTTP and of the CLI.

Not a test module: tests enter ``serve(...)`` and talk to ``server.url`` with an HTTP client.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import LOOSE, ORIGIN_A, ORIGIN_B, PG_ADMIN_DSN, missing, pg_admin, pg_reachable

KIBITZ = Path(sys.executable).parent / "kibitz"
START_SECONDS = 30.0
STOP_SECONDS = 15.0


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a kibitz process: ours without KIBITZ_* settings, so only the file counts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBITZ_") or k.startswith("KIBITZ_TEST_")}
    env.update(extra)
    return env


# -- configuration files ------------------------------------------------------------------------------


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, Sequence):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def site(site_id: str, origin: str, **extra: Any) -> dict[str, Any]:
    """A [[sites]] table like the in-process fixtures' (loose rate limits unless overridden)."""
    table: dict[str, Any] = {"id": site_id, "name": f"Site {site_id}", "origins": [origin]}
    table["rate_limits"] = {**LOOSE, **extra.pop("rate_limits", {})}
    table.update(extra)
    return table


def default_sites() -> list[dict[str, Any]]:
    """Sites "a" and "b", as tests.conftest.make_settings has them."""
    return [site("a", ORIGIN_A), site("b", ORIGIN_B)]


def write_config(
    path: Path,
    data_dir: Path,
    database_url: str,
    *,
    sites: list[dict[str, Any]] | None = None,
    **top: object,
) -> Path:
    """A kibitz.toml at ``path``; ``top`` adds or replaces top-level keys."""
    values: dict[str, object] = {"data_dir": str(data_dir), "database_url": database_url}
    values.update(top)
    lines = [f"{key} = {_toml(value)}" for key, value in values.items()]
    for table in default_sites() if sites is None else sites:
        lines += ["", "[[sites]]"] + [f"{key} = {_toml(value)}" for key, value in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- a running server ---------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    stderr_path: Path
    config: Path
    exit_code: int | None = field(default=None)

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = STOP_SECONDS) -> int:
        """SIGTERM, then wait up to ``timeout`` seconds (SIGKILL after that); the exit code.

        A process that had to be killed answers -SIGKILL, which no test accepts as a clean exit.
        """
        if self.exit_code is not None:
            return self.exit_code
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        self.exit_code = self.process.returncode
        return self.exit_code


def _wait_healthy(server: Server, deadline: float) -> None:
    with httpx.Client(base_url=server.url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"kibitz serve exited with {server.process.returncode} before it was healthy:\n"
                    + server.stderr()
                )
            with contextlib.suppress(httpx.TransportError):
                if client.get("/healthz").status_code == 200:
                    return
            time.sleep(0.05)  # polling a condition, bounded by the deadline
    raise RuntimeError(f"kibitz serve was not healthy within {START_SECONDS:.0f} s:\n" + server.stderr())


@contextlib.contextmanager
def serve(
    tmp_path: Path,
    database_url: str,
    *,
    workers: int = 1,
    sites: list[dict[str, Any]] | None = None,
    **top: object,
) -> Iterator[Server]:
    """`kibitz serve --workers N` on 127.0.0.1 with a config file in ``tmp_path``; stopped on exit.

    Its stderr goes to ``tmp_path/serve-*.log`` and is printed when the body fails.
    """
    name = f"serve-{uuid.uuid4().hex[:6]}"
    config = write_config(tmp_path / f"{name}.toml", tmp_path, database_url, sites=sites, **top)
    port = free_port()
    stderr_path = tmp_path / f"{name}.log"
    command = [str(KIBITZ), "serve", "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=child_env(), stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr
        )
    server = Server(f"http://127.0.0.1:{port}", process, stderr_path, config)
    try:
        _wait_healthy(server, time.monotonic() + START_SECONDS)
        yield server
    except BaseException:
        server.stop()
        print(f"--- kibitz serve output ({stderr_path}) ---\n{server.stderr()}")
        raise
    finally:
        server.stop()


# -- command runs -------------------------------------------------------------------------------------


def run_kibitz(*args: str, cwd: Path, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run the ``kibitz`` console script to completion; stdout and stderr as text."""
    return subprocess.run(
        [str(KIBITZ), *args],
        cwd=cwd,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# -- an empty PostgreSQL database ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_pg_database() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database (its URL), dropped afterwards; skips loudly without PostgreSQL."""
    if not pg_reachable():
        missing("PostgreSQL on 127.0.0.1:5432")
    name = f"kibitz_fresh_{uuid.uuid4().hex[:10]}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
