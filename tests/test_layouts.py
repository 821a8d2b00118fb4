"""Each suite loads its benchmark's original release layout; real copies are checked when present."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import shared_data

from harness.errors import UserError
from harness.runner import RunConfig, prepare
from harness.suite import load_suite


def _prep(suite, data_dir, **kw):
    return prepare(RunConfig(suite=suite, model="unused", output=data_dir / "out", data_dir=data_dir, **kw))


def test_suite_definitions():
    assert len(load_suite("ceval").subjects) == 52
    assert len(load_suite("mmlu").subjects) == 57
    assert len(load_suite("cmmlu").subjects) == 67
    assert set(load_suite("ceval").categories) == {"STEM", "Social Science", "Humanities", "Other"}
    assert len(load_suite("ceval").subsets["hard"]) == 8


def test_mmlu_layout_has_no_header(tmp_path):
    for split, n in (("dev", 5), ("test", 3)):
        (tmp_path / split).mkdir()
        with open(tmp_path / split / f"anatomy_{split}.csv", "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            for i in range(n):
                w.writerow([f"Question {i} about nerves?", "None", "NA", "C text", "D text", "ABCD"[i % 4]])
    prep = _prep("mmlu", tmp_path, subjects=["anatomy"], shots=2)
    assert len(prep.prompts) == 3  # no row was taken for a header
    q = prep.prompts[0].question
    assert q.options["A"] == "None" and q.options["B"] == "NA"  # strings stay strings
    assert prep.prompts[0].context.startswith(
        "The following are multiple choice questions (with answers) about anatomy.\n\nQuestion 0 about nerves?\nA. None"
    )
    assert prep.prompts[0].context.endswith("\nAnswer:")
    assert "\nAnswer: A\n\n" in prep.prompts[0].prefix


def test_cmmlu_layout_unnamed_index(tmp_path):
    spec = load_suite("cmmlu")
    subjects = list(spec.subjects)
    for split in ("dev", "test"):
        (tmp_path / split).mkdir()
        for subject in subjects:
            with open(tmp_path / split / f"{subject}.csv", "w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["", "Question", "A", "B", "C", "D", "Answer"])
                for i in range(5 if split == "dev" else 2):
                    w.writerow([i, f"{subject}的问题{i}", "甲", "乙", "丙", "丁", "ABCD"[i % 4]])
    prep = _prep("cmmlu", tmp_path, shots=5)
    assert len(prep.subjects) == 67 and len(prep.prompts) == 134
    first = prep.prompts[0]
    assert first.context.startswith("以下是关于")
    assert first.question.id.endswith("/test/0")


def test_user_suite_from_yaml_and_jsonl(tmp_path):
    data = tmp_path / "data"
    (data / "test").mkdir(parents=True)
    with open(data / "test" / "poetry.jsonl", "w", encoding="utf-8") as fh:
        for i in range(3):
            fh.write(json.dumps({"q": f"第{i}题", "A": "一", "B": "二", "C": "三", "D": "四", "label": "B"}, ensure_ascii=False) + "\n")
    suite = tmp_path / "mine.yaml"
    suite.write_text(
        "name: mine\nlanguage: zh\nlocal:\n  pattern: '{split}/{subject}.jsonl'\n  columns: {question: q, answer: label}\n"
        "eval_split: test\nsplits: [test]\nprompt:\n  header: ''\n  question: \"{question}\\n答案：\"\n  answer: \"{answer}\\n\"\n"
        "  target_delimiter: ''\n",
        encoding="utf-8",
    )
    prep = _prep(str(suite), data, shots=0)
    assert prep.subjects == ["poetry"] and [p.question.answer for p in prep.prompts] == ["B"] * 3


def test_test_split_without_answers_is_predictions_only(tmp_path):
    """C-Eval's released test split has no answer column: it runs for predictions (gold None); the suite's own
    split without answers is still refused (tests/test_export.py runs and exports such a run)."""
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "law_test.csv").write_text("id,question,A,B,C,D\n0,q,a,b,c,d\n", encoding="utf-8")
    prep = _prep("ceval", tmp_path, subjects=["law"], shots=0, split="test")
    assert not prep.answered and [p.question.answer for p in prep.prompts] == [None]
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "law_val.csv").write_text("id,question,A,B,C,D\n0,q,a,b,c,d\n", encoding="utf-8")
    with pytest.raises(UserError, match="no answers"):
        _prep("ceval", tmp_path, subjects=["law"], shots=0, split="val")


def test_real_ceval_val_counts():
    root = shared_data("ceval", "ceval-exam")
    prep = _prep("ceval", root, split="val", shots=5)
    assert len(prep.subjects) == 52 and len(prep.prompts) == 1346


def test_real_mmlu_test_counts():
    root = shared_data("mmlu", "data")
    prep = _prep("mmlu", root, shots=5)
    assert len(prep.subjects) == 57 and len(prep.prompts) == 14042
