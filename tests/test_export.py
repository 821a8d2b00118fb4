"""`harness export`: lm-eval's own files, the official C-Eval submission and a per-question CSV.

The lm-eval test runs lm-evaluation-harness itself (its `hf` model, a task YAML like the parity test's,
its EvaluationTracker writing to disk) on the same tiny model, data and prompt as a harness run, then
reads both folders the way lm-eval's own code finds and names its files and compares them field by field.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO, SHARED

from harness.cli import main
from harness.suite import load_suite

SUBJECTS = {"law": "法学", "computer_network": "计算机网络"}
SHOTS = 2


def _task_yaml(subject: str, subject_zh: str, root: Path) -> str:
    return f"""
task: ceval-valid_{subject}
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
metadata:
  version: 2.0
"""


GROUP_YAML = """group: ceval-valid
task: [ceval-valid_law, ceval-valid_computer_network]
aggregate_metric_list:
  - metric: acc
    aggregation: mean
    weight_by_size: true
metadata:
  version: 2.0
"""


def _lm_eval_files(folder: Path) -> tuple[dict, dict[str, list[dict]]]:
    """Read an lm-eval output folder as lm-eval's own code finds its files: results by name pattern (the
    latest by the date in the name), samples by task name taken from the file name."""
    from lm_eval.utils import (
        get_file_task_name,
        get_latest_filename,
        get_results_filenames,
        get_sample_results_filenames,
    )

    files = [p.as_posix() for p in folder.rglob("*") if p.is_file()]
    results = json.loads(Path(get_latest_filename(get_results_filenames(files))).read_text(encoding="utf-8"))
    samples = {}
    for name in get_sample_results_filenames(files):
        task = get_file_task_name(Path(name).name)
        samples[task] = [json.loads(line) for line in Path(name).read_text(encoding="utf-8").splitlines()]
    return results, samples


@pytest.mark.slow
def test_lm_eval_export_is_lm_evals_own_schema_and_round_trips(tiny_model, ceval_dir, tmp_path):
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    # datasets' csv builder wants the same columns in every split: drop dev's `explanation` column
    for path in (ceval_dir / "dev").glob("*.csv"):
        rows = list(csv.reader(path.open(encoding="utf-8", newline="")))
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows(row[:7] for row in rows)
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    for subject, zh in SUBJECTS.items():
        (tasks / f"{subject}.yaml").write_text(_task_yaml(subject, zh, ceval_dir), encoding="utf-8")
    (tasks / "group.yaml").write_text(GROUP_YAML, encoding="utf-8")
    tracker = EvaluationTracker(output_path=str(tmp_path / "theirs"))
    out = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={tiny_model},dtype=float32", tasks=["ceval-valid"],
                                  num_fewshot=SHOTS, batch_size=4, device="cpu", log_samples=True,
                                  evaluation_tracker=tracker, task_manager=TaskManager(include_path=str(tasks)))
    logged = out.pop("samples")
    tracker.save_results_aggregated(results=out, samples=logged)
    for task in out["configs"]:
        tracker.save_results_samples(task_name=task, samples=logged[task])

    run = tmp_path / "run"
    assert main(["run", "--suite", "ceval", "--model", str(tiny_model), "--data-dir", str(ceval_dir), "--subjects",
                 ",".join(SUBJECTS), "--shots", str(SHOTS), "--method", "choice", "--output", str(run), "--quiet"]) == 0
    assert main(["export", str(run), "--format", "lm-eval", "--out", str(tmp_path / "ours")]) == 0

    theirs, their_samples = _lm_eval_files(tmp_path / "theirs")
    ours, our_samples = _lm_eval_files(tmp_path / "ours")
    # the same top-level fields, the same tasks and groups, each with the same fields
    assert set(theirs) <= set(ours), set(theirs) - set(ours)
    assert set(ours["results"]) == set(theirs["results"]) == {"ceval-valid", *(f"ceval-valid_{s}" for s in SUBJECTS)}
    for task, row in theirs["results"].items():
        assert list(ours["results"][task]) == list(row), task
        assert ours["results"][task]["acc,none"] == pytest.approx(row["acc,none"])
        assert ours["results"][task]["acc_stderr,none"] == pytest.approx(row["acc_stderr,none"])
        assert ours["results"][task]["sample_len"] == row["sample_len"]
    assert ours["groups"].keys() == theirs["groups"].keys()
    assert {k: sorted(v) for k, v in ours["group_subtasks"].items()} == {k: sorted(v) for k, v in theirs["group_subtasks"].items()}
    for key in ("n-samples", "n-shot", "higher_is_better"):
        assert ours[key] == theirs[key], key
    assert ours["task_hashes"] == theirs["task_hashes"]
    assert set(ours["config"]) >= set(theirs["config"]) - {"model_num_parameters"}
    for task in theirs["configs"]:
        assert set(theirs["configs"][task]) - set(ours["configs"][task]) <= {"dataset_kwargs", "unsafe_code"}
        for key in ("doc_to_text", "doc_to_choice", "target_delimiter", "fewshot_delimiter", "num_fewshot",
                    "description", "output_type"):
            assert ours["configs"][task][key] == theirs["configs"][task][key], (task, key)

    # every sample: the same keys in the same order, the same document, prompt, target and hashes
    assert our_samples.keys() == their_samples.keys()
    for task, rows in their_samples.items():
        mine = {s["doc_id"]: s for s in our_samples[task]}
        assert len(mine) == len(rows)
        for theirs_row in rows:
            row = mine[theirs_row["doc_id"]]
            assert list(row) == list(theirs_row)
            for key in ("doc", "target", "arguments", "filter", "metrics", "doc_hash", "prompt_hash", "target_hash", "acc"):
                assert row[key] == theirs_row[key], (task, theirs_row["doc_id"], key)
            assert [float(r[0][0]) for r in row["resps"]] == pytest.approx([float(r[0][0]) for r in theirs_row["resps"]], abs=1e-4)
            assert [float(r[0]) for r in row["filtered_resps"]] == pytest.approx(
                [float(r[0]) for r in theirs_row["filtered_resps"]], abs=1e-4)

    # round trip: per-subject accuracy read back from the samples equals harness's own
    scores = json.loads((run / "results.json").read_text(encoding="utf-8"))["scores"]
    for subject in SUBJECTS:
        rows = our_samples[f"ceval-valid_{subject}"]
        assert sum(r["acc"] for r in rows) / len(rows) == scores["subjects"][subject]["acc"]
        assert ours["results"][f"ceval-valid_{subject}"]["acc,none"] == scores["subjects"][subject]["acc"]
    assert ours["results"]["ceval-valid"]["acc,none"] == pytest.approx(scores["overall"]["micro"]["acc"])

    # the samples load with `datasets`, as lm-eval's hub uploads are read
    datasets = pytest.importorskip("datasets")
    sample_file = next((tmp_path / "ours").rglob("samples_ceval-valid_law_*.jsonl"))
    loaded = datasets.load_dataset("json", data_files=str(sample_file), split="train")
    assert len(loaded) == len(our_samples["ceval-valid_law"]) and "filtered_resps" in loaded.column_names


def test_lm_eval_export_of_a_limited_run_counts_the_whole_split(tiny_model, tmp_path):
    run = tmp_path / "run"
    assert main(["run", "--suite", "sample", "--model", str(tiny_model), "--limit", "3", "--output", str(run), "--quiet"]) == 0
    assert main(["export", str(run), "--format", "lm-eval", "--out", str(tmp_path / "lm")]) == 0
    results, samples = _lm_eval_files(tmp_path / "lm")
    scores = json.loads((run / "results.json").read_text(encoding="utf-8"))["scores"]
    with open(REPO / "suites" / "sample" / "val" / "arithmetic_val.csv", encoding="utf-8", newline="") as fh:
        released = sum(1 for _ in csv.DictReader(fh))
    assert results["n-samples"]["sample-val_arithmetic"] == {"original": released, "effective": 3}
    assert results["config"]["limit"] == 3
    for subject, score in scores["subjects"].items():
        rows = samples[f"sample-val_{subject}"]
        assert sum(r["acc"] for r in rows) / len(rows) == score["acc"] == results["results"][f"sample-val_{subject}"]["acc,none"]
        assert all(r["arguments"]["gen_args_0"]["arg_0"].endswith("答案：") and r["prompt_hash"] for r in rows)


# ----------------------------------------------------------------------------- C-Eval submission


def write_ceval_test_layout(root: Path, per_subject: int = 2) -> Path:
    """All 52 C-Eval subjects: a test split without answers (no answer column, as released), dev and val with."""
    spec = load_suite("ceval")
    for split in ("test", "dev", "val"):
        (root / split).mkdir(parents=True, exist_ok=True)
    for k, (subject, info) in enumerate(spec.subjects.items()):
        name = info.get("name_zh", subject)
        for split, n, answered in (("test", per_subject + k % 2, False), ("dev", 5, True), ("val", 2, True)):
            with open(root / split / f"{subject}_{split}.csv", "w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["id", "question", "A", "B", "C", "D"] + (["answer"] if answered else []))
                for i in range(n):
                    w.writerow([i, f"{name}第{i}题：下列说法正确的是____。", "甲", "乙", "丙", "丁"] + (["ABCD"[i % 4]] if answered else []))
    return root


@pytest.fixture(scope="module")
def ceval_test_run(tiny_model, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ceval-test")
    data = write_ceval_test_layout(root / "data")
    run = root / "run"
    assert main(["run", "--suite", "ceval", "--split", "test", "--model", str(tiny_model), "--data-dir", str(data),
                 "--shots", "1", "--output", str(run), "--quiet"]) == 0
    return data, run


def test_test_split_run_has_no_gold_and_exports_the_official_submission(ceval_test_run, tmp_path, capsys):
    data, run = ceval_test_run
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert "no answers" in results["scores"]["no_gold"] and results["scores"]["overall"]["micro"]["acc"] is None
    records = [json.loads(x) for x in (run / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(r["gold"] is None and r["pred"] in "ABCD" for r in records)

    out = tmp_path / "sub.json"
    assert main(["export", str(run), "--format", "ceval-submission", "--out", str(out)]) == 0
    submitted = json.loads(out.read_text(encoding="utf-8"))
    spec = load_suite("ceval")
    assert list(submitted) == list(spec.subjects) and len(submitted) == 52
    for subject, answers in submitted.items():
        with open(data / "test" / f"{subject}_test.csv", encoding="utf-8", newline="") as fh:
            ids = [row["id"] for row in csv.DictReader(fh)]
        assert list(answers) == ids, subject  # every id of the released file, in its order
    assert {(r["subject"], r["id"].rsplit("/", 1)[1], r["pred"]) for r in records} == {
        (s, i, a) for s, answers in submitted.items() for i, a in answers.items()}


def _one_line_error(capsys, args: list[str], *needles: str) -> None:
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("harness: error:") and "\n" not in err, err
    for needle in needles:
        assert needle in err, err


def test_submission_refuses_val_split_partial_and_limited_runs(ceval_test_run, tiny_model, tmp_path, capsys):
    data, _run = ceval_test_run
    common = ["--suite", "ceval", "--model", str(tiny_model), "--data-dir", str(data), "--shots", "0", "--quiet"]
    val = tmp_path / "val"
    assert main(["run", *common, "--subjects", "law", "--output", str(val)]) == 0
    _one_line_error(capsys, ["export", str(val), "--format", "ceval-submission", "--out", str(tmp_path / "a.json")],
                    "split 'val'", "--split test")
    part = tmp_path / "part"
    assert main(["run", *common, "--split", "test", "--subjects", "law,marxism", "--output", str(part)]) == 0
    _one_line_error(capsys, ["export", str(part), "--format", "ceval-submission", "--out", str(tmp_path / "b.json")],
                    "50 of 52 subjects missing")
    limited = tmp_path / "limited"
    assert main(["run", *common, "--split", "test", "--limit", "1", "--output", str(limited)]) == 0
    _one_line_error(capsys, ["export", str(limited), "--format", "ceval-submission", "--out", str(tmp_path / "c.json")],
                    "--limit 1")
    # a record lost from a whole run is refused (the run folder's digest no longer matches its records)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_bytes((_run / "results.json").read_bytes())
    lines = (_run / "records.jsonl").read_text(encoding="utf-8").splitlines()
    (broken / "records.jsonl").write_text("\n".join(lines[:3] + lines[4:]) + "\n", encoding="utf-8")
    _one_line_error(capsys, ["export", str(broken), "--format", "ceval-submission", "--out", str(tmp_path / "d.json")],
                    "records were changed after the run finished")
    assert not any((tmp_path / f"{x}.json").exists() for x in "abcd")
    # an lm-eval export of predictions without answers has no accuracy to write
    _one_line_error(capsys, ["export", str(_run), "--format", "lm-eval", "--out", str(tmp_path / "lm")], "no answers")
    # the suite's own split must have answers: a missing answer column there is still a mistake
    own = shutil.copytree(data, tmp_path / "data")
    (own / "val" / "law_val.csv").write_text("id,question,A,B,C,D\n0,问题,甲,乙,丙,丁\n", encoding="utf-8")
    _one_line_error(capsys, ["run", *common, "--data-dir", str(own), "--subjects", "law", "--output", str(tmp_path / "v2")],
                    "'answer'")


def test_unscored_runs_are_kept_out_of_comparisons_and_the_site(ceval_test_run, tmp_path, capsys):
    _data, run = ceval_test_run
    _one_line_error(capsys, ["compare", str(run), str(run)], "no gold")
    assert main(["leaderboard", "--results", str(run), "--out", str(tmp_path / "site")]) == 2
    warning, error = capsys.readouterr().err.strip().split("\n")
    assert "split 'test' has no answers" in warning and error.startswith("harness: error: no scored runs")


@pytest.mark.slow
def test_real_ceval_test_files_load_without_answers(tiny_model, tmp_path, capsys):
    """The released C-Eval test CSVs (no answer column) run as predictions; two subjects are not a submission."""
    data = SHARED / "ceval" / "ceval-exam"
    if not (data / "test").is_dir():
        pytest.skip(f"{data} not present (real benchmark data lives beside the checkout only)")
    run = tmp_path / "run"
    assert main(["run", "--suite", "ceval", "--split", "test", "--subjects", "logic,marxism", "--model", str(tiny_model),
                 "--data-dir", str(data), "--shots", "0", "--output", str(run), "--quiet"]) == 0
    records = [json.loads(x) for x in (run / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    with open(data / "test" / "logic_test.csv", encoding="utf-8", newline="") as fh:
        released = [row["id"] for row in csv.DictReader(fh)]
    assert [r["id"] for r in records if r["subject"] == "logic"] == [f"logic/test/{i}" for i in released]
    _one_line_error(capsys, ["export", str(run), "--format", "ceval-submission", "--out", str(tmp_path / "s.json")],
                    "50 of 52 subjects missing")


# ----------------------------------------------------------------------------- CSV


def test_csv_has_one_row_per_question(ceval_test_run, tiny_model, tmp_path):
    data, test_run = ceval_test_run
    val = tmp_path / "val"
    assert main(["run", "--suite", "ceval", "--model", str(tiny_model), "--data-dir", str(data), "--shots", "0",
                 "--subjects", "law,logic", "--output", str(val), "--quiet"]) == 0
    out = tmp_path / "q.csv"
    assert main(["export", str(val), str(test_run), "--format", "csv", "--out", str(out)]) == 0
    with open(out, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    records = {}
    for folder in (val, test_run):
        for line in (folder / "records.jsonl").read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            records[rec["id"]] = rec
    assert len(rows) == len(records)
    for row in rows:
        rec = records[row["id"]]
        assert (row["subject"], row["pred"], row["model"], row["suite"]) == (rec["subject"], rec["pred"], "tiny", "ceval")
        if row["split"] == "val":
            assert row["gold"] == rec["gold"] and row["correct"] == str(rec["correct"])
        else:  # no answers: nothing to compare with, and the CSV does not pretend otherwise
            assert row["gold"] == "" and row["correct"] == ""
        assert float(row["logprob_A"]) == pytest.approx(rec["logprobs"]["A"])
    assert {r["split"] for r in rows} == {"val", "test"}
