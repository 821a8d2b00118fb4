"""`harness gate`: fail CI when a candidate run is significantly worse than a baseline."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from harness.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gate",
        help="compare a candidate run with a baseline; exit 1 on a significant regression",
        description="Paired comparison of a candidate run with a baseline (exact McNemar test, Holm "
        "correction). Exit 0: pass (or warn); 1: a drop larger than --max-drop and significant; "
        "2: unusable input (different protocol or questions, missing, damaged or edited files); "
        "3: a bug in harness (with its traceback). A crash never exits 1.",
    )
    p.add_argument("--baseline", required=True, help="run folder, folder of runs, baseline folder or saved baseline NAME")
    p.add_argument("--candidate", required=True, help="run folder or folder of runs to check")
    p.add_argument("--max-drop", type=float, default=1.0, help="largest tolerated drop in accuracy points (default 1.0)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level after Holm correction (default 0.05)")
    p.add_argument("--suite", action="append", help="gate only this suite (repeatable; default: every suite of the baseline)")
    p.add_argument("--per", choices=("category", "subject"), help="also gate each category or subject")
    p.add_argument("--json", type=Path, help="write the report as JSON to this file")
    p.add_argument("--markdown", type=Path, help="write the report as Markdown to this file")
    p.add_argument("--allow-engine-change", action="store_true",
                   help="gate runs made on different backends or dtypes (refused otherwise: the engine alone can change scores)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from harness.baseline import resolve
    from harness.gate import gate
    from harness.render.gate import gate_markdown, print_gate
    from harness.results.discover import load_runs_by_suite

    base_path = resolve(args.baseline)
    cand_path = Path(args.candidate).expanduser()
    report = gate(
        load_runs_by_suite(base_path),
        load_runs_by_suite(cand_path),
        max_drop=args.max_drop,
        alpha=args.alpha,
        suites=args.suite,
        per=args.per,
        labels=(str(base_path), str(cand_path)),
        allow_engine_change=args.allow_engine_change,
    )
    print_gate(report)
    markdown = gate_markdown(report)
    if args.json:
        _write(args.json, json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n")
    if args.markdown:
        _write(args.markdown, markdown)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:  # GitHub collects what each step appends
            fh.write(markdown + "\n")
    return report.exit_code


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
