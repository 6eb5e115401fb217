"""Bar charts as inline SVG, drawn on the server: no script, nothing to download.

Pure functions from numbers to markup. Every label is escaped; the charts carry a text
title and an ``aria-label`` so that screen readers and text browsers get the figures too.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

ROW_HEIGHT = 22
LABEL_WIDTH = 170
VALUE_WIDTH = 56


def _fmt(value: int) -> str:
    return f"{value:,}".replace(",", ".")  # Indonesian thousands separator


# Average width of a label's character at the chart's font size, generously rounded up:
# the label column is as wide as its longest label, so that none is cut.
CHAR_WIDTH = 7.5


def hbar_chart(rows: Sequence[tuple[str, int]], *, title: str, width: int = 560) -> Markup:
    """Horizontal bars, one per ``(label, value)``, scaled to the largest value."""
    height = max(1, len(rows)) * ROW_HEIGHT + 8
    top = max((v for _, v in rows), default=0)
    longest = max((len(label) for label, _ in rows), default=0)
    label_width = max(LABEL_WIDTH, round(longest * CHAR_WIDTH) + 16)
    width = max(width, label_width + 200 + VALUE_WIDTH)
    span = width - label_width - VALUE_WIDTH
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    if not rows:
        parts.append(f'<text class="chart-empty" x="0" y="{ROW_HEIGHT - 6}">-</text>')
    for i, (label, value) in enumerate(rows):
        y = 4 + i * ROW_HEIGHT
        bar = 0 if top == 0 else max(1, round(span * value / top)) if value else 0
        parts.append(
            f'<text class="chart-label" x="{label_width - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect class="bar" x="{label_width}" y="{y + 3}" width="{bar}"'
            f' height="{ROW_HEIGHT - 6}"/>'
            f'<text class="chart-value" x="{label_width + bar + 6}" y="{y + 15}">'
            f"{_fmt(value)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every inserted text is escaped above


def day_chart(
    days: Sequence[tuple[str, int, int]],
    *,
    title: str,
    allowed: str,
    denied: str,
    height: int = 180,
) -> Markup:
    """Vertical stacked bars per day: ``(day label, allowed, denied)``."""
    step = 46 if len(days) <= 14 else 30
    width = max(1, len(days)) * step + 40
    head = 20  # room above the tallest bar for its figure: never clipped
    plot = height - 40 - head
    top = max((a + d for _, a, d in days), default=0)
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, ok, no) in enumerate(days):
        x = 20 + i * step
        h_ok = 0 if top == 0 else round(plot * ok / top)
        h_no = 0 if top == 0 else round(plot * no / top)
        base = 10 + head + plot
        parts.append(
            f'<rect class="bar" x="{x}" y="{base - h_ok}" width="{step - 8}" height="{h_ok}">'
            f"<title>{escape(label)}: {_fmt(ok)} {escape(allowed)}</title></rect>"
            f'<rect class="bar-denied" x="{x}" y="{base - h_ok - h_no}" width="{step - 8}"'
            f' height="{h_no}"><title>{escape(label)}: {_fmt(no)} {escape(denied)}</title></rect>'
            f'<text class="chart-value" x="{x + (step - 8) / 2}" y="{base - h_ok - h_no - 3}"'
            f' text-anchor="middle">{_fmt(ok + no)}</text>'
            f'<text class="chart-label" x="{x + (step - 8) / 2}" y="{height - 12}"'
            f' text-anchor="middle">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every inserted text is escaped above
