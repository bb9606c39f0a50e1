"""A newsletter campaign to N subscribers, sent by `kibitz worker` to a local SMTP sink (issue 14).

Per engine (SQLite in a temp dir; PostgreSQL in a throwaway database) and list size: N confirmed
subscribers of one list spread over --domains recipient domains, one campaign started the way the API
starts it, then `kibitz worker` (a subprocess) queues and delivers it to an aiosmtpd server on
loopback that counts every mail by Message-ID. Prints messages/s, the worker's CPU per mail and its
peak RSS (VmHWM). The crash run kills the worker with SIGKILL half-way, restarts it, and checks at
the sink that every subscriber got exactly one Message-ID and that the copies sent twice are at most
the worker's in-flight bound. Loopback only, bounded in count and time. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import insert, update

from bench.outbox import KIBITZ, BoundController, Counting, database, peak_rss_mib
from kibitz.config import Settings, load_settings
from kibitz.context import close_context, open_context
from kibitz.store.schema import outbox, subscribers, subscriptions
from kibitz.worker import SEND_SLOTS, in_flight_bound

CHUNK = 2000
LISTMONK = "listmonk (published claim, not run here): 7,000,000 mails at 57 MB of memory"
ISSUE = """# This week

Good morning! Here is what happened while you were away: the council voted on the new [tram
line](https://news.example/tram), the library reopened after two years, and our readers sent in
more than 300 photos of the first snow.

## In depth

* **Trams**: what the vote means for the east side, and when the works begin.
* **Library**: the new reading room, the opening hours, and the café downstairs.
* **Snow**: the best twenty photos, chosen by the photo desk.

Thank you for reading. Reply to this mail to tell us what we missed.

[Leave this list]({{ unsubscribe_url }}) · [Your preferences]({{ manage_url }})
"""


# `kibitz worker` under cProfile timed by process_time (argv: the profile's file, then the arguments).
PROFILED = """import cProfile, sys, time
from kibitz.cli import main
out, sys.argv = sys.argv[1], ["kibitz", *sys.argv[2:]]
profile = cProfile.Profile(time.process_time)
profile.enable()
try:
    main()
finally:
    profile.disable()
    profile.dump_stats(out)
"""


class Tally(Counting):
    """Counting's sink, also noting which Message-IDs reached each recipient."""

    def __init__(self) -> None:
        super().__init__()
        self.copies: Counter[str] = Counter()
        self.ids_of: dict[str, set[str]] = {}

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        head = (envelope.original_content or b"").split(b"\r\n\r\n", 1)[0]
        mid = next((ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"message-id:")), b"")
        message_id = mid.partition(b":")[2].strip().decode()
        with self.lock:
            now = time.monotonic()
            self.first = self.first or now
            self.last = now
            self.count += 1
            self.copies[message_id] += 1
            for rcpt in envelope.rcpt_tos:
                self.ids_of.setdefault(rcpt, set()).add(message_id)
        return "250 OK"

    def reached(self) -> int:
        with self.lock:
            return len(self.ids_of)


def sink() -> tuple[Tally, BoundController]:
    """The counting SMTP server in its own thread (on uvloop when installed, as the worker runs)."""
    handler = Tally()
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        loop = asyncio.new_event_loop()
    controller = BoundController(handler, hostname="127.0.0.1", port=0, loop=loop)
    controller.start()
    return handler, controller


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_config(workdir: Path, url: str, port: int) -> Path:
    config = workdir / "kibitz.toml"
    config.write_text(
        f'database_url = "{url}"\ndata_dir = "{workdir}"\nbase_url = "https://comments.example"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\ntimeout = 10\n'
        'sender = "The Week <week@news.example>"\n'
        '[[sites]]\nid = "bench"\nname = "Bench News"\norigins = ["https://news.example"]\n'
        '[[sites.lists]]\nid = "weekly"\nname = "The week"\n',
        encoding="utf-8",
    )
    return config


async def prepare(config: Path, count: int, domains: int) -> tuple[Settings, float]:
    """Migrate, add ``count`` confirmed subscribers of the list, create the campaign and send it (the
    worker's campaigns job then queues its mail); the settings and the seconds it took."""
    settings = load_settings(config, env={})
    started = time.monotonic()
    ctx = await open_context(settings)
    try:
        now = datetime.now(UTC)
        for start in range(0, count, CHUNK):
            numbers = range(start, min(count, start + CHUNK))
            people = [
                {"id": n + 1, "site": "bench", "email": f"r{n}@d{n % domains}.example",
                 "status": "confirmed", "created": now, "confirmed": now}
                for n in numbers
            ]  # fmt: skip
            follows = [
                {"id": n + 1, "subscriber_id": n + 1, "topic": "newsletter", "list": "weekly",
                 "created": now, "active": True, "pending": False}
                for n in numbers
            ]  # fmt: skip
            async with ctx.db.write() as tx:
                await tx.conn.execute(insert(subscribers), people)
                await tx.conn.execute(insert(subscriptions), follows)
        site = settings.site("bench")
        assert site is not None
        campaign = await ctx.campaigns.create(
            site, "weekly", "This week: trams, books and snow", ISSUE, None, "bench"
        )
        await ctx.campaigns.send(site, campaign.id, "bench")
    finally:
        await close_context(ctx)
    return settings, time.monotonic() - started


@dataclass
class Run:
    engine: str
    count: int
    prepared: float
    took: float  # from the campaign's start to the last mail's arrival
    steady: float  # mails a second between the first and the last arrival
    cpu_ms: float  # the worker's CPU per mail
    sink_ms: float  # this process's CPU per mail: the SMTP sink, mostly
    rss: float
    copies: int
    distinct: int


def start_worker(config: Path, workdir: Path, log: Path, profile: Path | None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBITZ_")}
    command = [str(KIBITZ), "worker", "--config", str(config)]
    if profile is not None:  # CPU time, not wall time: other work on the machine does not count
        command = [sys.executable, "-c", PROFILED, str(profile), "worker", "--config", str(config)]
    with log.open("ab") as out:
        return subprocess.Popen(
            command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )


async def wait_for(
    what: str, done: object, deadline: float, worker: subprocess.Popen[bytes], log: Path
) -> None:
    """Poll ``done()`` (the sink counts in its own thread) until true; fail past ``deadline``."""
    assert callable(done)
    while not done():
        if worker.poll() is not None:
            tail = log.read_bytes()[-2000:].decode(errors="replace")  # noqa: ASYNC240 - once, on failure
            raise RuntimeError(f"the worker exited ({worker.returncode}): {tail}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within the time allowed")
        await asyncio.sleep(0.05)


def stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


async def throughput(engine: str, count: int, domains: int, limit: float, profile: str | None) -> Run:
    handler, controller = sink()
    try:
        with tempfile.TemporaryDirectory(prefix="kibitz-bench-newsletter-") as tmp:
            workdir = Path(tmp)
            async with database(engine, workdir) as url:
                config = write_config(workdir, url, controller.port)
                _, prepared = await prepare(config, count, domains)
                log = workdir / "worker.log"
                prof = Path(profile) if profile else None  # absolute (main)
                started, own = time.monotonic(), time.process_time()
                worker = start_worker(config, workdir, log, prof)
                try:
                    await wait_for(
                        f"{engine} {count}", lambda: handler.reached() >= count, started + limit, worker, log
                    )
                    done, own = time.monotonic(), time.process_time() - own
                    rss = peak_rss_mib(worker.pid)
                    cpu = cpu_seconds(worker.pid)
                finally:
                    stop(worker)
                if prof is not None:
                    print(f"\nprofile of the worker ({engine}, {count} mails), by own time:")
                    pstats.Stats(str(prof)).sort_stats("tottime").print_stats(25)
                    print("by cumulative time, Kibitz's own functions:")
                    pstats.Stats(str(prof)).sort_stats("cumulative").print_stats(r"kibitz/", 30)
        with handler.lock:
            steady = (
                (handler.count - 1) / (handler.last - handler.first) if handler.last > handler.first else 0.0
            )
            return Run(engine, count, prepared, done - started, steady, cpu / count * 1000,
                       own / count * 1000, rss, handler.count, len(handler.copies))  # fmt: skip
    finally:
        controller.stop()


@dataclass
class Crash:
    engine: str
    count: int
    at_kill: int
    recipients: int
    exactly_one: int
    several_ids: int
    missing: int
    duplicates: int
    bound: int


async def expire_leases(settings: Settings) -> None:
    """What five minutes after the crash would do: the dead worker's leases (its claimed rows, and the
    campaigns job it held) run out; the restarted worker may take them at once."""
    ctx = await open_context(settings, migrate=False)
    try:
        past = datetime.now(UTC) - timedelta(seconds=1)
        async with ctx.db.write() as tx:
            await tx.conn.execute(
                update(outbox).where(outbox.c.status == "sending").values(locked_until=past)
            )
            await tx.jobs.release("campaigns")
    finally:
        await close_context(ctx)


async def unsent(settings: Settings) -> int:
    ctx = await open_context(settings, migrate=False)
    try:
        async with ctx.db.read() as tx:
            counts = await tx.campaigns.counts(1)
        return counts.get("pending", 0) + counts.get("sending", 0)
    finally:
        await close_context(ctx)


async def crash(engine: str, count: int, domains: int, limit: float) -> Crash:
    handler, controller = sink()
    try:
        with tempfile.TemporaryDirectory(prefix="kibitz-bench-newsletter-") as tmp:
            workdir = Path(tmp)
            async with database(engine, workdir) as url:
                config = write_config(workdir, url, controller.port)
                settings, _ = await prepare(config, count, domains)
                log = workdir / "worker.log"
                deadline = time.monotonic() + limit
                first = start_worker(config, workdir, log, None)
                try:
                    await wait_for("half", lambda: handler.reached() >= count // 2, deadline, first, log)
                finally:
                    first.send_signal(signal.SIGKILL)
                    first.wait()
                at_kill = handler.reached()
                await expire_leases(settings)
                second = start_worker(config, workdir, log, None)
                try:
                    await wait_for("all", lambda: handler.reached() >= count, deadline, second, log)
                    while await unsent(settings):  # every row marked before the worker stops
                        assert time.monotonic() < deadline, "rows left unmarked"
                        await asyncio.sleep(0.2)
                finally:
                    stop(second)
        with handler.lock:
            ids = [len(found) for found in handler.ids_of.values()]
            duplicates = sum(n - 1 for n in handler.copies.values())
        return Crash(engine, count, at_kill, len(ids), ids.count(1), sum(1 for n in ids if n > 1),
                     count - len(ids), duplicates, in_flight_bound())  # fmt: skip
    finally:
        controller.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000", help="list sizes, comma-separated (1-200000 each)")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--domains", type=int, default=100, help="recipient domains the list spreads over")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per run")
    parser.add_argument("--no-crash", action="store_true", help="skip the kill -9 run")
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="run the worker under cProfile (CPU time), print it and keep it in FILE",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    profile = str(Path(args.profile).absolute()) if args.profile else None
    if not all(1 <= s <= 200_000 for s in sizes) or not 1 <= args.domains <= 10_000:
        parser.error("--sizes must be 1-200000 each, --domains 1-10000")
    engines = [e.strip() for e in args.engines.split(",")]
    print(
        f"cpus={os.cpu_count()} load1={os.getloadavg()[0]:.2f} domains={args.domains} send slots={SEND_SLOTS}"
    )
    runs: list[Run] = []
    crashes: list[Crash] = []
    status = 0
    for engine in engines:
        for size in sizes:
            try:
                runs.append(asyncio.run(throughput(engine, size, args.domains, args.timeout, profile)))
            except (RuntimeError, TimeoutError) as exc:
                print(f"{engine} {size}: {exc}", file=sys.stderr)
                status = 1
        if not args.no_crash:
            try:
                crashes.append(asyncio.run(crash(engine, max(sizes), args.domains, args.timeout)))
            except (RuntimeError, TimeoutError, AssertionError) as exc:
                print(f"{engine} crash run: {exc}", file=sys.stderr)
                status = 1
    print(f"\nload1 after={os.getloadavg()[0]:.2f}")
    print(f"{'engine':<10} {'list':>7} {'setup s':>8} {'send s':>7} {'msg/s':>7} {'steady/s':>9}"
          f" {'CPU ms/mail':>11} {'sink ms':>7} {'peak RSS MiB':>12} {'copies':>7} {'dups':>5}")  # fmt: skip
    for r in runs:
        dups = r.copies - r.distinct
        print(f"{r.engine:<10} {r.count:>7} {r.prepared:>8.1f} {r.took:>7.1f} {r.count / r.took:>7.0f}"
              f" {r.steady:>9.0f} {r.cpu_ms:>11.2f} {r.sink_ms:>7.2f} {r.rss:>12.1f}"
              f" {r.copies:>7} {dups:>5}")  # fmt: skip
        status |= int(r.copies != r.distinct)
    print(LISTMONK)
    if crashes:
        print(f"\n{'kill -9':<10} {'list':>7} {'at kill':>8} {'reached':>8} {'one id':>7} {'>1 id':>6}"
              f" {'missing':>8} {'dups':>5} {'bound':>6}")  # fmt: skip
    for c in crashes:
        print(f"{c.engine:<10} {c.count:>7} {c.at_kill:>8} {c.recipients:>8} {c.exactly_one:>7}"
              f" {c.several_ids:>6} {c.missing:>8} {c.duplicates:>5} {c.bound:>6}")  # fmt: skip
        status |= int(c.missing > 0 or c.several_ids > 0 or c.duplicates > c.bound)
    return status


if __name__ == "__main__":
    sys.exit(main())
