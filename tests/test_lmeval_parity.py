"""Parity with lm-evaluation-harness: same model, data and prompt → same prediction for every question.

lm-eval runs through its Python API with its `hf` model and a task YAML this test writes (absolute
data paths, C-Eval's official answer-only prompt, first-k few-shot from dev). The harness's `choice`
method must agree question by question (and in log-likelihood); `letter` too, since the letters are
single tokens for the tiny model's tokenizer.
"""

from __future__ import annotations

import csv
import json

import pytest

from harness.runner import RunConfig, execute

SUBJECTS = {"law": "法学", "computer_network": "计算机网络"}
SHOTS = 2


def _task_yaml(name: str, subject: str, subject_zh: str, root) -> str:
    return f"""
task: {name}
dataset_path: csv
dataset_kwargs:
  data_files:
    validation: {root}/val/{subject}_val.csv
    dev: {root}/dev/{subject}_dev.csv
output_type: multiple_choice
validation_split: validation
fewshot_split: dev
fewshot_config:
  sampler: first_n
description: "以下是中国关于{subject_zh}考试的单项选择题，请选出其中的正确答案。\\n\\n"
doc_to_text: "{{{{question.strip()}}}}\\nA. {{{{A}}}}\\nB. {{{{B}}}}\\nC. {{{{C}}}}\\nD. {{{{D}}}}\\n答案："
doc_to_choice: ["A", "B", "C", "D"]
doc_to_target: "{{{{['A', 'B', 'C', 'D'].index(answer)}}}}"
target_delimiter: ""
fewshot_delimiter: "\\n\\n"
metric_list:
  - metric: acc
"""


@pytest.mark.slow
def test_choice_and_letter_match_lm_eval(tiny_model, ceval_dir, tmp_path):
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    # datasets' csv builder wants the same columns in every split: drop dev's `explanation` column
    for path in (ceval_dir / "dev").glob("*.csv"):
        rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows(row[:7] for row in rows)
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    names = {}
    for subject, zh in SUBJECTS.items():
        names[subject] = f"harness_parity_{subject}"
        (tasks_dir / f"{subject}.yaml").write_text(_task_yaml(names[subject], subject, zh, ceval_dir), encoding="utf-8")
    out = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={tiny_model},dtype=float32",
        tasks=list(names.values()),
        num_fewshot=SHOTS,
        batch_size=4,
        device="cpu",
        log_samples=True,
        task_manager=TaskManager(include_path=str(tasks_dir)),
    )
    theirs = {}
    for subject, task in names.items():
        for sample in out["samples"][task]:
            lls = [float(r[0][0]) for r in sample["resps"]]
            context = sample["arguments"][0][0]
            theirs[f"{subject}/val/{sample['doc']['id']}"] = (lls, context)

    for method in ("choice", "letter"):
        run = tmp_path / method
        execute(RunConfig(suite="ceval", model=str(tiny_model), output=run, data_dir=ceval_dir, shots=SHOTS,
                          subjects=list(SUBJECTS), method=method), progress=False)
        records = [json.loads(x) for x in (run / "records.jsonl").read_text(encoding="utf-8").splitlines()]
        assert len(records) == len(theirs)
        for rec in records:
            lls, _ = theirs[rec["id"]]
            assert rec["pred"] == "ABCD"[max(range(4), key=lambda i: (lls[i], -i))], (method, rec["id"])
            assert [rec["logprobs"][k] for k in "ABCD"] == pytest.approx(lls, abs=1e-4)


def test_rendered_prompt_is_the_official_one(ceval_dir):
    from harness.runner import prepare

    prep = prepare(RunConfig(suite="ceval", model="unused", output=ceval_dir / "x", data_dir=ceval_dir, shots=1,
                             subjects=["law"]))
    first = prep.prompts[0]
    shot = prep.fewshot["law"][0]
    expected = (
        "以下是中国关于法学考试的单项选择题，请选出其中的正确答案。\n\n"
        f"{shot.question}\nA. {shot.options['A']}\nB. {shot.options['B']}\nC. {shot.options['C']}\nD. {shot.options['D']}\n答案：{shot.answer}\n\n"
        f"{first.question.question}\nA. {first.question.options['A']}\nB. {first.question.options['B']}\n"
        f"C. {first.question.options['C']}\nD. {first.question.options['D']}\n答案："
    )
    assert first.context == expected
