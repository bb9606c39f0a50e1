"""bench/anchoring.py's scenario, small: anchors placed again by the widget's matcher (anchor.js's
`window.kibitzMatch`, in Chromium) after seeded corrections are never placed on the wrong passage, and
at least 95 % of the passages that still exist are found. Time is the bench's business, not a test's."""

from __future__ import annotations

from playwright.sync_api import Page

from bench.anchoring import judge, load_matcher, run_in, scenario
from tests.browser.conftest import require_bundle


def test_anchors_survive_seeded_corrections_and_never_land_on_the_wrong_passage(page: Page) -> None:
    require_bundle("anchor.js")
    load_matcher(page)
    existing = recovered = 0
    for seed in range(1, 6):
        s = scenario(seed, words=1000, anchors=40, edits=8)
        _, placed = run_in(page, s)
        score = judge(s, placed)
        assert score.wrong == 0, (seed, score.mistakes)
        existing += score.existing
        recovered += score.recovered
    assert existing >= 150  # the edits left most passages in place, so the share below means something
    assert recovered >= 0.95 * existing, f"{recovered}/{existing} recovered"


def test_an_unchanged_article_keeps_every_anchor_where_it_was(page: Page) -> None:
    require_bundle("anchor.js")
    load_matcher(page)
    s = scenario(7, words=1000, anchors=40, edits=0)
    _, placed = run_in(page, s)
    assert placed == [{"start": a["start"], "end": a["end"]} for a in s.anchors]


def test_a_deleted_passage_is_orphaned_even_when_its_words_remain_elsewhere(page: Page) -> None:
    require_bundle("anchor.js")
    load_matcher(page)
    s = scenario(8, words=600, anchors=10, edits=0)
    anchor = s.anchors[0]
    # The passage goes; a copy of it stays elsewhere in other words' company.
    s.after = s.after[: anchor["start"]] + s.after[anchor["end"] :]
    s.origin = s.origin[: anchor["start"]] + s.origin[anchor["end"] :]
    s.after = s.after + " Elsewhere entirely, " + anchor["exact"] + " and more."
    s.origin = s.origin + [-1] * (len(s.after) - len(s.origin))
    s.anchors = [anchor]
    _, placed = run_in(page, s)
    assert placed == [None]
