"""`harness export`: finished runs written in other tools' formats, so results travel.

- `lm-eval`: lm-evaluation-harness's own results JSON and per-sample JSONL (harness/export/lmeval.py),
  laid out as its EvaluationTracker writes them, so tools built on lm-eval outputs read ours.
- `ceval-submission`: the JSON the official C-Eval leaderboard takes for a test-split run
  (harness/export/ceval_submission.py).
- `csv`: one row per question, for spreadsheets and pandas (harness/export/table.py).

Each writer takes the loaded runs and the output path and returns the paths it wrote; every refusal is
one UserError line.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from harness.errors import UserError
from harness.results.run import Run

# format name -> (module, function); modules are imported only when their format is asked for
FORMATS: dict[str, tuple[str, str]] = {
    "lm-eval": ("harness.export.lmeval", "write_lm_eval"),
    "ceval-submission": ("harness.export.ceval_submission", "write_submission"),
    "csv": ("harness.export.table", "write_csv"),
}


def writer(fmt: str) -> Callable[[list[Run], Path], list[Path]]:
    if fmt not in FORMATS:
        raise UserError(f"unknown export format '{fmt}' (choose from {', '.join(FORMATS)})")
    module, name = FORMATS[fmt]
    return getattr(importlib.import_module(module), name)


def export_runs(paths: list[Path], fmt: str, out: Path, warn: Callable[[str], None] = print) -> list[Path]:
    """Load the finished runs under `paths` and write them to `out` in format `fmt`."""
    from harness.export.runs import load_export_runs

    write = writer(fmt)  # an unknown format fails before any run is read
    return write(load_export_runs(paths, warn), out)
