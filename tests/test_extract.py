"""Answer extraction on a table of real-looking model outputs, traps included."""

from __future__ import annotations

import pytest

from harness.scoring.extract import extract_choice

OPTIONS = {"A": "高血压", "B": "糖尿病", "C": "冠心病", "D": "肺结核"}

CASES = [
    # (output, expected, multi)
    ("答案是B", "B", False),
    ("答案：C", "C", False),
    ("正确答案：B。", "B", False),
    ("正确答案:D。", "D", False),
    ("[正确答案]A<eoa>", "A", False),
    ("我选B", "B", False),
    ("应该选择 C 项。", "C", False),
    ("(B)", "B", False),
    ("（D）", "D", False),
    ("B", "B", False),
    ("B.", "B", False),
    ("C. 冠心病", "C", False),
    ("The answer is B.", "B", False),
    ("The answer is (C)", "C", False),
    ("Answer: D", "D", False),
    ("I think the correct option is A because ...", "A", False),
    ("Let's think step by step. First, hypertension raises risk... So the answer is D.", "D", False),
    ("Let's think step by step.", None, False),
    ("A patient with these symptoms would need more tests.", None, False),
    ("I don't know.", None, False),
    ("", None, False),
    ("这道题考察的是慢性病。患者多饮多尿，最可能的诊断是糖尿病。", "B", False),
    ("分析：A项错误，因为……C项也错误。综上，答案是B。", "B", False),
    ("<think>可能是A？不对。</think>答案是C", "C", False),
    ("答案是AC", "AC", True),
    ("正确答案：A、C、D", "ACD", True),
    ("答案为B和D", "BD", True),
    ("选AB", "AB", True),
    ("高血压和冠心病都正确", "AC", True),
    ("The answers are A and C.", "AC", True),
    ("B项是正确的", "B", False),
    ("Ｂ", "B", False),  # full-width letter
    ("根据题意，本题选D", "D", False),
]


@pytest.mark.parametrize(("output", "expected", "multi"), CASES)
def test_extraction_table(output: str, expected: str | None, multi: bool) -> None:
    assert extract_choice(output, options=OPTIONS, multi=multi) == expected


def test_five_letters_and_several_letters_for_a_single_answer_question() -> None:
    assert extract_choice("[正确答案]E<eoa>", letters="ABCDE") == "E"
    assert extract_choice("答案是E", letters="ABCD") is None
    assert extract_choice("答案是A或B", options=OPTIONS) == "AB"  # several letters: kept, so scored wrong
