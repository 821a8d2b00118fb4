"""Writing a run folder: `records.jsonl` (one line per question), `results.json` (scores and protocol card).

What a run folder guarantees (README "What a run folder guarantees"):
- Every record line carries the run key of the settings that produced it, so records cannot be taken
  over by a run with other settings, even when `run.lock.json` and `results.json` are gone.
- Records are appended and fsynced batch by batch while a run works, under a `run.lock.json` that
  names the run's key and settings. A run started again with the same key keeps the finished
  records and computes only the rest; a torn last line (kill -9 mid-write, even inside a multi-byte
  character) is dropped; any other damage, a record of another run, or a record whose verdict
  contradicts its own evidence (harness/results/evidence.py) is refused, naming file and line.
- `results.json` is written only when every question is scored, atomically, with the sha256 of the
  records.jsonl it was computed from, so a half-written run is never presented as whole and
  records edited afterwards are noticed by every reader (harness/results/run.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.results.evidence import check_record, sha256
from harness.results.jsonl import dumps_line, json_lines, read_bytes, read_json
from harness.results.record import Record

RECORDS = "records.jsonl"
RESULTS = "results.json"
STATE = "run.lock.json"
KEY = "run_key"  # the field each record line carries (last, after the record's own fields)
MAX_SHOWN = 4  # differing settings named in a refusal


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader sees the old file or the new one, never a part."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def records_text(records: Iterable[Record], run_key: str | None) -> str:
    """records.jsonl's text: one record per line, each tied to its run by `run_key`."""
    return "".join(dumps_line({**r.to_dict(), KEY: run_key} if run_key else r.to_dict()) + "\n" for r in records)


def read_records(path: Path, run_key: str | None = None, allow_torn_end: bool = False, data: bytes | None = None,
                 key_required: bool = True) -> list[Record]:
    """Every record of a records.jsonl (or of its bytes `data`, read once by the caller), each checked
    against its evidence and, with `run_key`, against the run it must belong to (a line without a key
    is refused only when `key_required`: runs and baselines of older versions have none). With
    `allow_torn_end`, a torn last line (an interrupted write) is dropped."""
    records: list[Record] = []
    lines = json_lines(read_bytes(path) if data is None else data, str(path), allow_torn_end)
    for number, value in lines:
        where = f"{path}: line {number}"
        key = value.pop(KEY, None) if isinstance(value, dict) else None
        rec = Record.from_dict(value, where)
        if run_key is not None and key != run_key and (key is not None or key_required):
            if key is None:
                raise UserError(f"{where}: the record names no run key (written by an older harness or by hand), "
                                "so it cannot be tied to this run's settings")
            raise UserError(f"{where}: the record belongs to another run (run key {key}, not {run_key})")
        check_record(rec, where)
        records.append(rec)
    return records


def setting_differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    """'protocol.shots: 0 vs 1; model.path: …' for the settings that differ (at most MAX_SHOWN named in full)."""
    names = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]

    def short(value: Any) -> str:
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."

    shown = "; ".join(f"{k}: {short(old.get(k))} vs {short(new.get(k))}" for k in names[:MAX_SHOWN])
    more = f"; and {', '.join(names[MAX_SHOWN:])}" if len(names) > MAX_SHOWN else ""
    return shown + more


def _file_or_none(path: Path) -> Path | None:
    if not path.exists():
        return None
    if not path.is_file():
        raise UserError(f"{path}: is a folder, where a file was expected; move it away")
    return path


def check_writable(out: Path) -> None:
    """Create `out` and make sure files can be written in it (before any model is loaded)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".harness-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        what = "create" if not out.is_dir() else "write in"
        raise UserError(f"cannot {what} output folder {out}: {exc.strerror or exc}") from None


class RunStore:
    """The run folder of one run key, opened for writing.

    The constructor only reads and checks what the folder holds (refusing before anything is
    written); `begin` marks the run as in progress and returns the finished records."""

    def __init__(self, out: Path, run_key: str, settings: dict[str, Any] | None = None,
                 overwrite: bool = False, adopt: bool = False) -> None:
        """`adopt`: records without a run key are this run's (a sweep merge seeded them from its own
        shard runs, harness/results/merge.py); they are still checked against their evidence."""
        self.out, self.run_key, self.settings = out, run_key, settings or {}
        check_writable(out)
        paths = {name: _file_or_none(out / name) for name in (RECORDS, RESULTS, STATE)}
        if overwrite:
            for path in paths.values():
                if path is not None:
                    path.unlink()
            self.done: dict[str, Record] = {}
            return
        results = paths[RESULTS]
        for path in (paths[STATE], results):
            if path is not None:
                self._check_same_run(path, read_json(path))
        self.done = {}
        if paths[RECORDS] is not None:
            records_path = paths[RECORDS]
            data = read_bytes(records_path)
            try:
                records = read_records(records_path, run_key, allow_torn_end=results is None, data=data,
                                       key_required=not adopt)
            except UserError as exc:
                raise UserError(f"{exc} — cannot resume; use another --output, or --overwrite to start again") from None
            expected = read_json(results).get("records_sha256") if results is not None else None
            if expected and sha256(data) != expected:
                raise UserError(f"{records_path} does not match {results} (changed after the run finished); "
                                "restore it, or use --overwrite to score the run again")
            for rec in records:
                self.done.setdefault(rec.id, rec)

    def _check_same_run(self, path: Path, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get(KEY), str):
            raise UserError(f"{path}: not a harness {'lock' if path.name == STATE else 'results'} file (no run key)")
        if data[KEY] == self.run_key:
            return
        old = data.get("settings")
        why = (setting_differences(old, self.settings) if isinstance(old, dict) and self.settings
               else f"run key {data[KEY]} vs {self.run_key}; {path.name} does not say its settings")
        raise UserError(f"{self.out} holds a run with other settings ({why}); use another --output, "
                        "or --overwrite to replace it")

    @property
    def complete(self) -> bool:
        path = self.out / RESULTS
        return path.is_file() and read_json(path).get(KEY) == self.run_key

    def begin(self, info: dict[str, Any]) -> dict[str, Record]:
        """Mark the run as in progress and return the records already finished, by question id."""
        write_atomic(self.out / STATE, json.dumps({KEY: self.run_key, **info, "settings": self.settings},
                                                  ensure_ascii=False, default=str))
        (self.out / RESULTS).unlink(missing_ok=True)
        path = self.out / RECORDS
        write_atomic(path, records_text(self.done.values(), self.run_key))  # drops a torn last line
        try:
            self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open while the run works
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
        return dict(self.done)

    def append(self, records: Iterable[Record]) -> None:
        try:
            self._fh.write(records_text(records, self.run_key))
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise UserError(f"cannot write {self.out / RECORDS}: {exc.strerror or exc}") from None

    def finish(self, ordered: list[Record], results: dict[str, Any]) -> None:
        """Rewrite the records in the suite's order and write the aggregate; the run is then complete."""
        self._fh.close()
        text = records_text(ordered, self.run_key)
        write_atomic(self.out / RECORDS, text)
        summary = {KEY: self.run_key, **results, "settings": self.settings,
                   "records_sha256": sha256(text.encode("utf-8"))}
        write_atomic(self.out / RESULTS, json.dumps(summary, ensure_ascii=False, indent=2, default=str))
        (self.out / STATE).unlink(missing_ok=True)

    def close(self) -> None:
        fh = getattr(self, "_fh", None)
        if fh and not fh.closed:
            fh.close()
