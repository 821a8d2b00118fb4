"""Merging the shard runs of a sweep into one run folder.

A shard is a finished run of some of a suite's subjects. Merging does not recompute scores here:
`seed_records` puts every shard's records into the target folder as the records of a run in
progress, and the run loop, run on the whole suite into that folder, then resumes it — it finds
every question done, computes nothing, and writes the records in the suite's order, the aggregate
and the protocol card exactly as one uninterrupted `harness run` would. `annotate_card` then adds
what only the sweep knows (the shard plan, nodes, devices, the summed cost).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.results.jsonl import read_json
from harness.results.run import load_run
from harness.results.store import RECORDS, RESULTS, STATE, records_text, write_atomic


def clear_run_folder(folder: Path) -> None:
    """Remove a run folder's run files (records, results, lock), leaving anything else."""
    for name in (RECORDS, RESULTS, STATE, RECORDS + ".tmp", RESULTS + ".tmp"):
        (folder / name).unlink(missing_ok=True)


def seed_records(target: Path, shards: list[Path]) -> set[str]:
    """Write the records of the finished runs `shards` into `target` (emptied first) as the records of
    a run not yet finished; returns their question ids. Two shards scoring one question is refused:
    the plan gives each subject to exactly one shard."""
    target.mkdir(parents=True, exist_ok=True)
    clear_run_folder(target)
    seen: set[str] = set()
    parts = []
    for folder in shards:
        run = load_run(folder)
        for record in run.records:
            if record.id in seen:
                raise UserError(f"{folder}: question '{record.id}' is also in another shard; the shard plan overlaps")
            seen.add(record.id)
        parts.append(records_text(run.records, None))  # no run key: the merged run adopts them
    write_atomic(target / RECORDS, "".join(parts))
    return seen


def annotate_card(folder: Path, sweep: dict[str, Any], seconds: float, tokens: dict[str, int]) -> dict[str, Any]:
    """Add the sweep to a merged run's card, with the cost summed over its shards (the merge itself
    computes nothing); the protocol and its id are left as the run loop wrote them."""
    path = folder / RESULTS
    results = read_json(path)
    card = results["card"]
    card["seconds"] = round(seconds, 3)
    card["tokens"] = tokens
    card["sweep"] = sweep
    write_atomic(path, json.dumps(results, ensure_ascii=False, indent=2))
    return results
