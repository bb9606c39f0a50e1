"""What an import did (or, in a dry run, would do): counts of threads and comments created, updated
and skipped, with the reasons, and a bounded list of the records behind each reason."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

EXAMPLES = 20  # source ids kept per reason: enough to find them, bounded for a file of millions


@dataclass
class Report:
    source: str
    file_name: str
    dry_run: bool
    created: Counter[str] = field(default_factory=Counter)  # by kind: thread | comment
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    # (kind, reason) -> count; notes are kept records with something worth knowing (e.g. re-parented).
    skipped: Counter[tuple[str, str]] = field(default_factory=Counter)
    notes: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def created_one(self, kind: str) -> None:
        self.created[kind] += 1

    def updated_one(self, kind: str) -> None:
        self.updated[kind] += 1

    def unchanged_one(self, kind: str) -> None:
        self.unchanged[kind] += 1

    def skip(self, kind: str, source_id: str, reason: str) -> None:
        self.skipped[(kind, reason)] += 1
        self._example(kind, reason, source_id)

    def note(self, kind: str, source_id: str, reason: str) -> None:
        self.notes[(kind, reason)] += 1
        self._example(kind, reason, source_id)

    def _example(self, kind: str, reason: str, source_id: str) -> None:
        found = self.examples.setdefault((kind, reason), [])
        if len(found) < EXAMPLES:
            found.append(source_id)

    def as_dict(self) -> dict[str, Any]:
        def reasons(counts: Counter[tuple[str, str]]) -> list[dict[str, Any]]:
            return [
                {"kind": kind, "reason": reason, "count": n, "ids": self.examples.get((kind, reason), [])}
                for (kind, reason), n in sorted(counts.items())
            ]

        return {
            "source": self.source,
            "file": self.file_name,
            "dry_run": self.dry_run,
            "created": dict(sorted(self.created.items())),
            "updated": dict(sorted(self.updated.items())),
            "unchanged": dict(sorted(self.unchanged.items())),
            "skipped": reasons(self.skipped),
            "notes": reasons(self.notes),
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, sort_keys=True)

    def lines(self) -> list[str]:
        """The report for a person at a terminal."""
        verb = "would be " if self.dry_run else ""
        out = []
        for kind in ("thread", "comment"):
            out.append(
                f"{kind}s: {self.created[kind]} {verb}created, {self.updated[kind]} {verb}updated, "
                f"{self.unchanged[kind]} unchanged, "
                f"{sum(n for (k, _), n in self.skipped.items() if k == kind)} skipped"
            )
        for title, counts in (("skipped", self.skipped), ("note", self.notes)):
            for (kind, reason), n in sorted(counts.items()):
                ids = ", ".join(self.examples.get((kind, reason), []))
                more = " …" if n > EXAMPLES else ""
                out.append(f"  {title}: {n} {kind}(s): {reason} [{ids}{more}]")
        return out
