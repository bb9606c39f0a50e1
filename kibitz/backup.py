"""Backups and restores of the database (`kibitz backup FILE`, `kibitz restore FILE`).

SQLite: SQLite's online backup API copies the whole database in one step, a consistent snapshot
however many writes go on meanwhile (WAL readers do not block writers), into a temporary file beside
FILE; FILE appears, by an atomic rename, only once ``PRAGMA integrity_check`` answered ``ok``. A
restore copies the same way into the settings' database file, after checking the backup; it
refuses to replace a database that exists (and says whether a process has it open) unless forced.

PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore``, run when they are on PATH; without them
the commands say what to run. A restore checks that the database then holds Kibitz's schema at a
revision this release knows.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from kibitz.migrate import alembic_config, head_revision

__all__ = [
    "BackupError",
    "Checked",
    "PgTools",
    "backup_sqlite",
    "check_sqlite",
    "known_revision",
    "pg_command",
    "restore_sqlite",
    "sqlite_in_use",
]

# SQLite's unix VFS holds a shared lock on this byte of the -shm file for as long as a connection to a
# WAL database is open (its "dead man switch"): a lock we cannot take says another process uses it.
_SHM_DMS_BYTE = 128


class BackupError(Exception):
    """Why a backup or a restore was not made; nothing was changed."""


@dataclass(frozen=True)
class Checked:
    """What a database file holds: its schema revision and how many comments."""

    revision: str
    comments: int


def known_revision(revision: str | None) -> bool:
    """Whether ``revision`` is one of this release's migrations (so this release can run on it)."""
    if revision is None:
        return False
    from alembic.script import ScriptDirectory  # loaded only here: most commands never need it

    return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None


def check_sqlite(file: Path) -> Checked:
    """``integrity_check`` and the schema revision of a SQLite file; BackupError when it is not a
    sound Kibitz database this release knows."""
    if not file.is_file():
        raise BackupError(f"{file} does not exist")
    try:
        with contextlib.closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True, timeout=10)) as conn:
            verdict = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            if verdict != ["ok"]:
                raise BackupError(f"{file} failed its integrity check: {'; '.join(verdict[:5])}")
            try:
                revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                comments = int(conn.execute("SELECT count(*) FROM comments").fetchone()[0])
            except sqlite3.OperationalError:
                raise BackupError(f"{file} holds no Kibitz tables") from None
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{file} is not a SQLite database ({exc})") from None
    found = revision[0] if revision else None
    if not known_revision(found):
        raise BackupError(
            f"{file} is at schema revision {found!r}, which this release does not know (its newest is "
            f"{head_revision()}): restore it with the release that made it"
        )
    return Checked(str(found), comments)


def sqlite_in_use(file: Path) -> bool:
    """Whether some process has the WAL database ``file`` open (a running Kibitz, say)."""
    shm = Path(f"{file}-shm")
    try:
        fd = os.open(shm, os.O_RDWR)
    except OSError:
        return False  # no -shm file: nobody has it open in WAL mode
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SHM_DMS_BYTE)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, _SHM_DMS_BYTE)
        return False
    finally:
        os.close(fd)


def _copy(source: Path, target: Path, journal: str) -> None:
    """The whole of ``source`` into ``target`` with the online backup API, in one step: a snapshot;
    then ``target`` in ``journal`` mode (a backup is one self-contained file, a database WAL)."""
    with (
        contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)) as src,
        contextlib.closing(sqlite3.connect(target, timeout=30)) as dst,
    ):
        src.backup(dst, pages=-1)
        dst.execute(f"PRAGMA journal_mode={journal}")


def backup_sqlite(database: Path, file: Path, *, force: bool = False) -> Checked:
    """A consistent copy of ``database`` at ``file`` (checked before it takes that name)."""
    if not database.is_file():
        raise BackupError(f"there is no database at {database}")
    if file.exists() and not force:
        raise BackupError(f"{file} exists; name a new file, or add --force to replace it")
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(f".{file.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        _copy(database, partial, "DELETE")
        checked = check_sqlite(partial)
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, file)
    finally:
        partial.unlink(missing_ok=True)
    return checked


def restore_sqlite(file: Path, database: Path, *, force: bool = False) -> Checked:
    """The backup ``file`` as the database at ``database``, once the backup is checked; an existing
    database is replaced only with ``force`` (through SQLite, so a process that has it open sees one
    database or the other, never a mixture)."""
    checked = check_sqlite(file)
    if database.exists() and not force:
        using = " and a process has it open (stop Kibitz first)" if sqlite_in_use(database) else ""
        raise BackupError(f"{database} exists{using}; add --force to replace it with the backup")
    database.parent.mkdir(parents=True, exist_ok=True)
    _copy(file, database, "WAL")
    restored = check_sqlite(database)
    if restored != checked:
        raise BackupError(f"{database} does not match the backup after the restore")
    return restored


# -- PostgreSQL ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PgTools:
    """A libpq URL (without its password) and the environment giving the password to pg_dump."""

    url: str
    env: dict[str, str]

    @classmethod
    def of(cls, database_url: str) -> PgTools:
        rest = database_url.strip().partition("://")[2]
        url: URL = make_url(f"postgresql://{rest}")
        env = dict(os.environ)
        if url.password:
            env["PGPASSWORD"] = str(url.password)
        return cls(url.set(password=None).render_as_string(hide_password=False), env)


def pg_command(tool: str, args: list[str], tools: PgTools) -> subprocess.CompletedProcess[str]:
    """Run ``pg_dump`` or ``pg_restore``; BackupError (saying what to run) when it is not on PATH
    or fails."""
    path = shutil.which(tool)
    shown = " ".join([tool, *args])
    if path is None:
        raise BackupError(
            f"{tool} is not on PATH (Debian: apt install postgresql-client, of the server's major "
            f"version or newer). Run it where it is:\n  {shown}"
        )
    result = subprocess.run(  # noqa: S603 - a fixed tool, arguments as a list
        [path, *args], env=tools.env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{shown} failed ({result.returncode}):\n{result.stderr.strip()}")
    return result
