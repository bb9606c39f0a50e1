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


def child_pids(parent: int) -> list[int]:
    """The direct children of ``parent`` (gunicorn's workers are the children of its master)."""
    return [pid for pid in process_tree(parent) if pid != parent and parent_of(pid) == parent]


def parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def clean_environment() -> dict[str, str]:
    """The environment wins over a config file: keep the user's KIBITZ_* settings out of the run."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KIBITZ_")}


class Service:
    """A server under test on a loopback port, its output in ``log``: start it, wait until its workers
    have started and ``ready_path`` answers 200, read its memory and CPU from /proc, stop it with
    SIGTERM. Subclasses say how to start it and how to tell its workers."""

    name = "server"
    ready_path = "/readyz"

    def __init__(self, *, workers: int, port: int, log: Path, cwd: Path) -> None:
        self.workers = workers
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return clean_environment()

    def started_workers(self, log: str) -> int:
        """How many workers the log says have started."""
        return log.count("Application startup complete")

    def worker_pids(self) -> list[int]:
        """uvicorn's workers are multiprocessing children started by spawn_main."""
        assert self.proc is not None
        return [pid for pid in process_tree(self.proc.pid) if is_worker(pid)]

    def start(self, timeout: float = 60) -> None:
        """Start it and wait until every worker has started and ``ready_path`` answers 200."""
        command = self.command()
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd, env=self.environment()
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            started = self.started_workers(self.log.read_text(errors="replace"))
            if started >= self.workers and self._ready():
                return
            time.sleep(0.2)
        raise ServerError(f"{self.name} was not ready within {timeout:.0f} s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.base}{self.ready_path}", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def rss_mib(self) -> tuple[float, float]:
        """Resident memory in MiB: (the workers, the whole process tree)."""
        assert self.proc is not None
        tree = process_tree(self.proc.pid)
        workers = sum(rss_kib(pid) for pid in self.worker_pids())
        return workers / 1024, sum(rss_kib(pid) for pid in tree) / 1024

    def worker_rss_mib(self) -> dict[int, float]:
        """Resident memory of each worker in MiB, by process id."""
        return {pid: rss_kib(pid) / 1024 for pid in self.worker_pids()}

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
            print(f"{self.name} ignored SIGTERM for {timeout:.0f} s; killing it", file=sys.stderr)
            for pid in reversed(process_tree(self.proc.pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait(10)


class Server(Service):
    """`kibitz serve --workers N` with its output in ``server.log`` next to the config."""

    name = "kibitz serve"

    def __init__(self, config: Path, *, workers: int, port: int) -> None:
        super().__init__(workers=workers, port=port, log=config.parent / "server.log", cwd=config.parent)
        self.config = config

    def command(self) -> list[str]:
        exe = Path(sys.executable).parent / "kibitz"
        if not exe.exists():
            raise ServerError(f"no kibitz console script next to {sys.executable}; pip install -e . first")
        command = [str(exe), "serve", "--config", str(self.config), "--host", "127.0.0.1"]
        return [*command, "--port", str(self.port), "--workers", str(self.workers)]
