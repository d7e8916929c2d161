"""Bar charts drawn on the server as inline SVG: no script, readable without JavaScript, printable.

A chart is horizontal bars, one per category (a programme, a kind), optionally stacked by series
(states, sources). Every bar carries a ``<title>`` with its exact figure, and the table beside the
chart holds the same numbers, so nothing is only in the picture.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape

from markupsafe import Markup

from grantflow.services.overview import Chart

PALETTE = (
    "#2f6fb0",
    "#e08a2e",
    "#4a9a5b",
    "#c4473d",
    "#7c5ba6",
    "#8c6d46",
    "#d66fb0",
    "#6f7b86",
    "#b5b23a",
    "#3aaeb8",
    "#9fc1e6",
    "#f3bf85",
    "#a3d49f",
    "#f0a29c",
    "#c7b4dd",
    "#d8c3a5",
)
ROW, GAP, LABEL_W, BAR_W, VALUE_W = 22, 6, 260, 420, 90


def _fmt(value: Decimal, percent: bool) -> str:
    text = f"{value.normalize():,f}" if value == value.to_integral_value() else f"{value:,.2f}"
    return f"{text}%" if percent else text


def bar_chart(chart: Chart, *, title: str) -> Markup:
    """The chart as an ``<svg>`` element (empty string when there is nothing to draw)."""
    if not chart.categories or not chart.series:
        return Markup("")
    totals = [sum((s[1][i] for s in chart.series), Decimal(0)) for i in range(len(chart.categories))]
    if chart.stacked:
        top = max(totals, default=Decimal(0))
    else:
        top = max((v for _, values in chart.series for v in values), default=Decimal(0))
    if chart.percent:
        top = max(top, Decimal(100))
    top = top or Decimal(1)
    bars_per_row = 1 if chart.stacked else len(chart.series)
    row_h = ROW * bars_per_row + GAP
    legend_h = 0 if len(chart.series) == 1 else (len(chart.series) + 2) // 3 * 18 + 8
    height = legend_h + row_h * len(chart.categories) + 8
    width = LABEL_W + BAR_W + VALUE_W
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" font-size="12" font-family="sans-serif">',
        f"<title>{escape(title)}</title>",
    ]
    if legend_h:
        for i, (name, _) in enumerate(chart.series):
            lx, ly = (i % 3) * (width // 3), (i // 3) * 18
            colour = PALETTE[i % len(PALETTE)]
            parts.append(f'<rect x="{lx}" y="{ly + 3}" width="12" height="12" fill="{colour}"/>')
            parts.append(f'<text x="{lx + 16}" y="{ly + 13}">{escape(name)}</text>')
    for row, category in enumerate(chart.categories):
        y0: int = legend_h + row * row_h
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y0 + ROW * bars_per_row / 2 + 4:.0f}" text-anchor="end">'
            f"{escape(category[:40])}</text>"
        )
        x = Decimal(LABEL_W)
        for i, (name, values) in enumerate(chart.series):
            value = values[row] if row < len(values) else Decimal(0)
            w = (Decimal(BAR_W) * value / top).quantize(Decimal("0.1")) if value > 0 else Decimal(0)
            y = y0 if chart.stacked else y0 + i * ROW
            colour = PALETTE[i % len(PALETTE)]
            if w > 0:
                parts.append(
                    f'<rect x="{x}" y="{y}" width="{w}" height="{ROW - 4}" fill="{colour}">'
                    f"<title>{escape(category)} · {escape(name)}: {_fmt(value, chart.percent)}</title></rect>"
                )
            if chart.stacked:
                x += w
            else:
                parts.append(f'<text x="{LABEL_W + w + 4}" y="{y + ROW - 8}">{_fmt(value, chart.percent)}</text>')
        if chart.stacked:
            parts.append(f'<text x="{x + 4}" y="{y0 + ROW - 8}">{_fmt(totals[row], chart.percent)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
