"""`score`: the `generate` method with the outputs read from a predictions file instead of a model.

Everything after the outputs is `generate`'s: stop strings of the item's prompt style (none with
--chat-template), answer extraction, the metrics, the code sandbox, records, aggregation and the run
folder — so `harness compare`, `gate` and the site take a scored run like any other. The card says
`method: score`; the model is the file (its name, path and content hash), the backend `predictions`.

The file is checked against the suite's items before anything runs: each unknown subject or id, each
duplicate line, each item without a line and each line with a different number of samples is one line
on stderr, and then the run stops with exit code 2.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from harness.backends.base import GenerationParams
from harness.backends.predictions import Prediction, raw_id, read_predictions
from harness.errors import UserError
from harness.registry import ResolvedModel
from harness.runner.card import base_protocol
from harness.runner.config import RunConfig
from harness.runner.generate import GenerateMethod
from harness.runner.items import prepare_generation
from harness.suite.spec import SuiteSpec

SHOWN = 20  # problems of one kind printed before "… and N more"


class ScoreMethod(GenerateMethod):
    name = "score"

    def __init__(self, config: RunConfig, spec: SuiteSpec) -> None:
        if config.predictions is None:
            raise UserError("harness score needs --predictions FILE.jsonl")
        if config.samples != 1 or config.temperature is not None:
            raise UserError("harness score takes its samples from the file")
        super().__init__(config, spec)
        self.path = config.predictions.expanduser().resolve()
        if not self.path.is_file():
            raise UserError(f"predictions file not found: {config.predictions}")
        self.samples = self._check(*read_predictions(self.path))
        self.params = GenerationParams(max_new_tokens=0, n=self.samples)

    def _check(self, rows: list[Prediction], problems: list[str]) -> int:
        """The number of samples per item; every mismatch with the suite is one line, then exit 2. Lines of
        items left out by --subjects or --limit are ignored."""
        by_key: dict[tuple[str, str], str] = {}  # (subject, full or raw id) -> item id
        everything = self.items if not self.config.limit else prepare_generation(
            dataclasses.replace(self.config, limit=None), self.spec).items
        for item in everything:
            by_key[(item.subject, item.id)] = item.id
            by_key.setdefault((item.subject, raw_id(item.id, item.subject)), item.id)
        chosen = {item.id for item in self.items}
        scored, in_suite = set(self.subjects), set(self.spec.subjects)
        kinds: dict[str, list[str]] = {"format": list(problems), "unknown": [], "duplicate": [], "missing": [],
                                       "samples": []}
        seen: dict[str, int] = {}
        ignored = 0
        samples = len(rows[0].outputs) if rows else 1
        for row in rows:
            if row.subject not in scored:
                if row.subject in in_suite:
                    ignored += 1
                else:
                    kinds["unknown"].append(f"line {row.line}: subject '{row.subject}' is not in suite {self.spec.name} "
                                            f"(scored here: {', '.join(self.subjects)})")
                continue
            item_id = by_key.get((row.subject, row.id))
            if item_id is None:
                kinds["unknown"].append(f"line {row.line}: unknown id '{row.id}' in subject {row.subject}")
            elif item_id not in chosen:
                ignored += 1
            elif item_id in seen:
                kinds["duplicate"].append(f"line {row.line}: duplicate of line {seen[item_id]} ({item_id})")
            else:
                seen[item_id] = row.line
                if len(row.outputs) != samples:
                    kinds["samples"].append(f"line {row.line}: {len(row.outputs)} outputs, where line {rows[0].line} "
                                            f"has {samples} (every item needs the same number of samples)")
        kinds["missing"] = [f"missing: no line for {i.subject} id '{raw_id(i.id, i.subject)}' ({i.id})"
                            for i in self.items if i.id not in seen]
        if ignored:
            print(f"harness: {ignored} line(s) of items left out by --subjects or --limit were ignored", file=sys.stderr)
        total = sum(len(v) for v in kinds.values())
        if total:
            for lines in kinds.values():
                for line in lines[:SHOWN]:
                    print(f"harness: {self.path.name}: {line}", file=sys.stderr)
                if len(lines) > SHOWN:
                    print(f"harness: {self.path.name}: … and {len(lines) - SHOWN} more like it", file=sys.stderr)
            counts = ", ".join(f"{len(v)} {k}" for k, v in kinds.items() if v)
            raise UserError(f"{self.path}: {total} problem(s) ({counts}); nothing was scored")
        return samples

    def model(self) -> ResolvedModel:
        return ResolvedModel(name=self.config.model, path=str(self.path))

    def protocol(self) -> dict[str, Any]:
        return {
            **base_protocol(self.spec, self.plan.split, self.plan.shots, self.name, self.config),
            "cot": self.config.cot,
            "generation": {"samples": self.samples, "stop": self.stops()},
            **self._shared_protocol(),
        }
