"""The demo's fine-tune really helps: the variant beats its base on the suite's held-out questions."""

from __future__ import annotations

import json

from harness.cli import main


def test_demo_variant_beats_base_significantly(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    out = tmp_path / "demo"
    assert main(["demo", "--output", str(out), "--quiet"]) == 0
    runs = out / "runs"
    report = tmp_path / "compare.json"
    assert main(["compare", str(runs / "sample-tiny-base"), str(runs / "sample-tiny-base+demo"), "--json", str(report)]) == 0
    overall = json.loads(report.read_text(encoding="utf-8"))["overall"]
    assert overall["delta"] > 0.05 and overall["p_value"] < 0.01
    # held out: no training prompt is one of the suite's questions
    train = (out / "data" / "train.jsonl").read_text(encoding="utf-8")
    for line in (runs / "sample-tiny-base" / "records.jsonl").read_text(encoding="utf-8").splitlines()[:50]:
        assert json.loads(line)["question"] not in train
