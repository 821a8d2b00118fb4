"""`harness compare A B`: paired comparison of two runs of the same suite and protocol."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="compare two runs question by question",
        description="Compare run B against run A (same suite and protocol): deltas overall, per category and "
                    "subject, exact McNemar tests with Holm correction, and the questions fixed and broken.",
    )
    p.add_argument("a", type=Path, help="run folder A (the reference, e.g. the base model)")
    p.add_argument("b", type=Path, help="run folder B (e.g. the fine-tuned variant)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the comparison as JSON")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from harness.compare import compare_runs, print_comparison
    from harness.results.store import load_run

    result = compare_runs(load_run(args.a), load_run(args.b))
    print_comparison(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
        print(f"comparison: {args.json}")
    return 0
