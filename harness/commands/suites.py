"""`harness suites`: the shipped suites, their subjects and protocols."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("suites", help="list the suites", description="List the shipped suites.")
    p.add_argument("name", nargs="?", help="show one suite's subjects")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from harness.suite import list_suites, load_suite

    console = Console()
    if args.name:
        spec = load_suite(args.name)
        table = Table(title=f"{spec.title}: {len(spec.subjects)} subjects")
        for col in ("subject", "name", "category"):
            table.add_column(col)
        for key, info in spec.subjects.items():
            table.add_row(key, info.get("name_zh") or info.get("name_en") or "", info.get("category", ""))
        console.print(table)
        return 0
    table = Table(title="suites")
    for col in ("suite", "title", "subjects", "scored split", "few-shot", "source"):
        table.add_column(col)
    for name in list_suites():
        spec = load_suite(name)
        table.add_row(
            name, spec.title, str(len(spec.subjects)), spec.eval_split,
            f"{spec.default_shots} from {spec.fewshot_split}" if spec.fewshot_split else "0",
            spec.hub or "bundled",
        )
    console.print(table)
    return 0
