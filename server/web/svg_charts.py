"""Charts as server-rendered SVG: the pages' CSP allows no script, and
nothing is fetched from a CDN. Colours come from CSS classes (web.css:
a series' own `tone-*` class, else `.series-N`), so a chart follows the stylesheet; every chart has a title and
a description for screen readers, and its numbers are in the table under it.

Two shapes cover the reports: stacked columns over days (`stacked_columns`)
and stacked horizontal bars per rep or source (`stacked_bars`), whose long
names get a row each instead of slanted labels.
"""
from __future__ import annotations

from itertools import count
from math import ceil, log10

from markupsafe import Markup, escape

_ids = count(1)


def nice_max(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 2.5, 5 × 10^n)."""
    if value <= 0:
        return 1
    power = 10 ** int(log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _class(series, index: int) -> str:
    """A series' CSS class: its own third element (`tone-missed`), else `series-N`."""
    return series[index][2] if len(series[index]) > 2 else f"series-{index}"


def _legend(series, x: float, y: float) -> list[str]:
    parts, offset = [], x
    for index, (name, _values, *_tone) in enumerate(series):
        parts.append(f'<rect class="{_class(series, index)}" x="{offset:.1f}" y="{y - 9:.1f}" width="10" height="10" rx="2"/>'
                     f'<text x="{offset + 14:.1f}" y="{y:.1f}" class="legend">{escape(name)}</text>')
        offset += 24 + 7.5 * len(name)
    return parts


def _frame(title: str, description: str, width: int, height: int, body: list[str]) -> Markup:
    chart_id = f"chart-{next(_ids)}"
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(description)}</desc>'
        + "".join(body) + "</svg>")


def stacked_columns(labels: list[str], series: list[tuple], *, title: str,
                    description: str = "", width: int = 760, height: int = 280) -> Markup:
    """One column per label (a day), its series stacked; at most ~12 labels
    are written under the axis, evenly spaced."""
    left, right, top, bottom = 44, 10, 30, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for _name, values, *_tone in series) for i in range(len(labels))]
    top_value = nice_max(max(totals, default=0))
    body = _legend(series, left, 16)
    for step in range(5):
        value = top_value * step / 4
        y = top + plot_h - plot_h * step / 4
        body.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
                    f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    slot = plot_w / max(len(labels), 1)
    bar = max(slot * 0.7, 1)
    every = max(1, ceil(len(labels) / 12))
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        for index, (name, values, *_tone) in enumerate(series):
            h = plot_h * values[i] / top_value
            if h > 0:
                y -= h
                body.append(f'<rect class="{_class(series, index)}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                            f'height="{h:.1f}"><title>{escape(label)}: {values[i]:g} {escape(name)}</title></rect>')
        if i % every == 0:
            body.append(f'<text class="axis" x="{x + bar / 2:.1f}" y="{height - bottom + 16}" '
                        f'text-anchor="middle">{escape(label)}</text>')
    body.append(f'<line class="axis-line" x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    return _frame(title, description or f"{title}: {len(labels)} columns; the table below has the figures.",
                  width, height, body)


def stacked_bars(labels: list[str], series: list[tuple], *, title: str,
                 description: str = "", width: int = 760, row: int = 26) -> Markup:
    """One horizontal bar per label (a rep, a source), its series stacked,
    the label on its left and the total on its right."""
    left, right, top = 170, 56, 30
    height = top + row * max(len(labels), 1) + 10
    plot_w = width - left - right
    totals = [sum(values[i] for _name, values, *_tone in series) for i in range(len(labels))]
    top_value = nice_max(max(totals, default=0))
    body = _legend(series, 8, 16)
    for i, label in enumerate(labels):
        y = top + i * row
        shown = label if len(label) <= 24 else label[:23] + "…"
        body.append(f'<text class="axis label" x="{left - 8}" y="{y + row / 2 + 4:.1f}" text-anchor="end">'
                    f'{escape(shown)}</text>')
        x = left
        for index, (name, values, *_tone) in enumerate(series):
            w = plot_w * values[i] / top_value
            if w > 0:
                body.append(f'<rect class="{_class(series, index)}" x="{x:.1f}" y="{y + 4}" width="{w:.1f}" '
                            f'height="{row - 8}"><title>{escape(label)}: {values[i]:g} {escape(name)}</title></rect>')
                x += w
        body.append(f'<text class="axis" x="{x + 6:.1f}" y="{y + row / 2 + 4:.1f}">{totals[i]:g}</text>')
    return _frame(title, description or f"{title}: {len(labels)} bars; the table below has the figures.",
                  width, height, body)
