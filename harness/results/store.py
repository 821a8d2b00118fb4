"""A run folder: `records.jsonl` (one line per question), `results.json` (scores and protocol card).

Records are appended and fsynced batch by batch while a run works, under a `run.lock.json` that
names the run's settings key. A run started again with the same key keeps the finished records and
computes only the rest; a torn last line (kill -9 mid-write) is dropped. `results.json` is written
only when every question is scored, atomically, so a half-written run is never presented as whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UserError

RECORDS = "records.jsonl"
RESULTS = "results.json"
STATE = "run.lock.json"


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=False)


class RunStore:
    def __init__(self, out: Path, run_key: str, overwrite: bool = False) -> None:
        self.out = out
        self.run_key = run_key
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create output folder {out}: {exc.strerror}") from None
        state = out / STATE
        results = out / RESULTS
        previous = None
        if state.is_file():
            previous = json.loads(state.read_text(encoding="utf-8")).get("run_key")
        elif results.is_file():
            previous = json.loads(results.read_text(encoding="utf-8")).get("run_key")
        if previous and previous != run_key:
            if not overwrite:
                raise UserError(
                    f"{out} holds a run with other settings; use another --output, or --overwrite to replace it"
                )
            for name in (RECORDS, RESULTS, STATE):
                (out / name).unlink(missing_ok=True)
        elif overwrite:
            for name in (RECORDS, RESULTS, STATE):
                (out / name).unlink(missing_ok=True)

    @property
    def complete(self) -> bool:
        path = self.out / RESULTS
        return path.is_file() and json.loads(path.read_text(encoding="utf-8")).get("run_key") == self.run_key

    def begin(self, info: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Mark the run as in progress and return the records already finished, by question id."""
        write_atomic(self.out / STATE, _dump({"run_key": self.run_key, **info}))
        (self.out / RESULTS).unlink(missing_ok=True)
        done: dict[str, dict[str, Any]] = {}
        path = self.out / RECORDS
        if path.is_file():
            good: list[str] = []
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # torn write from an interrupted run
                if rec.get("id") not in done:
                    done[rec["id"]] = rec
                    good.append(line)
            write_atomic(path, "".join(g + "\n" for g in good))
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open while the run works
        return done

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        self._fh.write("".join(_dump(r) + "\n" for r in records))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def finish(self, ordered_records: list[dict[str, Any]], results: dict[str, Any]) -> None:
        """Rewrite the records in the suite's order and write the aggregate; the run is then complete."""
        self._fh.close()
        write_atomic(self.out / RECORDS, "".join(_dump(r) + "\n" for r in ordered_records))
        write_atomic(self.out / RESULTS, json.dumps({"run_key": self.run_key, **results}, ensure_ascii=False, indent=2))
        (self.out / STATE).unlink(missing_ok=True)

    def close(self) -> None:
        fh = getattr(self, "_fh", None)
        if fh and not fh.closed:
            fh.close()


@dataclass
class Run:
    """A finished run loaded from disk."""

    path: Path
    results: dict[str, Any]
    records: list[dict[str, Any]]

    @property
    def card(self) -> dict[str, Any]:
        return self.results["card"]

    @property
    def protocol(self) -> dict[str, Any]:
        return self.results["card"]["protocol"]


def load_run(path: str | Path, with_records: bool = True) -> Run:
    """Load a complete run folder (or its results.json); an unfinished run is refused."""
    folder = Path(path)
    if folder.is_file() and folder.name == RESULTS:
        folder = folder.parent
    results_path = folder / RESULTS
    if not results_path.is_file():
        if (folder / STATE).is_file():
            raise UserError(f"{folder}: the run is unfinished (run it again to complete it)")
        raise UserError(f"{folder}: not a run folder (no {RESULTS})")
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{results_path}: not valid JSON") from None
    records: list[dict[str, Any]] = []
    if with_records:
        rec_path = folder / RECORDS
        if not rec_path.is_file():
            raise UserError(f"{folder}: {RECORDS} is missing")
        records = [json.loads(line) for line in rec_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return Run(path=folder, results=results, records=records)
