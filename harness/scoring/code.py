"""Code metrics: a completion passes when its whole program (completion + the task's tests) runs to its end
in the sandbox.

The program is one file: the code read from the output, then the tests, then (HumanEval) the call of
`check`. The sandbox's pass signal means the file ran to its end with nothing raised, so an early
`sys.exit(0)` in the completion fails as in HumanEval's reference execution.

Reading the code out of an output, in this order: a fenced ```python block (chat answers: taken whole,
helper functions and comments included, before any stop string could cut it), else the output cut at
the item's stop strings (base completions; a chat run has none). HumanEval's prompt (signature,
docstring, imports, helpers) goes first, so a completion continues it and a fenced answer that
redefines the function still has the prompt's imports.

Every sample of every item runs in its own sandboxed process (harness/sandbox.py), several at a time.
`correct` is the first sample's result; `score` the fraction of samples that passed; pass@k comes
from all samples with the unbiased estimator.
"""

from __future__ import annotations

import re
from typing import Any

from harness.backends.tokens import cut_at_stop
from harness.scoring.scored import Scored
from harness.suite.items import GenItem

_FENCE = re.compile(r"```[ \t]*(?:python3?|py|Python)?[ \t]*\n(.*?)(?:\n[ \t]*```|$)", re.S)
_TOP_LEVEL = re.compile(r"^(?:def |async def |class |import |from )", re.M)


def fenced_block(output: str) -> str | None:
    """The code of the first fenced block that defines something (else the first block), or None."""
    blocks = [m.group(1) for m in _FENCE.finditer(output or "")]
    if not blocks:
        return None
    return next((b for b in blocks if _TOP_LEVEL.search(b)), blocks[0])


def completion_code(item: GenItem, output: str) -> str:
    """The program text an output stands for (see the module docstring)."""
    block = fenced_block(output)
    if block is None:
        return item.prefix + cut_at_stop(output or "", item.stop)
    if item.prefix and _TOP_LEVEL.search(block):
        return item.prefix + "\n" + block  # a whole function: it replaces the prompt's, keeping its imports
    return item.prefix + block


def program_for(item: GenItem, code: str) -> str:
    return code + "\n" + item.tests


def passes(item: GenItem, output: str) -> Scored:
    """One output, run alone (see `score_batch` for the parallel path runs use)."""
    return score_batch([item], [[output]], {})[0]


def score_batch(items: list[GenItem], outputs: list[list[str]], options: dict[str, Any]) -> list[Scored]:
    """Run every sample of every item in the sandbox, in parallel. `options`: timeout (seconds per
    sample) and unsafe (the user's --unsafe-exec)."""
    from harness.sandbox import run_many

    programs = [program_for(it, completion_code(it, o)) for it, outs in zip(items, outputs, strict=True) for o in outs]
    results = iter(run_many(programs, timeout=float(options.get("timeout", 10.0)), unsafe=bool(options.get("unsafe"))))
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
