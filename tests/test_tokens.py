"""A run tokenises each prompt once: the tokens counted to fit the context are the ones scored (backends/tokens.py)."""

from __future__ import annotations

import json
from collections import Counter

from conftest import SUBJECT_QUESTIONS

from harness.backends.tokens import PromptTokens
from harness.cli import main


class _Tokens(PromptTokens):
    def __init__(self, tokenizer, seen: Counter) -> None:
        self.tokenizer = _Counting(tokenizer, seen)


class _Counting:
    """A tokenizer that counts the texts it encodes."""

    def __init__(self, tokenizer, seen: Counter) -> None:
        self.inner, self.seen, self.bos_token = tokenizer, seen, tokenizer.bos_token

    def __call__(self, texts, **kwargs):
        self.seen.update(texts)
        return self.inner(texts, **kwargs)


def test_counted_tokens_are_the_encoded_ones_and_used_once(tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    texts = ["以下是中国关于考试的单项选择题", "答案：", "The following are", "答案："]
    fresh = _Tokens(tokenizer, Counter())._encode_many(texts)
    seen: Counter = Counter()
    tokens = _Tokens(tokenizer, seen)
    assert tokens.count_tokens(texts[:3]) == [len(t) for t in fresh[:3]]
    # the counted texts come from memory, the duplicate and the new text from the tokenizer
    assert tokens._encode_many(texts + ["新的"]) == fresh + [_Tokens(tokenizer, Counter())._encode_many(["新的"])[0]]
    assert seen == Counter({texts[0]: 1, texts[1]: 2, texts[2]: 1, "新的": 1})
    assert tokens._encode_many(texts[:1]) == fresh[:1] and seen[texts[0]] == 2  # taken once only


def test_a_run_tokenises_each_prompt_once(tiny_model, ceval_dir, tmp_path, monkeypatch):
    import transformers

    seen: Counter = Counter()
    call = transformers.PreTrainedTokenizerBase.__call__

    def counting(self, text=None, *args, **kwargs):
        seen.update([text] if isinstance(text, str) else text or [])
        return call(self, text, *args, **kwargs)

    monkeypatch.setattr(transformers.PreTrainedTokenizerBase, "__call__", counting)
    out = tmp_path / "run"
    assert main(["run", "--suite", "ceval", "--model", str(tiny_model), "--data-dir", str(ceval_dir), "--shots", "2",
                 "--subjects", ",".join(SUBJECT_QUESTIONS), "--device", "cpu", "--output", str(out), "--quiet"]) == 0
    records = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    prompts = [t for t in seen if t.endswith("答案：")]
    assert len(prompts) == len(records) == 18
    # once to count (and score) it; a subject's first prompt once more, to check its answer letters
    assert sorted(seen[t] for t in prompts) == [1] * 15 + [2] * 3
