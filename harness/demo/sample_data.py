"""Write the bundled sample suite (`suites/sample/`): Chinese questions the project writes itself,
in C-Eval's release layout, over several subjects; and the demo's fine-tuning set.

The word subjects ask which kind a word is (动物, 水果, 颜色 or 交通工具; always options A-D in that
order), each subject with its own phrasing. The demo's training set asks about the same words
with *other* phrasings, so a fine-tune that helps on the suite has learnt which word is of which
kind, not the suite's questions: none of the suite's questions is in the training set.

Run `python -m harness.demo.sample_data` to regenerate; the output is deterministic.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

KINDS = ["动物", "水果", "颜色", "交通工具"]
LETTERS = "ABCD"
WORDS = {
    "动物": ["猫", "狗", "老虎", "熊猫", "兔子", "大象", "狮子", "猴子", "马", "羊", "牛", "鸭子", "鹦鹉", "骆驼", "海豚", "企鹅"],
    "水果": ["苹果", "香蕉", "西瓜", "葡萄", "橘子", "草莓", "桃子", "梨", "芒果", "荔枝", "菠萝", "樱桃", "柠檬", "石榴", "柚子", "龙眼"],
    "颜色": ["红色", "蓝色", "绿色", "黄色", "紫色", "白色", "黑色", "橙色", "粉色", "灰色", "棕色", "青色", "金色", "银色", "米色", "褐色"],
    "交通工具": ["汽车", "火车", "飞机", "轮船", "自行车", "地铁", "公交车", "摩托车", "高铁", "出租车", "电车", "卡车", "帆船", "直升机", "三轮车", "缆车"],
}
# suite subjects: key -> (Chinese name, phrasing)
SUBJECTS = {
    "word_kind": ("词语归类", "“{w}”属于下列哪一类？"),
    "word_category": ("类别判断", "{w}应该归入哪个类别？"),
    "word_thing": ("事物辨别", "请判断“{w}”是哪一类事物。"),
}
# phrasings used only for the demo's training set
TRAIN_PHRASINGS = ["下面的词语“{w}”属于哪个类别？", "“{w}”是哪一类东西？", "{w}属于什么？", "以下词语的类别是什么：{w}"]
TRAIN_SUBJECT_ZH = "词语分类"


def kind_question(word: str, kind: str, phrasing: str) -> tuple[str, list[str], str]:
    return phrasing.format(w=word), list(KINDS), LETTERS[KINDS.index(kind)]


def arithmetic_question(rng: random.Random) -> tuple[str, list[str], str]:
    a, b = rng.randint(2, 49), rng.randint(2, 49)
    answer = a + b
    wrong: set[int] = set()
    while len(wrong) < 3:
        candidate = answer + rng.choice([-10, -2, -1, 1, 2, 10])
        if candidate > 0:
            wrong.add(candidate)
    options = [str(x) for x in sorted(wrong)]
    slot = rng.randrange(4)
    options.insert(slot, str(answer))
    return f"{a}加{b}等于多少？", options, LETTERS[slot]


def _word_pairs() -> list[tuple[str, str]]:
    return [(w, k) for k in KINDS for w in WORDS[k]]


def split_questions(subject: str, seed: int = 2024) -> dict[str, list[tuple[str, list[str], str]]]:
    """dev (5 solved examples) and val (the scored questions) of one subject."""
    rng = random.Random(f"{seed}-{subject}")
    if subject == "arithmetic":
        seen: set[str] = set()
        out: list[tuple[str, list[str], str]] = []
        while len(out) < 45:
            q = arithmetic_question(rng)
            if q[0] not in seen:
                seen.add(q[0])
                out.append(q)
        return {"dev": out[:5], "val": out[5:]}
    phrasing = SUBJECTS[subject][1]
    pairs = _word_pairs()
    rng.shuffle(pairs)
    qs = [kind_question(w, k, phrasing) for w, k in pairs]
    # dev: five words as worked examples; val: every word (dev words included, other phrasing order)
    return {"dev": qs[:5], "val": qs}


def write(root: Path, seed: int = 2024) -> None:
    """Write `{dev,val}/<subject>_<split>.csv` in C-Eval's layout."""
    for subject in [*SUBJECTS, "arithmetic"]:
        for split, qs in split_questions(subject, seed).items():
            (root / split).mkdir(parents=True, exist_ok=True)
            with open(root / split / f"{subject}_{split}.csv", "w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["id", "question", "A", "B", "C", "D", "answer"])
                for i, (text, options, answer) in enumerate(qs):
                    writer.writerow([i, text, *options, answer])


def training_records(seed: int = 7, shots: int = 0) -> list[dict[str, str]]:
    """Alpaca records for the demo's fine-tune: every word asked with the training phrasings (never
    the suite's), rendered with the sample suite's prompt, answered by the letter."""
    from harness.suite import load_suite
    from harness.suite.prompt import build_prompts
    from harness.suite.spec import Question

    spec = load_suite("sample")
    spec.subjects.setdefault("_train", {"name_zh": TRAIN_SUBJECT_ZH, "category": "Other"})
    qs = []
    for phrasing in TRAIN_PHRASINGS:
        for w, k in _word_pairs():
            text, options, answer = kind_question(w, k, phrasing)
            qs.append(Question(f"train-{len(qs)}", "_train", text, dict(zip(LETTERS, options, strict=True)), answer))
    suite_questions = {q for s in SUBJECTS for split in split_questions(s).values() for q, _, _ in split}
    assert not suite_questions & {q.question for q in qs}, "a training question is in the suite"
    shots_for = qs[:shots]
    records = [{"instruction": p.context, "input": "", "output": p.question.answer}
               for p in build_prompts(spec, "_train", qs[shots:], shots_for)]
    random.Random(seed).shuffle(records)
    return records


if __name__ == "__main__":
    write(Path(__file__).resolve().parents[2] / "suites" / "sample")
