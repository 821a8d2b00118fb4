"""The `harness` command. Each subcommand lives in `harness/commands/<name>.py` and exposes
`register(subparsers)`; its handler returns an exit code.

Exit codes (scripts and CI rely on them; `harness gate` documents 1 as "regression"):
  0  done (gate: pass or warn)
  1  a verdict that failed: gate found a significant regression, `models check` a family that did
     not run, a sweep with runs that failed (the others are kept)
  2  unusable input: a `UserError`, or a file the user gave that cannot be read or written
     (an OSError naming a file) — one line on stderr, no traceback
  3  a bug in harness: the traceback is printed, and the exit code is never mistaken for 1
  130 interrupted
With -v the traceback is shown for every error, and the exit code stays the same."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from harness import __version__
from harness.errors import UserError

INTERNAL = 3  # exit code of a bug in harness (see the module docstring)
COMMANDS = [
    "run",
    "score",
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
        return _error(str(exc), exc.exit_code, args.verbose)
    except KeyboardInterrupt:
        print("harness: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except OSError as exc:
        if not exc.filename:  # not about a file the user controls: a bug, shown as one
            return _internal(args.verbose)
        return _error(f"{exc.filename}: {exc.strerror or exc}", 2, args.verbose)
    except Exception:  # noqa: BLE001 - every other failure is ours: never exit 1 (the gate's "regression")
        return _internal(args.verbose)


def _error(message: str, code: int, verbose: bool) -> int:
    if verbose:
        traceback.print_exc()
    print(f"harness: error: {message}", file=sys.stderr)
    return code


def _internal(verbose: bool) -> int:
    traceback.print_exc()
    print("harness: internal error (a bug in harness, not in your input); please report it with the traceback above",
          file=sys.stderr)
    return INTERNAL


if __name__ == "__main__":
    sys.exit(main())
