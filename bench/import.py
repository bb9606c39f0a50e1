"""Import throughput: `kibitz import disqus` of a generated export (1,000,000 comments by default).

The file is streamed to a temp dir: ~20 comments a thread, replies to earlier comments of the same
thread, a few deleted, spam and held, HTML bodies. For each engine (SQLite in the temp dir; PostgreSQL
in a throwaway database) it runs the import as a subprocess, twice (the second creates nothing), and
prints time, comments/s and the import's peak RSS. Bounded in count and time. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
KIBITZ = Path(sys.executable).parent / "kibitz"
PER_THREAD = 20  # comments per thread on average: 1,000,000 comments make 50,000 threads
MAX_COMMENTS = 2_000_000
WORDS = [
    "the", "council", "vote", "was", "closer", "than", "story", "says", "and", "I", "think", "mayor",
    "knows", "it", "but", "nobody", "asked", "why", "budget", "line", "moved", "twice", "in", "a", "week",
    "which", "is", "odd", "for", "plan", "that", "final", "March",
]  # fmt: skip
START = datetime(2015, 1, 1, tzinfo=UTC)


def _body(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        words = rng.choices(WORDS, k=rng.randint(8, 60))
        if rng.random() < 0.3:
            words[rng.randrange(len(words))] = "<b>" + rng.choice(WORDS) + "</b>"
        if rng.random() < 0.1:
            words.append('<a href="https://example.org/source?id=1&amp;b=2">source</a>')
        if rng.random() < 0.1:
            words.append("&amp; &lt;3")
        paragraphs.append("<p>" + " ".join(words) + "</p>")
    return "".join(paragraphs)


def generate(path: Path, comments: int, seed: int = 16) -> None:
    """Write a Disqus export of ``comments`` posts, a thread at a time (parents before replies)."""
    rng = random.Random(seed)
    threads = max(1, comments // PER_THREAD)
    when = START
    with path.open("w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<disqus xmlns="http://disqus.com" xmlns:dsq="http://disqus.com/disqus-internals">\n'
            '<category dsq:id="1"><forum>bench</forum><title>General</title></category>\n'
        )
        for t in range(threads):
            out.write(
                f'<thread dsq:id="t{t}"><id>story-{t}</id><forum>bench</forum><category dsq:id="1"/>'
                f"<link>https://news.example/{2015 + t % 10}/story-{t}/</link><title>Story {t} &amp; more"
                f"</title><createdAt>{when:%Y-%m-%dT%H:%M:%SZ}</createdAt><isClosed>false</isClosed>"
                "<isDeleted>false</isDeleted></thread>\n"
            )
        post = 0
        for t in range(threads):
            n = comments // threads + (1 if t < comments % threads else 0)
            ids: list[int] = []
            for _ in range(n):
                when += timedelta(seconds=rng.randint(1, 90))
                parent = ""
                if ids and rng.random() < 0.45:
                    parent = f'<parent dsq:id="p{rng.choice(ids[-8:])}"/>'
                roll = rng.random()
                author = rng.randrange(20_000)
                out.write(
                    f'<post dsq:id="p{post}"><id/><message><![CDATA[{_body(rng)}]]></message>'
                    f"<createdAt>{when:%Y-%m-%dT%H:%M:%SZ}</createdAt>"
                    f"<isDeleted>{'true' if roll < 0.02 else 'false'}</isDeleted>"
                    f"<isSpam>{'true' if 0.02 <= roll < 0.03 else 'false'}</isSpam>"
                    f"<isApproved>{'false' if 0.03 <= roll < 0.04 else 'true'}</isApproved>"
                    f"<author><name>{escape(f'Reader {author}')}</name>"
                    f"<email>reader{author}@example.org</email><isAnonymous>false</isAnonymous></author>"
                    f'<thread dsq:id="t{t}"/>{parent}</post>\n'
                )
                ids.append(post)
                post += 1
        out.write("</disqus>\n")


@contextmanager
def database(engine: str, workdir: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    import asyncpg

    name = f"kibitz_bench_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Run:
    seconds: float
    peak_mib: float  # the most the import and its worker processes held at once (RSS, summed)
    cpu: float  # seconds of CPU the import and its worker processes used (they are waited for)
    output: str
    status: int


def tree_rss(root: int) -> int:
    """Bytes resident in ``root`` and every process below it (the import's renderers), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    family, grew = {root}, True
    while grew:
        below = {pid for pid, parent in parents.items() if parent in family} - family
        family |= below
        grew = bool(below)
    total = 0
    for pid in family:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    return total


def timed(args: list[str], workdir: Path, limit: float) -> Run:
    """Run `kibitz ARGS`; the peak of its process tree's summed RSS, sampled every 0.2 s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBITZ_")}
    log = workdir / "import.log"
    peak = 0
    with log.open("wb") as out:
        started = time.monotonic()
        child = subprocess.Popen(
            [str(KIBITZ), *args], cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
        deadline = started + limit
        while True:
            peak = max(peak, tree_rss(child.pid))
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                child.kill()
                _, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.2)  # a bench's poll of a child, not a test's wait
        took = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)  # already reaped: keep Popen from waiting
    peak = max(peak, usage.ru_maxrss * 1024)  # the largest single process, should sampling miss it
    cpu = usage.ru_utime + usage.ru_stime  # the import's own and its waited-for workers'
    return Run(took, peak / 2**20, cpu, log.read_text(errors="replace"), child.returncode)


def created(output: str) -> str:
    found = re.search(r"comments: (\d+) created, (\d+) updated, (\d+) unchanged, (\d+) skipped", output)
    return "/".join(found.groups()) if found else "?"


def run(engine: str, source: Path, comments: int, limit: float) -> int:
    with tempfile.TemporaryDirectory(prefix="kibitz-bench-import-") as tmp:
        workdir = Path(tmp)
        with database(engine, workdir) as url:
            config = workdir / "kibitz.toml"
            config.write_text(
                f'database_url = "{url}"\ndata_dir = "{workdir}"\nbase_url = "https://comments.example"\n'
                '[[sites]]\nid = "bench"\norigins = ["https://news.example"]\n',
                encoding="utf-8",
            )
            migrated = timed(["migrate", "--config", str(config)], workdir, limit)
            if migrated.status:
                print(f"{engine}: migrate failed\n{migrated.output[-2000:]}", file=sys.stderr)
                return 1
            args = ["import", "disqus", str(source), "--site", "bench", "--config", str(config)]
            first = timed(args, workdir, limit)
            if first.status:
                print(
                    f"{engine}: import failed or ran past {limit:.0f} s\n{first.output[-2000:]}",
                    file=sys.stderr,
                )
                return 1
            second = timed(args, workdir, limit)
            if second.status:
                print(f"{engine}: the second import failed\n{second.output[-2000:]}", file=sys.stderr)
                return 1
            print(
                f"{engine:<10} {comments:>9} {first.seconds:>8.1f} {comments / first.seconds:>8.0f}"
                f" {first.cpu / comments * 1e6:>7.0f} {first.peak_mib:>8.1f} {created(first.output):>24}"
                f" {second.seconds:>8.1f} {second.cpu / comments * 1e6:>7.0f} {second.peak_mib:>8.1f}"
                f" {created(second.output):>24}"
            )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--comments", type=int, default=1_000_000, help=f"comments (1-{MAX_COMMENTS})")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per import run")
    args = parser.parse_args()
    if not 1 <= args.comments <= MAX_COMMENTS:
        parser.error(f"--comments must be 1-{MAX_COMMENTS}")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if not engines or set(engines) - {"sqlite", "postgresql"}:
        parser.error("--engines takes sqlite and/or postgresql")
    print(f"cpus={os.cpu_count()} load1={os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="kibitz-bench-export-") as tmp:
        source = Path(tmp) / "disqus.xml"
        started = time.monotonic()
        generate(source, args.comments)
        print(
            f"generated {args.comments} comments in {max(1, args.comments // PER_THREAD)} threads:"
            f" {source.stat().st_size / 1e6:.0f} MB in {time.monotonic() - started:.1f} s"
        )
        print(
            f"{'engine':<10} {'comments':>9} {'first s':>8} {'per s':>8} {'CPU µs':>7} {'RSS MiB':>8}"
            f" {'created/upd/same/skipped':>24} {'second s':>8} {'CPU µs':>7} {'RSS MiB':>8}"
            f" {'created/upd/same/skipped':>24}"
        )
        status = 0
        for engine in engines:
            status |= run(engine, source, args.comments, args.timeout)
            print(f"load1={os.getloadavg()[0]:.2f}")
    return status


if __name__ == "__main__":
    sys.exit(main())
