"""Render the protocol's prompts: a header, k solved few-shot examples, then the question.

The rendered context is split into the part every question of a subject shares (header and
shots: `prefix`) and the question itself (`suffix`), which is what lets backends reuse the
shared part's computation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from harness.suite.spec import Question, SuiteSpec


@dataclass(frozen=True)
class PromptedQuestion:
    question: Question
    prefix: str  # shared by every question of the subject
    suffix: str  # this question, ending where the answer starts

    @property
    def context(self) -> str:
        return self.prefix + self.suffix


class _Blank(dict):
    """Placeholders are checked when the suite is loaded (spec.check_templates), so the only name that
    can be missing here is an option letter a question does not have: it renders empty."""

    def __missing__(self, key: str) -> str:
        return ""


def header_fields(spec: SuiteSpec, subject: str) -> dict[str, str]:
    """The values a prompt header may name (see spec.HEADER_FIELDS)."""
    info = spec.subjects.get(subject, {})
    return {
        "subject": subject,
        "subject_spaced": subject.replace("_", " "),
        "subject_en": info.get("name_en", subject.replace("_", " ")),
        "subject_zh": info.get("name_zh", subject),
    }


def question_block(spec: SuiteSpec, q: Question) -> str:
    values = _Blank(question=q.question.strip(), **q.options)
    return spec.prompt.question.format_map(values)


def answer_block(spec: SuiteSpec, q: Question) -> str:
    return spec.prompt.answer.format_map(_Blank(answer=q.answer or ""))


def build_prefix(spec: SuiteSpec, subject: str, shots: list[Question]) -> str:
    prefix = spec.prompt.header.format_map(_Blank(header_fields(spec, subject)))
    for shot in shots:
        prefix += question_block(spec, shot) + answer_block(spec, shot)
    return prefix


def build_prompts(spec: SuiteSpec, subject: str, questions: list[Question], shots: list[Question]) -> list[PromptedQuestion]:
    prefix = build_prefix(spec, subject, shots)
    return [PromptedQuestion(q, prefix, question_block(spec, q)) for q in questions]


def continuations(spec: SuiteSpec) -> list[str]:
    """What each option's answer looks like after the context (the letter, after the protocol's delimiter)."""
    return [spec.prompt.target_delimiter + letter for letter in spec.choices]


def digest(parts: list[str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]
