"""One row per question across runs, for spreadsheets and pandas: who answered what, under which protocol.

Columns: model, suite, split, shots, method, protocol_id, subject, category, id, gold, pred, correct,
then score/metric/extracted for generated answers and logprob_<letter> for log-probability methods.
`correct` is empty on a split without answers (nothing to compare with). UTF-8, header row.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.results.run import Run

BASE_COLUMNS = ["model", "suite", "split", "shots", "method", "protocol_id", "subject", "category", "id", "gold",
                "pred", "correct", "score", "metric", "extracted"]


def rows(runs: list[Run]) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and the rows of every record of every run."""
    letters: list[str] = []
    out: list[dict[str, Any]] = []
    for run in runs:
        proto = run.protocol
        no_gold = bool(run.results["scores"].get("no_gold"))
        category = {s: v.get("category") for s, v in (run.results["scores"].get("subjects") or {}).items()}
        for rec in run.records:
            row: dict[str, Any] = {
                "model": run.model, "suite": run.suite, "split": proto.get("split"), "shots": proto.get("shots"),
                "method": rec.method or proto.get("method"), "protocol_id": run.card.get("protocol_id"),
                "subject": rec.subject, "category": category.get(rec.subject), "id": rec.id, "gold": rec.gold,
                "pred": rec.pred, "correct": None if no_gold else rec.correct, "score": rec.score, "metric": rec.metric,
                "extracted": rec.extracted if isinstance(rec.extracted, str | int | float | None)
                else json.dumps(rec.extracted, ensure_ascii=False),
            }
            for letter, value in (rec.logprobs or {}).items():
                if letter not in letters:
                    letters.append(letter)
                row[f"logprob_{letter}"] = value
            out.append(row)
    header = BASE_COLUMNS + [f"logprob_{x}" for x in letters]
    return header, out


def write_csv(runs: list[Run], out: Path) -> list[Path]:
    header, table = rows(runs)
    path = out / "questions.csv" if out.is_dir() or not out.suffix else out
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=header, restval="")
            writer.writeheader()
            writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in table)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    return [path]
