"""The `generate` method: generated text scored by each item's metric; see harness/runner/methods.py
for the contract."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from harness.backends.base import Backend, GenerateRequest, GenerationParams
from harness.errors import UserError
from harness.results.record import Record
from harness.runner.card import base_protocol
from harness.runner.config import RunConfig
from harness.runner.fit import fit_prompts
from harness.runner.items import prepare_generation
from harness.runner.methods import COT, Method, Outputs, item_seed, require_isolation
from harness.scoring.mc import unscored
from harness.scoring.metrics import get_metric, score_outputs
from harness.scoring.summary import generation_scores
from harness.suite.items import GenItem
from harness.suite.prompt import build_prefix, digest
from harness.suite.spec import SuiteSpec


class GenerateMethod(Method):
    """Generated text, scored by each item's metric."""

    name = "generate"

    def __init__(self, config: RunConfig, spec: SuiteSpec) -> None:
        super().__init__(config, spec)
        plan = prepare_generation(config, spec)
        self.plan = plan
        self.items, self.subjects = plan.items, plan.subjects
        self.answered, self.split = plan.answered, plan.split
        self.ids = [i.id for i in plan.items]
        for metric in dict.fromkeys(i.metric for i in self.items):  # a misspelt metric fails now, not after the model ran
            get_metric(metric, f"suite {spec.name}: ")
        self.is_code = any(i.metric == "pass" for i in self.items)
        # code runs refuse to start without isolation (unless --unsafe-exec), before any model loads
        self.isolation = require_isolation(config.unsafe_exec) if self.is_code else None
        if config.chat_template:  # chat answers are read whole: no stop strings (a fenced block is taken first)
            self.items = [dataclasses.replace(i, stop=()) for i in self.items]
        self.params = self._params()

    def _params(self) -> GenerationParams:
        config, gen = self.config, dict(self.spec.raw.get("generation") or {})
        n = max(1, config.samples)
        temperature = config.temperature if config.temperature is not None else (0.8 if n > 1 else 0.0)
        if n > 1 and temperature == 0:
            raise UserError("--samples above 1 needs --temperature above 0 (greedy samples are all the same)")
        return GenerationParams(max_new_tokens=config.max_new_tokens or int(gen.get("max_new_tokens", 512)),
                                temperature=temperature, top_p=config.top_p, n=n)

    def _prompt(self, item: GenItem) -> str:
        text = (item.chat_prompt or item.prompt) if self.config.chat_template else item.prompt
        return text + (COT.get(self.spec.language, COT["en"]) if self.config.cot else "")

    def setup(self, backend: Backend) -> None:
        def wrap(text: str) -> str:
            return backend.apply_chat_template(text) if self.config.chat_template else text

        prompts = [wrap(self._prompt(i)) for i in self.items]
        prep = self.plan.prep

        def render(i: int, k: int) -> str:  # a multiple-choice suite's question with its first k shots
            assert prep is not None
            p = prep.prompts[i]
            item = dataclasses.replace(self.items[i], prompt=build_prefix(
                self.spec, p.question.subject, prep.fewshot[p.question.subject][:k]) + p.suffix)
            return wrap(self._prompt(item))

        shots = [len(prep.fewshot[p.question.subject]) for p in prep.prompts] if prep else [0] * len(prompts)
        self.fit = fit_prompts(backend, prompts, self.params.max_new_tokens, shots, render)
        self.prompts = self.fit.prompts

    def stops(self) -> dict[str, list[str]]:
        """Each subject's stop strings (those with any)."""
        return {i.subject: list(i.stop) for i in self.items if i.stop}

    def protocol(self) -> dict[str, Any]:
        p, config = self.params, self.config
        protocol = {
            **base_protocol(self.spec, self.plan.split, self.plan.shots, self.name, config),
            "cot": config.cot,
            "generation": {"max_new_tokens": p.max_new_tokens, "temperature": p.temperature, "top_p": p.top_p,
                           "samples": p.n, "seed": config.seed, "stop": self.stops()},
            **self._shared_protocol(),
        }
        return protocol

    def _shared_protocol(self) -> dict[str, Any]:
        protocol: dict[str, Any] = {
            "metrics": {s: self.spec.subjects.get(s, {}).get("metric", "choice") for s in self.subjects},
            "prompt_hash": digest(self.prompts),
            "data_hash": self.plan.data_hash,
            "subjects": len(self.subjects),
            "questions": len(self.items),
            "limit": self.config.limit,
        }
        if self.is_code:
            protocol["sandbox"] = {"timeout_s": self.config.code_timeout, **(self.isolation or {})}
        return protocol

    def outputs(self, backend: Backend, done: set[int]) -> Outputs:
        """One backend call per set of stop strings (items of one prompt style), in item order."""
        requests = [GenerateRequest(prompt, item_seed(self.config.seed, item.id), item.subject, item.id)
                    for prompt, item in zip(self.prompts, self.items, strict=True)]
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, item in enumerate(self.items):
            groups.setdefault(item.stop, []).append(i)
        for stop, indices in groups.items():
            params = dataclasses.replace(self.params, stop=stop)
            local_done = {j for j, i in enumerate(indices) if i in done}
            for batch in backend.generate([requests[i] for i in indices], params, done=local_done):
                yield [indices[j] for j in batch.indices], batch.outputs

    def records(self, indices: list[int], outputs: list[Any]) -> list[Record]:
        items = [self.items[i] for i in indices]
        scored = score_outputs(items, outputs, {"timeout": self.config.code_timeout, "unsafe": self.config.unsafe_exec})
        return [
            Record(id=it.id, subject=it.subject, gold=it.gold if self.answered else None,
                   correct=s.correct and self.answered, method=self.name,
                   options=it.options if any(it.options.values()) else None, output=o[0],
                   outputs=o if self.params.n > 1 else None, extracted=s.extracted, score=s.score,
                   metric=it.metric, values={**s.values, **self.fit.values(i)})
            for i, it, o, s in zip(indices, items, outputs, scored, strict=True)
        ]

    def aggregate(self, records: list[Record]) -> dict[str, Any]:
        if not self.answered:
            return unscored(records, self.category_of(), self.split)
        return self._fit_counts(records, generation_scores(records, self.category_of(), self.spec.subsets, self.params.n))

    def finished(self, scores: dict[str, Any], verbose: bool) -> None:
        super().finished(scores, verbose)
        rate = scores["overall"].get("extraction_rate", 1)
        if verbose and rate < 1:
            print(f"harness: answers found in {rate:.0%} of outputs", file=sys.stderr)
        skipped = scores["overall"]["micro"].get("skipped", 0)
        if verbose and skipped:
            print(f"harness: {skipped} item(s) the benchmark's own evaluation skips were left out of the scores",
                  file=sys.stderr)
