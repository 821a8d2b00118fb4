"""Multiple-choice scoring: predictions from option log-probabilities, and aggregate accuracies.

A run on a split without answers (C-Eval test) has no accuracy: `unscored` gives its counts and says
"no gold" in `scores["no_gold"]`, so no reader mistakes it for a score of 0.

Accuracy is reported per subject, per category (and named subset), and overall both *micro*
(every question weighs the same) and *macro* (mean of subject accuracies), each with a 95%
interval: Wilson for micro, normal for the macro mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from harness.results.record import Record
from harness.scoring.stats import macro_interval, wilson_interval


def predict(logprobs: Sequence[float], letters: Sequence[str]) -> str:
    """The letter with the highest log-probability; ties go to the earlier letter (as argmax does)."""
    best = max(range(len(letters)), key=lambda i: (logprobs[i], -i))
    return letters[best]


def _score(correct: int, n: int) -> dict[str, Any]:
    low, high = wilson_interval(correct, n)
    return {"acc": correct / n if n else 0.0, "n": n, "correct": correct, "ci95": [low, high]}


def _group(subject_scores: dict[str, dict[str, Any]], subjects: Iterable[str]) -> dict[str, Any]:
    members = [s for s in subjects if s in subject_scores]
    correct = sum(subject_scores[s]["correct"] for s in members)
    n = sum(subject_scores[s]["n"] for s in members)
    accs = [subject_scores[s]["acc"] for s in members]
    counts = [subject_scores[s]["n"] for s in members]
    macro = sum(accs) / len(accs) if accs else 0.0
    return {
        "micro": _score(correct, n),
        "macro": {"acc": macro, "subjects": len(members), "ci95": list(macro_interval(accs, counts))},
    }


def aggregate(
    records: Iterable[Record],
    category_of: dict[str, str],
    subsets: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Scores from per-question records (their `subject` and `correct`)."""
    tallies: dict[str, list[int]] = {}
    for rec in records:
        tally = tallies.setdefault(rec.subject, [0, 0])
        tally[0] += bool(rec.correct)
        tally[1] += 1
    subjects = {s: _score(c, n) for s, (c, n) in tallies.items()}
    for s, score in subjects.items():
        score["category"] = category_of.get(s, "Other")
    categories: dict[str, Any] = {}
    for cat in dict.fromkeys(category_of.get(s, "Other") for s in category_of if s in subjects):
        categories[cat] = _group(subjects, [s for s in subjects if category_of.get(s) == cat])
    subset_scores = {
        name: _group(subjects, members)
        for name, members in (subsets or {}).items()
        if any(m in subjects for m in members)
    }
    return {
        "overall": _group(subjects, list(subjects)),
        "categories": categories,
        "subsets": subset_scores,
        "subjects": subjects,
    }


def unscored(records: Iterable[Record], category_of: dict[str, str], split: str) -> dict[str, Any]:
    """The scores of a run on a split without answers: question counts per subject, category and
    overall, accuracies None, and `no_gold` saying why (and what to do with the predictions)."""
    counts: dict[str, int] = {}
    for rec in records:
        counts[rec.subject] = counts.get(rec.subject, 0) + 1

    def group(members: list[str]) -> dict[str, Any]:
        return {"micro": {"acc": None, "n": sum(counts[s] for s in members), "correct": None, "ci95": None},
                "macro": {"acc": None, "subjects": len(members), "ci95": None}}

    cats = dict.fromkeys(category_of.get(s, "Other") for s in counts)
    return {
        "no_gold": f"split '{split}' has no answers: these are predictions only, scored by whoever holds the answers "
                   "(C-Eval test: `harness export --format ceval-submission`)",
        "overall": group(list(counts)),
        "categories": {c: group([s for s in counts if category_of.get(s, "Other") == c]) for c in cats},
        "subsets": {},
        "subjects": {s: {"acc": None, "n": n, "correct": None, "ci95": None, "category": category_of.get(s, "Other")}
                     for s, n in counts.items()},
    }
