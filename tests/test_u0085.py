"""Questions holding U+0085 (NEL) or U+2028 — three files of the real MMLU release do — go through a run,
its resume, and every reader: compare, gate, leaderboard, report, baseline save (and a gate against
that baseline). `str.splitlines()` splits on those characters; records must not."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from conftest import shared_data
from fault_cases import crash_state

from harness.cli import main


def _run_and_resume(model: Path, out: Path, *args: str) -> tuple[Path, Path]:
    """A run, and a second one resumed from the first's records cut after `keep` lines (as a crash leaves)."""
    whole, resumed = out / "whole", out / "resumed"
    argv = ["run", "--suite", "mmlu", "--model", str(model), "--shots", "0", "--quiet", *args]
    assert main([*argv, "--output", str(whole)]) == 0
    shutil.copytree(whole, resumed)
    crash_state(resumed)
    text = (resumed / "records.jsonl").read_text(encoding="utf-8")
    assert "\\u0085" in text and "\u0085" not in text  # written escaped: no line splitter can break it
    lines = text.split("\n")
    keep = next(i for i, line in enumerate(lines) if "\\u0085" in line) + 1  # the NEL record is among the kept
    (resumed / "records.jsonl").write_text("\n".join(lines[:keep]) + "\n", encoding="utf-8")
    assert main([*argv, "--output", str(resumed)]) == 0
    assert (resumed / "records.jsonl").read_bytes() == (whole / "records.jsonl").read_bytes()
    got = [json.loads(x) for x in (whole / "records.jsonl").read_text(encoding="utf-8").split("\n") if x]
    assert any("\u0085" in (r.get("question") or "") + "".join((r.get("options") or {}).values()) for r in got)
    return whole, resumed


def _every_reader(runs: list[tuple[Path, Path]], tmp_path: Path) -> None:
    for a, b in runs:
        assert main(["compare", str(a), str(b)]) == 0
        assert main(["gate", "--baseline", str(a), "--candidate", str(b)]) == 0
        name = f"bl-{a.parent.name}"
        assert main(["baseline", "save", str(a), "--name", name, "--dir", str(tmp_path / "baselines")]) == 0
        assert main(["gate", "--baseline", str(tmp_path / "baselines" / name), "--candidate", str(b)]) == 0
    firsts = [str(a) for a, _ in runs]
    assert main(["leaderboard", "--results", *firsts, "--out", str(tmp_path / "site")]) == 0
    assert main(["report", *firsts, "--out", str(tmp_path / "report.html")]) == 0


def test_u0085_inline_fixture(tiny_model, tmp_path):
    data = tmp_path / "mmlu"
    (data / "test").mkdir(parents=True)
    rows = [["Which of these holds a next-line\u0085character?", "this one", "not\u2028this", "nor this", "none", "A"],
            ["Plain question two?", "a", "b", "c", "d", "B"],
            ["Plain question three?", "a", "b", "c", "d", "C"]]
    with open(data / "test" / "nutrition_test.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    runs = [_run_and_resume(tiny_model, tmp_path / "n", "--data-dir", str(data), "--subjects", "nutrition")]
    _every_reader(runs, tmp_path)


def test_u0085_real_mmlu(tiny_model, tmp_path):
    """The three MMLU files with U+0085: val/nutrition_val.csv (row 5), test/management_test.csv (row 40),
    test/sociology_test.csv (row 70)."""
    data = shared_data("mmlu", "data")
    runs = [
        _run_and_resume(tiny_model, tmp_path / "test", "--data-dir", str(data), "--subjects", "management,sociology",
                        "--limit", "70"),
        _run_and_resume(tiny_model, tmp_path / "val", "--data-dir", str(data), "--split", "val",
                        "--subjects", "nutrition", "--limit", "6"),
    ]
    _every_reader(runs, tmp_path)
