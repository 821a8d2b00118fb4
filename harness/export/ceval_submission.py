"""The official C-Eval submission: `{subject: {id: "A"|"B"|"C"|"D"}}` for every test question of all 52
subjects (the format of SJTU-LIT/ceval's README, "How to Submit"; the key within a subject is the
dataset's `id` field). C-Eval's test answers are not public: a test-split run is predictions only, and
this file is how it gets a score.

A submission missing a subject or a question is scored as wrong there without telling anyone, so an
incomplete run is refused rather than written.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from harness.errors import UserError
from harness.export.runs import run_config, split_id
from harness.results.record import Record
from harness.results.run import Run

FILE_NAME = "ceval_submission.json"


def _answer(rec: Record, letters: list[str]) -> str | None:
    """The letter the model chose: the argmax letter, or the one read from a generated answer."""
    value = rec.pred if rec.pred is not None else rec.extracted
    return value if isinstance(value, str) and value in letters else None


def _expected_ids(run: Run) -> dict[str, list[str]] | None:
    """Every test question id per subject, read from the run's own data (None when it is not at hand)."""
    from harness.runner.items import prepare

    config = run_config(run)
    if config is None:
        return None
    try:
        prep = prepare(replace(config, limit=None, subjects=None, shots=0))
    except (UserError, OSError):
        return None
    ids: dict[str, list[str]] = {}
    for p in prep.prompts:
        ids.setdefault(p.question.subject, []).append(p.question.id)
    return ids


def check_complete(run: Run) -> None:
    """Refuse (one line) a run that is not a whole C-Eval test-split run."""
    from harness.suite import load_suite

    proto = run.protocol
    if run.suite != "ceval":
        raise UserError(f"{run.path}: a {run.suite} run; the C-Eval submission is made from a C-Eval test-split run")
    if proto.get("split") != "test":
        raise UserError(f"{run.path}: split '{proto.get('split')}' — the official C-Eval submission takes test-split "
                        "predictions (harness run --suite ceval --split test)")
    if proto.get("limit"):
        raise UserError(f"{run.path}: run with --limit {proto['limit']}: the submission needs every test question")
    subjects = list(load_suite("ceval").subjects)
    have: dict[str, set[str]] = {}
    for rec in run.records:
        have.setdefault(rec.subject, set()).add(rec.id)
    missing = [s for s in subjects if s not in have]
    if missing:
        raise UserError(f"{run.path}: {len(missing)} of {len(subjects)} subjects missing (e.g. {missing[0]}); "
                        "the submission needs all of them (run without --subjects)")
    expected = _expected_ids(run)
    if expected is not None:
        lacking = [(s, i) for s in subjects for i in expected.get(s, []) if i not in have.get(s, set())]
        if lacking:
            raise UserError(f"{run.path}: {len(lacking)} test questions missing (e.g. {lacking[0][1]})")
    elif len(run.records) != proto.get("questions"):
        raise UserError(f"{run.path}: {len(run.records)} records for {proto.get('questions')} questions")


def submission(run: Run) -> dict[str, dict[str, str]]:
    """The submission dict of a complete C-Eval test-split run (subjects in C-Eval's order, ids ascending)."""
    from harness.suite import load_suite

    check_complete(run)
    letters = list(run.protocol.get("choices") or "ABCD")
    answers: dict[str, dict[str, str]] = {s: {} for s in load_suite("ceval").subjects}
    unanswered = []
    for rec in run.records:
        letter = _answer(rec, letters)
        if letter is None:
            unanswered.append(rec.id)
            continue
        answers[rec.subject][split_id(rec.id)] = letter
    if unanswered:
        raise UserError(f"{run.path}: {len(unanswered)} questions have no answer letter (e.g. {unanswered[0]}: "
                        "no letter found in the generated text); score them with --method letter")

    def order(key: str) -> tuple[int, int | str]:
        return (0, int(key)) if key.isdigit() else (1, key)

    return {s: dict(sorted(ids.items(), key=lambda kv: order(kv[0]))) for s, ids in answers.items()}


def write_submission(runs: list[Run], out: Path) -> list[Path]:
    """Write the one given C-Eval test run as the official submission JSON."""
    if len(runs) != 1:
        raise UserError(f"give one C-Eval test-split run (got {len(runs)} runs)")
    data = submission(runs[0])
    path = out / FILE_NAME if out.is_dir() or not out.suffix else out
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    return [path]
