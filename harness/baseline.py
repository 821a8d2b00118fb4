"""Baselines: a run's per-question records and protocol card kept for gating later runs against.

A baseline is a folder a team can commit to its repository: `baseline.json` (what was saved, from
where, when) beside the run's `results.json` and a trimmed `records.jsonl` (one run), or one such
pair per suite in subfolders (a set of runs). Records keep what the paired test needs (`id`,
`subject`, `gold`, `pred`, `correct`, `method`) and the evidence every reader checks them against
(`logprobs`; `extracted`, `score`, `metric` and per-sample pass results for generation); question
text, options and raw outputs are dropped so that benchmark text does not end up in public
repositories, where it would leak into future training data.

Baselines saved by name live in `harness_home()/baselines/NAME`. Anywhere a run is expected, the
gate accepts a run folder, a folder of run folders, a baseline folder or a saved baseline's name.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
from harness.errors import UserError
from harness.resources import harness_home
from harness.results.discover import load_runs_by_suite
from harness.results.evidence import sha256
from harness.results.record import Record
from harness.results.run import Run
from harness.results.store import RECORDS, RESULTS, records_text, write_atomic

META = "baseline.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def baselines_home() -> Path:
    return harness_home() / "baselines"


def resolve(ref: str) -> Path:
    """A run or baseline folder from a path or a saved baseline's name."""
    path = Path(ref).expanduser()
    if path.exists():
        return path
    if _NAME.match(ref) and (baselines_home() / ref).is_dir():
        return baselines_home() / ref
    saved = ", ".join(sorted(p.name for p in baselines_home().glob("*") if (p / META).is_file())) or "none"
    raise UserError(f"'{ref}' is neither a folder nor a saved baseline (saved baselines: {saved})")


def save(run_path: Path, name: str, parent: Path | None = None, overwrite: bool = False) -> Path:
    """Copy the runs in `run_path` into `<parent or harness_home()/baselines>/<name>`; returns the folder."""
    if not _NAME.match(name):
        raise UserError(f"baseline name '{name}' must be letters, digits, '.', '_' or '-' (no spaces or slashes)")
    runs = load_runs_by_suite(run_path)
    target = (parent.expanduser() if parent else baselines_home()) / name
    if target.exists():
        if not overwrite:
            raise UserError(f"{target} exists; use --overwrite to replace it")
        if not (target / META).is_file():
            raise UserError(f"{target} exists and is not a baseline; refusing to replace it")
        shutil.rmtree(target)
    tmp = target.with_name(f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    single = (run_path / RESULTS).is_file() or run_path.name == RESULTS
    for suite, run in runs.items():
        folder = tmp if single else tmp / suite
        folder.mkdir(exist_ok=True)
        _write_run(folder, run)
    meta = {
        "name": name,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": str(run_path.resolve()),
        "harness_version": harness.__version__,
        "runs": {
            suite: {
                "model": run.results.get("model"),
                "protocol_id": run.card.get("protocol_id"),
                "questions": len(run.records),
                "acc": run.results["scores"]["overall"]["micro"]["acc"],
            }
            for suite, run in runs.items()
        },
    }
    write_atomic(tmp / META, json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
    tmp.rename(target)
    return target


def _write_run(folder: Path, run: Run) -> None:
    """The run's results and its records trimmed to what the paired test and the evidence checks need
    (no question text, options or raw outputs), tied to the run's key, with results.json's digest
    updated to the trimmed file and the trimming noted."""
    records = [Record(id=r.id, subject=r.subject, gold=r.gold, correct=r.correct, pred=r.pred, logprobs=r.logprobs,
                      method=r.method, extracted=r.extracted, score=r.score, metric=r.metric, values={k: v for k, v in r.values.items() if k == "passed"})
               for r in run.records]
    key = run.results.get("run_key")
    text = records_text(records, key if isinstance(key, str) else None)
    results = {**run.results, "records_sha256": sha256(text.encode("utf-8")),
               "records_trimmed": "baseline: question text, options and outputs left out"}
    write_atomic(folder / RECORDS, text)
    write_atomic(folder / RESULTS, json.dumps(results, ensure_ascii=False, indent=2) + "\n")


def list_saved(parent: Path | None = None) -> list[dict[str, Any]]:
    """Metadata of the baselines saved under `parent` (default `harness_home()/baselines`), by name."""
    root = parent.expanduser() if parent else baselines_home()
    found = []
    for meta_path in sorted(root.glob(f"*/{META}")):
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        found.append({**meta, "path": str(meta_path.parent)})
    return found
