"""The item of a generation-scored suite: what the model is asked and what its output is scored against."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GenItem:
    """One generation request and what its output is scored against (by the metric named `metric`).

    `stop` belongs to the prompt style of the item's format (HumanEval's completion stops, MBPP's
    `[DONE]`), not to the suite: a chat run drops them. `chat_prompt` is what a chat model is asked
    instead of `prompt` when the format has an instruction form. `multi` comes from the suite
    definition (never from the gold), so the prompt and the answer reader cannot leak how many
    answers are right."""

    id: str
    subject: str
    prompt: str
    gold: str
    metric: str
    options: dict[str, str] = field(default_factory=dict)
    tests: str = ""  # code: the program run after the completion
    prefix: str = ""  # code: what the completion continues (HumanEval's signature and docstring)
    labels: tuple[str, ...] = ()  # label-set metrics: the task's label vocabulary
    stop: tuple[str, ...] = ()  # where a base-model completion ends (cut before scoring, unless fenced)
    chat_prompt: str = ""  # the prompt for --chat-template runs ("" = the same as `prompt`)
    multi: bool = False  # multiple-choice: several letters may be right (from the suite, not the gold)
