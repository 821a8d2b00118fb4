"""`harness report`: one model's page as a single self-contained HTML file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write one model's HTML report from its run folders",
        description="Write one model's report (scores by suite, category and subject, chart, protocol card; "
        "for a variant, the comparison with its base when the base's runs are given too).",
    )
    p.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR", help="run folders (or folders holding them)")
    p.add_argument("--out", type=Path, help="an .html file, or a folder for <model>.html (default: the first RUN_DIR)")
    p.add_argument("--model", help="which model to report when the runs are of several")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from harness.render.site_pages import build_report

    out = args.out or (args.runs[0] if args.runs[0].is_dir() else args.runs[0].parent)
    path = build_report(args.runs, out, model=args.model, warn=lambda msg: print(msg, file=sys.stderr))
    print(f"report: {path.resolve()}")
    return 0
