"""Finding run folders: under the paths a user gives, recursively, finished or not.

A sweep (`harness sweep`) writes its merged runs as `<output>/<model>/<suite>/` and the partial runs
they were merged from under a folder marked with SHARDS_MARKER; searches skip that folder, so the
leaderboard and the gate see each (model, suite) once, whole.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import UserError
from harness.results.run import Run, load_run
from harness.results.store import RESULTS, STATE

SWEEP = "sweep.json"  # a sweep's output folder: its plan and settings
SHARDS_MARKER = "harness-shards.json"  # a folder of a sweep's shard runs (parts of runs, not runs)


def _outside_shards(folders: list[Path], root: Path) -> list[Path]:
    marked = [m.parent for m in root.rglob(SHARDS_MARKER)]
    return [f for f in folders if not any(m == f or m in f.parents for m in marked)]


def find_run_folders(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Run folders under `paths` (each a run folder, its results.json, or a folder holding runs at any
    depth), and the unfinished ones (a `run.lock.json` without `results.json`), listed apart."""
    found: list[Path] = []
    unfinished: list[Path] = []
    for path in paths:
        if not path.exists():
            raise UserError(f"{path}: no such folder")
        if path.is_file():
            if path.name != RESULTS:
                raise UserError(f"{path}: give a run folder or a folder of run folders")
            found.append(path.parent)
            continue
        found.extend(_outside_shards(sorted(p.parent for p in path.rglob(RESULTS)), path))
        unfinished.extend(_outside_shards(
            sorted(p.parent for p in path.rglob(STATE) if not (p.parent / RESULTS).is_file()), path))
    return list(dict.fromkeys(p.resolve() for p in found)), unfinished


def load_runs_by_suite(path: Path) -> dict[str, Run]:
    """The finished runs in `path`, by suite: a run folder, or a folder whose subfolders are runs (one per suite)."""
    if not path.exists():
        raise UserError(f"{path}: no such folder")
    if (path / RESULTS).exists() or path.name == RESULTS or not path.is_dir():
        run = load_run(path)
        return {run.suite: run}
    if (path / SWEEP).is_file():  # a sweep's output: <model>/<suite>/ run folders
        models = sorted(p for p in path.iterdir() if p.is_dir() and not (p / SHARDS_MARKER).is_file())
        if len(models) == 1:
            return load_runs_by_suite(models[0])
        if models:
            raise UserError(f"{path} is a sweep of {len(models)} models ({', '.join(m.name for m in models)}); "
                            f"give one model's folder, e.g. {models[0]}")
    runs: dict[str, Run] = {}
    for child in sorted(p for p in path.iterdir() if p.is_dir()):
        if not ((child / RESULTS).exists() or (child / STATE).exists()):
            continue
        run = load_run(child)
        if run.suite in runs:
            raise UserError(f"{path}: two runs of suite '{run.suite}' ({runs[run.suite].path.name}, {child.name}); keep one")
        runs[run.suite] = run
    if not runs:
        raise UserError(f"{path}: not a run folder, a folder of runs or a baseline (no {RESULTS} found)")
    return runs
