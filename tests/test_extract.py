"""Answer extraction on a table of outputs written the way chat models answer, traps included.

Most of the medical rows are about one question (options below); the law and general rows name letters only.
"""

from __future__ import annotations

import pytest

from harness.scoring.extract import extract_choice

OPTIONS = {"A": "高血压", "B": "糖尿病", "C": "冠心病", "D": "肺结核"}

CASES = [
    # (output, expected, multi)
    # -- the three wrong picks from the review (issue 11)
    ("选项A说法错误；选项B说法正确；选项C说法错误；选项D说法错误。", "B", False),
    ("B是正确的。选项D不对。", "B", False),
    ("The answer is (B). Option D is wrong.", "B", False),
    # -- short answers
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
    ("**B**", "B", False),
    ("Ｂ", "B", False),  # full-width letter
    ("B。糖尿病患者常见多饮、多尿、多食和体重下降。", "B", False),
    ("The answer is B.", "B", False),
    ("The answer is (C)", "C", False),
    ("Answer: D", "D", False),
    ("D. Tuberculosis", "D", False),
    ("I think the correct option is A because ...", "A", False),
    # -- Chinese chain of thought, then the conclusion (Qwen / GLM / DeepSeek style)
    ("这道题考查的是民法中的诉讼时效。根据《民法典》第一百八十八条，向人民法院请求保护民事权利的诉讼时效期间为三年。"
     "因此，正确答案是 C。", "C", False),
    ("答案：B\n\n解析：糖尿病的典型表现为“三多一少”，即多饮、多食、多尿和体重减轻。A项高血压主要表现为头晕头痛，"
     "C项冠心病以胸痛为主，D项肺结核以咳嗽、低热、盗汗为主，均不符合。", "B", False),
    ("根据题目描述，患者出现多饮多尿、空腹血糖升高，最可能的诊断是糖尿病。\n\n所以答案是：B. 糖尿病", "B", False),
    ("<think>\n好的，我现在要解决这个问题。先看选项A，高血压一般不会引起多尿，A不对。选项D肺结核也不像。"
     "那应该是B吧。\n</think>\n\n**答案：B**\n\n**解析：**患者“三多一少”症状典型，首先考虑糖尿病。", "B", False),
    ("选项A：错误。要约可以撤回。\n选项B：错误。承诺生效时合同成立。\n选项C：正确。根据《民法典》第四百八十三条……\n"
     "选项D：错误。\n\n综上所述，本题选C。", "C", False),
    ("A项错误，行政复议期间具体行政行为原则上不停止执行；B项错误，复议机关应当在六十日内作出决定；"
     "C项正确；D项错误。故本题答案为C。", "C", False),
    ("正确答案是D。A、B、C三项均不符合题意。", "D", False),
    ("我认为答案应该是A，因为题干强调的是“首次”发病。", "A", False),
    ("分析：A项错误，因为……C项也错误。综上，答案是B。", "B", False),
    ("<think>可能是A？不对。</think>答案是C", "C", False),
    ("排除A、B、D，答案选C。", "C", False),
    ("A和B都不正确，所以选C。", "C", False),
    ("根据以上分析，我选择 D。", "D", False),
    ("正确选项为：C", "C", False),
    ("本题正确答案选A。", "A", False),
    ("应选C项。", "C", False),
    ("根据题意，首先排除肺结核和冠心病，本题的答案为 B 选项。", "B", False),
    ("故选：A", "A", False),
    ("答案是B。注意：很多考生容易误选A。", "B", False),
    ("答案是B吗？不对，再看题干，答案是C。", "C", False),
    ("正确答案：\n\n**C. 冠心病**\n\n冠心病患者的典型表现是劳累后胸骨后压榨性疼痛。", "C", False),
    ("B项说法正确。A项混淆了概念，说法错误。", "B", False),
    ("这题选B吧。", "B", False),
    ("答案: 选项B", "B", False),
    ("综上，C。", "C", False),
    ("不是高血压，而是糖尿病。", "B", False),
    ("这道题考察的是慢性病。患者多饮多尿，最可能的诊断是糖尿病。", "B", False),
    ("B项是正确的", "B", False),
    ("根据题意，本题选D", "D", False),
    # -- English chain of thought
    ("Let's analyze each option:\n\nA. Hypertension - This is incorrect, it does not cause polyuria.\n"
     "B. Diabetes - This is correct.\nC. Coronary disease - This is incorrect.\nD. Tuberculosis - This is incorrect.\n\n"
     "Therefore, the answer is B.", "B", False),
    ("Let's think step by step. First, hypertension raises risk... So the answer is D.", "D", False),
    ("Option A is incorrect because the statute of limitations is three years. Option B is incorrect as well. "
     "So the correct choice is D.", "D", False),
    ("I think it's C, but D could also be argued. Final answer: C", "C", False),
    ("The answer is not A. It's C.", "C", False),
    ("The answer is B, not D.", "B", False),
    ("Step 1: the patient has polyuria. Step 2: glucose is high. Hence option (A) is wrong and B is correct.", "B", False),
    ("My answer: D", "D", False),
    ("所以最终答案是 $\\boxed{B}$", "B", False),
    ("\\boxed{D}", "D", False),
    # -- letters inside other words are not answers
    ("患者HbA1c升高，考虑糖尿病，选B", "B", False),
    ("A 45-year-old man with chest pain most likely has coronary disease.", None, False),  # options are in Chinese
    ("A patient with these symptoms would need more tests.", None, False),
    ("Let's think step by step.", None, False),
    # -- no answer
    ("无法确定", None, False),
    ("题目信息不足，无法确定正确答案。", None, False),
    ("以上选项都不对。", None, False),
    ("None of the options is correct.", None, False),
    ("I don't know.", None, False),
    ("", None, False),
    ("<think>\n先分析题干，患者多饮多尿……A不对，B", None, False),  # cut off inside the reasoning
    # -- several answers (multi-answer questions)
    ("答案是AC", "AC", True),
    ("正确答案：A、C、D", "ACD", True),
    ("答案为B和D", "BD", True),
    ("选AB", "AB", True),
    ("ABD", "ABD", True),
    ("本题为多选题，答案为A、B、D。", "ABD", True),
    ("选项A和C都是正确的，B和D错误。", "AC", True),
    ("高血压和冠心病都正确", "AC", True),
    ("The answers are A and C.", "AC", True),
    ("正确答案是 B、D。A项错误，C项属于干扰项。", "BD", True),
]


@pytest.mark.parametrize(("output", "expected", "multi"), CASES)
def test_extraction_table(output: str, expected: str | None, multi: bool) -> None:
    assert extract_choice(output, options=OPTIONS, multi=multi) == expected


def test_letters_inside_the_option_texts() -> None:
    vitamins = {"A": "维生素A缺乏", "B": "维生素B1缺乏", "C": "维生素C缺乏", "D": "维生素D缺乏"}
    assert extract_choice("夜盲症是由于维生素A缺乏引起的，因此答案是A。", options=vitamins) == "A"
    assert extract_choice("脚气病是维生素B1缺乏所致。", options=vitamins) == "B"
    assert extract_choice("坏血病与维生素C缺乏有关，选C。维生素D缺乏引起佝偻病。", options=vitamins) == "C"


def test_five_letters_and_several_letters_for_a_single_answer_question() -> None:
    assert extract_choice("[正确答案]E<eoa>", letters="ABCDE") == "E"
    assert extract_choice("答案是E", letters="ABCD") is None
    assert extract_choice("答案是A或B", options=OPTIONS) == "AB"  # several letters: kept, so scored wrong


def test_lawbench_gold_answers_read_as_their_letter() -> None:
    for gold, letter in (("正确答案：B。", "B"), ("[正确答案]C<eoa>", "C"), ("正确答案:D。", "D")):
        assert extract_choice(gold) == letter
