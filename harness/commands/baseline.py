"""`harness baseline save|list`: keep runs as baselines to gate later runs against."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("baseline", help="save or list baselines for `harness gate`",
                       description="Save runs as baselines (per-question records and protocol card) for `harness gate`.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    save = actions.add_parser("save", help="save a run (or a folder of runs) as a baseline",
                              description="Save a run (or a folder of runs) as a baseline. Question text is not copied.")
    save.add_argument("run", type=Path, help="run folder or folder of run folders")
    save.add_argument("--name", required=True, help="baseline name (letters, digits, . _ -)")
    save.add_argument("--dir", type=Path, help="save into DIR/NAME (e.g. a folder of your repository) instead of "
                      "$HARNESS_HOME/baselines/NAME")
    save.add_argument("--overwrite", action="store_true", help="replace an existing baseline of that name")
    save.set_defaults(handler=handle_save)
    ls = actions.add_parser("list", help="list saved baselines")
    ls.add_argument("--dir", type=Path, help="list baselines in DIR instead of $HARNESS_HOME/baselines")
    ls.set_defaults(handler=handle_list)


def handle_save(args: argparse.Namespace) -> int:
    from harness.baseline import save

    target = save(args.run, args.name, args.dir, overwrite=args.overwrite)
    print(f"saved baseline '{args.name}' in {target}")
    print(f"gate against it with: harness gate --baseline {args.name if not args.dir else target} --candidate RUN")
    return 0


def handle_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from harness.baseline import baselines_home, list_saved

    found = list_saved(args.dir)
    if not found:
        print(f"no baselines in {args.dir or baselines_home()}")
        return 0
    table = Table(title="baselines")
    for col in ("name", "suite", "model", "questions", "acc %", "saved at", "path"):
        table.add_column(col, justify="right" if col in ("questions", "acc %") else "left")
    for meta in found:
        for suite, info in meta.get("runs", {}).items():
            table.add_row(meta.get("name", "?"), suite, str(info.get("model")), str(info.get("questions")),
                          f"{100 * info.get('acc', 0):.2f}", meta.get("saved_at", ""), meta["path"])
    Console().print(table)
    return 0
