"""Acceptance: fine-tune a tiny model on LLaMA-Factory's alpaca_zh_demo with a shipped recipe, then
score the registered variant on C-Eval val (real data beside the checkout; skipped without it)."""

from __future__ import annotations

import json

import pytest
from conftest import shared_data

from harness.cli import main


@pytest.mark.slow
def test_alpaca_zh_finetune_then_ceval(tiny_model, tmp_path, monkeypatch):
    from harness.registry.catalogue import clear_cache

    data = shared_data("llamafactory", "data", "alpaca_zh_demo.json")
    ceval = shared_data("ceval", "ceval-exam")
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    clear_cache()
    try:
        adapter = tmp_path / "adapter"
        assert main(["finetune", "--model", str(tiny_model), "--data", str(data), "--recipe", "general-zh",
                     "--max-steps", "2", "--max-samples", "64", "--name", "alpaca", "--output", str(adapter), "--quiet"]) == 0
        manifest = json.loads((adapter / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["variant"] == "tiny+alpaca" and manifest["recipe"]["name"] == "general-zh"
        assert manifest["data"]["format"] == "alpaca" and manifest["data"]["records"] == 1000
        out = tmp_path / "run"
        assert main(["run", "--suite", "ceval", "--model", "tiny+alpaca", "--chat-template", "--data-dir", str(ceval),
                     "--subjects", "computer_network,law", "--limit", "3", "--shots", "1", "--output", str(out), "--quiet"]) == 0
        results = json.loads((out / "results.json").read_text(encoding="utf-8"))
        assert results["model"] == "tiny+alpaca" and results["scores"]["overall"]["micro"]["n"] == 6
        assert results["card"]["model"]["adapter"] == str(adapter.resolve())
    finally:
        clear_cache()
