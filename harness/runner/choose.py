"""Which method scores a run (harness/runner/methods.py, harness/runner/score.py)."""

from __future__ import annotations

from harness.errors import UserError
from harness.runner.config import METHODS, RunConfig
from harness.runner.generate import GenerateMethod
from harness.runner.logprob import LogprobMethod
from harness.runner.methods import Method
from harness.runner.score import ScoreMethod
from harness.suite.spec import SuiteSpec


def make_method(config: RunConfig, spec: SuiteSpec) -> Method:
    """Generation for every suite that is not multiple choice; `score` (set only by `harness score`)
    reads the outputs from a file; otherwise the method asked for."""
    if config.method == "score":
        return ScoreMethod(config, spec)
    if config.method not in METHODS:
        raise UserError(f"unknown method '{config.method}' (choose from {', '.join(METHODS)})")
    if config.method == "generate" or spec.kind != "multiple_choice":
        return GenerateMethod(config, spec)
    return LogprobMethod(config, spec)
