"""A record must agree with its own evidence; a run folder's files must agree with each other.

A record carries what its verdict was derived from: the option log-probabilities for `letter` and
`choice` (the prediction is their argmax), the extracted answer for generation (`choice` metric:
right when it equals the gold answer), per-sample pass results for code. A record whose `pred` or
`correct` contradicts that evidence was edited or damaged; trusting it would publish a wrong number,
so resume and every reader refuse it (one line naming the file and line).

Log-probabilities are stored rounded to 6 decimals, so a prediction within that rounding of the
highest value is accepted: the exact tie rule (earlier letter, as `harness.scoring.mc.predict`) can
only be checked where the stored values are apart by more than the rounding.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.results.record import Record
from harness.scoring.mc import predict

ROUNDING = 1.5e-6  # two values rounded to 6 decimals can be this much closer than the values were


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


def check_record(rec: Record, where: str) -> None:
    """Refuse (UserError naming `where`) a record whose verdict disagrees with its evidence."""
    if rec.logprobs is not None:
        _check_logprobs(rec, where)
    elif rec.method in ("letter", "choice") and rec.pred is not None and rec.correct != (rec.pred == rec.gold):
        raise UserError(f"{where}: correct is {str(rec.correct).lower()} but pred {rec.pred!r} vs gold {rec.gold!r} "
                        "says otherwise (record edited?)")
    if rec.score is not None and not (_number(rec.score) and 0 <= rec.score <= 1):
        raise UserError(f"{where}: score {rec.score!r} is not a number between 0 and 1")
    if rec.metric == "choice":
        right = rec.extracted is not None and rec.extracted == rec.gold
        if rec.correct != right:
            raise UserError(f"{where}: correct is {str(rec.correct).lower()} but the extracted answer "
                            f"{rec.extracted!r} vs gold {rec.gold!r} says otherwise (record edited?)")
        if rec.score is not None and rec.score != float(right):
            raise UserError(f"{where}: score {rec.score!r} disagrees with correct ({str(rec.correct).lower()})")
    passed = rec.values.get("passed") if rec.metric == "pass" else None
    if isinstance(passed, list) and passed and all(isinstance(p, bool) for p in passed):
        if rec.correct != passed[0]:
            raise UserError(f"{where}: correct is {str(rec.correct).lower()} but the first sample's test result "
                            f"is {str(passed[0]).lower()} (record edited?)")
        if rec.score is not None and abs(rec.score - sum(passed) / len(passed)) > 1e-9:
            raise UserError(f"{where}: score {rec.score!r} is not the share of passing samples")


def _check_logprobs(rec: Record, where: str) -> None:
    letters = list(rec.logprobs or {})
    values = list((rec.logprobs or {}).values())
    if not letters or not all(_number(v) for v in values):
        raise UserError(f"{where}: logprobs must map each option letter to a number")
    if rec.pred not in letters:
        raise UserError(f"{where}: pred {rec.pred!r} is not one of the record's options {', '.join(letters)}")
    best = predict(values, letters)
    if rec.pred != best and rec.logprobs[rec.pred] < rec.logprobs[best] - ROUNDING:  # type: ignore[index]
        raise UserError(f"{where}: pred {rec.pred!r} is not the option with the highest log-probability "
                        f"({best!r}: {rec.logprobs[best]} > {rec.pred!r}: {rec.logprobs[rec.pred]}; record edited?)")  # type: ignore[index]
    if rec.correct != (rec.pred == rec.gold):
        raise UserError(f"{where}: correct is {str(rec.correct).lower()} but pred {rec.pred!r} vs gold {rec.gold!r} "
                        "says otherwise (record edited?)")


def sha256(data: bytes) -> str:
    """The digest results.json keeps of the records.jsonl it was computed from."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """A file's sha256, read in 1 MiB chunks (adapter weights and training data can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_scores(results: dict[str, Any], records: list[Record], where: str) -> None:
    """Refuse a results.json whose overall counts are not those of its records (one was changed)."""
    micro = ((results.get("scores") or {}).get("overall") or {}).get("micro")
    if not isinstance(micro, dict) or "n" not in micro or "correct" not in micro:
        return
    counted = [r for r in records if not r.values.get("skipped")]  # as harness/scoring/mc.py counts them
    n = len(counted)
    correct = None if micro["correct"] is None else sum(r.correct for r in counted)  # None: a split without answers
    if (micro["n"], micro["correct"]) != (n, correct):
        raise UserError(f"{where}: its scores ({micro['correct']} of {micro['n']} correct) are not those of its "
                        f"records ({correct} of {n}); one of the two files was changed after the run")
