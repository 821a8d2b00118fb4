"""`harness sweep`: shards run through the one run loop merge into runs equal to single `harness run`s,
on one process and on a local Ray head (loopback), with a worker killed mid-shard, and a rerun that
computes nothing. The leaderboard and the gate read the sweep's output folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import FIXTURE_TEXT, REPO

from harness.cli import main

SUBJECTS = "computer_network,law,high_school_physics"


@pytest.fixture(scope="module")
def tiny_b(tmp_path_factory) -> Path:
    """A second tiny model (other weights, same tokenizer data) for a sweep of two models."""
    from harness.demo.tiny import build_tiny_model, suite_texts

    texts = suite_texts(REPO / "suites" / "sample") + [FIXTURE_TEXT]
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny_b", texts, vocab_size=1500, seed=2)


def _suite_args(ceval_dir: Path) -> list[str]:
    return ["--data-dir", f"ceval={ceval_dir}", "--subjects", f"ceval={SUBJECTS}", "--limit", "sample=4"]


def _single(model: Path, suite: str, ceval_dir: Path, out: Path) -> Path:
    """A single-process `harness run` of one suite, the reference a merged run must equal."""
    extra = ["--data-dir", str(ceval_dir), "--subjects", SUBJECTS] if suite == "ceval" else ["--limit", "4"]
    assert main(["run", "--suite", suite, "--model", str(model), *extra, "--batch-size", "2",
                 "--output", str(out), "--quiet"]) == 0
    return out


def _results(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text(encoding="utf-8"))


def _assert_equal_runs(merged: Path, single: Path, shards: int) -> dict:
    """Records byte for byte, scores, protocol (and its id) and run key equal a single run's."""
    assert (merged / "records.jsonl").read_bytes() == (single / "records.jsonl").read_bytes()
    m, s = _results(merged), _results(single)
    assert m["scores"] == s["scores"]
    assert m["card"]["protocol"] == s["card"]["protocol"]
    assert m["card"]["protocol_id"] == s["card"]["protocol_id"] and m["run_key"] == s["run_key"]
    sweep = m["card"]["sweep"]
    if all(sh["computed"] == sh["questions"] for sh in sweep["shards"]):  # (a resumed shard counts its rest only)
        assert m["card"]["tokens"] == s["card"]["tokens"]  # the shards together computed what one run computes
    assert len(sweep["shards"]) == shards and sweep["nodes"] and sweep["devices"]
    assert sum(sh["questions"] for sh in sweep["shards"]) == s["card"]["protocol"]["questions"]
    return sweep


def _stamps(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def test_local_sweep_equals_single_runs_and_feeds_leaderboard_and_gate(tiny_model, ceval_dir, tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["sweep", "--models", str(tiny_model), "--suites", "ceval,sample", *_suite_args(ceval_dir),
            "--shards-per-suite", "2", "--batch-size", "2", "--output", str(out), "--quiet"]
    assert main(args) == 0
    name = tiny_model.name
    for suite in ("ceval", "sample"):
        single = _single(tiny_model, suite, ceval_dir, tmp_path / "single" / suite)
        sweep = _assert_equal_runs(out / name / suite, single, 2)
        assert sweep["launcher"].startswith("local")
    # the shard runs are parts, not runs: the leaderboard ranks the merged runs only
    from harness.render.site_data import load_entries

    entries = load_entries([out], warn=lambda msg: None)
    assert sorted((e.suite, e.run.path) for e in entries) == [("ceval", (out / name / "ceval").resolve()),
                                                             ("sample", (out / name / "sample").resolve())]
    assert main(["leaderboard", "--results", str(out), "--out", str(tmp_path / "site")]) == 0
    # the gate takes the sweep's folder (one model) as it takes a folder of runs
    capsys.readouterr()
    assert main(["gate", "--baseline", str(tmp_path / "single"), "--candidate", str(out)]) == 0
    assert "PASS" in capsys.readouterr().out
    # a sweep of other settings into the same folder is refused, not mixed in
    code = main([*args[:-3], "--output", str(out), "--shards-per-suite", "3", "--quiet"])
    assert code == 2 and "other settings" in capsys.readouterr().err


def test_ray_sweep_retries_a_killed_worker_and_rerun_computes_nothing(tiny_model, tiny_b, ceval_dir, tmp_path,
                                                                       monkeypatch, capsys):
    ray = pytest.importorskip("ray")
    marker = tmp_path / "crashed-once"
    victim = f"{tiny_b.name}/ceval/02-of-03"
    # the workers inherit the environment of the Ray head started below
    monkeypatch.setenv("HARNESS_SWEEP_FAULT", f"{victim}@{marker}")
    # Ray's single-machine mode: every address on 127.0.0.1 (read at import, so set on the module too)
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setattr(ray._private.ray_constants, "ENABLE_RAY_CLUSTER", False)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    out = tmp_path / "sweep"
    args = ["sweep", "--models", f"{tiny_model},{tiny_b}", "--suites", "ceval,sample", *_suite_args(ceval_dir),
            "--shards-per-suite", "3", "--batch-size", "2", "--launcher", "ray", "--retries", "2",
            "--output", str(out)]
    try:
        ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp, log_to_driver=False)
        assert ray.nodes()[0]["NodeManagerAddress"] == "127.0.0.1"
        assert main(args) == 0
        first = capsys.readouterr()
        assert marker.is_file(), "the fault was not injected"
        for model in (tiny_model, tiny_b):
            for suite in ("ceval", "sample"):
                single = _single(model, suite, ceval_dir, tmp_path / "single" / model.name / suite)
                sweep = _assert_equal_runs(out / model.name / suite, single, 3)
                assert sweep["launcher"].startswith("ray")
                assert all(sh["node"] == "127.0.0.1" for sh in sweep["shards"])
        shard = next(s for s in _results(out / tiny_b.name / "ceval")["card"]["sweep"]["shards"] if s["id"] == victim)
        # killed after its first batch was stored: the retry resumed the partial shard
        assert shard["attempt"] == 2 and 0 < shard["computed"] < shard["questions"]
        assert f"{victim}: attempt 1 failed" in first.err and "retrying" in first.err
        # a rerun finds every shard and merged run finished and touches no file
        before = _stamps(out)
        assert main(args) == 0
        again = capsys.readouterr().out
        assert _stamps(out) == before
        assert "0 shard(s) run, 12 already finished" in " ".join(again.split())
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_launcher_without_ray_is_one_line(tiny_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    code = main(["sweep", "--models", str(tiny_model), "--suites", "sample", "--launcher", "ray",
                 "--output", str(tmp_path / "s")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "pip install 'harness[ray]'" in err


def test_harness_imports_no_ray():
    code = "import sys, harness, harness.cli, harness.sweep.run; harness.cli.build_parser(); print('ray' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          check=True).stdout.strip() == "False"


def test_sweep_file_and_bad_settings(tiny_model, tmp_path, capsys):
    sweep_file = tmp_path / "nightly.yaml"
    sweep_file.write_text(f"models: [{tiny_model}]\nsuites:\n  sample: {{limit: 2, subjects: [arithmetic, word_kind]}}\n"
                          "shards_per_suite: 2\noutput: out\nrun: {batch_size: 4}\n", encoding="utf-8")
    assert main(["sweep", str(sweep_file), "--quiet"]) == 0
    merged = _results(tmp_path / "out" / tiny_model.name / "sample")
    assert merged["card"]["protocol"]["questions"] == 4 and merged["card"]["backend"]["batch_size"] == 4
    assert [s["subjects"] for s in merged["card"]["sweep"]["shards"]] == [["word_kind"], ["arithmetic"]]
    capsys.readouterr()
    for bad, expected in [
        (["--suites", "sample", "--output", str(tmp_path / "o")], "--models"),
        (["--models", str(tiny_model), "--suites", "sample", "--output", str(tmp_path / "o"), "--gpus-per-shard", "2"],
         "--backend vllm"),
        (["--models", str(tiny_model), "--suites", "sample", "--output", str(tmp_path / "o"), "--limit", "nope=3"],
         "not one of the sweep's suites"),
    ]:
        assert main(["sweep", *bad]) == 2
        err = capsys.readouterr().err.strip()
        assert expected in err and "\n" not in err, err
