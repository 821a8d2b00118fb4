"""Chinese-aware metrics against worked examples."""

from __future__ import annotations

import pytest

from harness.scoring import text_metrics as tm

SENT = "患者应当在医生指导下按时服用降压药物。"
OTHER = "今天北京的天气晴朗，适合出门散步。"


def test_rouge_l_chinese_identity_and_unrelated() -> None:
    assert tm.rouge_l(SENT, SENT) == pytest.approx(1.0)
    assert tm.rouge_l(OTHER, SENT) < 0.2


def test_rouge_l_worked_example() -> None:
    # reference 我爱北京天安门 (7 chars), prediction 我爱天安门 (5 chars): LCS = 5,
    # precision 5/5, recall 5/7, F = 2*1*(5/7)/(1+5/7) = 10/12
    assert tm.rouge_l("我爱天安门", "我爱北京天安门") == pytest.approx(10 / 12)


def test_rouge_score_default_tokenizer_would_score_chinese_zero() -> None:
    from rouge_score import rouge_scorer

    default = rouge_scorer.RougeScorer(["rougeL"]).score(SENT, SENT)["rougeL"].fmeasure
    assert default == 0.0 and tm.rouge_l(SENT, SENT) == 1.0


def test_bleu_uses_the_zh_tokenizer() -> None:
    import sacrebleu

    # without zh tokenization the whole sentence is one token and a one-character change scores ~0
    pred, ref = "我爱北京天安门", "我爱北京天安门广场"
    zh = tm.bleu(pred, ref)
    plain = sacrebleu.sentence_bleu(pred, [ref], tokenize="13a").score
    assert plain < 1.0 < zh
    # worked example: 7 of 7 unigrams..4-grams match, brevity penalty exp(1 - 9/7)
    import math

    assert zh == pytest.approx(100 * math.exp(1 - 9 / 7), abs=1e-6)
    assert tm.bleu(SENT, SENT) == pytest.approx(100.0)
    assert tm.corpus_bleu([SENT, OTHER], [SENT, OTHER]) == pytest.approx(100.0)


def test_token_f1_and_exact_match_worked_examples() -> None:
    # pred 北京大学 vs gold 北京 (chars): overlap 2, P = 2/4, R = 2/2, F1 = 2/3
    assert tm.token_f1("北京大学", "北京") == pytest.approx(2 / 3)
    assert tm.token_f1("Peking University 北京", "北京 university") == pytest.approx(2 * (3 / 4) * 1 / (3 / 4 + 1))
    assert tm.token_f1("", "北京") == 0.0
    assert tm.exact_match("２１万元。", "21万元")  # full-width digits and punctuation normalised
    assert not tm.exact_match("21万", "21万元")
    assert tm.set_f1({"盗窃", "诈骗"}, {"盗窃"}) == pytest.approx(2 / 3)
