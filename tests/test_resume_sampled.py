"""A sampled generation run killed with kill -9 and started again draws the same samples as an uninterrupted
one: each item's seed belongs to the item, not to its batch or position."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROWS = [{"instruction": f"第{i}题：感冒了怎么办？", "output": "多喝水，注意休息。"} for i in range(8)]
LIVER = [{"instruction": f"第{i}题：肝癌早期有什么表现？", "output": "多无明显症状。"} for i in range(4)]


def _cmd(model, data, out, *extra):
    return [sys.executable, "-m", "harness.cli", "run", "--suite", "medicine", "--data-dir", str(data), "--model", str(model), "--output", str(out), "--samples", "2",
            "--temperature", "0.9", "--max-new-tokens", "12", "--quiet", *extra]


@pytest.mark.slow
def test_kill_9_mid_sampled_run_then_resume(tiny_model, tmp_path):
    data = tmp_path / "med"
    data.mkdir()
    (data / "llama_data.json").write_text(json.dumps(ROWS, ensure_ascii=False), encoding="utf-8")
    (data / "liver_cancer.json").write_text(json.dumps(LIVER, ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    full = tmp_path / "full"
    subprocess.run(_cmd(tiny_model, data, full), check=True, capture_output=True, env=env)

    part = tmp_path / "part"
    proc = subprocess.Popen(_cmd(tiny_model, data, part), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    records = part / "records.jsonl"
    deadline = time.time() + 600  # a cap only: on a busy machine the first records take a while
    while time.time() < deadline and proc.poll() is None:
        if records.is_file() and records.read_text(encoding="utf-8").count("\n") >= 4:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # kill -9 (nothing if it already ended)
    proc.wait()
    if (part / "results.json").exists():
        pytest.skip("the run finished before it could be killed")
    assert 0 < records.read_text(encoding="utf-8").count("\n") < len(ROWS) + len(LIVER)
    resumed = subprocess.run(_cmd(tiny_model, data, part), capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert records.read_text(encoding="utf-8") == (full / "records.jsonl").read_text(encoding="utf-8")
    outputs = [json.loads(x)["outputs"] for x in records.read_text(encoding="utf-8").splitlines()]
    assert len({tuple(o) for o in outputs}) > 1 and any(a != b for a, b in outputs)  # really sampled

    # the same items in a smaller run (one subject: other positions in the run) draw the same samples too
    small = tmp_path / "small"
    subprocess.run(_cmd(tiny_model, data, small, "--subjects", "liver_cancer_qa"), check=True, capture_output=True,
                   env=env)
    assert [json.loads(x)["outputs"] for x in (small / "records.jsonl").read_text(encoding="utf-8").splitlines()] \
        == outputs[len(ROWS):]
