"""Regression gate: is a candidate run worse than a baseline run, beyond what noise explains?

Both runs answered the same questions, so the comparison is paired: only questions one run got
right and the other wrong (discordant) carry information, and the exact McNemar test asks whether
the candidate broke more of them than it fixed more often than chance would. A row fails when its
drop is larger than `max_drop` points AND significant after Holm's correction; it warns when the
drop is larger but not significant (the questions cannot tell a real drop from noise); else passes.

Holm's correction runs over two families: the suites' overall rows, and the per-category or
per-subject rows (asking for a breakdown does not weaken the headline test).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.compare import check_comparable, correctness, group_ids, paired_row, scored
from harness.errors import UserError
from harness.results.run import Run
from harness.scoring.stats import DEFAULT_DISCORDANCE, holm, minimum_detectable_drop

PASS, WARN, FAIL = "pass", "warn", "fail"
PER = ("category", "subject")


@dataclass
class GateRow:
    """One compared group: a suite overall, or one of its categories or subjects."""

    suite: str
    group: str  # "overall", a category or a subject
    level: str  # "suite", "category" or "subject"
    n: int
    acc_base: float
    acc_cand: float
    delta: float  # accuracy(candidate) - accuracy(baseline), a fraction
    broke: int  # right in the baseline, wrong in the candidate
    fixed: int  # wrong in the baseline, right in the candidate
    p: float  # exact McNemar, two-sided
    p_holm: float = 1.0
    min_detectable_drop: float = math.inf  # a fraction; inf when no drop could be significant
    verdict: str = PASS

    @property
    def drop_points(self) -> float:
        return -100 * self.delta


@dataclass
class GateReport:
    baseline: str
    candidate: str
    max_drop: float  # points
    alpha: float
    per: str | None
    rows: list[GateRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        verdicts = {r.verdict for r in self.rows}
        return FAIL if FAIL in verdicts else WARN if WARN in verdicts else PASS

    @property
    def exit_code(self) -> int:
        return 1 if self.verdict == FAIL else 0

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for r in self.rows:
            row = asdict(r)
            if math.isinf(row["min_detectable_drop"]):
                row["min_detectable_drop"] = None
            rows.append(row)
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "max_drop_points": self.max_drop,
            "alpha": self.alpha,
            "per": self.per,
            "test": "exact McNemar (two-sided) on per-question correctness, Holm-adjusted",
            "rows": rows,
            "notes": self.notes,
        }


def _row(suite: str, group: str, level: str, ids: list[str], base: dict[str, bool], cand: dict[str, bool]) -> GateRow:
    paired = paired_row(ids, base, cand)
    return GateRow(suite=suite, group=group, level=level, n=paired.n, acc_base=paired.acc_a, acc_cand=paired.acc_b,
                   delta=paired.delta, broke=paired.broken, fixed=paired.fixed, p=paired.p_value)


def gate(
    baseline: dict[str, Run],
    candidate: dict[str, Run],
    max_drop: float = 1.0,
    alpha: float = 0.05,
    suites: list[str] | None = None,
    per: str | None = None,
    labels: tuple[str, str] = ("baseline", "candidate"),
    allow_engine_change: bool = False,
) -> GateReport:
    """Compare the candidate's runs with the baseline's, suite by suite (see the module docstring)."""
    if not 0 < alpha < 1:
        raise UserError("--alpha must be between 0 and 1")
    if max_drop < 0:
        raise UserError("--max-drop must be 0 or more points")
    if per is not None and per not in PER:
        raise UserError(f"--per must be one of {', '.join(PER)}")
    report = GateReport(labels[0], labels[1], max_drop, alpha, per)
    pairs = _pair(baseline, candidate, suites, report)
    for suite, (base, cand) in pairs.items():
        report.notes += check_comparable(base, cand, f"gate {suite}", ("the baseline", "the candidate"),
                                         allow_engine_change)
    overall: list[GateRow] = []
    groups: list[GateRow] = []
    for suite, (base, cand) in pairs.items():
        right_b, right_c = correctness(base), correctness(cand)
        overall.append(_row(suite, "overall", "suite", [r.id for r in scored(base)], right_b, right_c))
        if per:
            groups.extend(_row(suite, g, per, m, right_b, right_c) for g, m in group_ids(base, per).items())
    for family in (overall, groups):
        for row, adjusted in zip(family, holm([r.p for r in family]), strict=True):
            row.p_holm = adjusted
            discordance = (row.broke + row.fixed) / row.n if row.n else 0.0
            row.min_detectable_drop = minimum_detectable_drop(
                row.n, alpha / len(family), max(discordance, DEFAULT_DISCORDANCE)
            )
            row.verdict = _verdict(row, max_drop, alpha)
    report.rows = [r for s in pairs for r in (*(o for o in overall if o.suite == s), *(g for g in groups if g.suite == s))]
    blind = [r for r in report.rows if r.min_detectable_drop * 100 > max(max_drop, 0)]
    if blind:
        names = ", ".join(f"{r.suite}/{r.group}" if r.level != "suite" else r.suite for r in blind[:5])
        report.notes.append(
            f"{len(blind)} row(s) ({names}{', …' if len(blind) > 5 else ''}) cannot reliably "
            f"catch a {max_drop:g}-point drop with their questions and churn (their MDD, minimum detectable drop, is larger)"
        )
    return report


def _verdict(row: GateRow, max_drop: float, alpha: float) -> str:
    if row.drop_points > max_drop:
        return FAIL if row.p_holm < alpha else WARN
    return PASS


def _pair(
    baseline: dict[str, Run], candidate: dict[str, Run], suites: list[str] | None, report: GateReport
) -> dict[str, tuple[Run, Run]]:
    if len(baseline) == 1 and len(candidate) == 1 and not suites:
        (suite, base), (_, cand) = next(iter(baseline.items())), next(iter(candidate.items()))
        return {suite: (base, cand)}  # a suite-name mismatch shows up as a protocol difference
    wanted = suites or list(baseline)
    missing_b = [s for s in wanted if s not in baseline]
    missing_c = [s for s in wanted if s not in candidate]
    if missing_b or missing_c:
        parts = []
        if missing_b:
            parts.append(f"the baseline has no run of {', '.join(missing_b)} (it has {', '.join(baseline)})")
        if missing_c:
            parts.append(f"the candidate has no run of {', '.join(missing_c)} (it has {', '.join(candidate)})")
        raise UserError("; ".join(parts))
    extra = [s for s in candidate if s not in wanted]
    if extra and not suites:
        report.notes.append(f"not gated (no baseline): {', '.join(extra)}")
    return {s: (baseline[s], candidate[s]) for s in wanted}
