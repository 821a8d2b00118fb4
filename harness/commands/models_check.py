"""`harness models check [KEY|FAMILY…] [--backend hf,vllm] [--json FILE]`: every catalogued architecture through
every path a user takes (harness/registry/check.py), printed as one family × path table.

Exit status: 0 when every path the catalogue claims passed, 1 when one failed (2 for a usage error). A path that
does not apply, or cannot run here (vLLM not installed), is "n/a" with the reason, never a silent pass.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from harness.errors import UserError


class _Intermixed(argparse.ArgumentParser):
    """The `models` parser reads its positionals wherever they stand (`harness models check --backend vllm qwen3`):
    argparse's plain parsing takes `check` and an empty target list at once, then rejects the targets after an
    option as unrecognised. Intermixed parsing runs this parser's own parse_known_args twice; the flag keeps those
    inner calls plain."""

    _inner = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._inner:
            return super().parse_known_args(args, namespace)
        self._inner = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inner = False


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `harness models check` (registered on the `models` parser)."""
    if type(p) is argparse.ArgumentParser:
        p.__class__ = _Intermixed
    g = p.add_argument_group("harness models check [KEY|FAMILY …]")
    g.add_argument("--backend", default="hf,vllm", help="check: backends to drive, comma-separated (default hf,vllm; "
                                                      "vllm runs where it is installed)")
    g.add_argument("--work", type=Path, help="check: keep the tiny models and runs in this folder (default: a temp folder)")


def _backends(text: str, explicit: bool) -> tuple[str, ...]:
    from harness.registry.check import vllm_unavailable

    names = tuple(dict.fromkeys(b.strip() for b in text.split(",") if b.strip()))
    unknown = [b for b in names if b not in ("hf", "vllm")]
    if unknown or not names:
        raise UserError(f"--backend takes hf, vllm or hf,vllm (got '{text}')")
    if explicit and "vllm" in names:
        reason = vllm_unavailable()
        if reason:
            raise UserError(f"--backend vllm: {reason}")
    return names


def _cell(outcome, notes: dict[str, int]) -> str:
    if outcome.status == "ok":
        return "ok"
    label = "FAIL" if outcome.status == "failed" else "n/a"
    number = notes.setdefault(f"{'failed' if label == 'FAIL' else label}: {outcome.detail}", len(notes) + 1)
    return f"{label} [{number}]"


def print_table(results: list, seconds: float) -> None:
    """One table, family × path. It fits 80 columns (CI logs): cells are ok / FAIL [n] / n/a [n] with the reasons
    as numbered notes under the table (a shared reason once), and `offline` for the families that exist only as
    remote code on the hub, each with its reason."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from harness.registry.check import NOT_OFFLINE, PATHS

    notes: dict[str, int] = {}
    offline: list[str] = []
    table = Table(title="harness models check", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  padding=(0, 0))
    table.add_column("family", no_wrap=True)
    for p in PATHS:
        table.add_column(p, no_wrap=True)
    table.add_column("s", justify="right", no_wrap=True)
    for r in results:
        if r.claims:
            table.add_row(r.family, *(_cell(r.paths[p], notes) for p in PATHS), f"{r.seconds:.0f}")
        else:
            table.add_row(r.family, *(["offline"] * len(PATHS)), "")
            offline.append(f"offline {r.family}: {r.paths[PATHS[0]].detail.removeprefix(NOT_OFFLINE + ': ')}")
    console = Console(highlight=False, soft_wrap=True)
    console.print(table)
    for text, number in notes.items():
        console.print(f"[{number}] {text}", markup=False)
    for text in offline:
        console.print(text, markup=False)
    checked = [r for r in results if r.claims]
    failed = sum(len(r.failed) for r in results)
    console.print(f"{len(checked)} families checked, {len(offline)} {NOT_OFFLINE}, {failed} claimed path(s) "
                  f"failed, {seconds:.0f} s", markup=False)


def handle(args: argparse.Namespace) -> int:
    from harness.registry import checked
    from harness.registry.check import run_check, targets

    backends = _backends(args.backend, explicit=args.backend != "hf,vllm")
    rows = targets(list(args.key or []))
    started = time.perf_counter()

    def progress(result) -> None:
        state = "not checkable offline" if not result.claims else ("FAILED: " + ", ".join(result.failed)
                                                                    if result.failed else "ok")
        print(f"harness: models check: {result.family}: {state} ({result.seconds:.1f} s)", file=sys.stderr)

    if args.work:
        results = run_check(rows, args.work, backends, progress)
    else:
        with tempfile.TemporaryDirectory(prefix="harness-check-") as tmp:
            results = run_check(rows, Path(tmp), backends, progress)
    seconds = time.perf_counter() - started
    doc = checked.document(results, backends, seconds)
    if isinstance(args.json, str):
        checked.save(doc, Path(args.json))
    checked.remember(doc)
    if args.json is True:
        import json

        print(json.dumps(doc, ensure_ascii=False, indent=1))
    else:
        print_table(results, seconds)
        if isinstance(args.json, str):
            print(f"json: {args.json}")
    return 1 if any(r.failed for r in results) else 0
