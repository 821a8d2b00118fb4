"""The paired comparison of two runs — the one place `harness compare`, `harness gate` and the site's
variant pages get their numbers from.

Two runs are comparable when they asked the same questions the same way: the same protocol card
(suite, split, shots, method, prompt and data hashes, …) and the same question ids. Runs on another
engine (backend or dtype: a bf16 vLLM baseline against an fp32 transformers candidate) can differ for
that reason alone, so that is refused too unless the caller says it is intended, and then noted.

For comparable runs, each group of questions (all, a category, a subject) gets both accuracies, the
delta (B − A), the questions B fixed (wrong in A, right in B) and broke, and an exact McNemar test on
those discordant questions. Callers apply Holm's correction over the families of rows they test.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from harness.errors import UserError
from harness.results.run import Run
from harness.scoring.stats import holm, mcnemar_exact

ENGINE_FIELDS = ("backend", "dtype")
_WHY = {
    "prompt_hash": "the prompts differ (with --chat-template, each model's own chat template renders them)",
    "data_hash": "the questions or few-shot examples differ",
}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def protocol_differences(a: Run, b: Run) -> list[tuple[str, str]]:
    """(field, 'field: A vs B' or why it matters) for each protocol field whose values differ."""
    pa, pb = a.protocol, b.protocol
    out = []
    for key in dict.fromkeys([*pa, *pb]):
        if pa.get(key) != pb.get(key):
            out.append((key, _WHY.get(key) or f"{key}: {_short(pa.get(key))} vs {_short(pb.get(key))}"))
    if not out and a.card.get("protocol_id") != b.card.get("protocol_id"):
        out.append(("protocol_id", f"protocol_id: {a.card.get('protocol_id')} vs {b.card.get('protocol_id')}"))
    return out


def engine_differences(a: Run, b: Run) -> list[str]:
    """'backend: A vs B' / 'dtype: A vs B' where the runs' engines differ."""
    ea, eb = a.card.get("backend") or {}, b.card.get("backend") or {}
    return [f"{k}: {ea.get(k)!r} vs {eb.get(k)!r}" for k in ENGINE_FIELDS if ea.get(k) != eb.get(k)]


def check_comparable(
    a: Run, b: Run, what: str, labels: tuple[str, str] = ("A", "B"), allow_engine_change: bool = False
) -> list[str]:
    """Refuse (one UserError line naming every problem) runs that did not ask the same questions the
    same way; returns notes for differences the caller allowed."""
    problems = []
    unscored = [label for label, run in zip(labels, (a, b), strict=True) if run.results.get("scores", {}).get("no_gold")]
    if unscored:
        problems.append(f"{' and '.join(unscored)} ran on a split without answers (no gold: nothing to compare)")
    diffs = protocol_differences(a, b)
    if diffs:
        shown = "; ".join(text for _, text in diffs[:6])
        more = f" (+{len(diffs) - 6} more)" if len(diffs) > 6 else ""
        problems.append(f"protocols differ in {', '.join(k for k, _ in diffs)} ({shown}{more})")
    ids_a = {r.id for r in a.records}
    ids_b = {r.id for r in b.records}
    if ids_a != ids_b:
        missing, extra = len(ids_a - ids_b), len(ids_b - ids_a)
        example = next(iter(sorted(ids_a - ids_b) or sorted(ids_b - ids_a)))
        problems.append(f"question sets differ: {labels[1]} lacks {missing} of {labels[0]}'s {len(ids_a)} questions "
                        f"and has {extra} it does not (e.g. '{example}')")
    engines = engine_differences(a, b)
    if engines and not allow_engine_change:
        problems.append(f"they ran on different engines ({'; '.join(engines)}), which alone can change scores; "
                        "pass --allow-engine-change if that is intended")
    if problems:
        raise UserError(f"cannot {what}: " + "; ".join(problems))
    return [f"engines differ ({'; '.join(engines)}): part of the difference may be the engine's"] if engines else []


@dataclass
class PairedRow:
    """One compared group of questions."""

    n: int
    acc_a: float
    acc_b: float
    delta: float  # accuracy(B) - accuracy(A), a fraction
    fixed: int  # wrong in A, right in B
    broken: int  # right in A, wrong in B
    p_value: float  # exact McNemar, two-sided
    p_holm: float | None = None
    category: str | None = None  # for a subject's row


def paired_row(ids: list[str], a: dict[str, bool], b: dict[str, bool]) -> PairedRow:
    """The paired comparison of the questions `ids`, given each run's correctness by id."""
    right_a = [a[i] for i in ids]
    right_b = [b[i] for i in ids]
    test = mcnemar_exact(right_a, right_b)
    n = len(ids)
    return PairedRow(n, sum(right_a) / n if n else 0.0, sum(right_b) / n if n else 0.0, test.delta,
                     test.only_b, test.only_a, test.p_value)


def correctness(run: Run) -> dict[str, bool]:
    return {r.id: bool(r.correct) for r in run.records}


def group_ids(run: Run, level: str) -> dict[str, list[str]]:
    """Question ids by subject or by category (from the run's scores), in the run's order."""
    category = {s: v.get("category", "Other") for s, v in (run.results.get("scores", {}).get("subjects") or {}).items()}
    groups: dict[str, list[str]] = {}
    for r in run.records:
        key = r.subject if level == "subject" else category.get(r.subject, "Other")
        groups.setdefault(key, []).append(r.id)
    return groups


def _with_holm(rows: dict[str, PairedRow]) -> dict[str, PairedRow]:
    for row, adjusted in zip(rows.values(), holm([r.p_value for r in rows.values()]), strict=True):
        row.p_holm = adjusted
    return rows


@dataclass
class Comparison:
    """Run B against run A: overall, per category and per subject, and the questions that changed."""

    a: dict[str, Any]
    b: dict[str, Any]
    suite: str
    protocol_id: str | None
    overall: PairedRow
    categories: dict[str, PairedRow]
    subjects: dict[str, PairedRow]
    fixed: list[dict[str, Any]]
    broken: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    test: str = "exact McNemar (two-sided) on per-question correctness; Holm-corrected across subjects and across categories"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_runs(a: Run, b: Run, allow_engine_change: bool = False) -> Comparison:
    """The comparison of run B against run A (B − A), or UserError when they are not comparable."""
    notes = check_comparable(a, b, f"compare {a.path} and {b.path}", allow_engine_change=allow_engine_change)
    right_a, right_b = correctness(a), correctness(b)
    by_id = {r.id: r for r in a.records}
    pred_b = {r.id: r.pred for r in b.records}
    ids = [r.id for r in a.records]
    subjects = _with_holm({s: paired_row(m, right_a, right_b) for s, m in group_ids(a, "subject").items()})
    categories = _with_holm({c: paired_row(m, right_a, right_b) for c, m in group_ids(a, "category").items()})
    scores = a.results.get("scores", {}).get("subjects") or {}
    for subject, row in subjects.items():
        row.category = (scores.get(subject) or {}).get("category", "Other")

    def item(i: str) -> dict[str, Any]:
        return {"id": i, "subject": by_id[i].subject, "gold": by_id[i].gold, "pred_a": by_id[i].pred, "pred_b": pred_b[i]}

    return Comparison(
        a={"path": str(a.path), "model": a.results.get("model")},
        b={"path": str(b.path), "model": b.results.get("model")},
        suite=a.suite, protocol_id=a.card.get("protocol_id"), overall=paired_row(ids, right_a, right_b),
        categories=categories, subjects=subjects,
        fixed=[item(i) for i in ids if not right_a[i] and right_b[i]],
        broken=[item(i) for i in ids if right_a[i] and not right_b[i]],
        notes=notes,
    )
