"""Inline SVG charts for the HTML pages: no script, no external file, readable when printed.

Every label goes through `markupsafe.escape`, so a category or model name cannot inject markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Bar:
    label: str
    value: float  # accuracy in [0, 1]
    ci95: tuple[float, float] | None = None
    n: int | None = None


def bar_chart(bars: Sequence[Bar], title: str, width: int = 560, chance: float | None = None) -> Markup:
    """Horizontal bars (0-100%) with 95% interval whiskers and an optional chance line."""
    label_w, right_pad, row_h, top, bottom = 170, 60, 26, 28, 24
    plot_w = width - label_w - right_pad
    height = top + bottom + row_h * max(1, len(bars))

    def x(v: float) -> float:
        return round(label_w + plot_w * max(0.0, min(1.0, v)), 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}"><title>{escape(title)}</title>',
        f'<text x="{label_w}" y="16" class="chart-title">{escape(title)}</text>',
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line x1="{x(tick)}" y1="{top - 4}" x2="{x(tick)}" y2="{height - bottom}" class="grid"/>'
            f'<text x="{x(tick)}" y="{height - 6}" class="tick" text-anchor="middle">{int(tick * 100)}%</text>'
        )
    for i, bar in enumerate(bars):
        y = top + i * row_h
        label = bar.label if len(bar.label) <= 24 else bar.label[:23] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + row_h / 2 + 4}" text-anchor="end" class="label">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{round(x(bar.value) - label_w, 1)}" height="{row_h - 8}" class="bar">'
            f"<title>{escape(bar.label)}: {100 * bar.value:.1f}%"
            + (f" (n={bar.n})" if bar.n is not None else "")
            + "</title></rect>"
        )
        if bar.ci95:
            lo, hi = x(bar.ci95[0]), x(bar.ci95[1])
            mid = y + row_h / 2
            parts.append(
                f'<path d="M{lo} {mid}H{hi}M{lo} {mid - 5}V{mid + 5}M{hi} {mid - 5}V{mid + 5}" class="whisker"/>'
            )
        parts.append(f'<text x="{width - right_pad + 6}" y="{y + row_h / 2 + 4}" class="value">{100 * bar.value:.1f}</text>')
    if chance is not None:
        parts.append(
            f'<line x1="{x(chance)}" y1="{top - 4}" x2="{x(chance)}" y2="{height - bottom}" class="chance">'
            f"<title>chance {100 * chance:.0f}%</title></line>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
