"""The log-probability methods: `letter` (the answer letters' next-token log-probabilities) and `choice`
(each option's log-likelihood, as lm-eval computes it); see harness/runner/methods.py for the contract."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

from harness.backends.base import Backend, GenerateRequest, GenerationParams, ScoreRequest
from harness.results.record import Record
from harness.runner.card import base_protocol
from harness.runner.config import RunConfig
from harness.runner.fit import fit_prompts
from harness.runner.items import prepare
from harness.runner.methods import Method, Outputs
from harness.scoring.mc import predict
from harness.scoring.metrics import score_text
from harness.suite.items import GenItem
from harness.suite.prompt import build_prefix, continuations, digest
from harness.suite.spec import SuiteSpec


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
            values: dict[str, Any] = self.fit.values(i)
            if pred is None:
                values["invalid"] = "NaN log-probability"
            if self.top_list:
                values["letters_present"] = len(letters)
            out.append(Record(
                id=q.id, subject=q.subject, gold=q.answer, pred=pred, correct=pred is not None and pred == q.answer,
                logprobs=dict(zip(letters, [None if math.isnan(x) else round(x, 6) for x in logprobs], strict=True)),
                method=self.name, question=q.question, options=q.options, values=values,
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
        super().finished(scores, verbose)
        fb = scores.get("letter_fallback")
        if verbose and fb and fb["questions"]:
            print(f"harness: {fb['rate']:.0%} of questions had answer letters outside the top log-probs and were "
                  f"answered by generation ({fb['extracted']} of {fb['questions']} with an answer found)", file=sys.stderr)
