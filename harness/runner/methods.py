"""The scoring methods. A method decides what the run asks of the backend and how each output becomes
a record; the loop (harness/runner/loop.py) does everything else the same way for all of them.

- `letter` / `choice` (LogprobMethod): one ScoreRequest per question; the record keeps the option
  log-probabilities and the argmax letter.
- `generate` (GenerateMethod): one GenerateRequest per item; outputs are scored by the item's metric
  (harness/scoring/metrics.py), and the record keeps the raw output beside what was read from it.
- `score` (ScoreMethod, harness/runner/score.py): `generate` with the outputs read from a file.

Prompts are fitted to the model's context by dropping whole few-shot examples (harness/runner/fit.py).
Stop strings belong to each item's prompt style (harness/suite/formats.py); a chat run has none.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from typing import Any

from harness.backends.base import Backend
from harness.registry import ResolvedModel, resolve_model
from harness.results.record import Record
from harness.runner.config import RunConfig
from harness.runner.fit import Fit
from harness.scoring.mc import aggregate, unscored
from harness.suite.spec import SuiteSpec

COT = {
    "zh": "\n请一步一步地思考，最后以“答案是X”的格式给出答案。\n",
    "en": "\nLet's think step by step, then finish with \"The answer is X\".\n",
}
Outputs = Iterator[tuple[list[int], list[Any]]]


def item_seed(seed: int, item_id: str) -> int:
    """The sampling seed of one item: the same samples in a full, a resumed or a --subjects/--limit run."""
    return int(hashlib.sha256(f"{seed}:{item_id}".encode()).hexdigest()[:8], 16)


def require_isolation(unsafe: bool) -> dict[str, Any]:
    """The sandbox's isolation for code runs, checked before any model loads: one line naming the install
    step when there is none and --unsafe-exec was not given (harness/sandbox)."""
    from harness.sandbox import require_isolation as require

    return dict(require(unsafe))


def resolve_run_model(config: RunConfig) -> ResolvedModel:
    """The model a run scores; an API-only catalogue entry resolves only for a backend that serves
    remote models (`--backend openai`)."""
    from harness.backends import backend_class

    return resolve_model(config.model, config.revision, served=backend_class(config.backend).remote)


class Method:
    """One way of scoring a suite. Subclasses fill in the hooks the loop calls, in this order:
    `setup` (with the backend open), `protocol`, then `outputs` → `records` per batch, then `aggregate`."""

    name: str
    ids: list[str]  # question ids, in the suite's order
    subjects: list[str]
    answered: bool = True  # False on a split without answers: records keep gold None, scores say "no gold"
    split: str = ""

    def __init__(self, config: RunConfig, spec: SuiteSpec) -> None:
        self.config, self.spec = config, spec
        self.fit = Fit([])

    def model(self) -> ResolvedModel:
        """What the run scores (resolved before the backend opens)."""
        return resolve_run_model(self.config)

    def setup(self, backend: Backend) -> None:
        """Render prompts for this backend (chat template) and settle anything that depends on it."""

    def protocol(self) -> dict[str, Any]:
        raise NotImplementedError

    def outputs(self, backend: Backend, done: set[int]) -> Outputs:
        """(indices, one output per index) batch by batch; batches all of whose indices are in `done` are skipped."""
        raise NotImplementedError

    def records(self, indices: list[int], outputs: list[Any]) -> list[Record]:
        raise NotImplementedError

    def category_of(self) -> dict[str, str]:
        return {s: self.spec.subjects.get(s, {}).get("category", "Other") for s in self.subjects}

    def aggregate(self, records: list[Record]) -> dict[str, Any]:
        if not self.answered:
            return unscored(records, self.category_of(), self.split)
        return self._fit_counts(records, aggregate(records, self.category_of(), self.spec.subsets))

    @staticmethod
    def _fit_counts(records: list[Record], scores: dict[str, Any]) -> dict[str, Any]:
        """How many prompts got fewer few-shot examples, or were cut, to fit the context (when any)."""
        for key, name in (("shots", "fewer_shots"), ("truncated_tokens", "truncated_prompts")):
            count = sum(key in r.values for r in records)
            if count:
                scores["overall"][name] = count
        return scores

    def finished(self, scores: dict[str, Any], verbose: bool) -> None:
        """Anything to tell the user after the run (warnings about the outputs)."""
        invalid = scores["overall"]["micro"].get("invalid", 0)
        if invalid:
            print(f"harness: warning: {invalid} question(s) got NaN log-probabilities and count as wrong; they are "
                  "marked invalid in records.jsonl (a numeric overflow: try --dtype float32)", file=sys.stderr)
