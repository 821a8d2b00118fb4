"""Text generation on the vLLM engine (law, medicine, code and --method generate runs).

One request per item with its own SamplingParams: n samples, temperature and top_p, the item's seed
(so a resumed or partial run draws the same samples), the run's stop strings and max_tokens. Prompts
are the same token ids the transformers backend generates from (`PromptTokens`); LoRA variants go
through the engine's LoRARequest. The text is decoded from the generated token ids and cut before the
first stop string exactly as the transformers backend does (vLLM's own incremental text withholds a
character whose bytes are not all there yet), so greedy outputs equal the transformers backend's
(tests/test_vllm_generate.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from vllm import SamplingParams
from vllm.inputs import TokensPrompt

from harness.backends.base import Batch, GenerateRequest, GenerationParams
from harness.backends.tokens import cut_at_stop

GENERATE_PER_CALL = 256  # requests per engine call (vLLM schedules them itself; a batch is also a resume unit)


class VLLMGeneration:
    """Mixin for VLLMBackend: needs `engine`, `tokenizer`, `lora`, `_limit()`, `_encode_many()` and `_stats`."""

    engine: Any
    tokenizer: Any
    lora: Any
    _stats: Any

    @property
    def max_length(self) -> int | None:  # type: ignore[override]
        return self._limit() if self.engine is not None else None

    def generate(
        self, requests: Sequence[GenerateRequest], params: GenerationParams, done: set[int] | None = None
    ) -> Iterator[Batch]:
        """Batches of `params.n` completions per request, planned over all requests (resume-safe)."""
        done = done or set()
        limit = max(1, self._limit() - params.max_new_tokens)
        for start in range(0, len(requests), GENERATE_PER_CALL):
            indices = list(range(start, min(start + GENERATE_PER_CALL, len(requests))))
            if set(indices) <= done:
                continue
            tokens = [t[-limit:] for t in self._encode_many([requests[i].prompt for i in indices])]
            sampling = [self._sampling(requests[i], params) for i in indices]
            outputs = self.engine.generate([TokensPrompt(prompt_token_ids=t) for t in tokens], sampling,
                                           use_tqdm=False, lora_request=self.lora)
            texts = []
            for toks, out in zip(tokens, outputs, strict=True):
                completions = sorted(out.outputs, key=lambda c: c.index)
                self._stats.prompt_tokens += len(toks)
                self._stats.computed_tokens += len(toks) - (out.num_cached_tokens or 0) + sum(
                    len(c.token_ids) for c in completions)
                texts.append([cut_at_stop(self.tokenizer.decode(c.token_ids, skip_special_tokens=True), params.stop)
                              for c in completions])
            yield Batch(indices, texts)

    @staticmethod
    def _sampling(request: GenerateRequest, params: GenerationParams) -> SamplingParams:
        """Greedy: temperature 0 (vLLM ignores top_p and the seed then); sampled: the request's own seed."""
        s = params.sampled
        return SamplingParams(n=params.n, temperature=params.temperature if s else 0.0, top_p=params.top_p if s else 1.0,
                              seed=request.seed if s else None, stop=list(params.stop) or None,
                              max_tokens=params.max_new_tokens, skip_special_tokens=True)
