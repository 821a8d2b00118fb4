"""The backend interface: what the runner asks of any inference engine."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ScoreRequest:
    """Score each continuation after `context`; `group` names the requests that share a prompt prefix."""

    context: str
    continuations: tuple[str, ...]
    group: str = ""


@dataclass
class ScoreBatch:
    """One finished batch: request indices and, for each, one log-probability per continuation."""

    indices: list[int]
    logprobs: list[list[float]]


@dataclass
class TokenStats:
    """Tokens in all prompts vs tokens the backend actually ran through the model."""

    prompt_tokens: int = 0
    computed_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    """Computes log-probabilities of continuations; knows nothing about suites or scoring."""

    name: str = "base"

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What produced the numbers: model path, revision, adapter, dtype, device, library versions."""

    @abstractmethod
    def letter_token_ids(self, context: str, continuations: Sequence[str]) -> list[int] | None:
        """The single token id of each continuation after `context`, or None when one is not a single,
        distinct token there (then the caller falls back to the `choice` method)."""

    @abstractmethod
    def score(
        self,
        requests: Sequence[ScoreRequest],
        method: str,
        letter_ids: dict[str, list[int]] | None = None,
        done: set[int] | None = None,
    ) -> Iterator[ScoreBatch]:
        """Yield finished batches. `method` is 'letter' (next-token log-probs of `letter_ids[group]`)
        or 'choice' (summed log-likelihood of each continuation). Batches are planned over all
        requests so that their composition never depends on `done`; a batch whose requests are all
        in `done` is skipped."""

    @abstractmethod
    def apply_chat_template(self, text: str) -> str:
        """Wrap a prompt as one user turn in the model's chat template, ready for the answer."""

    def generate(
        self,
        prompts: Sequence[str],
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        n: int = 1,
        seed: int = 1234,
        stop: Sequence[str] = (),
    ) -> list[list[str]]:
        """`n` completions of each prompt (greedy when temperature is 0), each cut before the first
        `stop` string. Backends that cannot generate say so."""
        from harness.errors import UserError

        raise UserError(f"the {self.name} backend cannot generate text; use --backend hf for --method generate")

    @property
    def stats(self) -> TokenStats:
        return getattr(self, "_stats", TokenStats())

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model."""
