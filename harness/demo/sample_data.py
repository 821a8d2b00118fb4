"""Write the bundled sample suite (`suites/sample/`): Chinese questions the project writes itself,
in C-Eval's release layout, over several subjects.

Run `python -m harness.demo.sample_data` to regenerate; the output is deterministic.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

WORDS = {
    "动物": ["猫", "狗", "老虎", "熊猫", "兔子", "大象", "狮子", "猴子", "马", "羊", "牛", "鸭子", "鹦鹉", "骆驼", "海豚", "企鹅"],
    "水果": ["苹果", "香蕉", "西瓜", "葡萄", "橘子", "草莓", "桃子", "梨", "芒果", "荔枝", "菠萝", "樱桃", "柠檬", "石榴", "柚子", "龙眼"],
    "颜色": ["红色", "蓝色", "绿色", "黄色", "紫色", "白色", "黑色", "橙色", "粉色", "灰色", "棕色", "青色", "金色", "银色", "米色", "褐色"],
    "交通工具": ["汽车", "火车", "飞机", "轮船", "自行车", "地铁", "公交车", "摩托车", "高铁", "出租车", "电车", "卡车", "帆船", "直升机", "三轮车", "缆车"],
    "乐器": ["钢琴", "二胡", "古筝", "琵琶", "笛子", "小提琴", "吉他", "唢呐", "鼓", "竖琴", "萨克斯", "手风琴", "长笛", "扬琴", "箫", "大提琴"],
}
SUBJECTS = {
    "animals": ("动物", "动物识别"),
    "fruits": ("水果", "水果识别"),
    "colours": ("颜色", "颜色识别"),
    "vehicles": ("交通工具", "交通工具识别"),
    "instruments": ("乐器", "乐器识别"),
}
LETTERS = "ABCD"


def membership_question(rng: random.Random, kind: str) -> tuple[str, list[str], str]:
    """'Which of these is a <kind>?' with one member and three members of other kinds."""
    right = rng.choice(WORDS[kind])
    others = [w for k, ws in WORDS.items() if k != kind for w in ws]
    options = rng.sample(others, 3)
    slot = rng.randrange(4)
    options.insert(slot, right)
    return f"下列选项中，属于{kind}的是____。", options, LETTERS[slot]


def arithmetic_question(rng: random.Random) -> tuple[str, list[str], str]:
    a, b = rng.randint(2, 49), rng.randint(2, 49)
    answer = a + b
    wrong = set()
    while len(wrong) < 3:
        candidate = answer + rng.choice([-10, -2, -1, 1, 2, 10])
        if candidate > 0:
            wrong.add(candidate)
    options = [str(x) for x in sorted(wrong)]
    slot = rng.randrange(4)
    options.insert(slot, str(answer))
    return f"{a}加{b}等于多少？", options, LETTERS[slot]


def questions(subject: str, rng: random.Random, n: int, seen: set[tuple]) -> list[tuple[str, list[str], str]]:
    out = []
    while len(out) < n:
        if subject == "arithmetic":
            q = arithmetic_question(rng)
        else:
            q = membership_question(rng, SUBJECTS[subject][0])
        key = (q[0], tuple(q[1]))
        if key in seen:
            continue
        seen.add(key)
        out.append(q)
    return out


def write(root: Path, per_subject: dict[str, int] | None = None, seed: int = 2024) -> None:
    """Write `{dev,val}/<subject>_<split>.csv` (dev: 5 solved examples; val: the scored questions)."""
    per_subject = per_subject or {"dev": 5, "val": 40}
    for split in per_subject:
        (root / split).mkdir(parents=True, exist_ok=True)
    for subject in [*SUBJECTS, "arithmetic"]:
        rng = random.Random(f"{seed}-{subject}")
        seen: set[tuple] = set()
        for split, n in per_subject.items():
            with open(root / split / f"{subject}_{split}.csv", "w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["id", "question", "A", "B", "C", "D", "answer"])
                for i, (text, options, answer) in enumerate(questions(subject, rng, n, seen)):
                    writer.writerow([i, text, *options, answer])


if __name__ == "__main__":
    write(Path(__file__).resolve().parents[2] / "suites" / "sample")


def training_records(n_per_subject: int = 120, seed: int = 7, shots: int = 0) -> list[dict[str, str]]:
    """Alpaca records for the demo's fine-tune: new membership questions (none of the suite's dev or
    val questions), each rendered exactly as `harness run --shots SHOTS` prompts the sample suite,
    answered by the letter. The model must learn which word is of
    which kind, so it can answer the held-out val questions it has never seen."""
    from harness.suite import load_suite
    from harness.suite.loader import load_questions
    from harness.suite.prompt import build_prompts
    from harness.suite.spec import Question

    spec = load_suite("sample")
    records = []
    for subject in SUBJECTS:
        seen = {
            (q.question, tuple(q.options.values()))
            for split in ("dev", "val")
            for q in load_questions(spec, subject, split, None)
        }
        examples = load_questions(spec, subject, spec.fewshot_split, None)[:shots]
        rng = random.Random(f"{seed}-{subject}-train")
        new = questions(subject, rng, n_per_subject, seen)
        qs = [Question(f"train-{i}", subject, text, dict(zip(LETTERS, opts, strict=True)), answer)
              for i, (text, opts, answer) in enumerate(new)]
        for p in build_prompts(spec, subject, qs, examples):
            records.append({"instruction": p.context, "input": "", "output": p.question.answer})
    random.Random(seed).shuffle(records)
    return records
