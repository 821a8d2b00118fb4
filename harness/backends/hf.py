"""Transformers backend: batched log-probabilities with the shared prompt prefix computed once.

Within one group (a subject: same header and few-shot examples) every prompt starts with the same
tokens. The backend finds that longest common token prefix, runs it through the model once, and
runs only each prompt's remaining tokens against a copy of its key/value cache. With
`prefix_cache=False` the prefix length is 0 and the same code scores whole prompts.

Rows are right-padded: with causal attention a real token never attends to a later pad, so no
attention mask is needed and the pads' outputs are simply not read. Where the shared-prefix attention
below runs, a pass is packed instead: its rows laid end to end without padding, as full as the caps allow.

Remote-code and unusual architectures: what `forward` accepts and which cache it returns are read once at load
(`harness/backends/hf_caps.py`). Without `logits_to_keep` the logits are sliced after the forward; a cache that is
not a plain key/value history (legacy tuples, sparse/compressed/recurrent attention) turns the shared prefix off,
and a sliding-window cache shares only prefixes that fit in the window. The card's `prefix_cache` says which.
On a CPU, models whose every layer is plain full attention read the one prefix copy through
`harness/backends/prefix_attention.py` instead of a copy per row. The last layer's output projection and MLP
run only at the positions whose logits are read (`harness/backends/read_positions.py`).

Tokenisation is lm-evaluation-harness's (`harness/backends/tokens.py`), shared with the vLLM backend.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch  # with the module, so that their import is frozen with it (backends/startup.py)
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

from harness.backends.base import (
    Backend,
    Batch,
    GenerationParams,
    ScoreRequest,
    TokenStats,
    resolve_device_dtype,
)
from harness.backends.cpu_memory import keep_freed_memory
from harness.backends.hf_caps import probe, share
from harness.backends.plan import bucket, common_prefix, costs, pack
from harness.backends.prefix_attention import enable as enable_shared_prefix
from harness.backends.prefix_attention import packed_inputs, packed_pass
from harness.backends.read_positions import install as install_read_positions
from harness.backends.tokens import PromptTokens, cut_at_stop
from harness.errors import UserError
from harness.registry import ResolvedModel

log = logging.getLogger(__name__)
SCORE_ROWS = 64  # default cap on a scoring pass's sequences (the plan usually cuts smaller, by length)
PACKED_TOKENS = 4096  # cap on a packed pass's tokens (shared-prefix attention): tall enough for full-rate products
GENERATE_ROWS = 16  # default generation batch

@dataclass
class _Row:
    """One model input: the tokens to run and which (position, target) log-probs to read."""

    question: int
    tokens: list[int]
    reads: list[tuple[int, int | None]]  # (position, target id); None target = read the letter ids
    options: list[int] | None = None  # choice: how many of `reads` belong to each option this row scores


class HFBackend(PromptTokens, Backend):
    name = "hf"

    def __init__(
        self,
        model: ResolvedModel,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int | None = None,
        prefix_cache: bool = True,
        max_length: int | None = None,
        trust_remote_code: bool | None = None,
    ) -> None:
        device, dtype = resolve_device_dtype(device, dtype)
        self.device, self.dtype_name = device, dtype
        if device == "cpu":
            keep_freed_memory()  # activations reused across passes, not faulted in again (cpu_memory.py)
        # sequences per pass: given, or up to SCORE_ROWS per length-bucketed scoring pass and GENERATE_ROWS per
        # generation batch (generation holds a growing cache per row; scoring passes are short)
        self.batch_option = max(1, int(batch_size)) if batch_size else None
        self.batch_size = self.batch_option or GENERATE_ROWS
        self.score_rows = self.batch_option or SCORE_ROWS
        self.prefix_cache = prefix_cache
        self.model_ref = model
        trust = model.trust_remote_code if trust_remote_code is None else trust_remote_code
        kwargs: dict[str, Any] = {"revision": model.revision, "trust_remote_code": trust}
        transformers.utils.logging.disable_progress_bar()  # our own bar is the one that matters
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model.path, **kwargs)
            self.model = AutoModelForCausalLM.from_pretrained(
                model.path, dtype=getattr(torch, dtype), **kwargs
            )
        except OSError as exc:
            first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise UserError(f"could not load model '{model.path}': {first}") from None
        except ValueError as exc:
            if "trust_remote_code" not in str(exc):
                raise
            raise UserError(f"model '{model.path}' ships its own code; run it only if you trust it: "
                            "--trust-remote-code") from None
        if model.adapter:
            from peft import PeftModel

            try:
                self.model = PeftModel.from_pretrained(self.model, model.adapter)
            except (OSError, ValueError) as exc:
                raise UserError(f"could not load adapter '{model.adapter}': {str(exc).splitlines()[0]}") from None
        if model.chat_template:
            self.tokenizer.chat_template = model.chat_template
        self.model.to(device).eval()
        config = self.model.config
        self.max_length = max_length or getattr(config, "max_position_embeddings", None) or 2048
        self.revision = model.revision or getattr(config, "_commit_hash", None)
        self._stats = TokenStats()
        self._costs = costs(config, device)  # what the batch plan weighs: attended keys and passes
        token = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else 0
        self.caps = probe(self.model, device, int(token))
        if prefix_cache and self.caps.prefix_cache:
            log.warning("shared-prefix cache off for %s: %s", model.path, self.caps.prefix_cache)
        # one prefix copy read by every row (CPU, every layer plain full attention, logits_to_keep taken)
        plain = self.caps.prefix_cache is None and self.caps.window is None and self.caps.logits_to_keep
        plain = plain and bool(self.caps.layers) and set(self.caps.layers) == {"DynamicLayer"}
        self._shared_attention = bool(prefix_cache and plain and enable_shared_prefix(self.model, device))
        # the last layer (and the head) only where logits are read
        self._read_positions = install_read_positions(self.model, head=self.caps.logits_to_keep)

    # -- scoring ---------------------------------------------------------------------------
    def _rows(self, requests: Sequence[ScoreRequest], indices: Sequence[int], method: str) -> dict[int, list[_Row]]:
        """The model inputs of `requests[indices]`, question by question, tokenised in one batched call."""
        questions: dict[int, list[_Row]] = {}
        limit = self.max_length
        chosen = [requests[i] for i in indices]
        if method == "letter":
            contexts = [self._split_space(r.context, r.continuations[0])[0] for r in chosen]
            for i, tokens in zip(indices, self._encode_many(contexts), strict=True):
                tokens = tokens[-limit:]
                questions[i] = [_Row(i, tokens, [(len(tokens) - 1, None)])]
            return questions
        pairs = self.encode_pairs_many([(r.context, r.continuations) for r in chosen])
        for i, (ctx, conts) in zip(indices, pairs, strict=True):
            rows = questions.setdefault(i, [])
            for cont in conts:
                whole = (ctx + cont)[-(limit + 1):]
                inp = whole[:-1]
                start = len(inp) - len(cont)
                reads = [(start + j, cont[j]) for j in range(len(cont))]
                if rows and rows[-1].tokens == inp:
                    # the same input as the previous option (one-token continuations: the context itself):
                    # one row reads both, as lm-eval's grouping by context does
                    rows[-1].reads += reads
                    rows[-1].options.append(len(reads))
                else:
                    rows.append(_Row(i, inp, reads, [len(reads)]))
        return questions

    def _groups(self, requests: Sequence[ScoreRequest]) -> list[tuple[str, list[int]]]:
        """Request indices by prompt group, groups in first-seen order. Each group is tokenised when its turn comes,
        so the first forward pass waits for one group's tokens, not for the whole suite's."""
        by_group: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            by_group.setdefault(request.group, []).append(i)
        return list(by_group.items())

    def _batches(self, questions: dict[int, list[_Row]], prefix_len: int) -> list[list[_Row]]:
        """A group's forward passes: whole questions, packed (shared-prefix attention) or length-bucketed
        (harness/backends/plan.py) so that little of a pass is padding. The plan depends only on the requests,
        never on what is already done."""
        ids = list(questions)
        counts = [len(questions[q]) for q in ids]
        widths = [max(len(r.tokens) for r in questions[q]) - prefix_len for q in ids]
        if self._packed(prefix_len):
            passes = pack(widths, counts, self.score_rows, PACKED_TOKENS)
        else:
            passes = bucket(widths, counts, self.score_rows, prefix_len, *self._costs)
        return [[r for k in p for r in questions[ids[k]]] for p in passes]

    def _packed(self, prefix_len: int) -> bool:
        """Whether a group's passes are packed: the shared-prefix attention continues the rows from a prefix."""
        return self._shared_attention and prefix_len > 0

    def score(
        self,
        requests: Sequence[ScoreRequest],
        method: str,
        letter_ids: dict[str, list[int]] | None = None,
        done: set[int] | None = None,
    ) -> Iterator[Batch]:
        done = done or set()
        for group, members in self._groups(requests):
            questions = self._rows(requests, members, method)
            group_rows = [r for q in questions.values() for r in q]
            self._stats.prompt_tokens += sum(len(r.tokens) for r in group_rows)
            prefix_len = 0
            if self.prefix_cache and self.caps.prefix_cache is None and len(group_rows) > 1:
                prefix_len = common_prefix([r.tokens for r in group_rows])
                first_read = min(pos for r in group_rows for pos, _ in r.reads)
                prefix_len = min(prefix_len, first_read, min(len(r.tokens) for r in group_rows) - 1)
                prefix_len = self._fit_window(prefix_len, group)
            todo = [b for b in self._batches(questions, prefix_len) if not {r.question for r in b} <= done]
            if not todo:
                continue
            with torch.inference_mode():
                prefix_kv = self._prefix_kv(group_rows[0].tokens[:prefix_len]) if prefix_len > 0 else None
                ids = (letter_ids or {}).get(group)
                for batch in todo:
                    yield self._run_batch(batch, prefix_len, prefix_kv, ids)

    def _fit_window(self, prefix_len: int, group: str) -> int:
        """0 (score whole prompts) when a sliding-window layer would already have dropped part of the prefix."""
        window = self.caps.window
        if window is None or prefix_len < window:
            return prefix_len
        extra = self._stats.extra
        extra["prefix_groups_scored_whole"] = extra.get("prefix_groups_scored_whole", 0) + 1
        if extra["prefix_groups_scored_whole"] == 1:
            log.warning("group %r: shared prefix of %d tokens does not fit the %d-token sliding window; scoring "
                        "whole prompts for such groups", group, prefix_len, window)
        return 0

    def _forward(self, input_ids: Any, keep: Any, cache: Any = None, want_cache: bool = False,
                 **extra: Any) -> Any:
        """The model's outputs at positions `keep` (a tensor of indices, or 1 for the last), asking `forward` only
        for what its signature takes; `cache` is a prefix cache to continue from."""
        kwargs: dict[str, Any] = dict(extra)
        if self.caps.use_cache:
            kwargs["use_cache"] = want_cache or cache is not None
        if cache is not None:
            kwargs["past_key_values"] = cache
        if self.caps.logits_to_keep:
            kwargs["logits_to_keep"] = keep
        out = self.model(input_ids=input_ids, **kwargs)
        if not self.caps.logits_to_keep:
            out.logits = out.logits[:, -1:] if isinstance(keep, int) else out.logits[:, keep]
        return out

    def _prefix_kv(self, tokens: list[int]) -> Any:
        """The prefix's cache: the model's own `Cache`, or (shared-prefix attention) each layer's (keys, values).
        Nothing of the prefix pass is read but its keys and values, so the last layer's output projection and MLP
        (whose outputs feed only logits) run for its last position alone."""
        zero, last = torch.tensor([0], device=self.device), torch.tensor([len(tokens) - 1], device=self.device)
        with self._reads_only(zero, last, zero):
            out = self._forward(torch.tensor([tokens], device=self.device), 1, want_cache=True)
        self._stats.computed_tokens += len(tokens)
        cache = out.past_key_values
        return [(layer.keys, layer.values) for layer in cache.layers] if self._shared_attention else cache

    def _reads_only(self, rows: Any, positions: Any, kept: Any) -> Any:
        """Context in which the last layer and the head compute only the given reads (read_positions.py), where
        that module is installed."""
        return self._read_positions.only(rows, positions, kept) if self._read_positions is not None else nullcontext()

    def _run_batch(self, batch: list[_Row], prefix_len: int, prefix_kv: Any, letter_ids: list[int] | None) -> Batch:
        suffixes = [r.tokens[prefix_len:] for r in batch]
        self._stats.computed_tokens += sum(len(s) for s in suffixes)
        packed = self._packed(prefix_len)
        extra: dict[str, Any] = {}
        if packed:  # one sequence of every row's tokens, no padding; row b starts at starts[b]
            starts, extra = packed_inputs(prefix_kv, prefix_len, [len(s) for s in suffixes], self.device)
            input_ids = torch.tensor([[t for s in suffixes for t in s]], device=self.device)
            read_at = [(0, starts[b] + pos - prefix_len) for b, row in enumerate(batch) for pos, _ in row.reads]
        else:
            width = max(len(s) for s in suffixes)
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            input_ids = torch.tensor([s + [pad] * (width - len(s)) for s in suffixes], device=self.device)
            read_at = [(b, pos - prefix_len) for b, row in enumerate(batch) for pos, _ in row.reads]
        positions = sorted({p for _, p in read_at})
        index = {p: i for i, p in enumerate(positions)}
        keep = torch.tensor(positions, device=self.device)
        # every read: (row, position in this pass's input, index of that position in `keep`)
        reads = [(b, p, index[p]) for b, p in read_at]
        rows_t, pos_t, kept_t = (torch.tensor(column, device=self.device) for column in zip(*reads, strict=True))
        with self._reads_only(rows_t, pos_t, kept_t):  # the last layer and the head: each row's own reads only
            if packed:
                with packed_pass():
                    logits = self._forward(input_ids, keep, **extra).logits
            else:
                cache = share(prefix_kv, len(batch)) if prefix_kv is not None else None
                logits = self._forward(input_ids, keep, cache).logits
        # only each row's own read positions go through the (float32) log-softmax: `keep` holds every position any
        # row reads, so logits has rows x positions vectors, most of them another row's
        picked = logits[rows_t.to(logits.device), kept_t.to(logits.device)]
        logprobs = torch.log_softmax(picked.float(), dim=-1)
        per_question: dict[int, list[float]] = {}
        at = 0  # next row of `logprobs`
        for row in batch:
            if letter_ids is not None:
                per_question[row.question] = logprobs[at, letter_ids].tolist()
                at += 1
            else:
                values = [float(logprobs[at + j, target]) for j, (_, target) in enumerate(row.reads)]
                at += len(row.reads)
                start = 0
                for n in row.options or [len(values)]:
                    per_question.setdefault(row.question, []).append(sum(values[start:start + n]))
                    start += n
        indices = list(per_question)
        return Batch(indices=indices, outputs=[per_question[i] for i in indices])

    def describe(self) -> dict[str, Any]:
        info = {
            "backend": self.name,
            "model_path": self.model_ref.path,
            "revision": self.revision,
            "adapter": self.model_ref.adapter,
            "dtype": self.dtype_name,
            "device": self.device,
            "batch_size": self.batch_option or "auto",
            "prefix_cache": self.caps.describe(self.prefix_cache),
            "shared_prefix_attention": self._shared_attention,
            "last_layer": "read positions only" if self._read_positions else "all positions",
            "model_forward": {"logits_to_keep": self.caps.logits_to_keep, "cache": self.caps.cache},
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        }
        if self.model_ref.adapter:
            import peft

            info["versions"]["peft"] = peft.__version__
        return info

    def close(self) -> None:
        del self.model
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    # -- generation (--method generate) ----------------------------------------------------
    def _generate_batch(self, prompts: Sequence[str], params: GenerationParams, seed: int) -> list[list[str]]:
        """Left-padded batched `model.generate`, `params.n` completions per prompt."""
        tok = self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        limit = max(1, self.max_length - params.max_new_tokens)
        rows = [ids[-limit:] for ids in self._encode_many(prompts)]
        width = max(len(r) for r in rows)
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=self.device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device)
        torch.manual_seed(seed)
        kwargs: dict[str, Any] = {"do_sample": params.sampled, "num_return_sequences": params.n}
        if not self.caps.generate_cache:  # a legacy tuple cache: transformers' generate cannot drive it
            kwargs["use_cache"] = False
        if params.sampled:
            kwargs.update(temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids, attention_mask=mask, max_new_tokens=params.max_new_tokens,
                pad_token_id=pad, **kwargs,
            )
        self._stats.prompt_tokens += sum(len(r) for r in rows)
        self._stats.computed_tokens += sum(len(r) for r in rows) + int(out.shape[0]) * (int(out.shape[1]) - width)
        texts = tok.batch_decode(out[:, width:], skip_special_tokens=True)
        n = params.n
        return [[cut_at_stop(t, params.stop) for t in texts[i * n:(i + 1) * n]] for i in range(len(rows))]
