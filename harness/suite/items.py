"""The item of a generation-scored suite: what the model is asked and what its output is scored against."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GenItem:
    """One generation request and what its output is scored against (by the metric named `metric`)."""

    id: str
    subject: str
    prompt: str
    gold: str
    metric: str
    options: dict[str, str] = field(default_factory=dict)
    tests: str = ""  # code: the program run after the completion
    prefix: str = ""  # code: what the completion continues (HumanEval's signature and docstring)
    labels: tuple[str, ...] = ()  # label-set metrics: the task's label vocabulary
