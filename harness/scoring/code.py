"""Code metrics: a completion passes when its program (completion + the task's tests) runs clean in the sandbox.

Every sample of every item runs in its own sandboxed process (harness/sandbox.py), several at a time.
`correct` is the first sample's result; `score` the fraction of samples that passed; pass@k comes
from all samples with the unbiased estimator.
"""

from __future__ import annotations

import re
from typing import Any

from harness.scoring.scored import Scored
from harness.suite.items import GenItem

_FENCE = re.compile(r"```(?:python|py|Python)?\s*\n(.*?)(?:```|$)", re.S)


def completion_code(item: GenItem, output: str) -> str:
    """The program text a completion stands for: a fenced block if the model wrote one, else the
    completion after the prompt (HumanEval) or on its own (MBPP)."""
    fenced = _FENCE.search(output or "")
    if fenced:
        return fenced.group(1)
    return item.prefix + (output or "")


def program_for(item: GenItem, code: str) -> str:
    return code + "\n" + item.tests


def passes(item: GenItem, output: str) -> Scored:
    """One output, run alone (see `score_batch` for the parallel path runs use)."""
    return score_batch([item], [[output]], {})[0]


def score_batch(items: list[GenItem], outputs: list[list[str]], options: dict[str, Any]) -> list[Scored]:
    """Run every sample of every item in the sandbox, in parallel."""
    from harness.sandbox import run_many

    programs = [program_for(it, completion_code(it, o)) for it, outs in zip(items, outputs, strict=True) for o in outs]
    results = iter(run_many(programs, timeout=float(options.get("timeout", 10.0))))
    scored = []
    for outs in outputs:
        runs = [next(results) for _ in outs]
        passed = [r.passed for r in runs]
        scored.append(Scored(
            None if not any((o or "").strip() for o in outs) else "code",
            passed[0],
            sum(passed) / len(passed),
            {"passed": passed, "status": [r.status for r in runs],
             "error": next((r.detail[-300:] for r in runs if not r.passed), "")},
        ))
    return scored


def pass_at_k_summary(records: list, samples: int) -> dict[str, float]:
    """pass@1/10/100 (those with k <= samples), averaged over the subject's items."""
    from harness.sandbox import pass_at_k

    out = {}
    for k in (1, 10, 100):
        if k <= samples:
            out[f"pass@{k}"] = sum(pass_at_k(len(r.values["passed"]), sum(r.values["passed"]), k)
                                   for r in records) / len(records)
    return out
