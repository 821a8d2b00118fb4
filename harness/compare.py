"""Compare two runs of the same suite and protocol, question by question.

Overall, per category and per subject: both accuracies, the delta, and an exact McNemar test on
the paired per-question correctness; subject and category p-values are Holm-corrected (many
subjects means many tests). Lists the questions B fixed (wrong in A, right in B) and broke.
Runs whose protocol cards or question sets differ are refused: their difference would not be
the model's alone.
"""

from __future__ import annotations

from typing import Any

from harness.errors import UserError
from harness.results.store import Run
from harness.scoring.stats import holm, mcnemar_exact

_WHY = {
    "prompt_hash": "the prompts differ (with --chat-template, each model's own chat template renders them)",
    "data_hash": "the questions or few-shot examples differ",
}


def protocol_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Protocol fields whose values differ, as 'field: A vs B' (hashes explained)."""
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            out.append(_WHY.get(key) or f"{key}: {a.get(key)!r} vs {b.get(key)!r}")
    return out


def _paired(a: list[bool], b: list[bool]) -> dict[str, Any]:
    test = mcnemar_exact(a, b)
    n = test.n
    return {
        "n": n,
        "acc_a": sum(a) / n if n else 0.0,
        "acc_b": sum(b) / n if n else 0.0,
        "delta": test.delta,
        "fixed": test.only_b,
        "broken": test.only_a,
        "p_value": test.p_value,
    }


def compare_runs(a: Run, b: Run) -> dict[str, Any]:
    """The comparison of run B against run A (B − A), or UserError when they are not comparable."""
    diffs = protocol_differences(a.protocol, b.protocol)
    if diffs:
        raise UserError(f"cannot compare {a.path} and {b.path}: protocols differ: " + "; ".join(diffs))
    rec_a = {r["id"]: r for r in a.records}
    rec_b = {r["id"]: r for r in b.records}
    if set(rec_a) != set(rec_b):
        only = len(set(rec_a) ^ set(rec_b))
        raise UserError(f"cannot compare {a.path} and {b.path}: their question sets differ ({only} ids in one only)")
    ids = [r["id"] for r in a.records]
    subjects_scores = a.results.get("scores", {}).get("subjects", {})
    category = {s: v.get("category", "Other") for s, v in subjects_scores.items()}
    by_subject: dict[str, list[str]] = {}
    for i in ids:
        by_subject.setdefault(rec_a[i]["subject"], []).append(i)

    def group(members: list[str]) -> dict[str, Any]:
        return _paired([bool(rec_a[i]["correct"]) for i in members], [bool(rec_b[i]["correct"]) for i in members])

    subjects = {s: {**group(m), "category": category.get(s, "Other")} for s, m in by_subject.items()}
    by_category: dict[str, list[str]] = {}
    for s, members in by_subject.items():
        by_category.setdefault(category.get(s, "Other"), []).extend(members)
    categories = {c: group(m) for c, m in by_category.items()}
    for table in (subjects, categories):
        names = list(table)
        for name, adj in zip(names, holm([table[n]["p_value"] for n in names]), strict=True):
            table[name]["p_holm"] = adj

    def item(i: str) -> dict[str, Any]:
        return {"id": i, "subject": rec_a[i]["subject"], "gold": rec_a[i].get("gold"),
                "pred_a": rec_a[i].get("pred"), "pred_b": rec_b[i].get("pred")}

    fixed = [item(i) for i in ids if not rec_a[i]["correct"] and rec_b[i]["correct"]]
    broken = [item(i) for i in ids if rec_a[i]["correct"] and not rec_b[i]["correct"]]
    return {
        "a": {"path": str(a.path), "model": a.results.get("model")},
        "b": {"path": str(b.path), "model": b.results.get("model")},
        "suite": a.results.get("suite"),
        "protocol_id": a.card.get("protocol_id"),
        "test": "exact McNemar (two-sided) on per-question correctness; Holm-corrected across subjects and across categories",
        "overall": group(ids),
        "categories": categories,
        "subjects": subjects,
        "fixed": fixed,
        "broken": broken,
    }


def print_comparison(result: dict[str, Any], show: int = 10) -> None:
    """The comparison as a terminal table, then the first fixed and broken questions."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"{result['suite']} · B = {result['b']['model']} vs A = {result['a']['model']}")
    for col in ("group", "n", "A %", "B %", "Δ pts", "fixed", "broken", "p", "p (Holm)"):
        table.add_column(col, justify="left" if col == "group" else "right")

    def row(name: str, r: dict[str, Any], style: str | None = None) -> None:
        holm_p = f"{r['p_holm']:.3g}" if "p_holm" in r else "—"
        mark = "green" if r["delta"] > 0 and r.get("p_holm", r["p_value"]) < 0.05 else (
            "red" if r["delta"] < 0 and r.get("p_holm", r["p_value"]) < 0.05 else None)
        table.add_row(name, str(r["n"]), f"{100 * r['acc_a']:.2f}", f"{100 * r['acc_b']:.2f}",
                      f"[{mark}]{100 * r['delta']:+.2f}[/]" if mark else f"{100 * r['delta']:+.2f}",
                      str(r["fixed"]), str(r["broken"]), f"{r['p_value']:.3g}", holm_p, style=style)

    for name, r in result["subjects"].items():
        row(name, r)
    table.add_section()
    for name, r in result["categories"].items():
        row(name, r, style="bold")
    table.add_section()
    row("overall", result["overall"], style="bold")
    console.print(table)
    for label in ("fixed", "broken"):
        items = result[label]
        if items:
            shown = ", ".join(f"{x['id']} ({x['pred_a']}→{x['pred_b']})" for x in items[:show])
            more = f" … and {len(items) - show} more" if len(items) > show else ""
            console.print(f"{label} ({len(items)}): {shown}{more}", highlight=False)
