"""Text metrics that see Chinese: BLEU (sacrebleu, zh tokenizer), ROUGE-L, token F1, exact match.

rouge-score's default tokenizer keeps only [a-z0-9] and so scores any Chinese text as 0; here every
CJK character is one token and Latin words and numbers stay whole, which is what character-level
Chinese ROUGE (and SQuAD-style F1 as CMRC/DuReader compute it) means.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]|[a-z0-9]+(?:\.[0-9]+)?")


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lowercase, no punctuation, symbols or spaces."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith(("P", "Z", "S", "C")))


def tokenize(text: str) -> list[str]:
    """CJK characters one by one; Latin words and numbers whole; punctuation dropped."""
    return _TOKEN.findall(unicodedata.normalize("NFKC", text or "").lower())


class CJKTokenizer:
    """The tokenizer object rouge-score's `RougeScorer(tokenizer=...)` expects."""

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text)


_scorer = None


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure on CJK-aware tokens (0 when either side has no tokens)."""
    global _scorer
    if _scorer is None:
        from rouge_score import rouge_scorer

        _scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=CJKTokenizer())
    return float(_scorer.score(reference, prediction)["rougeL"].fmeasure)


def bleu(prediction: str, reference: str) -> float:
    """Sentence BLEU (0-100) with sacrebleu's Chinese tokenizer."""
    import sacrebleu

    return float(sacrebleu.sentence_bleu(prediction, [reference], tokenize="zh").score)


def corpus_bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0-100) with sacrebleu's Chinese tokenizer, the number papers report."""
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(predictions), [list(references)], tokenize="zh").score)


def exact_match(prediction: str, reference: str) -> bool:
    return normalize(prediction) == normalize(reference)


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style F1 over CJK-aware tokens (character level for Chinese)."""
    pred, ref = tokenize(prediction), tokenize(reference)
    if not pred or not ref:
        return float(pred == ref)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def set_f1(predicted: set[str], gold: set[str]) -> float:
    """F1 between two label sets (0 when either is empty)."""
    same = len(predicted & gold)
    if not same:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold)
    return 2 * precision * recall / (precision + recall)
