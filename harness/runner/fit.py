"""Fit prompts to the model's context the way the official C-Eval, MMLU and CMMLU code does: while a
prompt (plus what must follow it) is longer than the context, drop its last few-shot example; keep
every question whole.

Backends cut tokens from the left of an over-long prompt as a last resort, which silently removes the
header and half an example. A method asks the backend for its context length and token counts
(`Backend.max_length`, `Backend.count_tokens`) and renders fewer shots instead; each record says how
many shots it got when that is fewer than the protocol's, and the run warns with the count. A prompt
still too long with no shots at all is left to the backend's cut, and that is recorded and warned
about too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.backends.base import Backend


@dataclass
class Fit:
    """Prompts after fitting, and per prompt index what changed."""

    prompts: list[str]
    shots: dict[int, int] = field(default_factory=dict)  # index -> shots used, where fewer than asked
    cut: dict[int, int] = field(default_factory=dict)  # index -> tokens the backend will cut from the left

    def values(self, i: int) -> dict[str, int]:
        """What a record says about its prompt's fit (nothing when it fitted as asked)."""
        out = {}
        if i in self.shots:
            out["shots"] = self.shots[i]
        if i in self.cut:
            out["truncated_tokens"] = self.cut[i]
        return out


def fit_prompts(
    backend: Backend,
    prompts: list[str],
    room: int,
    shots: list[int],
    render: Callable[[int, int], str],
) -> Fit:
    """Fit `prompts` so that each, plus `room` tokens (the answer or the generated text), fits the context.

    `shots[i]` is how many few-shot examples prompt i has; `render(i, k)` is prompt i with its first k.
    """
    fit = Fit(list(prompts))
    limit = getattr(backend, "max_length", None)
    lengths = backend.count_tokens(prompts) if limit else None
    if not limit or lengths is None:
        return fit
    budget = int(limit) - room
    for i, n in enumerate(lengths):
        if n <= budget:
            continue
        for k in range(shots[i] - 1, -1, -1):
            text = render(i, k)
            n = backend.count_tokens([text])[0]
            fit.prompts[i], fit.shots[i] = text, k
            if n <= budget:
                break
        if n > budget:
            fit.cut[i] = n - max(1, budget)
    if fit.shots:
        fewest = min(fit.shots.values())
        print(f"harness: warning: {len(fit.shots)} prompt(s) did not fit the model's {limit}-token context with "
              f"{room} token(s) to spare: dropped whole few-shot examples (fewest kept: {fewest}); each record "
              "says how many shots it got", file=sys.stderr)
    if fit.cut:
        print(f"harness: warning: {len(fit.cut)} prompt(s) are longer than the {limit}-token context even without "
              "few-shot examples: the backend cuts them from the left (records say how many tokens)", file=sys.stderr)
    return fit
