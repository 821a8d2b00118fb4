"""Text of a growing token sequence, one token at a time, without re-decoding the whole sequence.

Decoding a lone token can give half a character (byte-level BPE splits CJK characters across
tokens) or lose a leading space (SentencePiece), so each new token is decoded together with a few
tokens before it and only the part that is complete is added: the method vLLM and TGI use. The
final answer text is still decoded in one go (`Engine`), as `HFBackend.generate` does; this text
serves streaming, stop strings and token offsets.
"""

from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"


class IncrementalText:
    """`text` grows as tokens are `add`ed; `last` is what the latest `add` appended."""

    def __init__(self, tokenizer: Any, skip_special: bool = True) -> None:
        self.tokenizer, self.skip_special = tokenizer, skip_special
        self.ids: list[int] = []
        self.text = ""
        self.last = ""
        self._prefix = 0  # ids[_prefix:_read] decode to context already counted in `text`
        self._read = 0

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=self.skip_special)

    def add(self, token: int) -> str:
        self.ids.append(token)
        before = self._decode(self.ids[self._prefix:self._read])
        after = self._decode(self.ids[self._prefix:])
        self.last = ""
        if len(after) > len(before) and not after.endswith(REPLACEMENT):
            self.last = after[len(before):]
            self.text += self.last
            self._prefix, self._read = self._read, len(self.ids)
        return self.last


def token_starts(tokenizer: Any, ids: list[int]) -> list[int]:
    """Where each token's text begins in the decoded prompt (special tokens kept, as echo shows them)."""
    text = IncrementalText(tokenizer, skip_special=False)
    starts = []
    for token in ids:
        starts.append(len(text.text))
        text.add(token)
    return starts
