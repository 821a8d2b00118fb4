"""`harness gate` and `harness baseline` on synthetic run folders with known per-question differences."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from harness.cli import main
from harness.results.record import Record
from harness.scoring.mc import aggregate
from harness.suite.prompt import digest

CATEGORIES = {"physics": "STEM", "math": "STEM", "law": "Humanities", "history": "Humanities"}


def protocol(n: int, **changes) -> dict:
    proto = {"suite": "synthetic", "split": "val", "shots": 5, "method": "letter", "prompt_hash": "p1",
             "data_hash": f"d{n}", "subjects": len(CATEGORIES), "questions": n, "limit": None}
    return {**proto, **changes}


def questions(n: int, seed: int = 0) -> list[dict]:
    """n questions over four subjects; about 60% answered right by the baseline."""
    rng = random.Random(seed)
    subjects = list(CATEGORIES)
    out = []
    for i in range(n):
        gold = "ABCD"[rng.randrange(4)]
        right = rng.random() < 0.6
        pred = gold if right else "ABCD"[("ABCD".index(gold) + 1) % 4]
        out.append({"id": f"{subjects[i % 4]}-{i}", "subject": subjects[i % 4], "gold": gold, "pred": pred,
                    "correct": right, "question": f"第{i}题的题干", "options": {"A": "甲", "B": "乙", "C": "丙", "D": "丁"}})
    return out


def flipped(records: list[dict], broke: int, fixed: int, seed: int = 1, only: str | None = None) -> list[dict]:
    """A copy where `broke` right answers become wrong and `fixed` wrong ones become right, chosen at random."""
    rng = random.Random(seed)
    out = [dict(r) for r in records]
    eligible = [r for r in out if only is None or CATEGORIES[r["subject"]] == only]
    to_break = rng.sample([r for r in eligible if r["correct"]], broke)
    to_fix = rng.sample([r for r in eligible if not r["correct"]], fixed)
    for rec in to_break:
        rec["pred"], rec["correct"] = "ABCD"[("ABCD".index(rec["gold"]) + 1) % 4], False
    for rec in to_fix:
        rec["pred"], rec["correct"] = rec["gold"], True
    return out


def write_run(folder: Path, records: list[dict], proto: dict, model: str = "m") -> Path:
    """A run folder in the store's format: records.jsonl and results.json (scores via the real aggregate)."""
    folder.mkdir(parents=True)
    (folder / "records.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                                          encoding="utf-8")
    results = {"run_key": digest([model, repr(sorted(proto.items()))]), "suite": proto["suite"], "model": model,
               "scores": aggregate([Record.from_dict(r, "test") for r in records], CATEGORIES),
               "card": {"protocol": proto, "protocol_id": digest([repr(sorted(proto.items()))]), "model": {"name": model}}}
    (folder / "results.json").write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")
    return folder


def gate(*args: str) -> int:
    return main(["gate", *args])


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    return tmp_path / "home"


def test_identical_candidate_passes(tmp_path, home, capsys):
    recs = questions(1000)
    base = write_run(tmp_path / "base", recs, protocol(1000))
    cand = write_run(tmp_path / "cand", recs, protocol(1000), model="other")
    assert gate("--baseline", str(base), "--candidate", str(cand), "--json", str(tmp_path / "g.json")) == 0
    report = json.loads((tmp_path / "g.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "pass"
    (row,) = report["rows"]
    assert (row["n"], row["broke"], row["fixed"], row["delta"], row["p"]) == (1000, 0, 0, 0.0, 1.0)
    assert "PASS" in capsys.readouterr().out


def test_five_points_worse_on_1000_questions_fails(tmp_path, home, capsys):
    recs = questions(1000)
    base = write_run(tmp_path / "base", recs, protocol(1000))
    cand = write_run(tmp_path / "cand", flipped(recs, broke=80, fixed=30), protocol(1000))
    assert gate("--baseline", str(base), "--candidate", str(cand), "--json", str(tmp_path / "g.json")) == 1
    (row,) = json.loads((tmp_path / "g.json").read_text(encoding="utf-8"))["rows"]
    assert row["delta"] == pytest.approx(-0.05)
    assert (row["broke"], row["fixed"]) == (80, 30)
    assert row["p_holm"] < 0.001 and row["verdict"] == "fail"
    assert "FAIL" in capsys.readouterr().out


def test_one_point_random_difference_on_200_questions_does_not_fail(tmp_path, home):
    recs = questions(200, seed=3)
    base = write_run(tmp_path / "base", recs, protocol(200))
    cand = write_run(tmp_path / "cand", flipped(recs, broke=11, fixed=9, seed=4), protocol(200))
    out = tmp_path / "g.json"
    assert gate("--baseline", str(base), "--candidate", str(cand), "--json", str(out)) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["verdict"] in ("pass", "warn")
    # a tighter tolerance makes the same drop a warning (large, but the test cannot tell), still exit 0
    assert gate("--baseline", str(base), "--candidate", str(cand), "--max-drop", "0.5", "--json", str(out)) == 0
    (row,) = json.loads(out.read_text(encoding="utf-8"))["rows"]
    assert row["verdict"] == "warn" and row["p_holm"] > 0.05
    assert row["min_detectable_drop"] > 0.05  # 200 questions cannot reliably see a 5-point drop


def test_small_gain_passes_even_when_significant(tmp_path, home):
    recs = questions(1000)
    base = write_run(tmp_path / "base", recs, protocol(1000))
    cand = write_run(tmp_path / "cand", flipped(recs, broke=10, fixed=90), protocol(1000))
    assert gate("--baseline", str(base), "--candidate", str(cand)) == 0


def test_different_protocol_is_refused_naming_the_field(tmp_path, home, capsys):
    recs = questions(100)
    base = write_run(tmp_path / "base", recs, protocol(100))
    cand = write_run(tmp_path / "cand", recs, protocol(100, shots=0))
    assert gate("--baseline", str(base), "--candidate", str(cand)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "protocols differ in shots" in err and "5 vs 0" in err


def test_different_question_set_is_refused_with_counts(tmp_path, home, capsys):
    recs = questions(100)
    base = write_run(tmp_path / "base", recs, protocol(100))
    cand = write_run(tmp_path / "cand", recs[:90], protocol(100))
    assert gate("--baseline", str(base), "--candidate", str(cand)) == 2
    err = capsys.readouterr().err
    assert "lacks 10 of the baseline's 100 questions" in err and "has 0 it does not" in err


def test_per_category_finds_a_drop_hidden_in_the_overall(tmp_path, home, monkeypatch):
    recs = questions(2000)
    base = write_run(tmp_path / "base", recs, protocol(2000))
    # 55 broken in STEM, 40 fixed in Humanities: overall -0.75 points, STEM -5.5 points
    cand_recs = flipped(flipped(recs, 55, 0, seed=5, only="STEM"), 0, 40, seed=6, only="Humanities")
    cand = write_run(tmp_path / "cand", cand_recs, protocol(2000))
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    args = ["--baseline", str(base), "--candidate", str(cand), "--json", str(tmp_path / "g.json")]
    assert gate(*args) == 0
    assert gate(*args, "--per", "category") == 1
    rows = {r["group"]: r for r in json.loads((tmp_path / "g.json").read_text(encoding="utf-8"))["rows"]}
    assert rows["overall"]["verdict"] == "pass" and rows["STEM"]["verdict"] == "fail"
    assert rows["Humanities"]["verdict"] == "pass" and rows["Humanities"]["delta"] > 0
    text = summary.read_text(encoding="utf-8")
    assert text.count("### Regression gate") == 2 and "| synthetic | STEM | 1000 |" in text


def test_baseline_save_by_name_and_into_a_repository_folder(tmp_path, home, capsys):
    recs = questions(300)
    run = write_run(tmp_path / "run", recs, protocol(300))
    cand = write_run(tmp_path / "cand", flipped(recs, 40, 5), protocol(300))
    assert main(["baseline", "save", str(run), "--name", "main"]) == 0
    saved = home / "baselines" / "main"
    assert {p.name for p in saved.iterdir()} == {"baseline.json", "results.json", "records.jsonl"}
    assert "题干" not in (saved / "records.jsonl").read_text(encoding="utf-8")  # no benchmark text leaves the run
    assert gate("--baseline", "main", "--candidate", str(run)) == 0
    assert gate("--baseline", "main", "--candidate", str(cand)) == 1
    assert main(["baseline", "save", str(run), "--name", "main"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    repo = tmp_path / "repo" / "ci" / "baselines"
    assert main(["baseline", "save", str(run), "--name", "main", "--dir", str(repo)]) == 0
    assert gate("--baseline", str(repo / "main"), "--candidate", str(cand)) == 1
    assert main(["baseline", "list"]) == 0
    assert "main" in capsys.readouterr().out
    assert main(["baseline", "save", str(run), "--name", "a/b"]) == 2
    assert gate("--baseline", "nosuch", "--candidate", str(run)) == 2


def test_folders_of_runs_are_gated_suite_by_suite(tmp_path, home, capsys):
    recs_a, recs_b = questions(500, seed=7), questions(500, seed=8)
    base = tmp_path / "base"
    write_run(base / "one", recs_a, protocol(500, suite="one"))
    write_run(base / "two", recs_b, protocol(500, suite="two"))
    cand = tmp_path / "cand"
    write_run(cand / "one", recs_a, protocol(500, suite="one"))
    write_run(cand / "two", flipped(recs_b, 60, 10), protocol(500, suite="two"))
    assert gate("--baseline", str(base), "--candidate", str(cand)) == 1
    assert gate("--baseline", str(base), "--candidate", str(cand), "--suite", "one") == 0
    assert gate("--baseline", str(base), "--candidate", str(cand), "--suite", "three") == 2
    assert "no run of three" in capsys.readouterr().err


def test_bad_settings_exit_2(tmp_path, home):
    recs = questions(50)
    base = write_run(tmp_path / "base", recs, protocol(50))
    assert gate("--baseline", str(base), "--candidate", str(base), "--alpha", "1.5") == 2
    assert gate("--baseline", str(base), "--candidate", str(tmp_path / "missing")) == 2


def test_minimum_detectable_drop_has_the_power_it_claims():
    """Simulate the exact McNemar test at the returned drop: it should reject about 80% of the time."""
    import math

    import numpy as np
    from scipy.stats import binomtest

    from harness.scoring.stats import minimum_detectable_drop

    n, d, alpha = 1000, 0.1, 0.05
    drop = minimum_detectable_drop(n, alpha, d)
    assert 0.02 < drop < 0.04
    rng = np.random.default_rng(0)
    counts = rng.multinomial(n, [(d + drop) / 2, (d - drop) / 2, 1 - d], size=1000)
    rejected = sum(binomtest(int(fixed), int(broke + fixed), 0.5).pvalue < alpha for broke, fixed, _ in counts)
    assert 0.74 < rejected / 1000 < 0.86
    assert minimum_detectable_drop(4000, alpha, d) < drop < minimum_detectable_drop(250, alpha, d)
    assert math.isinf(minimum_detectable_drop(40, alpha, d))  # 4 discordant questions can never be significant


def test_run_without_card_or_fields_is_refused(tmp_path, home, capsys):
    recs = questions(50)
    base = write_run(tmp_path / "base", recs, protocol(50))
    cand = write_run(tmp_path / "cand", recs, protocol(50))
    (cand / "records.jsonl").write_text("".join(json.dumps({"id": r["id"], "subject": r["subject"]}) + "\n" for r in recs))
    assert gate("--baseline", str(base), "--candidate", str(cand)) == 2
    assert "lacks correct" in capsys.readouterr().err


def test_documented_commands_parse():
    """The commands in docs/ci-gate.md (and its workflow) are accepted by the CLI as written."""
    import re
    import shlex

    import yaml

    from harness.cli import build_parser

    text = (Path(__file__).resolve().parents[1] / "docs" / "ci-gate.md").read_text(encoding="utf-8")
    yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))
    commands = re.findall(r"^\s*harness ((?:run|gate|baseline) .*)$", text.replace("\\\n", " "), re.M)
    assert len(commands) >= 6 and any("--per category" in c for c in commands)
    for command in commands:
        build_parser().parse_args(shlex.split(command))
