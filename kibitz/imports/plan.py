"""The first read of an import: every record checked and the whole shape known (threads, who replies
to whom, loops) before anything is written. It keeps ids only, never text, so memory grows with the
number of comments, not with the size of the file."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from kibitz.config import SiteConfig
from kibitz.imports.normalise import PageMap, ThreadTarget, thread_target
from kibitz.imports.records import CommentRecord, Refused, SkippedRecord, Source, ThreadRecord
from kibitz.imports.report import Report

Progress = Callable[[int], None]  # records read so far


@dataclass
class Plan:
    threads: dict[str, ThreadTarget] = field(default_factory=dict)
    # comment source id -> (thread source id, parent source id as it will be stored)
    comments: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    records: int = 0

    def used_threads(self) -> set[str]:
        return {thread for thread, _ in self.comments.values()}


def scan(source: Source, site: SiteConfig, maps: list[PageMap], report: Report, progress: Progress) -> Plan:
    """Read the whole file once; raises Refused (nothing written yet) when it cannot be imported."""
    plan = Plan()
    skipped_threads: set[str] = set()
    raw: dict[str, tuple[str, str | None]] = {}
    for record in source.records():
        plan.records += 1
        if plan.records % 1000 == 0:
            progress(plan.records)
        if isinstance(record, ThreadRecord):
            if record.source_id in plan.threads or record.source_id in skipped_threads:
                report.skip(
                    "thread", record.source_id, "the file has this thread id twice: the first is kept"
                )
                continue
            target = thread_target(record, site, maps)
            if isinstance(target, str):
                skipped_threads.add(record.source_id)
                report.skip("thread", record.source_id, target)
            else:
                plan.threads[record.source_id] = target
        elif isinstance(record, CommentRecord):
            if record.source_id in raw:
                report.skip(
                    "comment", record.source_id, "the file has this comment id twice: the first is kept"
                )
                continue
            # One string per thread however many comments name it: a file of millions is held whole.
            raw[record.source_id] = (sys.intern(record.thread_id), record.parent_id)
        elif isinstance(record, SkippedRecord):
            report.skip(record.kind, record.source_id, record.reason)
            if record.kind == "thread":
                skipped_threads.add(record.source_id)
    progress(plan.records)
    dropped = [sid for sid, (thread, _) in raw.items() if thread not in plan.threads]
    for sid in dropped:
        if raw[sid][0] in skipped_threads:
            report.skip("comment", sid, "its thread was skipped")
        else:
            report.skip("comment", sid, "its thread is not in the file")
        del raw[sid]
    kept = raw  # changed in place: no second map of every comment
    _refuse_loops(kept)
    for sid, (thread, parent) in kept.items():
        if parent is not None and parent not in kept:
            report.note(
                "comment", sid, "its parent is not in the file (or was skipped): kept as a top-level comment"
            )
            kept[sid] = (thread, None)
        elif parent is not None and kept[parent][0] != thread:
            report.note("comment", sid, "its parent is in another thread: kept as a top-level comment")
            kept[sid] = (thread, None)
    plan.comments = kept
    unused = set(plan.threads) - plan.used_threads()
    for sid in sorted(unused):
        report.skip("thread", sid, "no comments")
        del plan.threads[sid]
    return plan


def _refuse_loops(comments: dict[str, tuple[str, str | None]]) -> None:
    """Raise Refused when replies form a loop (a comment that is its own ancestor)."""
    settled: set[str] = set()
    for start in comments:
        chain: list[str] = []
        on_chain: set[str] = set()
        node: str | None = start
        while node is not None and node in comments and node not in settled:
            if node in on_chain:
                loop = [*chain[chain.index(node) :], node]
                shown = " → ".join(loop[:10]) + (" → …" if len(loop) > 10 else "")
                raise Refused(f"comments reply to each other in a loop ({shown}); nothing was imported")
            chain.append(node)
            on_chain.add(node)
            node = comments[node][1]
        settled.update(chain)
