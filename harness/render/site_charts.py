"""The site's pictures from its data: which numbers each chart of harness/render/charts.py gets.

Kept apart from site_pages.py so that the pages module stays about templates and files.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from harness.render.charts import Change, change_chart, loss_chart, overview_chart
from harness.render.site_tables import Table

OVERVIEW_ROWS = 30  # more rows than this is a wall of dots; the tables and leaderboard.csv list every model


def change_picture(cmp: dict[str, Any] | None, info: dict[str, Any], base: str, suite: str) -> Markup | None:
    """A variant's per-subject change against its base (None without a per-subject comparison)."""
    subjects = (cmp or {}).get("subjects") or {}
    if not subjects:
        return None
    names = info.get("subjects", {})
    rows = [Change(names.get(s, {}).get("name_zh") or s, v["fixed"], v["broken"], v["delta"], v.get("p_holm"), v["n"])
            for s, v in subjects.items()]
    return change_chart(rows, f"{suite} · per subject against {base} · ★ significant (Holm p < 0.05)")


def loss_picture(manifest: dict[str, Any] | None) -> Markup | None:
    """The fine-tune's loss curve from the adapter's manifest.json (harness/finetune/train.py writes
    `losses.history`: step, epoch, train_loss and eval_loss per epoch, and `losses.best_step`)."""
    losses = ((manifest or {}).get("manifest.json") or {}).get("losses") or {}
    history = losses.get("history")
    if not isinstance(history, list) or not history:
        return None
    rows = [h for h in history if isinstance(h, dict)]
    best = losses.get("best_step")
    return loss_chart(rows, best if isinstance(best, int) else None, "fine-tune loss by step (from manifest.json)")


def overview_picture(tables: list[Table], suite_titles: dict[str, str]) -> tuple[Markup | None, str]:
    """The index's overview: the main table's best models across its suites, and a line saying which ones."""
    if not tables:
        return None, ""
    table = tables[0]
    rows = [r for g in table.groups for r in g]
    if not rows:
        return None, ""

    def mean(r: dict[str, Any]) -> float:
        return sum(c["acc"] for c in r["cells"].values()) / len(r["cells"])

    rows.sort(key=lambda r: (r["average"] is None, -(r["average"] if r["average"] is not None else mean(r)), r["model"].name))
    shown = rows[:OVERVIEW_ROWS]
    data = [(r["model"].name, {s: c["acc"] for s, c in r["cells"].items()}) for r in shown]
    note = (f"the {len(shown)} best of {len(rows)} models by average" if len(rows) > len(shown)
            else f"all {len(rows)} models, best average first")
    chart = overview_chart(data, table.suites, suite_titles, f"Models across suites ({note}; accuracy %)")
    return chart, note
