"""Charts as SVG, drawn inline in the PDF (WeasyPrint renders SVG as vectors, text stays text).

Built with ElementTree, so every label is escaped as XML text: a title can never become markup.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

PALETTE = ("#1f4e8c", "#c8553d", "#2a9d8f", "#e9c46a", "#6d597a", "#8ab17d", "#b5838d", "#457b9d")


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str = "",
    unit: str = "",
    width: int = 640,
    bar_height: int = 22,
    label_width: int = 190,
    decimals: int = 2,
) -> str:
    """A horizontal bar chart: one bar per (label, value), the value written after the bar."""
    gap = 8
    top = 30 if title else 8
    height = top + max(len(items), 1) * (bar_height + gap) + 8
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "width": f"{width}",
            "height": f"{height}",
            "viewBox": f"0 0 {width} {height}",
            "class": "chart",
        },
    )
    if title:
        t = ET.SubElement(svg, "text", {"x": "0", "y": "18", "font-size": "14", "font-weight": "bold"})
        t.text = title
    largest = max((v for _, v in items), default=0) or 1
    room = width - label_width - 120
    if not items:
        t = ET.SubElement(svg, "text", {"x": "0", "y": str(top + 16), "font-size": "12", "fill": "#666"})
        t.text = "—"
    for i, (label, value) in enumerate(items):
        y = top + i * (bar_height + gap)
        name = ET.SubElement(
            svg,
            "text",
            {"x": str(label_width - 8), "y": str(y + bar_height - 6), "font-size": "12", "text-anchor": "end"},
        )
        name.text = label
        length = max(1.0, room * value / largest) if value else 0.0
        ET.SubElement(
            svg,
            "rect",
            {
                "x": str(label_width),
                "y": str(y),
                "width": f"{length:.1f}",
                "height": str(bar_height),
                "fill": PALETTE[i % len(PALETTE)],
            },
        )
        figure = ET.SubElement(
            svg, "text", {"x": f"{label_width + length + 6:.1f}", "y": str(y + bar_height - 6), "font-size": "12"}
        )
        figure.text = f"{value:,.{decimals}f}{unit}"
    return ET.tostring(svg, encoding="unicode")
