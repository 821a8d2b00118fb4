"""Responses: one prompt's work (`Job`), the whole-answer JSON and the SSE streams for both endpoints.

A stream and a whole answer come from the same `Job` and the same token callbacks, so streaming
returns the very text the non-streaming call returns; the whole text of a choice is what its
chunks add up to.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.serve.detok import token_starts
from harness.serve.engine import Engine
from harness.serve.protocol import (
    ServeError,
    TokenNames,
    chat_logprobs,
    completion_logprobs,
    error_body,
    usage,
)
from harness.serve.rows import Choice, Sampling, StepCallback, TokenInfo

if TYPE_CHECKING:
    from harness.serve.worker import Worker

log = logging.getLogger("harness.serve")
ECHO_ROW = -1  # the `on_step` row that carries the echoed prompt


@dataclass
class Result:
    choices: list[Choice]
    prompt: list[TokenInfo] | None = None  # the echoed prompt's tokens with their log-probs


@dataclass
class Job:
    """One prompt's generation on one served model, run on the worker thread."""

    engine: Engine
    name: str
    text: str | None  # the prompt as sent, or None for token ids
    ids: list[int]
    sampling: Sampling
    echo: bool = False
    on_step: StepCallback | None = field(default=None, repr=False)

    @property
    def echo_text(self) -> str:
        if not self.echo:
            return ""
        return self.text if self.text is not None else self.engine.tokenizer.decode(self.ids)

    @property
    def greedy(self) -> bool:
        return self.sampling.temperature <= 0

    def run(self, cancel: threading.Event) -> Result:
        prompt = None
        if self.echo and self.sampling.top_logprobs is not None:
            prompt = self.engine.prompt_logprobs(self.name, self.ids, self.sampling.top_logprobs)
            for info, start in zip(prompt, token_starts(self.engine.tokenizer, self.ids), strict=True):
                info.start = start
        if self.echo and self.on_step is not None:
            self.on_step(ECHO_ROW, self.echo_text, prompt or [])
        if self.sampling.max_tokens == 0:
            return Result([Choice("", [], "length", 0) for _ in range(self.sampling.n)], prompt)
        return Result(self.engine.generate(self.name, self.ids, self.sampling, cancel, self.on_step), prompt)


def _completion_choice(job: Job, index: int, choice: Choice, prompt: list[TokenInfo] | None,
                       names: TokenNames) -> dict[str, Any]:
    logprobs = None
    if job.sampling.top_logprobs is not None:
        logprobs = completion_logprobs(prompt or [], names)
        for key, values in completion_logprobs(choice.tokens, names, len(job.echo_text)).items():
            logprobs[key].extend(values)
    return {"index": index, "text": job.echo_text + choice.text, "logprobs": logprobs,
            "finish_reason": choice.finish_reason}


def completion_result(jobs: list[Job], results: list[Result], head: dict[str, Any], names: TokenNames) -> dict[str, Any]:
    choices = []
    for p, (job, result) in enumerate(zip(jobs, results, strict=True)):
        for j, choice in enumerate(result.choices):
            choices.append(_completion_choice(job, p * job.sampling.n + j, choice, result.prompt, names))
    counted = usage(sum(len(j.ids) for j in jobs), sum(c.computed for r in results for c in r.choices))
    return {**head, "object": "text_completion", "choices": choices, "usage": counted}


def chat_result(job: Job, result: Result, head: dict[str, Any], names: TokenNames) -> dict[str, Any]:
    choices = []
    for i, choice in enumerate(result.choices):
        logprobs = chat_logprobs(choice.tokens, names) if job.sampling.top_logprobs is not None else None
        choices.append({"index": i, "message": {"role": "assistant", "content": choice.text},
                        "logprobs": logprobs, "finish_reason": choice.finish_reason})
    counted = usage(len(job.ids), sum(c.computed for c in result.choices))
    return {**head, "object": "chat.completion", "choices": choices, "usage": counted}


def sse(payload: dict[str, Any] | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)}\n\n"


async def _events(worker: Worker, job: Job) -> AsyncIterator[tuple[int, str, list[TokenInfo]] | Result]:
    """The job's token callbacks as they happen, then its `Result`; cancels the job if abandoned."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    job.on_step = lambda row, text, tokens: loop.call_soon_threadsafe(queue.put_nowait, (row, text, tokens))
    task = asyncio.ensure_future(worker.run(job.run))
    task.add_done_callback(lambda _t: queue.put_nowait(None))
    try:
        while (item := await queue.get()) is not None:
            yield item
        yield task.result()
    finally:
        task.cancel()  # a no-op when finished; otherwise the worker stops this generation


def _rows(job: Job, row: int) -> range:
    """Which choices a callback row feeds: all of them for the echo and for greedy (computed once)."""
    return range(job.sampling.n) if row == ECHO_ROW or job.greedy else range(row, row + 1)


async def stream_completion(worker: Worker, jobs: list[Job], head: dict[str, Any], names: TokenNames,
                            include_usage: bool) -> AsyncIterator[str]:
    base = {**head, "object": "text_completion"}
    prompt_tokens = completion_tokens = 0
    try:
        for p, job in enumerate(jobs):
            n, want = job.sampling.n, job.sampling.top_logprobs is not None
            async for event in _events(worker, job):
                if isinstance(event, Result):
                    for j, choice in enumerate(event.choices):
                        completion_tokens += choice.computed
                        yield sse({**base, "choices": [{"index": p * n + j, "text": "", "logprobs": None,
                                                        "finish_reason": choice.finish_reason}]})
                    continue
                row, text, tokens = event
                if not text and not tokens:
                    continue
                offset = 0 if row == ECHO_ROW else len(job.echo_text)
                logprobs = completion_logprobs(tokens, names, offset) if want else None
                for j in _rows(job, row):
                    yield sse({**base, "choices": [{"index": p * n + j, "text": text, "logprobs": logprobs,
                                                    "finish_reason": None}]})
            prompt_tokens += len(job.ids)
        if include_usage:
            yield sse({**base, "choices": [], "usage": usage(prompt_tokens, completion_tokens)})
    except ServeError as exc:
        yield sse(error_body(exc.status, exc.message, exc.param, exc.code))
    except Exception as exc:  # noqa: BLE001 - the response has started: say so in the stream, not a traceback
        log.error("stream failed: %s: %s", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        yield sse(error_body(500, "internal server error"))
    yield sse("[DONE]")


async def stream_chat(worker: Worker, job: Job, head: dict[str, Any], names: TokenNames,
                      include_usage: bool) -> AsyncIterator[str]:
    base = {**head, "object": "chat.completion.chunk"}
    want = job.sampling.top_logprobs is not None
    try:
        for i in range(job.sampling.n):
            yield sse({**base, "choices": [{"index": i, "delta": {"role": "assistant", "content": ""},
                                            "logprobs": None, "finish_reason": None}]})
        async for event in _events(worker, job):
            if isinstance(event, Result):
                for i, choice in enumerate(event.choices):
                    yield sse({**base, "choices": [{"index": i, "delta": {}, "logprobs": None,
                                                    "finish_reason": choice.finish_reason}]})
                if include_usage:
                    counted = usage(len(job.ids), sum(c.computed for c in event.choices))
                    yield sse({**base, "choices": [], "usage": counted})
                continue
            row, text, tokens = event
            if not text and not tokens:
                continue
            logprobs = chat_logprobs(tokens, names) if want else None
            for i in _rows(job, row):
                yield sse({**base, "choices": [{"index": i, "delta": {"content": text}, "logprobs": logprobs,
                                                "finish_reason": None}]})
    except ServeError as exc:
        yield sse(error_body(exc.status, exc.message, exc.param, exc.code))
    except Exception as exc:  # noqa: BLE001 - the response has started: say so in the stream, not a traceback
        log.error("stream failed: %s: %s", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        yield sse(error_body(500, "internal server error"))
    yield sse("[DONE]")
