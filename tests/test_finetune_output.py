"""`harness finetune --output` is atomic and never replaces an adapter unasked; `harness run` scores an
adapter only when its files are the ones its manifest describes (or says it has none)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main

RECORDS = [{"instruction": f"下列选项中，属于动物的是____。\nA. 猫\nB. 红色\nC. 苹果\nD. 钢琴\n答案：{i}", "input": "", "output": "A"}
           for i in range(8)]
RECIPE = "rank: 2\nalpha: 4\nlearning_rate: 0.05\nbatch_size: 4\ngradient_accumulation: 1\ntemplate: plain\neval_fraction: 0\n"


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    from harness.registry.catalogue import clear_cache

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    clear_cache()
    data = tmp_path / "train.json"
    data.write_text(json.dumps(RECORDS, ensure_ascii=False), encoding="utf-8")
    recipe = tmp_path / "quick.yaml"
    recipe.write_text(RECIPE + "max_steps: 1\nseed: 0\n", encoding="utf-8")
    other = tmp_path / "other.yaml"
    other.write_text(RECIPE + "max_steps: 2\nseed: 7\n", encoding="utf-8")
    yield data, recipe, other
    clear_cache()


def _finetune(model: Path, data: Path, recipe: Path, out: Path, *extra: str) -> int:
    return main(["finetune", "--model", str(model), "--data", str(data), "--recipe", str(recipe), "--output", str(out),
                 "--no-register", "--quiet", *extra])


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _run(model: Path, out: Path) -> list[str]:
    return ["run", "--suite", "sample", "--model", str(model), "--subjects", "word_kind", "--limit", "2", "--shots", "0",
            "--output", str(out), "--quiet"]


def test_existing_adapter_replaced_only_with_overwrite(tiny_model, inputs, tmp_path, capsys):
    data, recipe, other = inputs
    adapter = tmp_path / "adapter"
    assert _finetune(tiny_model, data, recipe, adapter) == 0
    first = _files(adapter)
    assert _finetune(tiny_model, data, other, adapter) == 2
    err = capsys.readouterr().err
    assert "already holds an adapter" in err and "--overwrite" in err and "Traceback" not in err
    assert _files(adapter) == first  # untouched
    assert _finetune(tiny_model, data, other, adapter, "--overwrite") == 0
    assert _files(adapter)["adapter_model.safetensors"] != first["adapter_model.safetensors"]
    assert not list(tmp_path.glob(".adapter.*"))  # no temporary folder left behind
    # a folder that is not an adapter is never replaced
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me", encoding="utf-8")
    assert _finetune(tiny_model, data, recipe, mine, "--overwrite") == 2
    assert "not an adapter folder" in capsys.readouterr().err and (mine / "notes.txt").is_file()


def test_run_checks_the_adapter_against_its_manifest(tiny_model, inputs, tmp_path, capsys):
    data, recipe, other = inputs
    adapter, second = tmp_path / "adapter", tmp_path / "second"
    assert _finetune(tiny_model, data, recipe, adapter) == 0
    assert _finetune(tiny_model, data, other, second) == 0
    assert main(_run(adapter, tmp_path / "ok")) == 0
    capsys.readouterr()
    # other (valid) weights beside the old manifest: what an interrupted retrain used to leave
    shutil.copy(second / "adapter_model.safetensors", adapter / "adapter_model.safetensors")
    assert main(_run(adapter, tmp_path / "r1")) == 2
    err = capsys.readouterr().err
    assert f"{adapter / 'adapter_model.safetensors'} is not the file manifest.json describes" in err
    assert "Traceback" not in err and not (tmp_path / "r1" / "results.json").exists()
    manifest = json.loads((adapter / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["adapter_files"]) >= {"adapter_model.safetensors", "adapter_config.json"}
    # an adapter made elsewhere (no manifest) is scored, with a warning saying so
    (adapter / "manifest.json").unlink()
    assert main(_run(adapter, tmp_path / "r2")) == 0
    assert "has no manifest.json" in capsys.readouterr().err


def test_cutoff_beyond_the_model_is_clamped_with_a_warning(tiny_model, inputs, tmp_path, capsys):
    data, recipe, _ = inputs
    huge = tmp_path / "huge.yaml"
    huge.write_text(recipe.read_text(encoding="utf-8") + "cutoff_len: 10000000\n", encoding="utf-8")
    positions = json.loads((tiny_model / "config.json").read_text(encoding="utf-8"))["max_position_embeddings"]
    assert _finetune(tiny_model, data, huge, tmp_path / "a") == 0
    assert f"cutoff_len 10000000 is beyond the model's {positions} positions" in capsys.readouterr().err
    assert json.loads((tmp_path / "a" / "manifest.json").read_text(encoding="utf-8"))["cutoff_len"] == positions


@pytest.mark.slow
def test_kill_9_during_retrain_keeps_the_old_adapter(tiny_model, inputs, tmp_path):
    data, recipe, _ = inputs
    adapter = tmp_path / "adapter"
    assert _finetune(tiny_model, data, recipe, adapter) == 0
    before = _files(adapter)
    long = tmp_path / "long.yaml"
    long.write_text(RECIPE + "max_steps: 100000\nseed: 3\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "harness.cli", "finetune", "--model", str(tiny_model), "--data", str(data),
           "--recipe", str(long), "--output", str(adapter), "--no-register", "--quiet", "--overwrite"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    partial = tmp_path / ".adapter.partial" / "adapter_model.safetensors"
    started = time.time()

    def checkpoint_written() -> bool:  # wherever this version writes its checkpoints
        return any(p.stat().st_mtime > started for p in tmp_path.rglob("adapter_model.safetensors"))

    deadline = started + 300
    while time.time() < deadline and proc.poll() is None and not checkpoint_written():
        time.sleep(0.05)
    written = checkpoint_written()
    assert proc.poll() is None, f"the fine-tune ended (exit {proc.returncode}) before it could be killed"
    time.sleep(0.5)  # let the checkpoint be mid-way or done: either must leave the old adapter whole
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if not written:
        pytest.skip("no checkpoint was written before the deadline")
    assert _files(adapter) == before  # the old adapter, whole, with its own manifest
    assert main(_run(adapter, tmp_path / "old")) == 0
    assert main(_run(partial.parent, tmp_path / "partial")) == 2  # the unfinished one is refused
