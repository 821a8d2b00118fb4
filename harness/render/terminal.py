"""Terminal tables (rich) for run scores."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def _ci(ci: list[float]) -> str:
    return f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def print_scores(results: dict[str, Any], console: Console | None = None) -> None:
    """Category scores, named subsets and overall micro/macro accuracy with 95% intervals."""
    console = console or Console()
    scores = results["scores"]
    proto = results["card"]["protocol"]
    if scores.get("no_gold"):  # a split without answers: nothing to score, say so instead of printing zeros
        n = scores["overall"]["micro"]["n"]
        console.print(f"{results['suite']} · {results['model']}: {n} predictions on {len(scores['subjects'])} subjects, "
                      f"no gold — {scores['no_gold']}", highlight=False, markup=False, soft_wrap=True)
        return
    table = Table(
        title=f"{results['suite']} · {results['model']} · {proto['split']} · {proto['shots']}-shot · {proto['method']}"
    )
    for col in ("group", "questions", "acc % (micro)", "95% CI", "acc % (macro)"):
        table.add_column(col, justify="left" if col == "group" else "right")
    for name, group in scores["categories"].items():
        m = group["micro"]
        table.add_row(name, str(m["n"]), _pct(m["acc"]), _ci(m["ci95"]), _pct(group["macro"]["acc"]))
    for name, group in scores.get("subsets", {}).items():
        m = group["micro"]
        table.add_row(f"subset: {name}", str(m["n"]), _pct(m["acc"]), _ci(m["ci95"]), _pct(group["macro"]["acc"]))
    overall = scores["overall"]
    m = overall["micro"]
    table.add_row("[bold]overall[/bold]", str(m["n"]), _pct(m["acc"]), _ci(m["ci95"]), _pct(overall["macro"]["acc"]))
    console.print(table)
    if "extraction_rate" in overall:
        print_generation_scores(scores, console)


def print_generation_scores(scores: dict[str, Any], console: Console) -> None:
    """Generation runs: each subject's metric and score, with the answer extraction rate beside it."""
    table = Table(title="generation metrics")
    for col in ("subject", "metric", "n", "score", "acc %", "answers found %", "pass@k"):
        table.add_column(col, justify="left" if col in ("subject", "metric") else "right")
    for name, s in scores["subjects"].items():
        passk = " ".join(f"{k}={v:.3f}" for k, v in s.items() if k.startswith("pass@"))
        table.add_row(name, s.get("metric", ""), str(s["n"]), f"{s['score']:.4f}", _pct(s["acc"]),
                      _pct(s["extraction_rate"]), passk)
    o = scores["overall"]
    table.add_row("[bold]overall[/bold]", "mean", str(o["micro"]["n"]), f"{o['score']:.4f}", _pct(o["micro"]["acc"]),
                  _pct(o["extraction_rate"]), "")
    console.print(table)
