"""What one generation produces, step by step: tokens, log-probs, stop strings and streamed text.

`RowTracker` is handed to `model.generate` as a stopping criterion, so it sees every new token of
every row right after it is chosen, and a forward hook gives it the raw logits that chose it. That is
how one `generate` call (the very call `HFBackend` makes) also yields log-probs and a stream.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.serve.detok import IncrementalText


class EngineView(Protocol):
    """What a RowTracker uses of the engine (harness/serve/engine.py)."""

    tokenizer: Any
    torch: Any
    eos_ids: set[int]

    def top(self, logprobs: Any, token: int, want: int | None) -> tuple[float, list[tuple[int, float]]]: ...


@dataclass(frozen=True)
class Sampling:
    """One request's generation settings, already checked against the server's limits."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    n: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()
    top_logprobs: int | None = None  # None: no log-probs; k >= 0: the chosen token and the top k


@dataclass
class TokenInfo:
    """A token with its log-probability and the top alternatives (id, logprob), best first."""

    id: int
    logprob: float | None = None
    top: list[tuple[int, float]] = field(default_factory=list)
    start: int = 0  # offset of the token's text in the choice's text


@dataclass
class Choice:
    """One finished completion: its text (cut before a stop string), its tokens and why it ended."""

    text: str
    tokens: list[TokenInfo]
    finish_reason: str  # "stop" (end-of-sequence token or stop string) or "length"
    computed: int  # tokens generated, counted in `usage` (an end-of-sequence token included)


StepCallback = Callable[[int, str, list[TokenInfo]], None]  # (row, new text, its tokens)


class RowTracker:
    """Follows each generated row: end-of-sequence, stop strings, log-probs, streamed text.

    `generate` calls it as a stopping criterion after every step; returning True for a row ends it."""

    def __init__(self, engine: EngineView, rows: int, sampling: Sampling, cancel: threading.Event,
                 on_step: StepCallback | None) -> None:
        self.engine, self.sampling, self.cancel, self.on_step = engine, sampling, cancel, on_step
        self.ids: list[list[int]] = [[] for _ in range(rows)]
        self.infos: list[list[TokenInfo]] = [[] for _ in range(rows)]
        self.text = [IncrementalText(engine.tokenizer) for _ in range(rows)]
        self.sent = [0] * rows  # characters / tokens already handed to `on_step`
        self.sent_tokens = [0] * rows
        self.reason: list[str | None] = [None] * rows
        self.cut: list[int | None] = [None] * rows
        self.computed = [0] * rows
        self.logits: Any = None  # set by the forward hook: raw logits of the last position

    def hook(self, _module: Any, _inputs: Any, output: Any) -> None:
        self.logits = output.logits[:, -1]

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        torch = self.engine.torch
        new = input_ids[:, -1].tolist()
        stopped = [r is not None for r in self.reason]
        want = self.sampling.top_logprobs
        logprobs = torch.log_softmax(self.logits.float(), dim=-1) if want is not None else None
        for row, token in enumerate(new):
            if stopped[row]:
                continue
            self.computed[row] += 1
            if token in self.engine.eos_ids:
                self.reason[row] = "stop"
                self._release(row, final=True)
                continue
            info = TokenInfo(token, start=len(self.text[row].text))
            if logprobs is not None:
                info.logprob, info.top = self.engine.top(logprobs[row], token, want)
            self.ids[row].append(token)
            self.infos[row].append(info)
            self.text[row].add(token)
            self._check_stop(row)
            if len(self.ids[row]) >= self.sampling.max_tokens and self.reason[row] is None:
                self.reason[row] = "length"
            self._release(row, final=self.reason[row] is not None)
        done = [r is not None for r in self.reason]
        if self.cancel.is_set():
            done = [True] * len(done)
        return torch.tensor(done, device=input_ids.device)

    def _check_stop(self, row: int) -> None:
        """Cut at the earliest stop string, as `HFBackend` cuts its finished text: a hit ends the row
        only when no other stop string that starts before it could still be completed."""
        stops = self.sampling.stop
        if not stops:
            return
        text = self.text[row].text
        begin = max(0, len(text) - len(self.text[row].last) - max(len(s) for s in stops) + 1)
        hits = [i for i in (text.find(s, begin) for s in stops) if i >= 0]
        if self.cut[row] is not None:
            hits.append(self.cut[row])
        if not hits:
            return
        self.cut[row] = min(hits)
        pending = any(s.startswith(text[q:]) for s in stops for q in range(max(0, len(text) - len(s) + 1), self.cut[row]))
        if not pending:
            self.reason[row] = "stop"

    def _held_back(self, text: str) -> int:
        """Characters at the end of `text` that may begin a stop string: not streamed yet."""
        for size in range(min(len(text), max((len(s) for s in self.sampling.stop), default=0)), 0, -1):
            if any(s.startswith(text[-size:]) for s in self.sampling.stop):
                return size
        return 0

    def _release(self, row: int, final: bool) -> None:
        if self.on_step is None:
            return
        if final:
            text = self.final_text(row)
            end = len(text)
        else:
            text = self.text[row].text
            end = len(text) - self._held_back(text)
            if self.cut[row] is not None:
                end = min(end, self.cut[row])
        if end <= self.sent[row] and not final:
            return
        tokens = self.infos[row][self.sent_tokens[row]:]
        if not final or self.cut[row] is not None:
            tokens = [t for t in tokens if t.start < end]
        self.on_step(row, text[self.sent[row]:end], tokens)
        self.sent[row], self.sent_tokens[row] = end, self.sent_tokens[row] + len(tokens)

    def final_text(self, row: int) -> str:
        """The whole text decoded at once (as `HFBackend.generate` does), cut before a stop string."""
        text = self.engine.tokenizer.decode(self.ids[row], skip_special_tokens=True)
        return text if self.cut[row] is None else text[: self.cut[row]]

    def choice(self, row: int) -> Choice:
        text = self.final_text(row)
        tokens = self.infos[row] if self.cut[row] is None else [t for t in self.infos[row] if t.start < len(text)]
        reason = "stop" if self.cut[row] is not None else self.reason[row] or "length"
        return Choice(text, tokens, reason, self.computed[row])
