"""Isso 0.14 for the side-by-side benchmark: its own virtualenv, its config, gunicorn, its API.

The virtualenv is `bench/.isso-venv` (gitignored), made once with this interpreter and reused while
its marker file lists the same requirements. Isso runs as its docs say: `gunicorn -w N --preload
isso.run` (sync workers) with `ISSO_SETTINGS` pointing at the config; its data is one SQLite file.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.server import Service, child_pids

VENV = Path(__file__).resolve().parent / ".isso-venv"
# Both install from PyPI as they are (Isso and misaka build from their sdists: a C compiler is needed).
REQUIREMENTS = ("isso==0.14.0", "gunicorn==27.0.1")
MARKER = "kibitz-bench-requirements.txt"


class IssoError(Exception):
    """Isso could not be installed or seeded; the message says why."""


def ensure_venv(venv: Path = VENV, *, say: bool = True) -> Path:
    """The virtualenv with Isso and gunicorn, made (or remade) when its marker does not match."""
    marker = venv / MARKER
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if marker.exists() and marker.read_text(encoding="utf-8") == wanted and (venv / "bin/gunicorn").exists():
        return venv
    if venv.exists():
        shutil.rmtree(venv)
    if say:
        print(f"isso: installing {' '.join(REQUIREMENTS)} into {venv} (once)", file=sys.stderr, flush=True)
    log = venv.parent / ".isso-venv-install.log"
    with log.open("wb") as out:
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(venv / "bin/python"), "-m", "pip", "install", "--disable-pip-version-check", *REQUIREMENTS],
        ]
        for step in steps:
            try:
                done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, timeout=900, check=False)
            except subprocess.TimeoutExpired as exc:
                raise IssoError(f"{' '.join(step)} did not finish in 15 minutes; see {log}") from exc
            if done.returncode != 0:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
                raise IssoError(f"{' '.join(step)} failed ({done.returncode}); the end of {log}:\n{tail}")
    marker.write_text(wanted, encoding="utf-8")
    log.unlink(missing_ok=True)
    return venv


@dataclass(frozen=True)
class Guard:
    """Isso's [guard] section: ``enabled`` and the per-address limits."""

    name: str
    enabled: bool
    ratelimit: int = 2  # comments per minute from one address (Isso's default)
    direct_reply: int = 3  # top-level comments per thread from one address (Isso's default)


GUARD_OFF = Guard("guard off", enabled=False)
GUARD_DEFAULT = Guard("guard on", enabled=True)
# The guard's checks all run (two queries per post) but its limits stay out of the way, as Kibitz's
# rate limits do in the benchmark: every request comes from 127.0.0.1.
GUARD_RAISED = Guard("guard on, limits raised", enabled=True, ratelimit=1_000_000, direct_reply=1_000_000)


def write_config(directory: Path, *, name: str, db: Path, origin: str, port: int, guard: Guard) -> Path:
    """An isso.cfg with the defaults of Isso's own sample except the site, the database and the guard."""
    text = f"""[general]
dbpath = {db}
host = {origin}
max-age = 15m
notify = stdout
reply-notifications = false
gravatar = false

[moderation]
enabled = false

[server]
listen = http://127.0.0.1:{port}
public-endpoint = http://127.0.0.1:{port}

[guard]
enabled = {str(guard.enabled).lower()}
ratelimit = {guard.ratelimit}
direct-reply = {guard.direct_reply}
reply-to-self = false
require-author = false
require-email = false

[admin]
enabled = false
"""
    path = directory / f"{name}.cfg"
    path.write_text(text, encoding="utf-8")
    return path


class IssoServer(Service):
    """`gunicorn -b 127.0.0.1:PORT -w N --preload isso.run` from the Isso virtualenv."""

    ready_path = "/config"

    def __init__(self, config: Path, *, workers: int, port: int, venv: Path = VENV) -> None:
        log = config.with_suffix(".log")
        super().__init__(workers=workers, port=port, log=log, cwd=config.parent)
        self.name = f"isso ({config.stem})"
        self.config = config
        self.venv = venv

    def command(self) -> list[str]:
        gunicorn = str(self.venv / "bin/gunicorn")
        return [gunicorn, "-b", f"127.0.0.1:{self.port}", "-w", str(self.workers), "--preload", "isso.run"]

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "ISSO_SETTINGS": str(self.config)}

    def started_workers(self, log: str) -> int:
        return log.count("Booting worker with pid")

    def worker_pids(self) -> list[int]:
        """gunicorn's workers are the forked children of its master."""
        assert self.proc is not None
        return child_pids(self.proc.pid)


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of Isso's SQLite file (SQLite's backup API, safe while Isso is idle)."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()
