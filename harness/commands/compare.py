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
    p.add_argument("--allow-engine-change", action="store_true",
                   help="compare runs made on different backends or dtypes (refused otherwise: the engine alone can change scores)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from harness.compare import compare_runs
    from harness.render.compare import print_comparison
    from harness.results.run import load_run

    result = compare_runs(load_run(args.a), load_run(args.b), allow_engine_change=args.allow_engine_change)
    print_comparison(result)
    if args.json:
        write_comparison(result, args.json)
    return 0


def write_comparison(result, path: Path) -> None:
    """The comparison as JSON (what the site reads when the base run is not among its inputs)."""
    from harness.errors import UserError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    print(f"comparison: {path}")
