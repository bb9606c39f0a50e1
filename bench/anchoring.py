"""Re-anchoring figures (`python -m bench.anchoring`; docs/widget.md#inline-feedback): anchors placed
again in an article after a round of corrections, by the widget's own matcher in Chromium.

1. **The article.** ``--words`` words (default 5,000) of English-like prose from a seeded generator:
   common function words among invented words drawn with Zipf weights, sentences of 6–24 words,
   as the widget sees an article's text (runs of white space as one space).
2. **The anchors.** ``--anchors`` passages (default 200) at random word boundaries, 2–24 words long,
   each stored as the widget stores it: the quote, 32 characters before and after, start, end, hash.
3. **The corrections.** ``--edits`` edits (default 30) scattered over the article: a word replaced, a
   few words inserted or deleted, a sentence inserted, deleted or rewritten, a sentence repeated
   elsewhere. Every character keeps its origin, so where each passage is now is known exactly.
4. **The run.** kibitz/static/anchor.js in a fresh Chromium page (its matcher, `window.kibitzMatch`,
   called once on all anchors, as the widget does), ``--runs`` times; the time of each call by
   `performance.now()`, and the median: the figure the target is about, a page's one cold call. Then
   the same call again in the same page (compiled by then), for what the code itself costs.

A passage *still exists* when the text now between its first and last surviving characters is at
most a fifth different from the quote (edit distance): what a reader would call the same passage,
corrected. An anchor is *recovered* when it is placed over its passage (the placed range and the
passage's range overlap by at least half their union), *wrong* when it is placed anywhere else, and
*orphaned* when it is shown as "on an earlier version". Targets: recovered ≥ 95 % of the passages that
still exist, 0 wrong, ≤ 50 ms. Prints the figures; asserts nothing (tests/browser/test_anchoring_bench.py
runs the same scenario small and asserts). Loopback only, no server: a page made from the file.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.baseline import git_revision, load_average

ROOT = Path(__file__).resolve().parent.parent
ANCHOR_JS = ROOT / "kibitz" / "static" / "anchor.js"
CONTEXT = 32
SHARE = 0.95  # recovered, of the passages that still exist
MS = 50.0
FUNCTION_WORDS = (
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "that",
    "for",
    "it",
    "was",
    "on",
    "with",
    "as",
    "by",
    "at",
    "said",
    "from",
    "his",
    "her",
    "they",
    "this",
    "be",
    "are",
    "have",
    "has",
    "not",
    "but",
    "were",
    "which",
    "one",
    "would",
    "will",
    "their",
    "been",
    "who",
    "its",
    "after",
    "had",
    "an",
    "more",
    "about",
    "than",
)
SYLLABLES = [c + v for c in "bcdfgklmnprstvwyz" for v in "aeiou"]


@dataclass
class Scenario:
    """The article before and after, where each original character went, and the anchors."""

    before: str
    after: str
    origin: list[int]  # for each character of `after`: its index in `before`, or -1 (inserted)
    anchors: list[dict[str, Any]] = field(default_factory=list)


def fnv1a(text: str) -> str:
    """The widget's hash of the article's text (match.ts `hash`: FNV-1a, 32 bits, over UTF-16 units)."""
    x = 0x811C9DC5
    for code in memoryview(text.encode("utf-16-le")).cast("H"):
        x = ((x ^ code) * 0x01000193) & 0xFFFFFFFF
    return f"{x:08x}"


class Prose:
    """A seeded generator of English-like sentences."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        vocabulary: set[str] = set()
        while len(vocabulary) < 3000:
            vocabulary.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))))
        self.words = sorted(vocabulary)
        rng.shuffle(self.words)
        self.weights = [1 / (rank + 1) for rank in range(len(self.words))]

    def word(self) -> str:
        if self.rng.random() < 0.4:
            return self.rng.choice(FUNCTION_WORDS)
        return self.rng.choices(self.words, self.weights)[0]

    def sentence(self) -> str:
        words = [self.word() for _ in range(self.rng.randint(6, 24))]
        return " ".join(words).capitalize() + "."

    def phrase(self, n: int) -> str:
        return " ".join(self.word() for _ in range(n))


def sentences_of(text: str) -> list[tuple[int, int]]:
    """[start, end) of each sentence (ending with its period) in text."""
    out, start = [], 0
    for i, ch in enumerate(text):
        if ch == ".":
            out.append((start, i + 1))
            start = i + 2
    return out


def words_of(text: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for i, ch in enumerate(text + " "):
        if ch == " ":
            if i > start:
                out.append((start, i))
            start = i + 1
    return out


def splice(s: Scenario, start: int, end: int, new: str, origin: list[int] | None = None) -> None:
    """Replace after[start:end] by `new` (whose characters come from `origin`, else are new)."""
    s.after = s.after[:start] + new + s.after[end:]
    s.origin[start:end] = origin if origin is not None else [-1] * len(new)


def edit(s: Scenario, prose: Prose, rng: random.Random, kind: str) -> None:
    words = words_of(s.after)
    sentences = sentences_of(s.after)
    if kind == "replace-word":
        a, b = rng.choice(words)
        splice(s, a, b, prose.word())
    elif kind == "insert-words":
        a, _ = rng.choice(words)
        splice(s, a, a, prose.phrase(rng.randint(1, 4)) + " ")
    elif kind == "delete-words":
        i = rng.randrange(len(words) - 8)
        n = rng.randint(1, 6)
        splice(s, words[i][0], words[i + n][0], "")
    elif kind == "insert-sentence":
        a, _ = rng.choice(sentences)
        splice(s, a, a, prose.sentence() + " ")
    elif kind == "delete-sentence":
        a, b = rng.choice(sentences[:-1])
        splice(s, a, b + 1, "")
    elif kind == "rewrite-sentence":
        a, b = rng.choice(sentences)
        splice(s, a, b, prose.sentence())
    elif kind == "repeat-sentence":  # the same sentence twice: a copy elsewhere, its characters new
        a, b = rng.choice(sentences)
        at, _ = rng.choice(sentences)
        splice(s, at, at, s.after[a:b] + " ")


KINDS = (
    "replace-word",
    "replace-word",
    "insert-words",
    "delete-words",
    "insert-sentence",
    "delete-sentence",
    "rewrite-sentence",
    "repeat-sentence",
)


def scenario(seed: int, words: int, anchors: int, edits: int) -> Scenario:
    rng = random.Random(seed)
    prose = Prose(rng)
    parts: list[str] = []
    count = 0
    while count < words:
        sentence = prose.sentence()
        parts.append(sentence)
        count += sentence.count(" ") + 1
    before = " ".join(parts)
    s = Scenario(before, before, list(range(len(before))))
    spans = words_of(before)
    digest = fnv1a(before)
    for _ in range(anchors):
        i = rng.randrange(len(spans) - 25)
        start, end = spans[i][0], spans[i + rng.randint(1, 23)][1]
        s.anchors.append(
            {
                "exact": before[start:end],
                "prefix": before[max(0, start - CONTEXT) : start],
                "suffix": before[end : end + CONTEXT],
                "start": start,
                "end": end,
                "hash": digest,
            }
        )
    for _ in range(edits):
        edit(s, prose, rng, rng.choice(KINDS))
    return s


def lev(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def truth(s: Scenario, anchor: dict[str, Any]) -> tuple[int, int] | None:
    """Where the passage is now, if it still exists (see the top of this file)."""
    start, end = anchor["start"], anchor["end"]
    kept = [i for i, o in enumerate(s.origin) if start <= o < end]
    if not kept:
        return None
    span = (kept[0], kept[-1] + 1)
    if lev(anchor["exact"], s.after[span[0] : span[1]]) > len(anchor["exact"]) / 5:
        return None
    return span


def overlap(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union else 0.0


@dataclass
class Score:
    existing: int = 0
    recovered: int = 0
    wrong: int = 0
    orphaned: int = 0
    gone: int = 0
    gone_orphaned: int = 0
    mistakes: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        return self.recovered / self.existing if self.existing else 1.0


def judge(s: Scenario, placed: list[dict[str, int] | None]) -> Score:
    score = Score()
    for anchor, at in zip(s.anchors, placed, strict=True):
        where = truth(s, anchor)
        if where is None:
            score.gone += 1
        else:
            score.existing += 1
        if at is None:
            score.orphaned += 1
            score.gone_orphaned += where is None
            continue
        got = (at["start"], at["end"])
        if where is not None and overlap(got, where) >= 0.5:
            score.recovered += 1
            continue
        # Placed on what is left of a passage that no longer counts as existing: not a wrong place.
        kept = [o for o in s.origin[got[0] : got[1]] if anchor["start"] <= o < anchor["end"]]
        if where is None and len(kept) * 2 >= got[1] - got[0]:
            continue
        score.wrong += 1
        score.mistakes.append(f"{anchor['exact'][:60]!r} placed on {s.after[got[0] : got[1]][:60]!r}")
    return score


def run_in(page: Any, s: Scenario) -> tuple[float, list[dict[str, int] | None]]:
    """Call the widget's matcher once in `page` (anchor.js loaded): milliseconds and placements."""
    found: list[Any] = page.evaluate(
        """([text, sels]) => {
          const t0 = performance.now();
          const placed = window.kibitzMatch(text, sels);
          return [performance.now() - t0, placed.map(p => p && {start: p.start, end: p.end})];
        }""",
        [s.after, s.anchors],
    )
    return float(found[0]), found[1]


def load_matcher(page: Any) -> None:
    page.set_content("<!doctype html><title>anchoring</title>")
    page.add_script_tag(content=ANCHOR_JS.read_text(encoding="utf-8"))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.anchoring", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--words", type=int, default=5000, help="words in the article (500-50000)")
    parser.add_argument("--anchors", type=int, default=200, help="anchored comments (10-2000)")
    parser.add_argument("--edits", type=int, default=30, help="corrections (0-500)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs, each in a fresh page (1-50)")
    parser.add_argument("--show", type=int, default=5, help="print this many wrong placements")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    for name, low, high in (("words", 500, 50000), ("anchors", 10, 2000), ("edits", 0, 500), ("runs", 1, 50)):
        if not low <= getattr(args, name) <= high:
            parser.error(f"--{name} must be from {low} to {high}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from playwright.sync_api import sync_playwright

    if not ANCHOR_JS.is_file():
        print(
            "kibitz/static/anchor.js has not been built (cd widget && npm ci && npm run build)",
            file=sys.stderr,
        )
        return 2
    chromium = shutil.which("chromium")
    if chromium is None:
        print("Debian's chromium is needed (apt-get install chromium)", file=sys.stderr)
        return 2
    s = scenario(args.seed, args.words, args.anchors, args.edits)
    words = s.before.count(" ") + 1
    print(f"anchoring bench: rev {git_revision() or '?'}, load {load_average()} before the run")
    print(f"  seed {args.seed}, {words} words ({len(s.before)} characters), {len(s.anchors)} anchors, "
          f"{args.edits} edits ({len(s.after) - len(s.before):+d} characters)")  # fmt: skip
    times: list[float] = []
    warm: list[float] = []
    placed: list[dict[str, int] | None] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            for _ in range(args.runs):
                page = browser.new_page()
                load_matcher(page)
                ms, placed = run_in(page, s)
                times.append(ms)
                warm.append(run_in(page, s)[0])  # the same call again, compiled: what the code costs
                page.close()
        finally:
            browser.close()
    score = judge(s, placed)
    median = statistics.median(times)
    print(f"  passages that still exist: {score.existing}; gone (deleted or rewritten): {score.gone}")
    print(f"  recovered {score.recovered}/{score.existing} = {score.share:.1%}   wrong {score.wrong}   "
          f"orphaned {score.orphaned} (of them gone {score.gone_orphaned})")  # fmt: skip
    print(f"  time in Chromium: median {median:.1f} ms of {args.runs} fresh pages "
          f"(min {min(times):.1f}, max {max(times):.1f}); called again in the same page: "
          f"median {statistics.median(warm):.1f} ms")  # fmt: skip
    for line in score.mistakes[: args.show]:
        print("    WRONG:", line)
    ok_share, ok_wrong, ok_time = score.share >= SHARE, score.wrong == 0, median <= MS
    print(
        f"{'PASS' if ok_share else 'FAIL'} recovered ≥ {SHARE:.0%} of existing passages ({score.share:.1%})"
    )
    print(f"{'PASS' if ok_wrong else 'FAIL'} 0 attached to the wrong place ({score.wrong})")
    print(f"{'PASS' if ok_time else 'FAIL'} ≤ {MS:.0f} ms in Chromium ({median:.1f} ms median)")
    if args.json:
        figures = {
            "seed": args.seed,
            "words": words,
            "anchors": len(s.anchors),
            "edits": args.edits,
            "existing": score.existing,
            "recovered": score.recovered,
            "wrong": score.wrong,
            "orphaned": score.orphaned,
            "gone": score.gone,
            "ms": times,
            "warm_ms": warm,
            "median_ms": median,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
