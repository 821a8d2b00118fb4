"""`harness demo`: the whole job offline — build a tiny model, score the bundled sample suite."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="run the offline demo", description="Build a tiny model and score the bundled sample suite (no network)."
    )
    p.add_argument("--output", type=Path, default=Path("demo-out"), help="demo folder (default: demo-out)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=handle)


def tiny_base(output: Path) -> Path:
    """The demo's tiny base model, built once under `output/models`."""
    from harness.demo.tiny import build_tiny_model, suite_texts
    from harness.resources import data_dir

    folder = output / "models" / "tiny-base"
    if not (folder / "config.json").is_file():
        build_tiny_model(folder, suite_texts(data_dir("suites") / "sample"), vocab_size=1200)
    return folder


def handle(args: argparse.Namespace) -> int:
    from harness.render.terminal import print_scores
    from harness.runner import RunConfig, execute

    output: Path = args.output
    base = tiny_base(output)
    print(f"tiny model: {base}")
    run_dir = output / "runs" / "sample-tiny-base"
    results = execute(RunConfig(suite="sample", model=str(base), output=run_dir), progress=not args.quiet)
    print_scores(results)
    print(f"results: {run_dir / 'results.json'}")
    from harness.render.site import build_site

    index = build_site([output / "runs"], output / "site")
    print(f"leaderboard: open {index.resolve()}")
    return 0
