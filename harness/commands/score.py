"""`harness score`: score outputs made elsewhere (another framework, an API, a person) exactly as
`harness run` scores a model's: same stops, answer reading, metrics and sandbox, same run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.runner import RunConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score", help="score a file of outputs made elsewhere",
        description="Score outputs made elsewhere. FILE.jsonl has one line per item: "
                    '{"subject": "humaneval", "id": "HumanEval/0", "output": "..."} '
                    '(or "outputs": [...] for several samples; pass@k).')
    p.add_argument("--suite", required=True, help="suite name (law, medicine, code, …) or path to a suite .yaml")
    p.add_argument("--predictions", required=True, type=Path, help="JSON Lines file of outputs")
    p.add_argument("--model", help="what to call the outputs' source in results (default: the file's name)")
    p.add_argument("--output", type=Path, help="run folder (default: runs/<suite>-<model>)")
    p.add_argument("--data-dir", type=Path, help="local folder in the benchmark's release layout (instead of the hub)")
    p.add_argument("--split", help="split the outputs answer (default: the suite's)")
    p.add_argument("--subjects", help="comma-separated subjects to score (lines of other subjects are ignored)")
    p.add_argument("--limit", type=int, help="score only the first N items of each subject (other lines are ignored)")
    p.add_argument("--chat-template", action="store_true",
                   help="the outputs answer chat prompts: no stop strings are applied (code: a fenced block is read)")
    p.add_argument("--code-timeout", type=float, default=10.0, help="seconds each code sample may run")
    p.add_argument("--unsafe-exec", action="store_true",
                   help="run model-written code even where the sandbox cannot isolate it (recorded in the card)")
    p.add_argument("--overwrite", action="store_true", help="replace a different run already in --output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from harness.render.terminal import print_scores
    from harness.runner import execute

    name = args.model or args.predictions.stem
    output = args.output or Path("runs") / f"{Path(args.suite).stem}-{name.replace('/', '_').replace(':', '_')}"
    config = RunConfig(
        suite=args.suite, model=name, output=output, split=args.split,
        subjects=[s.strip() for s in args.subjects.split(",") if s.strip()] if args.subjects else None,
        limit=args.limit, method="score", backend="predictions", data_dir=args.data_dir, chat_template=args.chat_template,
        overwrite=args.overwrite, code_timeout=args.code_timeout, unsafe_exec=args.unsafe_exec,
        predictions=args.predictions,
    )
    results = execute(config, progress=not args.quiet)
    print_scores(results)
    print(f"results: {output / 'results.json'}  records: {output / 'records.jsonl'}")
    return 0
