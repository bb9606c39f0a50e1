"""The dashboard's SVG charts and data tables: well-formed, accessible, escaped, and true to the numbers."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kibitz.charts import NO_DATA, Series, bar_chart, data_table

SVG = "{http://www.w3.org/2000/svg}"
DEC_5 = date(2025, 12, 5)


def days_from(start: date, count: int) -> list[date]:
    return [start + timedelta(days=offset) for offset in range(count)]


def moderation(posted: Sequence[int], approved: Sequence[int], rejected: Sequence[int]) -> list[Series]:
    return [
        Series("posted", posted, "posted"),
        Series("approved", approved, "approved"),
        Series("rejected", rejected, "rejected"),
    ]


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - our own output, not untrusted input


def chart(days: Sequence[date], series: Sequence[Series], *, stacked: bool = True) -> ET.Element:
    return parse(bar_chart(days, series, title="Comments per day", description="d", stacked=stacked))


def group(svg: ET.Element, name: str) -> ET.Element:
    found = svg.find(f"{SVG}g[@class='{name}']")
    assert found is not None, name
    return found


def bars(svg: ET.Element) -> list[ET.Element]:
    return list(group(svg, "kb-chart-bars").iter(f"{SVG}rect"))


def bar_title(rect: ET.Element) -> str:
    title = rect.find(f"{SVG}title")
    assert title is not None
    return title.text or ""


def texts(svg: ET.Element, name: str) -> list[str]:
    return [text.text or "" for text in group(svg, name).iter(f"{SVG}text")]


def test_chart_is_an_image_labelled_by_its_own_title_and_description() -> None:
    svg = parse(
        bar_chart(
            days_from(DEC_5, 3),
            moderation([1, 2, 3], [1, 1, 1], [0, 1, 2]),
            title="Comments per day",
            description="Posted and moderated comments, last 3 days",
        )
    )
    assert svg.get("role") == "img"
    assert svg.get("viewBox") == "0 0 720 240"
    title_id, desc_id = (svg.get("aria-labelledby") or "").split()
    title, desc = svg[0], svg[1]
    assert (title.tag, title.get("id"), title.text) == (f"{SVG}title", title_id, "Comments per day")
    assert (desc.tag, desc.get("id"), desc.text) == (
        f"{SVG}desc",
        desc_id,
        "Posted and moderated comments, last 3 days",
    )


def test_two_charts_on_one_page_have_distinct_ids() -> None:
    days = days_from(DEC_5, 2)
    reports = [Series("reports", [4, 0], "reports")]
    page = parse(
        "<div>{}{}{}</div>".format(
            bar_chart(days, moderation([1, 2], [1, 1], [0, 1]), title="Comments per day", description="a"),
            bar_chart(days, reports, title="Reader reports per day", description="b"),
            bar_chart(days, reports, title="Reader reports per day", description="c", id_prefix="reports-2"),
        )
    )
    ids = [element.get("id") for element in page.iter() if element.get("id")]
    assert len(ids) == 6
    assert len(set(ids)) == 6
    for svg in page:
        assert set((svg.get("aria-labelledby") or "").split()) <= set(ids)


@pytest.mark.parametrize("stacked", [True, False])
def test_one_bar_per_non_zero_count(stacked: bool) -> None:
    series = moderation([3, 0, 5, 0], [2, 0, 0, 1], [1, 0, 4, 0])
    svg = chart(days_from(DEC_5, 4), series, stacked=stacked)
    assert len(bars(svg)) == 6
    assert sorted(bar_title(rect) for rect in bars(svg)) == sorted(
        [
            "Dec 5: posted 3",
            "Dec 7: posted 5",
            "Dec 5: approved 2",
            "Dec 8: approved 1",
            "Dec 5: rejected 1",
            "Dec 7: rejected 4",
        ]
    )


def test_grouped_tallest_bar_is_the_largest_count_and_heights_are_proportional() -> None:
    svg = chart(days_from(DEC_5, 3), moderation([3, 17, 6], [2, 9, 5], [1, 8, 0]), stacked=False)
    by_title = {bar_title(rect): float(rect.get("height", "0")) for rect in bars(svg)}
    assert max(by_title, key=by_title.__getitem__) == "Dec 6: posted 17"
    assert by_title["Dec 6: approved 9"] / by_title["Dec 6: posted 17"] == pytest.approx(9 / 17, abs=0.01)


def test_a_count_of_one_beside_a_huge_count_still_draws_a_visible_bar() -> None:
    svg = chart(days_from(DEC_5, 2), [Series("spam", [40_000, 1], "spam")])
    heights = {bar_title(rect): float(rect.get("height", "0")) for rect in bars(svg)}
    assert heights["Dec 6: spam 1"] >= 0.5
    assert heights["Dec 5: spam 40000"] > 100


def test_stacked_bars_of_the_busiest_day_reach_highest_and_do_not_overlap() -> None:
    svg = chart(days_from(DEC_5, 3), moderation([3, 2, 6], [2, 9, 5], [1, 8, 0]))
    tops = {bar_title(rect): float(rect.get("y", "0")) for rect in bars(svg)}
    assert min(tops, key=tops.__getitem__) == "Dec 6: rejected 8"  # Dec 6 totals 19, drawn last on top
    dec_6 = sorted(
        (float(r.get("y", "0")), float(r.get("height", "0"))) for r in bars(svg) if "Dec 6" in bar_title(r)
    )
    for (y, height), (below_y, _) in itertools.pairwise(dec_6):
        assert y + height == pytest.approx(below_y, abs=0.02)


@pytest.mark.parametrize("maximum", [0, 1, 2, 3, 4, 5, 7, 9, 10, 11, 19, 99, 100, 101, 250, 1234, 99_999])
def test_y_axis_has_3_to_5_evenly_spaced_integer_ticks_from_zero_covering_the_maximum(maximum: int) -> None:
    svg = chart(days_from(DEC_5, 2), [Series("reports", [maximum, 0], "reports")])
    labels = texts(svg, "kb-chart-yaxis")
    assert all(re.fullmatch(r"0|[1-9][0-9]*", label) for label in labels)
    ticks = [int(label) for label in labels]
    assert 3 <= len(ticks) <= 5
    assert ticks[0] == 0
    assert ticks[-1] >= maximum
    assert len({b - a for a, b in itertools.pairwise(ticks)}) == 1
    step = ticks[1]
    assert re.fullmatch(r"[125]0*", str(step)), step
    assert len(group(svg, "kb-chart-grid")) == len(ticks)


def test_day_labels_are_a_readable_subset_ending_at_the_newest_day() -> None:
    svg = chart(days_from(date(2025, 9, 8), 90), [Series("posted", list(range(90)), "posted")])
    labels = texts(svg, "kb-chart-xaxis")
    assert len(labels) >= 3
    xs = [float(text.get("x", "0")) for text in group(svg, "kb-chart-xaxis")]
    assert min(b - a for a, b in itertools.pairwise(xs)) >= 45  # a label like "Sep 30" needs about 40 units
    assert labels[-1] == "Dec 6"
    assert all(re.fullmatch(r"[A-Z][a-z]{2} [1-9][0-9]?", label) for label in labels)
    few = chart(days_from(DEC_5, 3), [Series("posted", [1, 2, 3], "posted")])
    assert texts(few, "kb-chart-xaxis") == ["Dec 5", "Dec 6", "Dec 7"]


def test_text_and_grid_follow_the_page_colour_and_series_take_a_custom_property() -> None:
    svg = chart(days_from(DEC_5, 2), moderation([1, 2], [1, 1], [0, 1]))
    assert group(svg, "kb-chart-grid").get("stroke") == "currentColor"
    for name in ("kb-chart-yaxis", "kb-chart-xaxis", "kb-chart-legend"):
        assert group(svg, name).get("fill") == "currentColor"
    series_groups = list(group(svg, "kb-chart-bars"))
    assert [g.get("class") for g in series_groups] == ["posted", "approved", "rejected"]
    for series_group in series_groups:
        fallback = series_group.get("fill")
        assert fallback is not None
        assert re.fullmatch(r"#[0-9a-f]{6}", fallback)
        assert series_group.get("style") is None  # a strict CSP refuses inline styles
    assert texts(svg, "kb-chart-legend") == ["posted", "approved", "rejected"]


def test_series_names_titles_and_captions_are_escaped() -> None:
    evil = "<script>alert(1)</script>"
    days = days_from(DEC_5, 1)
    series = [Series(evil, [2], "evil")]
    markup = bar_chart(days, series, title=f"{evil} & co", description=evil)
    table = data_table(days, series, caption=evil, day_heading=evil)
    assert "<script" not in markup
    assert "<script" not in table
    svg = parse(markup)
    assert svg[0].text == f"{evil} & co"
    assert texts(svg, "kb-chart-legend") == [evil]
    assert [bar_title(rect) for rect in bars(svg)] == [f"Dec 5: {evil} 2"]
    parsed = parse(table)
    assert parsed.findtext("caption") == evil
    assert [th.text for th in parsed.iter("th") if th.get("scope") == "col"] == [evil, evil]


@pytest.mark.parametrize("css_class", ['x" onload="alert(1)', "Approved", "1st", "", "a b"])
def test_series_css_class_must_be_a_plain_lowercase_name(css_class: str) -> None:
    with pytest.raises(ValueError, match="css_class"):
        Series("approved", [1], css_class)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Series("approved", [1, -1], "approved")
    with pytest.raises(ValueError, match="3 values for 2 days"):
        bar_chart(days_from(DEC_5, 2), [Series("a", [1, 2, 3], "a")], title="t", description="d")
    with pytest.raises(ValueError, match="increasing"):
        data_table([DEC_5, DEC_5], [Series("a", [1, 2], "a")], caption="c")
    with pytest.raises(ValueError, match="id_prefix"):
        bar_chart([], [], title="t", description="d", id_prefix='x"')


def test_all_zero_data_draws_axes_and_no_bars() -> None:
    svg = chart(days_from(DEC_5, 30), moderation([0] * 30, [0] * 30, [0] * 30))
    assert bars(svg) == []
    assert texts(svg, "kb-chart-yaxis") == ["0", "1", "2"]
    assert texts(svg, "kb-chart-xaxis")[-1] == "Jan 3"


def test_a_single_day_draws_its_label_and_bars() -> None:
    svg = chart([DEC_5], moderation([4], [3], [1]), stacked=False)
    assert texts(svg, "kb-chart-xaxis") == ["Dec 5"]
    assert [bar_title(rect) for rect in bars(svg)] == [
        "Dec 5: posted 4",
        "Dec 5: approved 3",
        "Dec 5: rejected 1",
    ]


@pytest.mark.parametrize("series", [[], moderation([], [], [])])
def test_no_days_or_no_series_say_no_data_yet(series: list[Series]) -> None:
    svg = parse(bar_chart([], series, title="Comments per day", description="Last 90 days."))
    assert svg.get("role") == "img"
    assert svg[1].text == f"Last 90 days. {NO_DATA}."
    assert [text.text for text in svg.iter(f"{SVG}text")] == [NO_DATA]
    assert list(svg.iter(f"{SVG}rect")) == []
    table = parse(data_table([], series, caption="Comments per day"))
    body = table.find("tbody")
    assert body is not None
    assert [cell.text for row in body for cell in row] == [NO_DATA]


def test_table_has_one_row_per_day_newest_first_with_each_count() -> None:
    days = days_from(date(2025, 12, 30), 3)
    table = parse(data_table(days, moderation([3, 0, 12], [2, 0, 10], [1, 0, 2]), caption="Comments per day"))
    assert table.findtext("caption") == "Comments per day"
    assert [th.text for th in table.iterfind("thead/tr/th")] == ["Day", "posted", "approved", "rejected"]
    assert all(th.get("scope") == "col" for th in table.iterfind("thead/tr/th"))
    rows = table.findall("tbody/tr")
    assert [row.findtext("th/time") for row in rows] == ["Jan 1", "Dec 31", "Dec 30"]
    assert [time.get("datetime") for time in table.iterfind("tbody/tr/th/time")] == [
        "2026-01-01",
        "2025-12-31",
        "2025-12-30",
    ]
    assert [[td.text for td in row.iterfind("td")] for row in rows] == [
        ["12", "10", "2"],
        ["0", "0", "0"],
        ["3", "2", "1"],
    ]


@settings(max_examples=500, deadline=None, derandomize=True)
@given(
    st.integers(min_value=1, max_value=90).flatmap(
        lambda count: st.lists(
            st.lists(st.integers(min_value=0, max_value=10_000), min_size=count, max_size=count),
            min_size=1,
            max_size=4,
        )
    ),
    st.booleans(),
)
def test_any_counts_give_well_formed_bars_inside_the_plot(rows: list[list[int]], stacked: bool) -> None:
    days = days_from(DEC_5, len(rows[0]))
    series = [Series(f"s{number}", values, f"s{number}") for number, values in enumerate(rows)]
    svg = chart(days, series, stacked=stacked)
    drawn = bars(svg)
    assert len(drawn) == sum(1 for values in rows for value in values if value)
    top = int(texts(svg, "kb-chart-yaxis")[-1])
    for rect in drawn:
        x, y = float(rect.get("x", "-1")), float(rect.get("y", "-1"))
        width, height = float(rect.get("width", "-1")), float(rect.get("height", "-1"))
        assert x >= 44 - 0.01
        assert x + width <= 696 + 0.02  # x and width are each rounded to 0.01
        assert y >= 32 - 0.5 * len(rows)  # bars of tiny counts are drawn 0.5 units tall at least
        assert y + height <= 216 + 1e-9
        assert width > 0
        assert height >= 0.5
    assert top >= max((sum(column) if stacked else max(column)) for column in zip(*rows, strict=True))
