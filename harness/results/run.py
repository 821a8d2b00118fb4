"""Reading a finished run folder: one loader for compare, gate, baseline, the site and reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.results.evidence import check_scores, sha256
from harness.results.jsonl import read_bytes, read_json
from harness.results.record import Record
from harness.results.store import RECORDS, RESULTS, STATE, read_records


@dataclass
class Run:
    """A finished run loaded from disk."""

    path: Path
    results: dict[str, Any]
    records: list[Record]

    @property
    def card(self) -> dict[str, Any]:
        return self.results["card"]

    @property
    def protocol(self) -> dict[str, Any]:
        return self.results["card"]["protocol"]

    @property
    def suite(self) -> str:
        return str(self.results["suite"])

    @property
    def model(self) -> str:
        return str(self.results.get("model"))


def load_run(path: str | Path, with_records: bool = True) -> Run:
    """Load a complete run folder (or its results.json); an unfinished, foreign or damaged one is refused
    with one line naming the file (and line): records that contradict their evidence, belong to another
    run, or are not the ones results.json was computed from."""
    folder = Path(path)
    if folder.name == RESULTS and not folder.is_dir():
        folder = folder.parent
    results_path = folder / RESULTS
    if not results_path.exists():
        if (folder / STATE).exists():
            raise UserError(f"{folder}: the run is unfinished ({STATE}, no {RESULTS}); run it again to complete it")
        if not folder.is_dir():
            raise UserError(f"{folder}: no such run folder")
        raise UserError(f"{folder}: not a run folder (no {RESULTS})")
    results = read_json(results_path)
    if not isinstance(results, dict) or "suite" not in results or "scores" not in results:
        raise UserError(f"{results_path}: not a harness results file (no suite or scores)")
    card = results.get("card")
    if not isinstance(card, dict) or not isinstance(card.get("protocol"), dict):
        raise UserError(f"{results_path}: results.json has no protocol card (not written by `harness run`?)")
    records: list[Record] = []
    if with_records:
        rec_path = folder / RECORDS
        if not rec_path.exists():
            raise UserError(f"{rec_path} is missing (results.json alone cannot be compared question by question)")
        key = results.get("run_key")
        data = read_bytes(rec_path)
        records = read_records(rec_path, key if isinstance(key, str) else None, data=data, key_required=False)
        expected = results.get("records_sha256")
        if expected is not None and expected != sha256(data):
            raise UserError(f"{rec_path} does not match {results_path}: the records were changed after the run "
                            "finished (their sha256 differs); restore them or run the suite again")
        check_scores(results, records, str(results_path))
    return Run(path=folder, results=results, records=records)

