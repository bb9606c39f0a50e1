"""Past imports of a site as the admin shows them: each run's counts, and its whole report (reasons,
with the source ids behind each), read back from the run log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kibitz import errors
from kibitz.store.db import Database
from kibitz.store.imports import ImportRun

KINDS = ("thread", "comment")


@dataclass(frozen=True)
class Reason:
    kind: str
    reason: str
    count: int
    ids: tuple[str, ...]  # the first few source ids (report.EXAMPLES)

    @property
    def more(self) -> bool:
        return self.count > len(self.ids)


@dataclass(frozen=True)
class PastRun:
    id: int
    source: str
    file_name: str
    actor: str
    dry_run: bool
    started: datetime
    finished: datetime
    created: dict[str, int]
    updated: dict[str, int]
    unchanged: dict[str, int]
    skipped: tuple[Reason, ...]
    notes: tuple[Reason, ...]
    readable: bool  # False: the stored report could not be read (its counts show as 0)

    def skipped_of(self, kind: str) -> int:
        return sum(r.count for r in self.skipped if r.kind == kind)


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if k in KINDS and isinstance(v, int)}


def _reasons(value: Any) -> tuple[Reason, ...]:
    found = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        ids = item.get("ids")
        found.append(
            Reason(
                str(item.get("kind", "")), str(item.get("reason", "")),
                item["count"] if isinstance(item.get("count"), int) else 0,
                tuple(str(i) for i in ids) if isinstance(ids, list) else (),
            )
        )  # fmt: skip
    return tuple(found)


def _past(run: ImportRun) -> PastRun:
    # A log row outlives the code that wrote it: a report that does not read shows as unreadable.
    try:
        data = json.loads(run.report)
    except ValueError:
        data = None
    report: dict[str, Any] = data if isinstance(data, dict) else {}
    return PastRun(
        run.id, run.source, run.file_name, run.actor, run.dry_run, run.started, run.finished,
        _counts(report.get("created")), _counts(report.get("updated")), _counts(report.get("unchanged")),
        _reasons(report.get("skipped")), _reasons(report.get("notes")), bool(report),
    )  # fmt: skip


async def listing(db: Database, site: str, before: int | None, limit: int) -> list[PastRun]:
    """A site's runs, the latest first; ``before``: only runs older than that one."""
    async with db.read() as tx:
        runs = await tx.imports.runs(site, limit, before)
    return [_past(run) for run in runs]


async def one(db: Database, site: str, run_id: int) -> PastRun:
    async with db.read() as tx:
        run = await tx.imports.run(site, run_id)
    if run is None:
        raise errors.NotFound("No such import")
    return _past(run)
