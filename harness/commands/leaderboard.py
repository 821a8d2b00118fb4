"""`harness leaderboard`: build the static site (index, suite and model pages, JSON, CSV) from run folders."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "leaderboard",
        help="build the static leaderboard site from run folders",
        description="Build a static site (no server, no network) ranking the runs found under each --results folder.",
    )
    p.add_argument("--results", type=Path, nargs="+", required=True, metavar="DIR",
                   help="run folders, or folders searched recursively for run folders (results.json)")
    p.add_argument("--out", type=Path, default=Path("site"), help="site folder to write (default: site)")
    p.add_argument("--models-check", type=Path, metavar="FILE",
                   help="JSON of `harness models check --json FILE`: model pages say which paths were checked, when")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from harness.registry.checked import load
    from harness.render.site_pages import build_site

    check = load(args.models_check) if args.models_check else None
    index = build_site(args.results, args.out, warn=lambda msg: print(msg, file=sys.stderr), check=check)
    print(f"site: {index.resolve()}")
    return 0
