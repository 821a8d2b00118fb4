"""A comparison of two runs as a terminal table (rich), then the first fixed and broken questions."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from harness.compare import Comparison, PairedRow


def print_comparison(result: Comparison, show: int = 10) -> None:
    console = Console()
    table = Table(title=f"{result.suite} · B = {result.b['model']} vs A = {result.a['model']}")
    for col in ("group", "n", "A %", "B %", "Δ pts", "fixed", "broken", "p", "p (Holm)"):
        table.add_column(col, justify="left" if col == "group" else "right")

    def row(name: str, r: PairedRow, style: str | None = None) -> None:
        holm_p = f"{r.p_holm:.3g}" if r.p_holm is not None else "—"
        p = r.p_holm if r.p_holm is not None else r.p_value
        mark = "green" if r.delta > 0 and p < 0.05 else ("red" if r.delta < 0 and p < 0.05 else None)
        delta = f"{100 * r.delta:+.2f}"
        table.add_row(name, str(r.n), f"{100 * r.acc_a:.2f}", f"{100 * r.acc_b:.2f}",
                      f"[{mark}]{delta}[/]" if mark else delta, str(r.fixed), str(r.broken), f"{r.p_value:.3g}",
                      holm_p, style=style)

    for name, r in result.subjects.items():
        row(name, r)
    table.add_section()
    for name, r in result.categories.items():
        row(name, r, style="bold")
    table.add_section()
    row("overall", result.overall, style="bold")
    console.print(table)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    for label, items in (("fixed", result.fixed), ("broken", result.broken)):
        if items:
            shown = ", ".join(f"{x['id']} ({x['pred_a']}→{x['pred_b']})" for x in items[:show])
            more = f" … and {len(items) - show} more" if len(items) > show else ""
            console.print(f"{label} ({len(items)}): {shown}{more}", highlight=False)
