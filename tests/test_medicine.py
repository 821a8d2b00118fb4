"""Medicine: whether a question may have several answers comes from the suite definition, never from the gold,
both in the prompt's wording and in how the answer is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import UserError
from harness.suite import load_suite
from harness.suite.domain import load_items

OPTIONS = {"A": "发热", "B": "咳嗽", "C": "皮疹", "D": "骨折"}
MULTI = "多项选择题（可能有多个正确答案）"


def _write(root: Path, name: str, rows: list[dict]) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def data(tmp_path) -> Path:
    root = tmp_path / "med"
    _write(root, "cmexam/test.jsonl", [{"id": 1, "question": "流感常见症状？", "options": OPTIONS, "answer": "A"},
                                       {"id": 2, "question": "流感常见症状？", "options": OPTIONS, "answer": "AB"}])
    _write(root, "mcmle/test.jsonl", [{"id": 1, "question": "骨折的表现？", "options": OPTIONS, "answer": "D"}])
    _write(root, "cmb/test.jsonl", [
        {"id": 1, "question": "哪项是症状？", "option": OPTIONS, "answer": "A", "question_type": "单项选择题"},
        {"id": 2, "question": "哪些是症状？", "option": OPTIONS, "answer": "AB", "question_type": "多项选择题"},
        {"id": 3, "question": "哪些是症状？", "option": OPTIONS, "answer": "C", "question_type": "多项选择题"},
    ])
    return root


def test_prompt_wording_follows_the_suite_not_the_gold(data) -> None:
    spec = load_suite("medicine")
    cmexam = load_items(spec, "cmexam", "test", data)  # a multi-answer subject, whatever each gold holds
    assert all(MULTI in i.prompt and i.multi for i in cmexam)
    (mcmle,) = load_items(spec, "mcmle", "test", data)
    assert "单项选择题" in mcmle.prompt and MULTI not in mcmle.prompt and not mcmle.multi
    cmb = load_items(spec, "cmb", "test", data)  # per record, from its question_type
    assert [i.multi for i in cmb] == [False, True, True]
    assert MULTI in cmb[2].prompt and cmb[2].gold == "C"


def test_a_several_letter_gold_in_a_single_answer_subject_is_refused(tmp_path) -> None:
    _write(tmp_path, "mcmle/test.jsonl", [{"question": "q", "options": OPTIONS, "answer": "AB"}])
    with pytest.raises(UserError, match="single-answer"):
        load_items(load_suite("medicine"), "mcmle", "test", tmp_path)


def test_the_same_output_is_read_the_same_whatever_the_gold(data, tmp_path) -> None:
    output = "发热和咳嗽都是流感的常见症状。"  # names two options by their text, no letters
    lines = [{"subject": "cmexam", "id": 1, "output": output}, {"subject": "cmexam", "id": 2, "output": output},
             {"subject": "mcmle", "id": 1, "output": output}]
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    out = tmp_path / "run"
    assert main(["score", "--suite", "medicine", "--subjects", "cmexam,mcmle", "--data-dir", str(data),
                 "--predictions", str(preds), "--output", str(out), "--quiet"]) == 0
    recs = {r["id"]: r for r in map(json.loads, (out / "records.jsonl").read_text(encoding="utf-8").splitlines())}
    assert recs["cmexam/test/1"]["extracted"] == recs["cmexam/test/2"]["extracted"] == "AB"
    assert [recs["cmexam/test/1"]["correct"], recs["cmexam/test/2"]["correct"]] == [False, True]
    assert recs["mcmle/test/1"]["extracted"] is None  # single-answer: two option texts are no answer
