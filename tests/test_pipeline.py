"""`harness pipeline`: base run, fine-tune, variant run, compare — and a rerun redoes only what is missing."""

from __future__ import annotations

import json
import shutil

from harness.cli import main
from harness.demo.sample_data import training_records


def test_pipeline_runs_and_resumes(tiny_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in training_records()[:64]), encoding="utf-8")
    out = tmp_path / "pipe"
    args = ["pipeline", "--model", str(tiny_model), "--recipe", "demo", "--data", str(data), "--suite", "sample",
            "--shots", "0", "--subjects", "word_kind", "--max-steps", "4", "--output", str(out), "--quiet"]
    assert main(args) == 0
    for part in ("base/results.json", "adapter/manifest.json", "variant/results.json", "compare.json"):
        assert (out / part).is_file(), part
    first = json.loads((out / "compare.json").read_text(encoding="utf-8"))["overall"]
    capsys.readouterr()
    shutil.rmtree(out / "variant")
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "[1/4 base] done already" in printed and "[2/4 finetune] done already" in printed
    assert json.loads((out / "compare.json").read_text(encoding="utf-8"))["overall"] == first
