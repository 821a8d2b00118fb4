"""`harness compare`: paired deltas, fixed/broken questions, refusal of mismatched protocols."""

from __future__ import annotations

import json

from harness.cli import main

PROTOCOL = {"suite": "s", "split": "val", "shots": 5, "method": "letter", "prompt_hash": "p1", "data_hash": "d1"}


def write_run(folder, correct: dict[str, bool], protocol=None, model="m"):
    folder.mkdir(parents=True)
    records = [{"id": i, "subject": i.split("-")[0], "gold": "A", "pred": "A" if ok else "B", "correct": ok}
               for i, ok in correct.items()]
    (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    subjects = {s: {"category": "STEM" if s == "math" else "Humanities"} for s in {r["subject"] for r in records}}
    results = {"run_key": "k", "suite": "s", "model": model, "scores": {"subjects": subjects},
               "card": {"protocol": protocol or PROTOCOL, "protocol_id": "x"}}
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return folder


def test_compare_flags_fixed_and_broken_and_tests_significance(tmp_path, capsys):
    ids_math = [f"math-{i}" for i in range(30)]
    ids_law = [f"law-{i}" for i in range(10)]
    a = {i: False for i in ids_math} | {i: True for i in ids_law}
    b = {i: True for i in ids_math} | {i: i != "law-3" for i in ids_law}
    b["math-7"] = False  # unchanged wrong
    ra, rb = write_run(tmp_path / "a", a), write_run(tmp_path / "b", b, model="v")
    out = tmp_path / "cmp.json"
    assert main(["compare", str(ra), str(rb), "--json", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert {x["id"] for x in result["broken"]} == {"law-3"}
    assert {x["id"] for x in result["fixed"]} == set(ids_math) - {"math-7"}
    overall = result["overall"]
    assert overall["fixed"] == 29 and overall["broken"] == 1 and overall["n"] == 40
    assert abs(overall["delta"] - 28 / 40) < 1e-12
    assert overall["p_value"] < 1e-6
    math = result["subjects"]["math"]
    assert math["p_value"] < 0.01 and math["p_holm"] >= math["p_value"]
    assert result["subjects"]["law"]["p_value"] == 1.0  # one broken question is no evidence
    assert set(result["categories"]) == {"STEM", "Humanities"}
    printed = capsys.readouterr().out
    assert "law-3" in printed and "overall" in printed


def test_compare_refuses_different_protocols(tmp_path, capsys):
    ids = {f"math-{i}": True for i in range(5)}
    ra = write_run(tmp_path / "a", ids)
    rb = write_run(tmp_path / "b", ids, protocol={**PROTOCOL, "shots": 0})
    assert main(["compare", str(ra), str(rb)]) == 2
    err = capsys.readouterr().err
    assert "protocols differ" in err and "shots: 5 vs 0" in err and "Traceback" not in err
    rc = write_run(tmp_path / "c", ids, protocol={**PROTOCOL, "prompt_hash": "p2"})
    assert main(["compare", str(ra), str(rc)]) == 2
    assert "prompts differ" in capsys.readouterr().err


def test_compare_refuses_different_question_sets(tmp_path, capsys):
    ra = write_run(tmp_path / "a", {"math-1": True, "math-2": True})
    rb = write_run(tmp_path / "b", {"math-1": True, "math-3": True})
    assert main(["compare", str(ra), str(rb)]) == 2
    assert "question sets differ" in capsys.readouterr().err


def test_items_the_benchmark_skips_are_left_out_as_in_the_run_scores(tmp_path):
    """LawBench skips some items (e.g. death-penalty terms): they are in neither run's accuracy, nor in compare's."""
    correct = {f"math-{i}": i % 2 == 0 for i in range(10)}
    ra, rb = write_run(tmp_path / "a", correct), write_run(tmp_path / "b", {k: True for k in correct})
    for folder in (ra, rb):
        lines = (folder / "records.jsonl").read_text(encoding="utf-8").splitlines()
        first = json.loads(lines[0]) | {"correct": False, "values": {"skipped": "gold has no term in months"}}
        (folder / "records.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n", encoding="utf-8")
    out = tmp_path / "cmp.json"
    assert main(["compare", str(ra), str(rb), "--json", str(out)]) == 0
    overall = json.loads(out.read_text(encoding="utf-8"))["overall"]
    assert overall["n"] == 9 and overall["fixed"] == 5 and overall["acc_b"] == 1.0
