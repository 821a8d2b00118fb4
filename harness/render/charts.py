"""The pictures people look for, as inline SVG (no script, no external file, no CDN):

- `change_chart`: a variant against its base, per subject: questions fixed (right of the axis) and broken
  (left), sorted by net change, subjects whose change is significant after Holm's correction marked;
- `loss_chart`: the fine-tune's train and held-out eval loss by step, and the step that was kept;
- `overview_chart`: the index's models across suites, one row per model, one marker shape per suite;
- `published_chart`: our score with its 95% interval beside the published number.

Colours come from CSS classes (leaderboard/assets/site.css), so the same SVG reads in light and dark
mode and in print; shapes and positions carry the meaning, never colour alone. Every label goes through
`markupsafe.escape`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

SHAPES = ("circle", "square", "triangle", "diamond", "cross", "star")


def _svg(width: int, height: int, title: str, kind: str, body: list[str]) -> Markup:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" role="img" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}"><title>{escape(title)}</title>')
    return Markup(head + "".join(body) + "</svg>")


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def marker(shape: str, x: float, y: float, r: float = 5, cls: str = "") -> str:
    """One marker of a shape (distinguishable in print and without colour)."""
    c = f' class="mk {cls}"'
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}"{c}/>'
    if shape == "square":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}"{c}/>'
    if shape == "triangle":
        return f'<path d="M{x:.1f} {y - r - 1:.1f}L{x + r + 1:.1f} {y + r:.1f}H{x - r - 1:.1f}Z"{c}/>'
    if shape == "diamond":
        return f'<path d="M{x:.1f} {y - r - 1:.1f}L{x + r + 1:.1f} {y:.1f}L{x:.1f} {y + r + 1:.1f}L{x - r - 1:.1f} {y:.1f}Z"{c}/>'
    if shape == "cross":
        return (f'<path d="M{x - r:.1f} {y - r:.1f}L{x + r:.1f} {y + r:.1f}M{x + r:.1f} {y - r:.1f}L{x - r:.1f} {y + r:.1f}"'
                f' class="mk-line {cls}"/>')
    points = " ".join(f"{x + (r + 1) * (1 if i % 2 == 0 else 0.45) * math.sin(i * math.pi / 5):.1f},"
                      f"{y - (r + 1) * (1 if i % 2 == 0 else 0.45) * math.cos(i * math.pi / 5):.1f}" for i in range(10))
    return f'<polygon points="{points}"{c}/>'


@dataclass(frozen=True)
class Change:
    """One subject of a variant-vs-base comparison."""

    label: str
    fixed: int
    broken: int
    delta: float  # accuracy change, a fraction
    p_holm: float | None
    n: int


def change_chart(rows: Sequence[Change], title: str, alpha: float = 0.05, width: int = 640) -> Markup:
    """Per subject: broken questions to the left of the axis, fixed to the right, sorted by net change
    (most improved first); a subject significant after Holm's correction is marked ★ and set in bold."""
    rows = sorted(rows, key=lambda r: (-(r.fixed - r.broken), -r.fixed, r.label))
    label_w, right_w, row_h, top, bottom = 150, 92, 17, 40, 22
    half = (width - label_w - right_w) / 2
    mid = label_w + half
    step = max(1, math.ceil(max([1, *(max(r.fixed, r.broken) for r in rows)]) / 4))
    peak = 4 * step  # the axis runs to a round count: ticks at step, 2 step, 3 step, 4 step
    height = top + bottom + row_h * max(1, len(rows))
    body = [
        f'<text x="4" y="14" class="chart-title">{escape(title)}</text>',
        f'<text x="{mid - 6}" y="31" text-anchor="end" class="tick down-t">← broken (right in base, wrong now)</text>',
        f'<text x="{mid + 6}" y="31" class="tick up-t">fixed (wrong in base, right now) →</text>',
        f'<text x="{width - 4}" y="31" text-anchor="end" class="tick">Δ points</text>',
        f'<line x1="{mid}" y1="{top - 4}" x2="{mid}" y2="{height - bottom + 2}" class="axis"/>',
    ]
    for k in range(1, 5):  # grid at quarter counts
        for sign in (-1, 1):
            gx = mid + sign * half * k / 4
            body.append(f'<line x1="{gx:.1f}" y1="{top - 2}" x2="{gx:.1f}" y2="{height - bottom}" class="grid"/>')
        body.append(f'<text x="{mid + half * k / 4:.1f}" y="{height - 6}" class="tick" text-anchor="middle">{step * k}</text>'
                    f'<text x="{mid - half * k / 4:.1f}" y="{height - 6}" class="tick" text-anchor="middle">{step * k}</text>')
    for i, r in enumerate(rows):
        y = top + i * row_h
        sig = r.p_holm is not None and r.p_holm < alpha and r.fixed != r.broken
        bw, fw = half * r.broken / peak, half * r.fixed / peak
        tip = (f"{r.label}: {r.fixed} fixed, {r.broken} broken of {r.n}; Δ {100 * r.delta:+.1f} points"
               + (f"; p (Holm) = {r.p_holm:.3g}" if r.p_holm is not None else "") + (" — significant" if sig else ""))
        body.append(f'<g class="row{" sig" if sig else ""}"><title>{escape(tip)}</title>'
                    f'<text x="{label_w - 6}" y="{y + 12.5}" text-anchor="end" class="label">{"★ " if sig else ""}'
                    f'{escape(_cut(r.label, 14))}</text>')
        if r.broken:
            body.append(f'<rect x="{mid - bw:.1f}" y="{y + 3}" width="{bw:.1f}" height="{row_h - 6}" class="bar-down"/>'
                        f'<text x="{mid - bw - 3:.1f}" y="{y + 12}" text-anchor="end" class="value small">{r.broken}</text>')
        if r.fixed:
            body.append(f'<rect x="{mid:.1f}" y="{y + 3}" width="{fw:.1f}" height="{row_h - 6}" class="bar-up"/>'
                        f'<text x="{mid + fw + 3:.1f}" y="{y + 12}" class="value small">{r.fixed}</text>')
        body.append(f'<text x="{width - 4}" y="{y + 12.5}" text-anchor="end" class="value">{100 * r.delta:+.1f}</text></g>')
    return _svg(width, height, title, "change", body)


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def loss_chart(history: Sequence[dict[str, Any]], best_step: int | None, title: str, width: int = 560,
               height: int = 260) -> Markup | None:
    """Train and eval loss by optimiser step (None when the manifest has no finite losses)."""
    series = {name: [(int(h.get("step", 0)), float(h[name])) for h in history if _finite(h.get(name))]
              for name in ("train_loss", "eval_loss")}
    values = [v for pts in series.values() for _, v in pts]
    if not values:
        return None
    left, right, top, bottom = 52, 16, 38, 34
    steps = [s for pts in series.values() for s, _ in pts] + ([best_step] if best_step is not None else [])
    x_max = max(1, max(steps))
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.1 or max(abs(hi) * 0.1, 0.05)
    lo, hi = max(0.0, lo - pad), hi + pad

    def x(step: float) -> float:
        return left + (width - left - right) * step / x_max

    def y(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - lo) / (hi - lo))

    body = [f'<text x="{left}" y="14" class="chart-title">{escape(title)}</text>']
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        body.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{width - right}" y2="{y(v):.1f}" class="grid"/>'
                    f'<text x="{left - 5}" y="{y(v) + 4:.1f}" text-anchor="end" class="tick">{v:.3g}</text>')
    for k in range(5):
        step = x_max * k / 4
        body.append(f'<text x="{x(step):.1f}" y="{height - 16}" text-anchor="middle" class="tick">{step:.0f}</text>')
    body.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 3}" text-anchor="middle" class="tick">optimiser step</text>')
    if best_step is not None:
        body.append(f'<line x1="{x(best_step):.1f}" y1="{top}" x2="{x(best_step):.1f}" y2="{height - bottom}" class="best">'
                    f'<title>adapter kept from step {best_step}</title></line>'
                    f'<text x="{x(best_step) - 4:.1f}" y="{top + 10}" text-anchor="end" class="tick">kept: step {best_step}</text>')
    legend_x = left + 4
    for name, shape, label in (("train_loss", "circle", "train loss"), ("eval_loss", "square", "eval loss (held out)")):
        pts = series[name]
        if not pts:
            continue
        cls = "train" if name == "train_loss" else "eval"
        if len(pts) > 1:
            body.append(f'<polyline points="{" ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in pts)}" class="line {cls}"/>')
        for s, v in pts:
            body.append(f'<g><title>{label} at step {s}: {v:.4f}</title>{marker(shape, x(s), y(v), 3.5, cls)}</g>')
        body.append(marker(shape, legend_x, 27, 3.5, cls) + f'<text x="{legend_x + 8}" y="31" class="tick">{label}</text>')
        legend_x += 150
    return _svg(width, height, title, "loss", body)


def overview_chart(rows: Sequence[tuple[str, dict[str, float]]], suites: Sequence[str], titles: dict[str, str],
                   title: str, width: int = 720) -> Markup:
    """One row per model (in the given order), each suite's accuracy as a marker of its own shape on 0-100%."""
    label_w, right, row_h, top, bottom = 190, 20, 20, 44, 26
    plot = width - label_w - right
    height = top + bottom + row_h * max(1, len(rows))

    def x(v: float) -> float:
        return label_w + plot * max(0.0, min(1.0, v))

    body = [f'<text x="{label_w}" y="14" class="chart-title">{escape(title)}</text>']
    lx = label_w
    for i, s in enumerate(suites):
        shape = SHAPES[i % len(SHAPES)]
        name = _cut(titles.get(s, s), 16)
        body.append(marker(shape, lx + 5, 30, 4.5, f"s{i % len(SHAPES)}") + f'<text x="{lx + 14}" y="34" class="tick">{escape(name)}</text>')
        lx += 24 + 7 * len(name)
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        body.append(f'<line x1="{x(tick):.1f}" y1="{top - 4}" x2="{x(tick):.1f}" y2="{height - bottom}" class="grid"/>'
                    f'<text x="{x(tick):.1f}" y="{height - 8}" text-anchor="middle" class="tick">{int(tick * 100)}%</text>')
    for r, (name, accs) in enumerate(rows):
        y = top + r * row_h + row_h / 2
        tip = f"{name}: " + ", ".join(f"{titles.get(s, s)} {100 * accs[s]:.1f}" for s in suites if s in accs)
        parts = [f'<g class="row"><title>{escape(tip)}</title>',
                 f'<text x="{label_w - 8}" y="{y + 4:.1f}" text-anchor="end" class="label">{escape(_cut(name, 26))}</text>',
                 f'<line x1="{label_w}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" class="guide"/>']
        for i, s in enumerate(suites):
            if s in accs:
                parts.append(marker(SHAPES[i % len(SHAPES)], x(accs[s]), y, 4.5, f"s{i % len(SHAPES)}"))
        body.append("".join(parts) + "</g>")
    return _svg(width, height, title, "overview", body)


def published_chart(rows: Sequence[dict[str, Any]], width: int = 560) -> Markup:
    """Per benchmark: our accuracy (●, with its 95% interval) and the published number (◆), on 0-100."""
    label_w, right, row_h, top, bottom = 90, 20, 28, 34, 24
    plot = width - label_w - right
    height = top + bottom + row_h * max(1, len(rows))

    def x(v: float) -> float:
        return label_w + plot * max(0.0, min(100.0, v)) / 100

    title = "ours (●, 95% interval) vs published (◆)"
    body = [f'<text x="{label_w}" y="14" class="chart-title">{escape(title)}</text>']
    for tick in (0, 25, 50, 75, 100):
        body.append(f'<line x1="{x(tick):.1f}" y1="{top - 6}" x2="{x(tick):.1f}" y2="{height - bottom}" class="grid"/>'
                    f'<text x="{x(tick):.1f}" y="{height - 8}" text-anchor="middle" class="tick">{tick}</text>')
    for i, r in enumerate(rows):
        y = top + i * row_h + row_h / 2
        lo, hi = r["ci95"]
        body.append(f'<g><title>{escape(r["suite"])}: ours {r["ours"]:.1f} [{lo:.1f}, {hi:.1f}], published {r["published"]:g}'
                    f'</title><text x="{label_w - 8}" y="{y + 4:.1f}" text-anchor="end" class="label">{escape(r["suite"])}</text>'
                    f'<path d="M{x(lo):.1f} {y:.1f}H{x(hi):.1f}M{x(lo):.1f} {y - 5:.1f}V{y + 5:.1f}M{x(hi):.1f} {y - 5:.1f}V{y + 5:.1f}" class="whisker"/>'
                    f'{marker("circle", x(r["ours"]), y, 5, "ours")}{marker("diamond", x(r["published"]), y, 5, "published")}</g>')
    return _svg(width, height, title, "published", body)
