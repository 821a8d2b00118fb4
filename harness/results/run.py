"""Reading a finished run folder: one loader for compare, gate, baseline, the site and reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.results.jsonl import read_json
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
    """Load a complete run folder (or its results.json); an unfinished or foreign one is refused."""
    folder = Path(path)
    if folder.is_file() and folder.name == RESULTS:
        folder = folder.parent
    results_path = folder / RESULTS
    if not results_path.is_file():
        if (folder / STATE).is_file():
            raise UserError(f"{folder}: the run is unfinished (run it again to complete it)")
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
        if not rec_path.is_file():
            raise UserError(f"{folder}: {RECORDS} is missing")
        records = read_records(rec_path)
    return Run(path=folder, results=results, records=records)
