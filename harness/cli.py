"""The `harness` command. Each subcommand lives in `harness/commands/<name>.py` and exposes
`register(subparsers)`; its handler returns an exit code. A `UserError` anywhere becomes one
line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from harness import __version__
from harness.errors import UserError

COMMANDS = [
    "run",
    "models",
    "suites",
    "demo",
    "finetune",
    "compare",
    "pipeline",
    "gate",
    "baseline",
    "leaderboard",
    "report",
    "serve",
    "sweep",
    "export",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness", description="Evaluate Chinese LLMs: run suites, fine-tune, compare, gate, publish."
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show library logs and full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"harness.commands.{name}").register(sub)
    return parser


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    if not args.verbose:
        _quiet_libraries()
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        if args.verbose:
            raise
        print(f"harness: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("harness: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
