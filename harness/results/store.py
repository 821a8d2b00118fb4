"""Writing a run folder: `records.jsonl` (one line per question), `results.json` (scores and protocol card).

Records are appended and fsynced batch by batch while a run works, under a `run.lock.json` that
names the run's settings key. A run started again with the same key keeps the finished records and
computes only the rest; a torn last line (kill -9 mid-write) is dropped, any other damage is refused.
`results.json` is written only when every question is scored, atomically, so a half-written run is
never presented as whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.results.jsonl import dumps_line, lines, read_json, read_text
from harness.results.record import Record

RECORDS = "records.jsonl"
RESULTS = "results.json"
STATE = "run.lock.json"


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader sees the old file or the new one, never a part."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def records_text(records: Iterable[Record]) -> str:
    return "".join(dumps_line(r.to_dict()) + "\n" for r in records)


def read_records(path: Path, allow_torn_end: bool = False) -> list[Record]:
    """Every record of a records.jsonl; with `allow_torn_end`, an unparsable last line (an interrupted
    write) is dropped instead of refused."""
    text = read_text(path)
    numbered = list(lines(text))
    records: list[Record] = []
    for position, (number, line) in enumerate(numbered):
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            if allow_torn_end and position == len(numbered) - 1 and not text.endswith("\n"):
                break
            raise UserError(f"{path}:{number}: not a JSON record (damaged file?)") from None
        records.append(Record.from_dict(data, f"{path}:{number}"))
    return records


class RunStore:
    """The run folder of one run key, opened for writing."""

    def __init__(self, out: Path, run_key: str, overwrite: bool = False) -> None:
        self.out = out
        self.run_key = run_key
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create output folder {out}: {exc.strerror}") from None
        previous = None
        for name in (STATE, RESULTS):
            if (out / name).is_file():
                data = read_json(out / name)
                previous = data.get("run_key") if isinstance(data, dict) else None
                break
        if previous and previous != run_key and not overwrite:
            raise UserError(f"{out} holds a run with other settings; use another --output, or --overwrite to replace it")
        if overwrite:
            for name in (RECORDS, RESULTS, STATE):
                (out / name).unlink(missing_ok=True)

    @property
    def complete(self) -> bool:
        path = self.out / RESULTS
        return path.is_file() and read_json(path).get("run_key") == self.run_key

    def begin(self, info: dict[str, Any]) -> dict[str, Record]:
        """Mark the run as in progress and return the records already finished, by question id."""
        write_atomic(self.out / STATE, json.dumps({"run_key": self.run_key, **info}, ensure_ascii=False))
        (self.out / RESULTS).unlink(missing_ok=True)
        done: dict[str, Record] = {}
        path = self.out / RECORDS
        if path.is_file():
            for rec in read_records(path, allow_torn_end=True):
                done.setdefault(rec.id, rec)
            write_atomic(path, records_text(done.values()))
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open while the run works
        return done

    def append(self, records: Iterable[Record]) -> None:
        self._fh.write(records_text(records))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def finish(self, ordered: list[Record], results: dict[str, Any]) -> None:
        """Rewrite the records in the suite's order and write the aggregate; the run is then complete."""
        self._fh.close()
        write_atomic(self.out / RECORDS, records_text(ordered))
        write_atomic(self.out / RESULTS, json.dumps({"run_key": self.run_key, **results}, ensure_ascii=False, indent=2))
        (self.out / STATE).unlink(missing_ok=True)

    def close(self) -> None:
        fh = getattr(self, "_fh", None)
        if fh and not fh.closed:
            fh.close()
