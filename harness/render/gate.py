"""The gate's report as a terminal table (rich) and as Markdown (for CI step summaries)."""

from __future__ import annotations

import math
import sys

from rich.console import Console
from rich.table import Table

from harness.gate import FAIL, PASS, WARN, GateReport, GateRow

COLUMNS = ("suite", "group", "n", "base %", "cand %", "Δ pts", "broke/fixed", "p", "p Holm", "MDD pts", "verdict")
_STYLE = {PASS: "green", WARN: "yellow", FAIL: "bold red"}
_MARK = {PASS: "✅ pass", WARN: "⚠️ warn", FAIL: "❌ fail"}


def _p(x: float) -> str:
    return "1" if x >= 0.9995 else f"{x:.3f}" if x >= 0.001 else f"{x:.1e}"


def _cells(r: GateRow) -> list[str]:
    mdd = "—" if math.isinf(r.min_detectable_drop) else f"{100 * r.min_detectable_drop:.1f}"
    return [r.suite, r.group, str(r.n), f"{100 * r.acc_base:.2f}", f"{100 * r.acc_cand:.2f}",
            f"{100 * r.delta:+.2f}", f"{r.broke}/{r.fixed}", _p(r.p), _p(r.p_holm), mdd]


def _headline(report: GateReport) -> str:
    return (f"{report.verdict.upper()}: candidate {report.candidate} vs baseline {report.baseline} "
            f"(fails on a drop > {report.max_drop:g} points significant at α = {report.alpha:g} after Holm)")


def print_gate(report: GateReport, console: Console | None = None) -> None:
    console = console or Console(width=None if sys.stdout.isatty() else 150)  # CI logs: no wrapping
    table = Table(title="harness gate")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("suite", "group", "verdict") else "right")
    for r in report.rows:
        table.add_row(*_cells(r), f"[{_STYLE[r.verdict]}]{r.verdict}[/]")
    console.print(table)
    for note in report.notes:
        console.print(f"note: {note}")
    console.print(f"[{_STYLE[report.verdict]}]{_headline(report)}[/]")


def gate_markdown(report: GateReport) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")

    lines = [f"### Regression gate: {_MARK[report.verdict]}", "", esc(_headline(report)), "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" if c in ("suite", "group", "verdict") else "--:"
                                                          for c in COLUMNS) + "|"]
    for r in report.rows:
        lines.append("| " + " | ".join(esc(c) for c in _cells(r)) + f" | {_MARK[r.verdict]} |")
    lines.append("")
    lines += [f"- {esc(note)}" for note in report.notes]
    lines.append(
        "- *broke / fixed*: questions the baseline got right and the candidate wrong, and the reverse. "
        "*p*: exact McNemar test on them; *min. detectable drop*: the drop (points) this many questions "
        "catch 80% of the time."
    )
    return "\n".join(lines) + "\n"
