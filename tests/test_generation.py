"""`harness run` on generation-scored suites with the tiny model: records, metrics, extraction rate."""

from __future__ import annotations

import json
from pathlib import Path

from harness.cli import main
from harness.scoring.metrics import score_text
from harness.suite.items import GenItem

LAW = {
    "1-2": {"instruction": "请你运用法律知识从A,B,C,D中选出一个正确的答案，并写在[正确答案]和<eoa>之间。", "question": "我国的根本大法是?A:宪法;B:刑法;C:民法;D:行政法", "answer": "正确答案：A。"},
    "2-4": {"instruction": "确定以下咨询的类别，类别包括：婚姻家庭、劳动纠纷、交通事故。将答案写在[类别]和<eoa>之间。\n咨询：", "question": "离婚后孩子归谁", "answer": "婚姻家庭"},
    "3-8": {"instruction": "请回答下列问题:", "question": "醉驾如何处罚？", "answer": "回答:醉驾构成危险驾驶罪，处拘役并处罚金。"},
}


def _run(args: list[str]) -> dict:
    assert main(args) == 0
    out = Path(args[args.index("--output") + 1])
    records = [json.loads(x) for x in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    return {"results": json.loads((out / "results.json").read_text(encoding="utf-8")), "records": records}


def test_law_suite_on_a_lawbench_layout(tiny_model, tmp_path) -> None:
    for task, rec in LAW.items():
        folder = tmp_path / "lawbench" / "data" / "zero_shot"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{task}.json").write_text(json.dumps([rec, rec], ensure_ascii=False), encoding="utf-8")
    run = _run(["run", "--suite", "law", "--data-dir", str(tmp_path / "lawbench"), "--model", str(tiny_model),
                "--output", str(tmp_path / "out"), "--max-new-tokens", "8", "--quiet"])
    recs, scores = run["records"], run["results"]["scores"]
    assert {r["subject"] for r in recs} == set(LAW) and len(recs) == 6
    assert all({"id", "subject", "gold", "output", "extracted", "correct", "score"} <= set(r) for r in recs)
    assert recs[0]["gold"] == "A"
    assert scores["subjects"]["3-8"]["metric"] == "rouge_l" and "bleu" in scores["subjects"]["3-8"]
    assert 0 <= scores["overall"]["extraction_rate"] <= 1
    assert run["results"]["card"]["protocol"]["method"] == "generate"


def test_mc_suite_with_method_generate_and_code_samples(tiny_model, ceval_dir, tmp_path) -> None:
    run = _run(["run", "--suite", "ceval", "--data-dir", str(ceval_dir), "--model", str(tiny_model), "--method",
                "generate", "--shots", "0", "--limit", "2", "--subjects", "computer_network,law,high_school_physics", "--output", str(tmp_path / "mc"), "--max-new-tokens", "4",
                "--quiet"])
    assert len(run["records"]) == 6 and all(r["metric"] == "choice" for r in run["records"])
    problem = {"task_id": "T/0", "prompt": "def add(a, b):\n", "canonical_solution": "    return a + b\n",
               "test": "def check(f):\n    assert f(1, 2) == 3\n", "entry_point": "add"}
    (tmp_path / "he").mkdir()
    (tmp_path / "he" / "HumanEval.jsonl").write_text(json.dumps(problem) + "\n")
    run = _run(["run", "--suite", "code", "--data-dir", str(tmp_path / "he"), "--model", str(tiny_model),
                "--samples", "2", "--temperature", "0.8", "--output", str(tmp_path / "code"), "--max-new-tokens", "8",
                "--quiet"])
    rec = run["records"][0]
    assert len(rec["outputs"]) == 2 and len(rec["values"]["passed"]) == 2
    assert "pass@1" in run["results"]["scores"]["subjects"]["humaneval"]


def test_multi_answer_items_and_a_gold_without_a_number() -> None:
    opts = {"A": "发热", "B": "咳嗽", "C": "皮疹", "D": "骨折"}
    multi = GenItem("m", "cmexam", "", "AB", "choice", opts, multi=True)
    assert score_text(multi, "答案是A和B").correct
    assert not score_text(multi, "答案是A").correct
    assert score_text(multi, "嗯").extracted is None
    amount = GenItem("a", "3-7", "", "不详", "amount_acc")  # used to raise IndexError
    assert score_text(amount, "[金额]8500元<eoa>").values["skipped"]
