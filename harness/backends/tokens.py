"""Tokenisation shared by every local backend, following lm-evaluation-harness exactly.

Both the transformers and the vLLM backend score the very same token ids because both take them from
here: `_encode_pair` semantics (trailing whitespace of the context moves to the continuation, and a
continuation's tokens are those of `context + continuation` after the context's own tokens), a BOS
token added only where the text does not already start with it, and the single-token check that
decides whether the `letter` method applies.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

from harness.errors import UserError


class PromptTokens:
    """Mixin for backends that own a Hugging Face tokenizer (`self.tokenizer`) and a `self.model_ref`.

    A run counts its prompts' tokens first (to fit them to the context, `runner/fit.py`) and encodes the same
    texts again when it scores them: `count_tokens` keeps what it encoded (as 4-byte arrays) and the next
    encoding of each text takes it from there once, instead of tokenising every prompt twice (C-Eval val:
    650,000 tokens, ~0.7 s). Texts counted but never scored (a resumed run's finished questions) stay as long
    as the backend."""

    tokenizer: Any
    model_ref: Any
    _counted: dict[str, array] | None = None

    def _encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in texts]
        todo = list(range(len(texts)))
        if self._counted:
            kept = [self._counted.pop(t, None) for t in texts]
            todo = [i for i, ids in enumerate(kept) if ids is None]
            for i, ids in enumerate(kept):
                if ids is not None:
                    out[i] = ids.tolist()
        bos = self.tokenizer.bos_token
        plain = [i for i in todo if not (bos and texts[i].startswith(bos))]
        if plain:
            enc = self.tokenizer([texts[i] for i in plain])["input_ids"]
            for i, ids in zip(plain, enc, strict=True):
                out[i] = list(ids)
        rest = sorted(set(todo) - set(plain))
        if rest:
            enc = self.tokenizer([texts[i] for i in rest], add_special_tokens=False)["input_ids"]
            for i, ids in zip(rest, enc, strict=True):
                out[i] = list(ids)
        return out

    @staticmethod
    def _split_space(context: str, continuation: str) -> tuple[str, str]:
        n = len(context) - len(context.rstrip())
        if n:
            return context[:-n], context[-n:] + continuation
        return context, continuation

    def encode_pairs(self, context: str, continuations: Sequence[str]) -> tuple[list[int], list[list[int]]]:
        """(context tokens, each continuation's tokens) as lm-eval computes them."""
        return self.encode_pairs_many([(context, continuations)])[0]

    def encode_pairs_many(
        self, requests: Sequence[tuple[str, Sequence[str]]]
    ) -> list[tuple[list[int], list[list[int]]]]:
        """`encode_pairs` for many (context, continuations) at once: one batched tokenizer call for all texts
        instead of one call per question."""
        texts: list[str] = []
        spans: list[tuple[int, int]] = []
        for context, continuations in requests:
            pairs = [self._split_space(context, c) for c in continuations]
            spans.append((len(texts), len(pairs)))
            texts.append(pairs[0][0])
            texts.extend(c + k for c, k in pairs)
        encoded = self._encode_many(texts)
        out = []
        for start, n in spans:
            ctx = encoded[start]
            out.append((ctx, [whole[len(ctx):] for whole in encoded[start + 1:start + 1 + n]]))
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Each text's token count as the backend will encode it (see Backend.count_tokens); the tokens are
        kept for the next encoding of the same text."""
        encoded = self._encode_many(texts)
        if self._counted is None:
            self._counted = {}
        self._counted.update((t, array("i", ids)) for t, ids in zip(texts, encoded, strict=True))
        return [len(ids) for ids in encoded]

    def letter_token_ids(self, context: str, continuations: Sequence[str]) -> list[int] | None:
        """The single token id of each continuation after `context`, or None when one is not a single,
        distinct token there (the caller then scores with the `choice` method)."""
        pairs = [self._split_space(context, c) for c in continuations]
        if len({c for c, _ in pairs}) != 1:
            return None
        encoded = self._encode_many([pairs[0][0]] + [c + k for c, k in pairs])
        ctx = encoded[0]
        ids = []
        for whole in encoded[1:]:
            if whole[: len(ctx)] != ctx or len(whole) != len(ctx) + 1:
                return None
            ids.append(whole[-1])
        return ids if len(set(ids)) == len(ids) else None

    def apply_chat_template(self, text: str) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            raise UserError(f"model '{self.model_ref.name}' has no chat template; drop --chat-template")
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
        )


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """`text` up to the first occurrence of any stop string."""
    ends = [text.find(s) for s in stop if s and s in text]
    return text[: min(ends)] if ends else text
