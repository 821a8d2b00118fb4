"""The scoring methods. A method decides what the run asks of the backend and how each output becomes
a record; the loop (harness/runner/loop.py) does everything else the same way for all of them.

- `letter` / `choice` (LogprobMethod): one ScoreRequest per question; the record keeps the option
  log-probabilities and the argmax letter.
- `generate` (GenerateMethod): one GenerateRequest per item; outputs are scored by the item's metric
  (harness/scoring/metrics.py), and the record keeps the raw output beside what was read from it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from harness.backends.base import Backend, GenerateRequest, GenerationParams, ScoreRequest
from harness.errors import UserError
from harness.results.record import Record
from harness.runner.card import base_protocol
from harness.runner.config import METHODS, RunConfig
from harness.runner.items import prepare, prepare_generation
from harness.scoring.mc import aggregate, predict, unscored
from harness.scoring.metrics import get_metric, score_outputs, score_text
from harness.scoring.summary import generation_scores
from harness.suite.items import GenItem
from harness.suite.prompt import continuations, digest
from harness.suite.spec import SuiteSpec

COT = {
    "zh": "\n请一步一步地思考，最后以“答案是X”的格式给出答案。\n",
    "en": "\nLet's think step by step, then finish with \"The answer is X\".\n",
}
CODE_STOP = ["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\n```"]
Outputs = Iterator[tuple[list[int], list[Any]]]


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
        return aggregate(records, self.category_of(), self.spec.subsets)

    def finished(self, scores: dict[str, Any], verbose: bool) -> None:
        """Anything to tell the user after the run (warnings about the outputs)."""


@dataclass
class LetterFallback:
    """A `letter` question whose letters were not all in a remote backend's top log-probs: the
    log-probs it did get (None where absent) and the text generated instead, read by extraction."""

    logprobs: list[float | None]
    texts: list[str]


class LogprobMethod(Method):
    """`letter`: the answer letters' next-token log-probabilities; `choice`: each option's log-likelihood.

    A backend whose letter log-probs come from a top-k list (`letters_from_top_list`, the openai
    backend) may leave a letter out (None). Such a question is answered by generation and the
    `choice` metric's extraction instead (greedy, --max-new-tokens or 32 tokens); every record says
    how many letters were present, and the scores say how often the fallback was needed."""

    def __init__(self, config: RunConfig, spec: SuiteSpec) -> None:
        super().__init__(config, spec)
        self.name = config.method
        self.prep = prepare(config)
        self.subjects = self.prep.subjects
        self.answered, self.split = self.prep.answered, self.prep.split
        self.ids = [p.question.id for p in self.prep.prompts]
        self.conts = tuple(continuations(spec))
        self.letter_ids: dict[str, list[int]] | None = None
        self.top_list = False

    def setup(self, backend: Backend) -> None:
        contexts = [p.context for p in self.prep.prompts]
        if self.config.chat_template:
            contexts = [backend.apply_chat_template(c) for c in contexts]
        self.contexts = contexts
        self.top_list = bool(getattr(backend, "letters_from_top_list", False))
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
        partial: dict[int, list[float | None]] = {}
        for batch in backend.score(requests, self.name, self.letter_ids, done=done):
            ready = [(i, o) for i, o in zip(batch.indices, batch.outputs, strict=True) if None not in o]
            partial.update((i, o) for i, o in zip(batch.indices, batch.outputs, strict=True) if None in o)
            if ready:
                yield [i for i, _ in ready], [o for _, o in ready]
        if partial:  # letters missing from the top list: generate and extract for those questions
            order = sorted(partial)
            chat = self.config.chat_template or bool(getattr(backend, "chat", False))
            params = GenerationParams(max_new_tokens=self.config.max_new_tokens or 32, stop=() if chat else ("\n\n",))
            asks = [GenerateRequest(self.contexts[i], self.config.seed + i, requests[i].group) for i in order]
            for batch in backend.generate(asks, params):
                picked = [order[j] for j in batch.indices]
                yield picked, [LetterFallback(partial[i], t) for i, t in zip(picked, batch.outputs, strict=True)]

    def records(self, indices: list[int], outputs: list[Any]) -> list[Record]:
        letters = self.spec.choices
        out = []
        for i, logprobs in zip(indices, outputs, strict=True):
            q = self.prep.prompts[i].question
            if isinstance(logprobs, LetterFallback):
                out.append(self._fallback_record(i, logprobs))
                continue
            pred = predict(logprobs, letters)
            out.append(Record(
                id=q.id, subject=q.subject, gold=q.answer, pred=pred, correct=pred == q.answer,
                logprobs=dict(zip(letters, [round(x, 6) for x in logprobs], strict=True)), method=self.name,
                question=q.question, options=q.options,
                values={"letters_present": len(letters)} if self.top_list else {},
            ))
        return out

    def _fallback_record(self, i: int, fb: LetterFallback) -> Record:
        q = self.prep.prompts[i].question
        item = GenItem(q.id, q.subject, self.contexts[i], q.answer or "", "choice", q.options)
        scored = score_text(item, fb.texts[0])
        present = {k: round(x, 6) for k, x in zip(self.spec.choices, fb.logprobs, strict=True) if x is not None}
        return Record(
            id=q.id, subject=q.subject, gold=q.answer, pred=scored.extracted, correct=scored.correct and q.answer is not None,
            logprobs=present or None, method=self.name, question=q.question, options=q.options,
            output=fb.texts[0], extracted=scored.extracted,
            values={"letters_present": len(present), "fallback": "generate"},
        )

    def aggregate(self, records: list[Record]) -> dict[str, Any]:
        scores = super().aggregate(records)
        if self.top_list and self.name == "letter":
            fell = [r for r in records if r.values.get("fallback")]
            scores["letter_fallback"] = {
                "questions": len(fell), "rate": len(fell) / len(records) if records else 0.0,
                "extracted": sum(r.extracted is not None for r in fell),
            }
        return scores

    def finished(self, scores: dict[str, Any], verbose: bool) -> None:
        fb = scores.get("letter_fallback")
        if verbose and fb and fb["questions"]:
            print(f"harness: {fb['rate']:.0%} of questions had answer letters outside the top log-probs and were "
                  f"answered by generation ({fb['extracted']} of {fb['questions']} with an answer found)", file=sys.stderr)


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
        gen = dict(spec.raw.get("generation") or {})
        self.is_code = any(i.metric == "pass" for i in self.items)
        n = max(1, config.samples)
        temperature = config.temperature if config.temperature is not None else (0.8 if n > 1 else 0.0)
        if n > 1 and temperature == 0:
            raise UserError("--samples above 1 needs --temperature above 0 (greedy samples are all the same)")
        self.params = GenerationParams(
            max_new_tokens=config.max_new_tokens or int(gen.get("max_new_tokens", 512)),
            temperature=temperature, top_p=config.top_p, n=n,
            stop=tuple(gen.get("stop", CODE_STOP if self.is_code else [])),
        )

    def setup(self, backend: Backend) -> None:
        cot = COT.get(self.spec.language, COT["en"]) if self.config.cot else ""
        prompts = [i.prompt + cot for i in self.items]
        if self.config.chat_template:
            prompts = [backend.apply_chat_template(p) for p in prompts]
            self.params = GenerationParams(**{**self.params.__dict__,
                                              "stop": tuple(s for s in self.params.stop if s != "\n```")})
        self.prompts = prompts

    def protocol(self) -> dict[str, Any]:
        p, config = self.params, self.config
        protocol = {
            **base_protocol(self.spec, self.plan.split, self.plan.shots, self.name, config),
            "cot": config.cot,
            "generation": {"max_new_tokens": p.max_new_tokens, "temperature": p.temperature, "top_p": p.top_p,
                           "samples": p.n, "seed": config.seed, "stop": list(p.stop)},
            "metrics": {s: self.spec.subjects.get(s, {}).get("metric", "choice") for s in self.subjects},
            "prompt_hash": digest(self.prompts),
            "data_hash": self.plan.data_hash,
            "subjects": len(self.subjects),
            "questions": len(self.items),
            "limit": config.limit,
        }
        if self.is_code:
            from harness.sandbox import isolation

            protocol["sandbox"] = {"timeout_s": config.code_timeout, **isolation()}
        return protocol

    def outputs(self, backend: Backend, done: set[int]) -> Outputs:
        requests = [GenerateRequest(prompt, self.config.seed + i, item.subject)
                    for i, (prompt, item) in enumerate(zip(self.prompts, self.items, strict=True))]
        for batch in backend.generate(requests, self.params, done=done):
            yield batch.indices, batch.outputs

    def records(self, indices: list[int], outputs: list[Any]) -> list[Record]:
        items = [self.items[i] for i in indices]
        scored = score_outputs(items, outputs, {"timeout": self.config.code_timeout})
        return [
            Record(id=it.id, subject=it.subject, gold=it.gold if self.answered else None,
                   correct=s.correct and self.answered, method=self.name,
                   options=it.options if any(it.options.values()) else None, output=o[0],
                   outputs=o if self.params.n > 1 else None, extracted=s.extracted, score=s.score,
                   metric=it.metric, values=s.values)
            for it, o, s in zip(items, outputs, scored, strict=True)
        ]

    def aggregate(self, records: list[Record]) -> dict[str, Any]:
        if not self.answered:
            return unscored(records, self.category_of(), self.split)
        return generation_scores(records, self.category_of(), self.spec.subsets, self.params.n)

    def finished(self, scores: dict[str, Any], verbose: bool) -> None:
        rate = scores["overall"].get("extraction_rate", 1)
        if verbose and rate < 1:
            print(f"harness: answers found in {rate:.0%} of outputs", file=sys.stderr)


def make_method(config: RunConfig, spec: SuiteSpec) -> Method:
    """The method a run uses: generation for every suite that is not multiple choice."""
    if config.method not in METHODS:
        raise UserError(f"unknown method '{config.method}' (choose from {', '.join(METHODS)})")
    if config.method == "generate" or spec.kind != "multiple_choice":
        return GenerateMethod(config, spec)
    return LogprobMethod(config, spec)
