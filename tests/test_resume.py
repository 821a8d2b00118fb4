"""An interrupted run (kill -9) started again computes only the rest and ends identical to an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest


def _cmd(model, out):
    return [sys.executable, "-m", "harness.cli", "run", "--suite", "sample", "--model", str(model),
            "--output", str(out), "--batch-size", "1", "--shots", "5", "--quiet"]


@pytest.mark.slow
def test_kill_9_then_resume(tiny_model, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    full = tmp_path / "full"
    subprocess.run(_cmd(tiny_model, full), check=True, capture_output=True, env=env)

    part = tmp_path / "part"
    proc = subprocess.Popen(_cmd(tiny_model, part), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    records = part / "records.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if records.is_file() and records.read_text(encoding="utf-8").count("\n") >= 20:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if (part / "results.json").exists():
        pytest.skip("the run finished before it could be killed")
    done_before = records.read_text(encoding="utf-8").count("\n")
    assert 0 < done_before < 240

    resumed = subprocess.run(_cmd(tiny_model, part), capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert (part / "records.jsonl").read_text(encoding="utf-8") == (full / "records.jsonl").read_text(encoding="utf-8")
    a = json.loads((full / "results.json").read_text(encoding="utf-8"))
    b = json.loads((part / "results.json").read_text(encoding="utf-8"))
    assert a["scores"] == b["scores"] and a["run_key"] == b["run_key"]
    # the second run computed only the questions it had not finished
    computed_full = a["card"]["tokens"]["computed"]
    computed_resumed = b["card"]["tokens"]["computed"]
    assert computed_resumed < computed_full


def test_other_settings_in_same_folder_refused(tiny_model, tmp_path, capsys):
    from harness.cli import main

    out = tmp_path / "run"
    assert main(["run", "--suite", "sample", "--model", str(tiny_model), "--output", str(out), "--shots", "0",
                 "--subjects", "arithmetic", "--quiet"]) == 0
    code = main(["run", "--suite", "sample", "--model", str(tiny_model), "--output", str(out), "--shots", "1",
                 "--subjects", "arithmetic", "--quiet"])
    assert code == 2 and "other settings" in capsys.readouterr().err
