"""`harness run` end to end on the tiny model: results files, scores, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.cli import main

SUBJECTS = "computer_network,law,high_school_physics"


def run_cli(*args: str) -> int:
    return main(list(args))


def test_run_writes_records_and_card(tiny_model, ceval_dir, tmp_path):
    out = tmp_path / "run"
    code = run_cli("run", "--suite", "ceval", "--model", str(tiny_model), "--data-dir", str(ceval_dir),
                   "--subjects", SUBJECTS, "--shots", "2", "--output", str(out), "--quiet")
    assert code == 0
    records = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == 18
    assert {"id", "subject", "gold", "pred", "correct", "logprobs"} <= set(records[0])
    assert all(r["correct"] == (r["pred"] == r["gold"]) for r in records)
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    card = results["card"]
    for key in ("method", "shots", "split", "prompt_hash", "data_hash"):
        assert key in card["protocol"]
    assert card["protocol"]["shots"] == 2 and card["protocol"]["split"] == "val"
    assert card["backend"]["dtype"] == "float32" and card["model"]["fingerprint"]
    overall = results["scores"]["overall"]
    assert overall["micro"]["n"] == 18
    assert overall["micro"]["acc"] == pytest.approx(sum(r["correct"] for r in records) / 18)
    low, high = overall["micro"]["ci95"]
    assert low <= overall["micro"]["acc"] <= high
    subjects = results["scores"]["subjects"]
    assert overall["macro"]["acc"] == pytest.approx(sum(s["acc"] for s in subjects.values()) / 3)
    assert set(results["scores"]["categories"]) == {"STEM", "Humanities"}


def test_same_inputs_same_predictions(tiny_model, ceval_dir, tmp_path):
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        run_cli("run", "--suite", "ceval", "--model", str(tiny_model), "--data-dir", str(ceval_dir),
                "--subjects", SUBJECTS, "--shots", "1", "--output", str(out), "--quiet")
        outs.append((out / "records.jsonl").read_text(encoding="utf-8"))
    assert outs[0] == outs[1]


def _err(capsys, *args: str) -> tuple[int, str]:
    code = run_cli(*args)
    err = capsys.readouterr().err.strip()
    return code, err


def test_bad_inputs_one_line_exit_2(tiny_model, ceval_dir, tmp_path, capsys):
    base = ["run", "--model", str(tiny_model), "--output", str(tmp_path / "o"), "--quiet"]
    cases = {
        "unknown suite": [*base, "--suite", "nope"],
        "unknown model": ["run", "--suite", "ceval", "--model", "no-such-model", "--data-dir", str(ceval_dir)],
        "unknown subject": [*base, "--suite", "ceval", "--data-dir", str(ceval_dir), "--subjects", "astrology"],
        "missing data folder": [*base, "--suite", "ceval", "--data-dir", str(tmp_path / "missing")],
        "missing data file": [*base, "--suite", "ceval", "--data-dir", str(ceval_dir), "--subjects", "accountant"],
    }
    for name, args in cases.items():
        code, err = _err(capsys, *args)
        assert code == 2, name
        assert err.startswith("harness: error:") and "\n" not in err, (name, err)
        assert "Traceback" not in err


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda t: t.replace("id,question,A,B,C,D,answer", "id,question,A,B,C,D,label"), "missing column"),
        (lambda t: t.replace(",B\n", ",E\n", 1) if ",B\n" in t else t.replace(",A\n", ",E\n", 1), "is not one of"),
    ],
)
def test_bad_csv(tiny_model, ceval_dir, tmp_path, capsys, mutate, expected):
    path = ceval_dir / "val" / "law_val.csv"
    path.write_text(mutate(path.read_text(encoding="utf-8")), encoding="utf-8")
    code, err = _err(capsys, "run", "--suite", "ceval", "--model", str(tiny_model), "--data-dir", str(ceval_dir),
                     "--subjects", "law", "--output", str(tmp_path / "o"), "--quiet")
    assert code == 2 and expected in err and "law_val.csv" in err and "\n" not in err


def test_not_utf8_and_empty(tiny_model, ceval_dir, tmp_path, capsys):
    path = ceval_dir / "val" / "law_val.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("gbk"))
    code, err = _err(capsys, "run", "--suite", "ceval", "--model", str(tiny_model), "--data-dir", str(ceval_dir),
                     "--subjects", "law", "--output", str(tmp_path / "o"), "--quiet")
    assert code == 2 and "not UTF-8" in err
    path.write_text("id,question,A,B,C,D,answer\n", encoding="utf-8")
    code, err = _err(capsys, "run", "--suite", "ceval", "--model", str(tiny_model), "--data-dir", str(ceval_dir),
                     "--subjects", "law", "--output", str(tmp_path / "o2"), "--quiet")
    assert code == 2 and "no questions" in err


def test_bad_suite_yaml(tiny_model, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nprompt: [unclosed\n", encoding="utf-8")
    code, err = _err(capsys, "run", "--suite", str(bad), "--model", str(tiny_model), "--quiet")
    assert code == 2 and "not valid YAML" in err


def test_console_script_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--suite", "ceval", "--model", "nope"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_chat_template_wraps_prompts(tiny_model, ceval_dir, tmp_path):
    from harness.runner import RunConfig, execute

    plain = execute(RunConfig(suite="ceval", model=str(tiny_model), output=tmp_path / "p", data_dir=ceval_dir,
                              subjects=["law"], shots=1), progress=False)
    chat = execute(RunConfig(suite="ceval", model=str(tiny_model), output=tmp_path / "c", data_dir=ceval_dir,
                             subjects=["law"], shots=1, chat_template=True), progress=False)
    assert chat["card"]["protocol"]["chat_template"] is True
    assert chat["card"]["protocol"]["prompt_hash"] != plain["card"]["protocol"]["prompt_hash"]
    assert chat["card"]["protocol_id"] != plain["card"]["protocol_id"]
