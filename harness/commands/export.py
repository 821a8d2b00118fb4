"""`harness export`: finished runs in lm-eval's format, as the C-Eval submission file, or as a per-question CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from harness.export import FORMATS

    p = sub.add_parser(
        "export",
        help="write runs as lm-eval results, a C-Eval submission or a per-question CSV",
        description="Write finished runs in another tool's format. lm-eval: results_<date>.json and "
        "samples_<task>_<date>.jsonl under OUT/<model>/, as lm-evaluation-harness writes them. "
        "ceval-submission: the official C-Eval JSON ({subject: {id: letter}}) from a whole C-Eval test-split run. "
        "csv: one row per question (model, suite, subject, id, gold, pred, correct, …).",
    )
    p.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="run folders (or folders holding them)")
    p.add_argument("--format", required=True, choices=list(FORMATS), help="output format")
    p.add_argument("--out", type=Path, required=True, metavar="PATH",
                   help="lm-eval: a folder; ceval-submission and csv: a file (or a folder for the default name)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from harness.export import export_runs

    written = export_runs(args.runs, args.format, args.out, warn=lambda msg: print(msg, file=sys.stderr))
    for path in written:
        print(f"wrote {path}")
    return 0
