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

import dataclasses
import hashlib
import math
import sys
from collections.abc import Iterator
from typing import Any

from harness.backends.base import Backend, GenerateRequest, GenerationParams, ScoreRequest
from harness.errors import UserError
from harness.registry import ResolvedModel, resolve_model
from harness.results.record import Record
from harness.runner.card import base_protocol
from harness.runner.config import RunConfig
from harness.runner.fit import Fit, fit_prompts
from harness.runner.items import prepare, prepare_generation
from harness.scoring.mc import aggregate, predict, unscored
from harness.scoring.metrics import get_metric, score_outputs
from harness.scoring.summary import generation_scores
from harness.suite.items import GenItem
from harness.suite.prompt import build_prefix, continuations, digest
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
        return resolve_model(self.config.model, self.config.revision)

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


class LogprobMethod(Method):
    """`letter`: the answer letters' next-token log-probabilities; `choice`: each option's log-likelihood."""

    def __init__(self, config: RunConfig, spec: SuiteSpec) -> None:
        super().__init__(config, spec)
        self.name = config.method
        self.prep = prepare(config)
        self.subjects = self.prep.subjects
        self.answered, self.split = self.prep.answered, self.prep.split
        self.ids = [p.question.id for p in self.prep.prompts]
        self.conts = tuple(continuations(spec))
        self.letter_ids: dict[str, list[int]] | None = None

    def setup(self, backend: Backend) -> None:
        def wrap(text: str) -> str:
            return backend.apply_chat_template(text) if self.config.chat_template else text

        prep = self.prep
        contexts = [wrap(p.context) for p in prep.prompts]

        def render(i: int, k: int) -> str:
            p = prep.prompts[i]
            return wrap(build_prefix(self.spec, p.question.subject, prep.fewshot[p.question.subject][:k]) + p.suffix)

        counts = backend.count_tokens(list(self.conts)) if backend.max_length else None
        room = max(counts or [1])
        self.fit = fit_prompts(backend, contexts, room, [len(prep.fewshot[p.question.subject]) for p in prep.prompts],
                               render)
        self.contexts = self.fit.prompts
        if self.name == "letter":
            self.letter_ids = self._letter_ids(backend)
            if self.letter_ids is None:
                print(f"harness: warning: the answer letters {list(self.conts)} are not single distinct tokens for "
                      "this tokenizer; scoring with --method choice instead", file=sys.stderr)
                self.name = "choice"

    def _letter_ids(self, backend: Backend) -> dict[str, list[int]] | None:
        """Each subject's answer-letter token ids after its first prompt, or None when one is not a single token."""
        found: dict[str, list[int]] = {}
        for context, p in zip(self.contexts, self.prep.prompts, strict=True):
            subject = p.question.subject
            if subject in found:
                continue
            ids = backend.letter_token_ids(context, self.conts)
            if ids is None:
                return None
            found[subject] = ids
        return found

    def protocol(self) -> dict[str, Any]:
        spec, prep = self.spec, self.prep
        return {
            **base_protocol(spec, prep.split, prep.shots, self.name, self.config),
            "fewshot_split": spec.fewshot_split if prep.shots else None,
            "choices": spec.choices,
            "prompt_template": {
                "header": spec.prompt.header,
                "question": spec.prompt.question,
                "answer": spec.prompt.answer,
                "target_delimiter": spec.prompt.target_delimiter,
            },
            "prompt_hash": digest(self.contexts + list(self.conts)),
            "data_hash": prep.data_hash,
            "subjects": len(prep.subjects),
            "questions": len(prep.prompts),
            "limit": self.config.limit,
        }

    def outputs(self, backend: Backend, done: set[int]) -> Outputs:
        requests = [ScoreRequest(c, self.conts, p.question.subject)
                    for c, p in zip(self.contexts, self.prep.prompts, strict=True)]
        for batch in backend.score(requests, self.name, self.letter_ids, done=done):
            yield batch.indices, batch.outputs

    def records(self, indices: list[int], outputs: list[Any]) -> list[Record]:
        letters = self.spec.choices
        out = []
        for i, logprobs in zip(indices, outputs, strict=True):
            q = self.prep.prompts[i].question
            pred = predict(logprobs, letters)
            values: dict[str, Any] = self.fit.values(i)
            if pred is None:
                values["invalid"] = "NaN log-probability"
            out.append(Record(
                id=q.id, subject=q.subject, gold=q.answer, pred=pred, correct=pred is not None and pred == q.answer,
                logprobs=dict(zip(letters, [None if math.isnan(x) else round(x, 6) for x in logprobs], strict=True)),
                method=self.name, question=q.question, options=q.options, values=values,
            ))
        return out


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
        rate = scores["overall"].get("extraction_rate", 1)
        if verbose and rate < 1:
            print(f"harness: answers found in {rate:.0%} of outputs", file=sys.stderr)
        skipped = scores["overall"]["micro"].get("skipped", 0)
        if verbose and skipped:
            print(f"harness: {skipped} item(s) the benchmark's own evaluation skips were left out of the scores",
                  file=sys.stderr)
