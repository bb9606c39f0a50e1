"""The server under test: `kibitz serve` on a free loopback port, its readiness, memory and SIGTERM."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


class ServerError(Exception):
    """The server would not start; the message carries the end of its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants, from the parent ids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        ppid = int(text.rpartition(")")[2].split()[1])  # the name in (...) may hold spaces
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def rss_kib(pid: int) -> int:
    """VmRSS of one process, 0 when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^VmRSS:\s+(\d+) kB$", status, re.MULTILINE)
    return int(match[1]) if match else 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time one process has used, 0 when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rpartition(")")[2].split()  # fields from the 3rd on: utime and stime are 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def is_worker(pid: int) -> bool:
    """uvicorn's workers are multiprocessing children started by spawn_main (the supervisor and
    multiprocessing's resource tracker are not)."""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class Server:
    """`kibitz serve --workers N` with its output in ``server.log`` next to the config."""

    def __init__(self, config: Path, *, workers: int, port: int) -> None:
        self.config = config
        self.workers = workers
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = config.parent / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        """Start it and wait until every worker has started and /readyz answers 200."""
        exe = Path(sys.executable).parent / "kibitz"
        if not exe.exists():
            raise ServerError(f"no kibitz console script next to {sys.executable}; pip install -e . first")
        # The environment wins over the file: keep the user's KIBITZ_* settings out of the run.
        env = {k: v for k, v in os.environ.items() if not k.startswith("KIBITZ_")}
        command = [str(exe), "serve", "--config", str(self.config), "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", str(self.workers)]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=self.config.parent, env=env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"kibitz serve exited with {self.proc.returncode}:\n{self.log_tail()}")
            started = self.log.read_text(errors="replace").count("Application startup complete")
            if started >= self.workers and self._ready():
                return
            time.sleep(0.2)
        raise ServerError(f"kibitz serve was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def rss_mib(self) -> tuple[float, float]:
        """Resident memory in MiB: (the workers, the whole process tree)."""
        assert self.proc is not None
        tree = process_tree(self.proc.pid)
        workers = sum(rss_kib(pid) for pid in tree if is_worker(pid))
        return workers / 1024, sum(rss_kib(pid) for pid in tree) / 1024

    def cpu_seconds(self) -> float:
        """CPU time the whole process tree has used so far (PostgreSQL's own is not in it)."""
        assert self.proc is not None
        return sum(cpu_seconds(pid) for pid in process_tree(self.proc.pid))

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, as a service manager would; SIGKILL the tree only if it does not end in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"kibitz serve ignored SIGTERM for {timeout:.0f} s; killing it", file=sys.stderr)
            for pid in reversed(process_tree(self.proc.pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait(10)
