"""Server-side SVG bar charts and their data tables for the moderators' dashboard (no JavaScript).

Text and grid lines use `currentColor`; series colours come from `--chart-<css_class>` custom properties.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

__all__ = ["NO_DATA", "Series", "bar_chart", "data_table"]

NO_DATA = "No data yet"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CSS_CLASS = re.compile(r"[a-z][a-z0-9-]{0,31}")
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
# Okabe-Ito colours: told apart with colour-vision deficiencies, legible on light and dark backgrounds.
_FALLBACKS = ("#0072b2", "#009e73", "#d55e00", "#cc79a7", "#e69f00", "#56b4e9")
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 24, 32, 24  # room for tick labels, the last day label, legend, days
_LABEL_WIDTH = 48  # room one "Dec 17" label needs along the x axis


@dataclass(frozen=True)
class Series:
    """One named row of daily counts; `css_class` (lowercase letters, digits, hyphens) names its colour."""

    name: str
    values: Sequence[int]
    css_class: str

    def __post_init__(self) -> None:
        if _CSS_CLASS.fullmatch(self.css_class) is None:
            raise ValueError(f"css_class must match {_CSS_CLASS.pattern}: {self.css_class!r}")
        if any(value < 0 for value in self.values):
            raise ValueError(f"series {self.name!r} has a negative count")


def bar_chart(
    days: Sequence[date],
    series: Sequence[Series],
    *,
    title: str,
    description: str,
    stacked: bool = True,
    width: int = 720,
    height: int = 240,
    id_prefix: str | None = None,
) -> Markup:
    """An inline `<svg role="img">` with one bar per non-zero count; zero counts draw nothing.

    `days` ascend strictly (pass every day, with zeros, so the x axis stays linear in time); each
    series has one value per day. Stacked bars pile the series in order from the bottom; grouped
    ones stand side by side. Charts with the same title on one page need distinct `id_prefix`es.
    """
    _check(days, series)
    if width < 200 or height < 120:
        raise ValueError("a chart needs at least 200 x 120 units")
    prefix = _id_prefix(title, id_prefix)
    empty = not days or not series
    desc = f"{description} {NO_DATA}.".strip() if empty else description
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="kb-chart" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="{prefix}-title {prefix}-desc" font-size="11">',
        f'<title id="{prefix}-title">{escape(title)}</title>',
        f'<desc id="{prefix}-desc">{escape(desc)}</desc>',
    ]
    if empty:
        parts.append(
            f'<text class="kb-chart-empty" x="{width / 2:g}" y="{height / 2:g}" text-anchor="middle" '
            f'fill="currentColor">{NO_DATA}</text>'
        )
    else:
        parts.extend(_plot(days, series, stacked, width, height))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - user text is escaped where it is interpolated


def data_table(
    days: Sequence[date], series: Sequence[Series], *, caption: str, day_heading: str = "Day"
) -> Markup:
    """The chart's numbers as a `<table>`: a column per series, a row per day, newest day first."""
    _check(days, series)
    heads = "".join(f'<th scope="col">{escape(one.name)}</th>' for one in series)
    rows = [
        f'<tr><th scope="row"><time datetime="{day.isoformat()}">{_label(day)}</time></th>'
        + "".join(f"<td>{one.values[index]:d}</td>" for one in series)
        + "</tr>"
        for index, day in reversed(list(enumerate(days)))
    ]
    if not rows:
        rows = [f'<tr><td colspan="{len(series) + 1}">{NO_DATA}</td></tr>']
    return Markup(  # noqa: S704 - user text is escaped where it is interpolated
        f'<table class="kb-chart-table"><caption>{escape(caption)}</caption>'
        f'<thead><tr><th scope="col">{escape(day_heading)}</th>{heads}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _plot(
    days: Sequence[date], series: Sequence[Series], stacked: bool, width: int, height: int
) -> list[str]:
    left, right, top, bottom = _LEFT, width - _RIGHT, _TOP, height - _BOTTOM
    columns = [[one.values[index] for one in series] for index in range(len(days))]
    ticks = _ticks(max(sum(column) if stacked else max(column) for column in columns))
    scale = (bottom - top) / ticks[-1]
    slot = (right - left) / len(days)
    group = min(slot - min(slot * 0.2, 4.0), 48.0 if stacked else 24.0 * len(series))  # centred in its slot
    bar = group if stacked else group / len(series)

    parts = ['<g class="kb-chart-grid" stroke="currentColor" stroke-opacity="0.2">']
    parts += [
        f'<line x1="{left}" x2="{right}" y1="{_n(bottom - t * scale)}" y2="{_n(bottom - t * scale)}"/>'
        for t in ticks
    ]
    parts.append('</g><g class="kb-chart-yaxis" fill="currentColor" text-anchor="end">')
    parts += [f'<text x="{left - 6}" y="{_n(bottom - t * scale + 4)}">{t:d}</text>' for t in ticks]
    parts.append('</g><g class="kb-chart-xaxis" fill="currentColor" text-anchor="middle">')
    parts += [
        f'<text x="{_n(left + (index + 0.5) * slot)}" y="{height - 8}">{_label(days[index])}</text>'
        for index in _labelled(len(days), right - left)
    ]
    parts.append('</g><g class="kb-chart-legend" fill="currentColor">')
    x = float(left)
    for number, one in enumerate(series):
        parts.append(
            f'<rect x="{_n(x)}" y="10" width="10" height="10" {_paint(one, number)}/>'
            f'<text x="{_n(x + 14)}" y="19">{escape(one.name)}</text>'
        )
        x += 30 + 7 * len(one.name)
    parts.append('</g><g class="kb-chart-bars">')
    bases = [float(bottom)] * len(days)  # where each day's next stacked bar starts
    for number, one in enumerate(series):
        parts.append(f"<g {_paint(one, number)}>")
        for index, value in enumerate(one.values):
            if value == 0:
                continue
            x = left + (index + 0.5) * slot - group / 2 + (0 if stacked else number * bar)
            tall = max(value * scale, 0.5)  # a count of 1 on a tall axis stays visible and hoverable
            # Rounded ends, and the height between them, so a bar ends exactly where it starts the next.
            y, below = round(bases[index] - tall, 2), round(bases[index], 2)
            if stacked:
                bases[index] = y
            parts.append(
                f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(bar)}" height="{_n(below - y)}">'
                f"<title>{_label(days[index])}: {escape(one.name)} {value:d}</title></rect>"
            )
        parts.append("</g>")
    parts.append("</g>")
    return parts


def _ticks(maximum: int) -> list[int]:
    """3-5 evenly spaced integer ticks from 0 up to at least `maximum`, by 1, 2 or 5 times a power of ten."""
    step = 1
    while math.ceil(maximum / step) > 4:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    return [step * count for count in range(max(2, math.ceil(maximum / step)) + 1)]


def _labelled(count: int, span: float) -> list[int]:
    """Indexes of the days to label: every 1st, 2nd, 7th, 14th, 28th ... day back from the newest."""
    room = max(1, int(span // _LABEL_WIDTH))
    every = 1
    while math.ceil(count / every) > room:
        every = 7 if every == 2 else every * 2
    return list(range(count - 1, -1, -every))[::-1]


def _paint(one: Series, number: int) -> str:
    # No inline style (the admin's CSP forbids them): the class takes the stylesheet's colour
    # (`fill: var(--chart-<class>)`), and the `fill` attribute colours the bars without one.
    fallback = _FALLBACKS[number % len(_FALLBACKS)]
    return f'class="{one.css_class}" fill="{fallback}"'


def _check(days: Sequence[date], series: Sequence[Series]) -> None:
    if any(later <= earlier for earlier, later in itertools.pairwise(days)):
        raise ValueError("days must be strictly increasing")
    for one in series:
        if len(one.values) != len(days):
            raise ValueError(f"series {one.name!r} has {len(one.values)} values for {len(days)} days")


def _id_prefix(title: str, given: str | None) -> str:
    if given is not None:
        if _ID.fullmatch(given) is None:
            raise ValueError(f"id_prefix must match {_ID.pattern}: {given!r}")
        return given
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].rstrip("-")
    return f"kb-chart-{slug or hashlib.sha256(title.encode()).hexdigest()[:8]}"


def _label(day: date) -> str:
    return f"{_MONTHS[day.month - 1]} {day.day}"


def _n(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")
