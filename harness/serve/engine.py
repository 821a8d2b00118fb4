"""The transformers engine: one base model, its LoRA adapters by name, one forward pass at a time.

Why it reproduces `HFBackend` exactly: the model is loaded the same way (same dtype defaults,
`PeftModel` for adapters), prompts are tokenised by the same `PromptTokens` code, and text is made
by the same `model.generate` call with the same arguments, decoded the same way. Log-probabilities
are `log_softmax` in fp32 of the model's raw logits (captured by a forward hook, before any
sampling processor), which is what `HFBackend.score` computes.

Why one request at a time (no batching queue): a batch pads its rows, and padding changes the
floating-point sums, so a served number would depend on which other requests arrived with it. One
request at a time gives every client the same answer under any load. `bench/bench_serve.py` measures
what that costs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from harness.backends.base import resolve_device_dtype
from harness.backends.tokens import PromptTokens
from harness.errors import UserError
from harness.serve.options import ServeOptions
from harness.serve.protocol import ServeError
from harness.serve.rows import Choice, RowTracker, Sampling, StepCallback, TokenInfo

log = logging.getLogger(__name__)

LOGIT_ROWS_PER_CHUNK = 256  # prompt positions turned into log-probs at once (bounds fp32 memory)
# generation-config fields that add no logits processor to greedy decoding (anything else: use `generate`)
PLAIN_GENERATION_KEYS = {"bos_token_id", "eos_token_id", "pad_token_id", "do_sample", "temperature", "top_p", "top_k",
                         "transformers_version", "_from_model_config", "max_length", "max_new_tokens", "use_cache",
                         "output_attentions", "output_hidden_states", "output_scores", "output_logits",
                         "return_dict_in_generate"}


class _LockedTokenizer:
    """The tokenizer behind a lock. The event loop encodes prompts while the worker thread decodes
    generated text, and a Rust tokenizer used by two threads at once can fail ("Already borrowed")."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer, self._lock = tokenizer, threading.RLock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._tokenizer(*args, **kwargs)

    def decode(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._tokenizer.decode(*args, **kwargs)

    def apply_chat_template(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._tokenizer.apply_chat_template(*args, **kwargs)

    def __len__(self) -> int:
        return len(self._tokenizer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)


class Engine(PromptTokens):
    """The served models: `names[0]` is the base; the others are its LoRA adapters, loaded once each."""

    def __init__(self, options: ServeOptions) -> None:
        import torch
        import transformers

        base = options.base
        device, dtype = resolve_device_dtype(options.device, options.dtype)
        self.torch, self.device, self.dtype_name = torch, device, dtype
        self.model_ref = base
        kwargs: dict[str, Any] = {"revision": base.revision, "trust_remote_code": base.trust_remote_code}
        transformers.utils.logging.disable_progress_bar()
        try:
            self.tokenizer = _LockedTokenizer(transformers.AutoTokenizer.from_pretrained(base.path, **kwargs))
            model = transformers.AutoModelForCausalLM.from_pretrained(base.path, dtype=getattr(torch, dtype), **kwargs)
        except OSError as exc:
            first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise UserError(f"could not load model '{base.path}': {first}") from None
        self.core = model  # the transformers model whose forward returns `.logits`
        self.adapter_of: dict[str, str | None] = {base.name: None}
        self.templates: dict[str, str | None] = {base.name: base.chat_template or self.tokenizer.chat_template}
        for i, variant in enumerate(options.variants):
            model = self._add_adapter(model, variant.adapter or "", f"v{i}")
            self.adapter_of[variant.name] = f"v{i}"
            self.templates[variant.name] = variant.chat_template or self.templates[base.name]
        self.model = model.to(device).eval()
        config = self.core.config
        self.max_length = getattr(config, "max_position_embeddings", None) or 2048
        eos = self.model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else next(iter(self.eos_ids), 0)
        self.lock = threading.Lock()
        diff = self.model.generation_config.to_diff_dict()
        self.plain_greedy = set(diff) <= PLAIN_GENERATION_KEYS

    @staticmethod
    def _add_adapter(model: Any, path: str, name: str) -> Any:
        from peft import PeftModel

        try:
            if isinstance(model, PeftModel):
                model.load_adapter(path, adapter_name=name)
                return model
            return PeftModel.from_pretrained(model, path, adapter_name=name)
        except (OSError, ValueError) as exc:
            raise UserError(f"could not load adapter '{path}': {str(exc).splitlines()[0]}") from None

    @property
    def names(self) -> list[str]:
        return list(self.adapter_of)

    @contextmanager
    def _use(self, name: str) -> Iterator[None]:
        """Run under the lock with `name`'s adapter active (all adapters off for the base)."""
        with self.lock, self.torch.inference_mode():
            adapter = self.adapter_of[name]
            if len(self.adapter_of) == 1:
                yield
            elif adapter is None:
                with self.model.disable_adapter():
                    yield
            else:
                self.model.set_adapter(adapter)
                yield

    # -- tokens ------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Tokens of a prompt exactly as `HFBackend` makes them (special tokens added as the tokenizer does)."""
        return self._encode_many([text])[0]

    def render_chat(self, name: str, messages: list[dict[str, str]]) -> str:
        template = self.templates[name]
        if not template:
            raise ServeError(400, f"model '{name}' has no chat template; use /v1/completions")
        try:
            return self.tokenizer.apply_chat_template(
                messages, chat_template=template, tokenize=False, add_generation_prompt=True
            )
        except Exception as exc:  # noqa: BLE001 - jinja errors (raise_exception in templates) are the caller's input
            raise ServeError(400, f"the chat template rejected these messages: {str(exc).splitlines()[0]}") from None

    def token_text(self, token: int) -> str:
        return self.tokenizer.decode([token])

    def top(self, logprobs: Any, token: int, k: int) -> tuple[float, list[tuple[int, float]]]:
        """(the token's log-prob, the k best (id, log-prob)) from one fp32 log-softmax row."""
        chosen = float(logprobs[token])
        if k <= 0:
            return chosen, []
        values, ids = self.torch.topk(logprobs, min(k, logprobs.shape[-1]))
        return chosen, list(zip(ids.tolist(), values.tolist(), strict=True))

    def check_length(self, prompt_len: int, max_tokens: int) -> None:
        if prompt_len + max_tokens > self.max_length:
            raise ServeError(400, f"this model's maximum context length is {self.max_length} tokens; the prompt "
                                  f"has {prompt_len} and max_tokens asks for {max_tokens} more")

    # -- work (called from the server's single worker thread) -------------------------------
    def prompt_logprobs(self, name: str, ids: Sequence[int], k: int) -> list[TokenInfo]:
        """Each prompt token's log-prob given the tokens before it (the first has none), plus the top k."""
        torch = self.torch
        infos = [TokenInfo(ids[0])]
        with self._use(name):
            logits = self.model(input_ids=torch.tensor([list(ids)], device=self.device)).logits[0]
            for begin in range(0, len(ids) - 1, LOGIT_ROWS_PER_CHUNK):
                rows = torch.log_softmax(logits[begin:begin + LOGIT_ROWS_PER_CHUNK].float(), dim=-1)
                for j in range(rows.shape[0]):
                    pos = begin + j + 1
                    if pos >= len(ids):
                        break
                    lp, top = self.top(rows[j], ids[pos], k)
                    infos.append(TokenInfo(ids[pos], lp, top))
        return infos

    def generate(self, name: str, ids: Sequence[int], sampling: Sampling, cancel: threading.Event,
                 on_step: StepCallback | None = None) -> list[Choice]:
        """`sampling.n` completions of one prompt, with the very `model.generate` call `HFBackend` makes."""
        from transformers import StoppingCriteriaList

        torch = self.torch
        sampled = sampling.temperature > 0
        rows = sampling.n if sampled else 1  # greedy choices are all the same: compute one
        tracker = RowTracker(self, rows, sampling, cancel, on_step)
        kwargs: dict[str, Any] = {"do_sample": sampled, "num_return_sequences": rows}
        if sampled:
            kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        with self._use(name):
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            if sampling.max_tokens == 1 and not sampled and self.plain_greedy:
                self._one_greedy_token(ids, tracker)
                return [tracker.choice(0)] * sampling.n
            handle = self.core.register_forward_hook(tracker.hook)
            try:
                self.model.generate(
                    input_ids=torch.tensor([list(ids)], device=self.device),
                    attention_mask=torch.ones((1, len(ids)), dtype=torch.long, device=self.device),
                    max_new_tokens=sampling.max_tokens, pad_token_id=self.pad_id,
                    stopping_criteria=StoppingCriteriaList([tracker]), **kwargs,
                )
            finally:
                handle.remove()
        if cancel.is_set():
            raise ServeError(499, "request cancelled")
        choices = [tracker.choice(r) for r in range(rows)]
        return choices * sampling.n if not sampled else choices

    def _one_greedy_token(self, ids: Sequence[int], tracker: RowTracker) -> None:
        """One greedy token without `generate`'s set-up (about half of a one-token request's time):
        the prefill forward `generate` makes (last position's logits only), its argmax, and the very
        per-step code `generate` would have run. Used only when the generation config adds no logits
        processor, so the argmax of the raw logits is what `generate` picks."""
        torch = self.torch
        input_ids = torch.tensor([list(ids)], device=self.device)
        mask = torch.ones_like(input_ids)
        out = self.model(input_ids=input_ids, attention_mask=mask, logits_to_keep=1, use_cache=False)
        tracker.logits = out.logits[:, -1].float()
        token = int(torch.argmax(tracker.logits[0]))
        tracker(torch.tensor([[*ids, token]], device=self.device), None)
