"""The code scorer: canonical solutions ("a perfect model") pass every HumanEval and MBPP problem."""

from __future__ import annotations

from pathlib import Path

from harness.sandbox import run_many
from harness.scoring.code import completion_code, program_for, score_batch
from harness.suite import load_suite
from harness.suite.domain import load_items
from tests.conftest import shared_data


def _perfect(subject: str, root: Path) -> list:
    spec = load_suite("code")
    items = load_items(spec, subject, "test", root)
    programs = [program_for(it, completion_code(it, it.gold)) for it in items]
    return items, run_many(programs, timeout=20, workers=4)


def test_humaneval_canonical_solutions_all_pass() -> None:
    items, results = _perfect("humaneval", shared_data("humaneval"))
    assert len(items) == 164
    failed = [(it.id, r.detail[-200:]) for it, r in zip(items, results, strict=True) if not r.passed]
    assert not failed


def test_mbpp_canonical_solutions_all_pass() -> None:
    items, results = _perfect("mbpp", shared_data("mbpp"))
    assert len(items) == 974
    failed = [(it.id, r.detail[-200:]) for it, r in zip(items, results, strict=True) if not r.passed]
    assert not failed


def test_wrong_and_fenced_completions() -> None:
    spec = load_suite("code")
    root = shared_data("humaneval")
    item = load_items(spec, "humaneval", "test", root)[0]
    fenced = "Here you go:\n```python\n" + item.prefix + item.gold + "\n```\nDone."
    scored = score_batch([item], [["    return None\n", fenced]], {"timeout": 10})[0]
    assert scored.values["passed"] == [False, True] and scored.score == 0.5 and scored.correct is False
