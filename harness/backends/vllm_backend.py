"""vLLM backend: one generated token per question, prefix cache on, exact answer-letter log-probs.

`letter`: one request per question with `max_tokens=1` and `logprob_token_ids` = the answer
letters, so vLLM returns exactly their (raw) log-probabilities and never needs prompt log-probs —
which would switch its prefix cache off. Requests go subject by subject: the first question of each
subject is run alone to fill the cache with the shared few-shot prefix, then the rest hit it. Subjects
are sent together only as many as their blocks fit the KV cache (`plan.chunk_groups`), so a warmed
prefix is never evicted before its subject's last question. Only whole blocks are shared, so each
question recomputes the prefix's tail past its last whole block: on CPU the block is 32 tokens (the
smallest its attention takes; vLLM's CPU default is 128), on GPU vLLM's 16. The card's tokens give
vLLM's own count of prompt tokens served from its cache (`num_cached_tokens`) and the hit rate.

`choice`: one request per (question, option) with prompt log-probs, summing the continuation's
tokens exactly as lm-eval's `vllm` model does (the parity path; no prefix cache by construction).

`generate` (law, medicine, code, --method generate) lives in `vllm_generate.py`.

Prompts are tokenised with the same code as the transformers backend and sent as token ids, so both
backends score the very same tokens. LoRA variants run through `LoRARequest`; one engine serves
several adapters of one base (`use`), with `max_lora_rank` read from the adapters' configs. When
vLLM cannot serve an adapter (architecture or adapter features), the adapter is merged into the
weights in a temporary folder instead, and the log says so.

This module is imported only when `--backend vllm` is chosen: importing `harness` never imports vLLM.
"""

from __future__ import annotations

import gc
import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import vllm
from vllm import LLM, SamplingParams
from vllm.inputs import TokensPrompt
from vllm.lora.request import LoRARequest

from harness.backends.base import Backend, Batch, ScoreRequest, TokenStats, check_dtype
from harness.backends.cpu_memory import keep_freed_memory
from harness.backends.plan import chunk_groups, group_footprint
from harness.backends.tokens import PromptTokens
from harness.backends.vllm_generate import VLLMGeneration
from harness.errors import UserError
from harness.registry import ResolvedModel

log = logging.getLogger(__name__)

LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the ranks vLLM's LoRAConfig accepts
GROUPS_PER_CALL = 16  # subjects sent to the engine together when the KV cache's size is unknown
CPU_BLOCK_SIZE = 32  # the smallest block vLLM's CPU attention takes: less of each prefix is recomputed


def adapter_rank(adapter: str) -> int:
    """The largest LoRA rank an adapter uses (`r` and any `rank_pattern` entry)."""
    from peft import PeftConfig

    try:
        config = PeftConfig.from_pretrained(adapter)
    except (OSError, ValueError) as exc:
        raise UserError(f"could not read adapter '{adapter}': {str(exc).splitlines()[0]}") from None
    ranks = [int(getattr(config, "r", 0) or 0)] + [int(v) for v in (getattr(config, "rank_pattern", None) or {}).values()]
    return max(ranks)


def lora_capacity(rank: int) -> int:
    """The smallest `max_lora_rank` vLLM accepts that holds `rank`."""
    for allowed in LORA_RANKS:
        if rank <= allowed:
            return allowed
    raise UserError(f"LoRA rank {rank} is above vLLM's largest supported rank {LORA_RANKS[-1]}")


def _unsupported_adapter_features(adapter: str) -> list[str]:
    from peft import PeftConfig

    config = PeftConfig.from_pretrained(adapter)
    found = []
    peft_type = str(getattr(config.peft_type, "value", config.peft_type))
    if peft_type != "LORA":
        found.append(f"peft type {peft_type}")
    if getattr(config, "use_dora", False):
        found.append("DoRA")
    if getattr(config, "lora_bias", False):
        found.append("LoRA bias")
    if getattr(config, "modules_to_save", None):
        found.append("modules_to_save")
    return found


class VLLMBackend(PromptTokens, VLLMGeneration, Backend):
    """Same tokenisation as the transformers backend (`PromptTokens`): identical token ids."""

    name = "vllm"

    def __init__(
        self,
        model: ResolvedModel,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int | None = None,
        prefix_cache: bool = True,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        trust_remote_code: bool | None = None,
        enforce_eager: bool | None = None,
        max_lora_rank: int | None = None,
        adapters: Sequence[str] = (),
        max_loras: int = 1,
        seed: int = 0,
        block_size: int | None = None,
    ) -> None:
        import transformers
        from vllm.platforms import current_platform

        check_dtype(dtype)
        self.on_cpu = current_platform.is_cpu()
        if self.on_cpu:  # the engine runs in this process on CPU: its activations reused, not faulted in again
            keep_freed_memory()
        if (self.on_cpu and device not in ("auto", "cpu")) or (not self.on_cpu and device == "cpu"):
            raise UserError(f"this vLLM build runs on {'cpu' if self.on_cpu else 'cuda'}, not --device {device}")
        if dtype == "auto":
            dtype = "float32" if self.on_cpu else "bfloat16"
        self.dtype_name = dtype
        self.device = "cpu" if self.on_cpu else "cuda"
        self.prefix_cache = prefix_cache
        self.batch_size = batch_size  # recorded only: vLLM schedules its own batches
        self.trust = model.trust_remote_code if trust_remote_code is None else trust_remote_code
        self.engine_options: dict[str, Any] = {
            "tensor_parallel_size": int(tensor_parallel_size),
            "gpu_memory_utilization": float(gpu_memory_utilization),
            "max_model_len": max_model_len,
            "enforce_eager": self.on_cpu if enforce_eager is None else bool(enforce_eager),
            "seed": seed,
            "block_size": block_size or (CPU_BLOCK_SIZE if self.on_cpu else None),
        }
        self.max_loras = max(1, int(max_loras))
        self.base_path, self.revision = model.path, model.revision
        self._merged_dir: str | None = None
        self._lora_ids: dict[str, int] = {}
        self.lora_rank = 0
        self.engine: LLM | None = None
        self._stats = TokenStats()
        transformers.utils.logging.disable_progress_bar()
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(
                model.path, revision=model.revision, trust_remote_code=self.trust
            )
        except OSError as exc:
            first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise UserError(f"could not load model '{model.path}': {first}") from None
        wanted = [a for a in [model.adapter, *adapters] if a]
        if max_lora_rank is not None:
            self.lora_rank = lora_capacity(int(max_lora_rank))
        elif wanted:
            self.lora_rank = lora_capacity(max(adapter_rank(a) for a in wanted))
        self.lora_fallback: str | None = None
        self.use(model)

    # -- engine ----------------------------------------------------------------------------
    def _start(self, path: str, lora: bool) -> LLM:
        self._stop_engine()
        kwargs = {k: v for k, v in self.engine_options.items() if v is not None}
        kwargs.update(
            model=path,
            tokenizer=path if path != self.base_path else self.base_path,
            revision=self.revision if path == self.base_path else None,
            dtype=self.dtype_name,
            trust_remote_code=self.trust,
            enable_prefix_caching=self.prefix_cache,
        )
        if lora:
            kwargs.update(enable_lora=True, max_lora_rank=self.lora_rank, max_loras=self.max_loras)
        log.info("starting vLLM engine: %s", {k: v for k, v in kwargs.items() if k != "model"} | {"model": path})
        try:
            self.engine = LLM(**kwargs)
        except OSError as exc:
            raise UserError(f"vLLM could not load '{path}': {str(exc).splitlines()[0]}") from None
        self.engine_path, self.engine_lora = path, lora
        return self.engine

    def use(self, model: ResolvedModel) -> None:
        """Score `model` next: the base or a LoRA variant of the engine's base, without reloading it
        (unless the adapter needs a larger `max_lora_rank` or must be merged)."""
        if model.path != self.base_path:
            raise UserError(f"this vLLM engine serves '{self.base_path}', not '{model.path}'")
        self.model_ref = model
        self.lora: LoRARequest | None = None
        self.lora_fallback = None
        if model.chat_template:
            self.tokenizer.chat_template = model.chat_template
        if not model.adapter:
            if self.engine is None or self.engine_path != self.base_path:
                self._start(self.base_path, lora=self.lora_rank > 0)
            return
        problems = _unsupported_adapter_features(model.adapter)
        if not problems:
            rank = adapter_rank(model.adapter)
            if rank > self.lora_rank:
                self.lora_rank = lora_capacity(rank)
                self._stop_engine()
            if self.engine is None or not self.engine_lora or self.engine_path != self.base_path:
                try:
                    self._start(self.base_path, lora=True)
                except UserError:
                    raise
                except Exception as exc:  # noqa: BLE001 - vLLM reports unsupported LoRA in many ways
                    problems = [f"vLLM could not enable LoRA ({str(exc).splitlines()[0] if str(exc) else exc!r})"]
        if problems:
            self.lora_fallback = "; ".join(problems)
            log.warning("adapter %s cannot be served as LoRA by vLLM (%s): scoring merged weights instead",
                        model.adapter, self.lora_fallback)
            self._start(self._merge(model), lora=False)
            return
        ident = self._lora_ids.setdefault(model.adapter, len(self._lora_ids) + 1)
        self.lora = LoRARequest(lora_name=f"adapter{ident}", lora_int_id=ident, lora_path=model.adapter)

    def _merge(self, model: ResolvedModel) -> str:
        """Merge the adapter into the base weights in a temporary folder vLLM can load."""
        import torch
        import transformers
        from peft import PeftModel

        folder = tempfile.mkdtemp(prefix="harness-merged-")
        base = transformers.AutoModelForCausalLM.from_pretrained(
            model.path, revision=model.revision, trust_remote_code=self.trust, dtype=getattr(torch, self.dtype_name)
        )
        merged = PeftModel.from_pretrained(base, model.adapter).merge_and_unload()
        merged.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        del base, merged
        if self._merged_dir:
            shutil.rmtree(self._merged_dir, ignore_errors=True)
        self._merged_dir = folder
        return folder

    # -- scoring ---------------------------------------------------------------------------
    def _limit(self) -> int:
        return int(self.engine.llm_engine.model_config.max_model_len)

    def _chunks(self, requests: Sequence[ScoreRequest], tokens: Sequence[Sequence[int]]) -> list[list[list[int]]]:
        """Question indices grouped by prompt group (first-seen order), groups cut into engine calls that fit
        the KV cache (`tokens`: what each request sends)."""
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(r.group, []).append(i)
        ordered = list(groups.values())
        cache = self.engine.llm_engine.vllm_config.cache_config
        block = int(cache.block_size or 16)
        budget = int(0.8 * cache.num_gpu_blocks * block) if cache.num_gpu_blocks else None
        feet = [group_footprint([tokens[i] for i in g], block) for g in ordered]
        return [[ordered[k] for k in call] for call in chunk_groups(feet, budget, GROUPS_PER_CALL)]

    def _count(self, prompt_len: int, cached: int | None) -> None:
        """Tokens computed, and vLLM's own count of prompt tokens it served from its prefix cache."""
        cached = cached or 0
        self._stats.computed_tokens += prompt_len - cached
        extra = self._stats.extra.setdefault("tokens", {})  # the card's `tokens` section
        extra["cached"] = extra.get("cached", 0) + cached
        extra["sent"] = extra.get("sent", 0) + prompt_len
        extra["prefix_cache_hit_rate"] = round(extra["cached"] / extra["sent"], 4)

    def score(
        self,
        requests: Sequence[ScoreRequest],
        method: str,
        letter_ids: dict[str, list[int]] | None = None,
        done: set[int] | None = None,
    ) -> Iterator[Batch]:
        done = done or set()
        if method == "letter":
            yield from self._score_letter(requests, letter_ids or {}, done)
        elif method == "choice":
            yield from self._score_choice(requests, done)
        else:
            raise UserError(f"unknown method '{method}'")

    def _score_letter(
        self, requests: Sequence[ScoreRequest], letter_ids: dict[str, list[int]], done: set[int]
    ) -> Iterator[Batch]:
        limit = self._limit() - 1  # room for the one generated token
        contexts = [self._split_space(r.context, r.continuations[0])[0] for r in requests]
        tokens = [t[-limit:] for t in self._encode_many(contexts)]
        self._stats.prompt_tokens += sum(len(t) for t in tokens)
        for chunk in self._chunks(requests, tokens):
            if {i for group in chunk for i in group} <= done:
                continue
            # first question of each subject alone (fills the cache with the prefix), then the rest
            waves = [[g[0] for g in chunk], [i for g in chunk for i in g[1:]]]
            result: dict[int, list[float]] = {}
            for wave in waves if self.prefix_cache else [[i for g in chunk for i in g]]:
                if not wave:
                    continue
                params = [
                    SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=list(letter_ids[requests[i].group]),
                                   detokenize=False)
                    for i in wave
                ]
                outputs = self.engine.generate(
                    [TokensPrompt(prompt_token_ids=tokens[i]) for i in wave], params, use_tqdm=False,
                    lora_request=self.lora,
                )
                for i, out in zip(wave, outputs, strict=True):
                    self._count(len(tokens[i]), out.num_cached_tokens)
                    step = out.outputs[0].logprobs[0]
                    result[i] = [float(step[t].logprob) for t in letter_ids[requests[i].group]]
            indices = sorted(result)
            yield Batch(indices=indices, outputs=[result[i] for i in indices])

    def _score_choice(self, requests: Sequence[ScoreRequest], done: set[int]) -> Iterator[Batch]:
        limit = self._limit()
        prompts: list[tuple[int, list[int], list[int]]] = []  # (question, tokens, continuation)
        for i, (ctx, conts) in enumerate(self.encode_pairs_many([(r.context, r.continuations) for r in requests])):
            for cont in conts:
                prompts.append((i, (ctx + cont)[-limit:], cont))
        self._stats.prompt_tokens += sum(len(t) for _, t, _ in prompts)
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1, detokenize=False)
        per_question: dict[int, list[int]] = {}
        for i, t, _ in prompts:
            per_question.setdefault(i, []).extend(t)
        for chunk in self._chunks(requests, [per_question[i] for i in range(len(requests))]):
            wanted = {i for group in chunk for i in group}
            if wanted <= done:
                continue
            rows = [p for p in prompts if p[0] in wanted]
            outputs = self.engine.generate(
                [TokensPrompt(prompt_token_ids=t) for _, t, _ in rows], params, use_tqdm=False, lora_request=self.lora
            )
            result: dict[int, list[float]] = {}
            for (i, toks, cont), out in zip(rows, outputs, strict=True):
                self._count(len(toks), out.num_cached_tokens)
                start = len(toks) - len(cont)
                total = sum(float(out.prompt_logprobs[start + j][toks[start + j]].logprob) for j in range(len(cont)))
                result.setdefault(i, []).append(total)
            indices = sorted(result)
            yield Batch(indices=indices, outputs=[result[i] for i in indices])

    def describe(self) -> dict[str, Any]:
        import torch
        import transformers

        info: dict[str, Any] = {
            "backend": self.name,
            "model_path": self.model_ref.path,
            "revision": self.revision,
            "adapter": self.model_ref.adapter,
            "adapter_mode": None if not self.model_ref.adapter else ("merged" if self.lora_fallback else "lora"),
            "dtype": self.dtype_name,
            "device": self.device,
            "batch_size": None,
            "prefix_cache": self.prefix_cache,
            "engine": {k: v for k, v in self.engine_options.items() if k != "seed"},
            "versions": {"vllm": vllm.__version__, "torch": torch.__version__, "transformers": transformers.__version__},
        }
        if self.lora_fallback:
            info["adapter_fallback_reason"] = self.lora_fallback
        if self.model_ref.adapter:
            info["max_lora_rank"] = self.lora_rank
        return info

    def _stop_engine(self) -> None:
        engine, self.engine = self.engine, None
        if engine is None:
            return
        try:
            engine.llm_engine.engine_core.shutdown()
        except Exception:  # noqa: BLE001 - best effort; the object is dropped anyway
            pass
        del engine
        gc.collect()

    def close(self) -> None:
        self._stop_engine()
        if self._merged_dir:
            shutil.rmtree(self._merged_dir, ignore_errors=True)
            self._merged_dir = None
