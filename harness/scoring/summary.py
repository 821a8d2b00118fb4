"""Scores of a generation run: the multiple-choice structure (acc = fraction correct) plus, per
subject, its metric, the mean graded score, the answer extraction rate and the metric's own summary
(corpus BLEU, pass@k); overall adds the macro mean score and the extraction rate.

Records a metric marked `skipped` (items the benchmark's own evaluation leaves out, such as LawBench's
death-penalty terms) are left out of every number here and counted in `skipped`.
"""

from __future__ import annotations

from typing import Any

from harness.results.record import Record
from harness.scoring.mc import aggregate
from harness.scoring.metrics import METRICS


def generation_scores(
    records: list[Record], category_of: dict[str, str], subsets: dict[str, list[str]], samples: int
) -> dict[str, Any]:
    scores = aggregate(records, category_of, subsets)
    by_subject: dict[str, list[Record]] = {}
    for r in records:
        if not r.values.get("skipped"):
            by_subject.setdefault(r.subject, []).append(r)
    means = []
    for subject, entry in scores["subjects"].items():
        recs = by_subject.get(subject, [])
        metric = next((r.metric for r in records if r.subject == subject and r.metric), None) or "choice"
        entry["metric"] = metric
        if not recs:  # every item skipped: no score to give
            entry.update(score=None, extraction_rate=None)
            continue
        entry["score"] = sum(r.score or 0.0 for r in recs) / len(recs)
        entry["extraction_rate"] = sum(r.extracted is not None for r in recs) / len(recs)
        summary = METRICS[metric].summary if metric in METRICS else None
        if summary is not None:
            entry.update(summary(recs, samples))
        means.append(entry["score"])
    scored = [r for recs in by_subject.values() for r in recs]
    overall = scores["overall"]
    overall["score"] = sum(means) / len(means) if means else 0.0
    overall["extraction_rate"] = sum(r.extracted is not None for r in scored) / max(1, len(scored))
    return scores
