"""The OpenAI-compatible backend (`--backend openai`): any server that speaks /v1/completions or
/v1/chat/completions — `harness serve`, vLLM, SGLang, and the Chinese providers' compatible modes
(ERNIE on Qianfan, Doubao on Ark, Hunyuan, GLM, Qwen on DashScope, DeepSeek).

What the Backend interface means without a local tokenizer:

- `letter` scoring is ONE request per question: a greedy one-token completion with the top-k
  log-probs (k = --top-logprobs, 20 by default: what OpenAI, DeepSeek and vLLM allow). The answer
  letters' log-probs are read from that list — by token id when the server names tokens by id
  (vLLM's `return_tokens_as_token_ids`, which `harness serve` implements too), else by text. A letter
  that is not in the list has no log-prob: the output carries None there, and the run answers that
  question by generation and extraction instead (the method's fallback; see runner/methods.py).
- `letter_token_ids` asks the server to tokenise (an echo request with max_tokens 0: the context alone
  and the context plus each letter) and applies lm-eval's single-token rule to the answer, as the local
  backends do with their tokenizer. The answer is kept per distinct last line of the context (the
  letter's tokens depend on the text before it only up to the line break), so a whole C-Eval run costs
  one probe — and no more requests than questions: the echoed log-prob of each letter after the probed
  context IS that question's letter score (exact, whatever the top-k), so the probe answers it. A server without echo leaves the letters to be matched by text; a letter that is not one
  token there sends the run to `choice`, scored from echoed prompt log-probs as lm-eval does.
- `apply_chat_template` means "use the chat endpoint": the server applies its own template, and the
  card says so (`endpoint: chat`). Catalogue API entries whose provider has only a chat endpoint
  always use it.
- `generate` sends n, temperature, top_p, seed (sampled runs), stop (the first four; all are cut here
  as the local backends cut) and max_tokens.

Requests run concurrently (--concurrency) under the client's adaptive limit; each finished response
is stored in the run folder's response cache before anything is built from it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from harness.backends.api import wire
from harness.backends.api.cache import ResponseCache
from harness.backends.api.client import ApiClient, Refused
from harness.backends.base import Backend, Batch, GenerateRequest, GenerationParams, ScoreRequest, TokenStats
from harness.backends.tokens import cut_at_stop
from harness.errors import UserError
from harness.registry import ResolvedModel

DEFAULT_TOP_LOGPROBS = 20
TEXT_MATCH = -1  # letter "ids" when the server's ids are unknown: letters are matched by text


class OpenAIBackend(Backend):
    name = "openai"
    remote = True  # the model is served elsewhere, by name; nothing is loaded here
    letters_from_top_list = True  # a letter may be missing from the top list (the method then generates)

    def __init__(
        self,
        model: ResolvedModel,
        base_url: str | None = None,
        api_key_env: str | None = None,
        api_model: str | None = None,
        concurrency: int = 8,
        request_timeout: float = 60.0,
        max_retries: int = 6,
        top_logprobs: int = DEFAULT_TOP_LOGPROBS,
        response_cache: str | Path | None = None,
        # the run's local-engine defaults (open_backend passes them to every backend): nothing to do here
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int | None = None,
        prefix_cache: bool | None = None,
    ) -> None:
        api = dict(model.api or {})
        base_url = base_url or api.get("base_url")
        if not base_url:
            raise UserError(f"--backend openai: give --base-url for '{model.name}' (only catalogue API models "
                            "bring their own; see `harness models --api`)")
        if top_logprobs < 1:
            raise UserError("--top-logprobs must be at least 1")
        self.model_ref = model
        self.api = api
        self.model_name = api_model or api.get("model_name") or model.name
        self.chat = api.get("endpoint") == "chat"
        self.top = top_logprobs
        self.letter_match: str | None = None
        self._probed: dict[tuple[str, tuple[str, ...]], list[int] | None] = {}
        self._answered: dict[str, list[float | None]] = {}  # prompt -> letter log-probs the probe gave
        self._no_logprobs = False
        cache = ResponseCache(Path(response_cache) if response_cache else None)
        self.client = ApiClient(base_url, api_key_env or api.get("key_env"), request_timeout, max_retries,
                                concurrency, cache)

    # -- what the run asks before scoring ---------------------------------------------------
    def apply_chat_template(self, text: str) -> str:
        """The chat endpoint applies the server's template: the text goes as one user message."""
        self.chat = True
        return text

    def letter_token_ids(self, context: str, continuations: Sequence[str]) -> list[int] | None:
        pseudo = [TEXT_MATCH - i for i in range(len(continuations))]
        if self.chat:
            self.letter_match = "text"
            return pseudo
        pairs = [wire.split_space(context, c) for c in continuations]
        if len({c for c, _ in pairs}) != 1:
            return None
        ctx, conts = pairs[0][0], tuple(k for _, k in pairs)
        memo = (ctx[ctx.rfind("\n") + 1:], conts)
        if memo not in self._probed:
            self._probed[memo] = self._probe(ctx, conts)
        found = self._probed[memo]
        return pseudo if found == [] else found

    def _probe(self, ctx: str, conts: tuple[str, ...]) -> list[int] | None:
        """The letters' token ids after `ctx` by the server's tokenizer; [] when it cannot say (match
        by text); None when a letter is not one token there."""
        prompts = [ctx] + [ctx + k for k in conts]
        path, body = wire.echo_body(self.model_name, prompts, token_ids=True)
        try:
            echoes = self.client.post(path, body, lambda d: wire.echoed(d, len(prompts)))
        except Refused as exc:
            if exc.status in (400, 405, 422, 501):  # no echo / max_tokens 0 / token ids here: match by text
                self.letter_match = "text"
                return []
            raise
        head = echoes[0]["tokens"]
        as_ids = bool(head) and all(t.startswith(wire.TOKEN_ID) for t in head)
        ids: list[int] = []
        for echo, cont in zip(echoes[1:], conts, strict=True):
            whole = echo["tokens"]
            if whole[: len(head)] != head or len(whole) != len(head) + 1:
                return None
            last = whole[-1]
            if as_ids:
                ids.append(int(last[len(wire.TOKEN_ID):]))
            elif last != cont:
                return None
        self._answered[ctx] = [wire.last_logprob(e) for e in echoes[1:]]
        if as_ids:
            self.letter_match = "token_id"
            return ids if len(set(ids)) == len(ids) else None
        self.letter_match = "text"
        return []

    # -- scoring ----------------------------------------------------------------------------
    def score(
        self,
        requests: Sequence[ScoreRequest],
        method: str,
        letter_ids: dict[str, list[int]] | None = None,
        done: set[int] | None = None,
    ) -> Iterator[Batch]:
        done = done or set()
        jobs: list[tuple[int, Callable[[], list[float | None]]]] = []
        for i, request in enumerate(requests):
            if i in done:
                continue
            if method == "letter":
                ids = (letter_ids or {}).get(request.group)
                jobs.append((i, lambda r=request, ids=ids: self._letter(r, ids)))
            elif method == "choice":
                jobs.append((i, lambda r=request: self._choice(r)))
            else:
                raise UserError(f"unknown scoring method '{method}'")
        for i, output in self.client.run_all(jobs):
            yield Batch([i], [output])

    def _letter(self, request: ScoreRequest, ids: list[int] | None) -> list[float | None]:
        missing: list[float | None] = [None] * len(request.continuations)
        if self._no_logprobs:
            return missing
        if self.chat:
            prompt, conts = request.context, list(request.continuations)
        else:
            pairs = [wire.split_space(request.context, c) for c in request.continuations]
            prompt, conts = pairs[0][0], [k for _, k in pairs]
            if prompt in self._answered and len(self._answered[prompt]) == len(conts):
                return list(self._answered[prompt])
        by_id = self.letter_match == "token_id" and ids is not None and all(i >= 0 for i in ids)
        path, body = wire.one_token_body(self.model_name, prompt, self.chat, self.top, token_ids=by_id)
        top = self.client.post(path, body, lambda d: wire.top_list(d, self.chat))
        if top is None:
            if not self._no_logprobs:
                self._no_logprobs = True
                print(f"harness: warning: {self.client.shown_url} returns no log-probabilities; each question is "
                      "answered by generation instead (--method generate asks for that directly)", file=sys.stderr)
            return missing
        return wire.letter_scores(top, conts, ids if by_id else None)

    def _choice(self, request: ScoreRequest) -> list[float | None]:
        """Each continuation's summed log-prob from the echoed prompt (lm-eval's loglikelihood)."""
        if self.chat:
            raise UserError("--method choice needs prompt log-probs from /v1/completions (echo); a chat endpoint "
                            "has none: use --method letter or generate")
        pairs = [wire.split_space(request.context, c) for c in request.continuations]
        prompts = [c + k for c, k in pairs]
        path, body = wire.echo_body(self.model_name, prompts, token_ids=False)
        echoes = self.client.post(path, body, lambda d: wire.echoed(d, len(prompts)))
        return [wire.continuation_logprob(e, len(c)) for e, (c, _) in zip(echoes, pairs, strict=True)]

    # -- generation -------------------------------------------------------------------------
    def generate(
        self, requests: Sequence[GenerateRequest], params: GenerationParams, done: set[int] | None = None
    ) -> Iterator[Batch]:
        """One request per prompt (all `params.n` samples in it), run concurrently."""
        done = done or set()
        jobs = [(i, lambda r=r: self._generate(r, params)) for i, r in enumerate(requests) if i not in done]
        for i, outputs in self.client.run_all(jobs):
            yield Batch([i], [outputs])

    def _generate(self, request: GenerateRequest, params: GenerationParams) -> list[str]:
        path, body = wire.generate_body(self.model_name, request.prompt, self.chat, params, request.seed)
        outputs = self.client.post(path, body, lambda d: wire.texts(d, self.chat, params.n))
        return [cut_at_stop(t, params.stop) for t in outputs]

    # -- the card ---------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "base_url": self.client.shown_url,
            "model_name": self.model_name,
            "provider": self.api.get("provider"),
            "endpoint": "chat" if self.chat else "completions",
            "chat_template": "the server's (chat endpoint)" if self.chat else None,
            "letter_match": self.letter_match,
            "top_logprobs": self.top,
            "concurrency": self.client.concurrency,
            "request_timeout": self.client.timeout,
            "max_retries": self.client.max_retries,
            "api_key_env": self.client.key_env,
            "versions": {"httpx": httpx.__version__},
        }

    @property
    def stats(self) -> TokenStats:
        usage: dict[str, Any] = self.client.summary()
        prices = self.api.get("prices")
        if isinstance(prices, dict) and prices.get("input_per_1m") is not None:
            cost = (usage["prompt_tokens"] * float(prices["input_per_1m"])
                    + usage["completion_tokens"] * float(prices.get("output_per_1m") or 0)) / 1e6
            usage["cost"] = {"amount": round(cost, 6), "currency": prices.get("currency"),
                             "input_per_1m": prices["input_per_1m"], "output_per_1m": prices.get("output_per_1m"),
                             "note": "requests sent by this invocation; cached answers cost nothing again"}
        return TokenStats(prompt_tokens=usage["prompt_tokens"],
                          computed_tokens=usage["prompt_tokens"] + usage["completion_tokens"], extra={"api": usage})

    def reset_stats(self) -> None:
        """Count requests and tokens from zero again (a backend reused for another run)."""
        self.client.reset_stats()

    def close(self) -> None:
        self.client.close()
