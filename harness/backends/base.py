"""The backend interface: what the run loop asks of any inference engine.

A request carries its kind as its type: a `ScoreRequest` asks for log-probabilities of fixed
continuations, a `GenerateRequest` for sampled or greedy text. A backend answers a list of requests
with finished `Batch`es. Batches are planned over *all* requests, so their composition never depends
on what a resumed run already has; a batch whose requests are all done is skipped. That is what makes
a resumed run byte-identical to an uninterrupted one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import UserError

DTYPES = ("auto", "float32", "bfloat16", "float16")


def resolve_device(device: str) -> str:
    """`auto` → cuda when torch sees one, else cpu; a cuda device torch cannot see is the user's mistake."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but torch sees no CUDA device")
    return device


def check_dtype(dtype: str) -> None:
    """An unknown --dtype is the user's mistake: one line naming the choices."""
    if dtype not in DTYPES:
        raise UserError(f"unknown dtype '{dtype}' (choose from {', '.join(DTYPES)})")


def resolve_device_dtype(device: str, dtype: str) -> tuple[str, str]:
    """(device, dtype) for loading a model: `auto` dtype is bf16 on a GPU, fp32 on a CPU."""
    check_dtype(dtype)
    device = resolve_device(device)
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    return device, dtype


@dataclass(frozen=True)
class ScoreRequest:
    """Score each continuation after `context`; `group` names the requests that share a prompt prefix."""

    context: str
    continuations: tuple[str, ...]
    group: str = ""


@dataclass(frozen=True)
class GenerateRequest:
    """Generate after `prompt`. `seed` belongs to the item (not to a batch position), so a resumed
    sampled run draws the same samples as an uninterrupted one. `id` is the item's id (a backend that
    answers from stored outputs looks them up by it)."""

    prompt: str
    seed: int
    group: str = ""
    id: str = ""


@dataclass(frozen=True)
class GenerationParams:
    """How every request of a generation run is decoded (greedy when temperature is 0)."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()

    @property
    def sampled(self) -> bool:
        return self.temperature > 0


@dataclass
class Batch:
    """One finished batch: request indices and, for each, its output — one log-probability per
    continuation for a score request, `n` completions for a generate request."""

    indices: list[int]
    outputs: list[Any]


@dataclass
class TokenStats:
    """Tokens in all prompts vs tokens the backend actually ran through the model."""

    prompt_tokens: int = 0
    computed_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    """Computes log-probabilities or text; knows nothing about suites, records or scoring."""

    name: str = "base"
    remote: bool = False  # True: the model is served elsewhere and asked for by name (registry.resolve_served)

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
    ) -> Iterator[Batch]:
        """Yield finished batches. `method` is 'letter' (next-token log-probs of `letter_ids[group]`)
        or 'choice' (summed log-likelihood of each continuation)."""

    @abstractmethod
    def apply_chat_template(self, text: str) -> str:
        """Wrap a prompt as one user turn in the model's chat template, ready for the answer."""

    def generate(
        self, requests: Sequence[GenerateRequest], params: GenerationParams, done: set[int] | None = None
    ) -> Iterator[Batch]:
        """Yield batches of `params.n` completions per request, each cut before the first stop string.
        Greedy runs are batched in request order; sampled ones go one request at a time, seeded with the
        request's own seed."""
        done = done or set()
        size = 1 if params.sampled else max(1, int(getattr(self, "batch_size", None) or 1))
        for start in range(0, len(requests), size):
            indices = list(range(start, min(start + size, len(requests))))
            if set(indices) <= done:
                continue
            batch = [requests[i] for i in indices]
            yield Batch(indices, self._generate_batch([r.prompt for r in batch], params, batch[0].seed))

    def _generate_batch(self, prompts: Sequence[str], params: GenerationParams, seed: int) -> list[list[str]]:
        """`params.n` completions of each prompt; the random state is seeded with `seed` first."""
        raise UserError(f"the {self.name} backend cannot generate text; use --backend hf for --method generate")

    max_length: int | None = None  # the context the model takes (prompt + generated tokens); None = unknown

    def count_tokens(self, texts: Sequence[str]) -> list[int] | None:
        """How many tokens each prompt is for this model, or None when the backend cannot say. With
        `max_length` it lets a method fit prompts to the context (drop few-shot examples) instead of
        the backend cutting tokens from the left."""
        return None

    @property
    def stats(self) -> TokenStats:
        return getattr(self, "_stats", TokenStats())

    def reset_stats(self) -> None:
        """Count tokens from zero again (a backend reused for another run)."""
        self._stats = TokenStats()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model."""
