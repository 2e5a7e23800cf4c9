"""Charts drawn on the server as inline SVG: stacked bars per day and grouped bars per month.
No JavaScript and nothing from a CDN; every label is escaped, every bar carries its figure
(``data-value`` and a ``<title>`` tooltip), so the page reads the same printed or in a test."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 18, 34
PALETTE = ("#417690", "#e07b39", "#5aa469", "#c94c4c", "#8e6bb8", "#b5a642", "#4bb3c4", "#a86b4c", "#7f7f7f",
           "#d46aa8")
MARKER_COLOR = "#ba2121"


def escape(value: object) -> str:
    """HTML-escaped text of a label or figure (the standard library's: Django's lazy-aware
    ``escape`` costs ten times as much, and a year of bars calls it 25,000 times)."""
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Series:
    """One stacked or grouped series: a label and one value per category."""

    key: str
    label: str
    values: Sequence[float | None]  # None: nothing to measure (no bar)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above ``value`` (1 for nothing)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else f"{int(value)}"


def _axis(top: float, unit: str) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    for n in range(5):
        value = top * n / 4
        y = TOP + plot_h - plot_h * n / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#ddd" stroke-width="1"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{escape(_number(round(value, 2)))}{escape(unit)}</text>')
    return parts


def _legend(series: Sequence[Series], extra: Sequence[tuple[str, str]] = ()) -> str:
    items = [(PALETTE[n % len(PALETTE)], s.label) for n, s in enumerate(series)] + list(extra)
    return "".join(f'<li><span class="swatch" style="background:{color}"></span>{escape(label)}</li>'
                   for color, label in items)


def _figure(chart_id: str, title: str, body: list[str], legend: str) -> SafeString:
    svg = (f'<svg id="{escape(chart_id)}" class="chart" role="img" aria-label="{escape(title)}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMinYMin meet" '
           f'xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>')
    return mark_safe(f'<figure class="chart-figure">{svg}<ul class="chart-legend">{legend}</ul></figure>')  # noqa: S308 - every label above is escaped


def stacked_bars(*, chart_id: str, title: str, categories: Sequence[str], series: Sequence[Series],
                 markers: Sequence[int] = (), marker_label: str = "", unit: str = "") -> SafeString:
    """One bar per category (a day), its series stacked; ``markers`` (one count per category)
    draws a red mark above the bars of the categories where it is above 0."""
    n = len(categories)
    totals = [sum(s.values[i] or 0 for s in series) for i in range(n)]
    top = nice_ceiling(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(n, 1)
    bar_w = max(slot * 0.8, 1.0)
    body = _axis(top, unit)
    # each label escaped once, not once per bar (a year of days draws thousands of bars)
    keys = [escape(s.key) for s in series]
    names = [escape(s.label) for s in series]
    unit_text, marker_text = escape(unit), escape(marker_label)
    for i, category in enumerate(categories):
        x = LEFT + i * slot + (slot - bar_w) / 2
        y: float = TOP + plot_h
        cat = escape(category)
        for k, s in enumerate(series):
            value = s.values[i] or 0
            if value <= 0:
                continue
            h = plot_h * value / top
            y -= h
            figure = escape(_number(value))
            body.append(f'<rect class="bar" data-series="{keys[k]}" data-category="{cat}" '
                        f'data-value="{figure}" x="{x:.2f}" y="{y:.2f}" width="{bar_w:.2f}" '
                        f'height="{h:.2f}" fill="{PALETTE[k % len(PALETTE)]}"><title>{cat} · '
                        f'{names[k]}: {figure}{unit_text}</title></rect>')
        if i < len(markers) and markers[i] > 0:
            body.append(f'<rect class="marker" data-category="{cat}" data-value="{markers[i]}" '
                        f'x="{x:.2f}" y="{TOP - 12}" width="{max(bar_w, 3):.2f}" height="6" fill="{MARKER_COLOR}">'
                        f'<title>{cat} · {marker_text}: {markers[i]}</title></rect>')
    every = max(1, math.ceil(n / 12))
    for i in range(0, n, every):
        x = LEFT + i * slot + slot / 2
        body.append(f'<text class="label" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                    f'{escape(categories[i])}</text>')
    extra = [(MARKER_COLOR, marker_label)] if marker_label else []
    return _figure(chart_id, title, body, _legend(series, extra))


def grouped_bars(*, chart_id: str, title: str, categories: Sequence[str], series: Sequence[Series],
                 unit: str = "", top: float | None = None) -> SafeString:
    """For each category (a month), one bar per series side by side; a value of ``None`` or
    less than 0 (nothing to measure) draws no bar."""
    n, m = len(categories), max(len(series), 1)
    values = [v for s in series for v in s.values if v is not None and v >= 0]
    top = top or nice_ceiling(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(n, 1)
    bar_w = max(slot * 0.8 / m, 1.0)
    body = _axis(top, unit)
    for i, category in enumerate(categories):
        start = LEFT + i * slot + slot * 0.1
        for k, s in enumerate(series):
            value = s.values[i]
            if value is None or value < 0:
                continue
            h = plot_h * min(value, top) / top
            x = start + k * bar_w
            body.append(f'<rect class="bar" data-series="{escape(s.key)}" data-category="{escape(category)}" '
                        f'data-value="{escape(_number(value))}" x="{x:.2f}" y="{TOP + plot_h - h:.2f}" '
                        f'width="{bar_w:.2f}" height="{max(h, 0):.2f}" fill="{PALETTE[k % len(PALETTE)]}">'
                        f'<title>{escape(category)} · {escape(s.label)}: {escape(_number(value))}{escape(unit)}'
                        f'</title></rect>')
        body.append(f'<text class="label" x="{LEFT + i * slot + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                    f'text-anchor="middle">{escape(category)}</text>')
    return _figure(chart_id, title, body, _legend(series))
