"""Faults between `--backend openai` and a real `harness serve`, injected by a proxy on loopback.

A 429 with Retry-After, a 500, a hung response and a truncated body on the first attempt of chosen
requests: the run completes with records identical to a clean run's. A run killed with SIGKILL while
the proxy stalls, then run again: no request that had been answered is sent again, and the records
equal the clean run's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("httpx", reason="the serve extra is not installed")
pytest.importorskip("fastapi", reason="the serve extra is not installed")

from api_servers import KEY_ENV, FaultProxy, start_serve, stop  # noqa: E402

from harness.cli import main  # noqa: E402

KEY = "sk-harness-fault-test-" + os.urandom(8).hex()


@pytest.fixture(scope="module")
def upstream(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("fault-serve")
    proc, url = start_serve(tiny_model, [], KEY, root / "server.log")
    yield url
    stop(proc)


@pytest.fixture
def proxy(upstream):
    p = FaultProxy(upstream)
    yield p
    p.close()


def _args(model: Path, ceval_dir: Path, url: str, out: Path) -> list[str]:
    return ["run", "--suite", "ceval", "--data-dir", str(ceval_dir), "--subjects", "computer_network,law,high_school_physics",
            "--shots", "1", "--model", str(model), "--backend", "openai", "--base-url", url + "/v1", "--api-key-env",
            KEY_ENV, "--top-logprobs", "1500", "--concurrency", "4", "--request-timeout", "2", "--max-retries", "4",
            "--output", str(out), "--quiet"]


def _records(out: Path) -> str:
    return (out / "records.jsonl").read_text(encoding="utf-8")


def test_faults_leave_records_identical(proxy, upstream, tiny_model, ceval_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    assert main(_args(tiny_model, ceval_dir, upstream, tmp_path / "clean")) == 0
    proxy.faults = {2: "429", 4: "500", 6: "hang", 8: "truncate", 9: "429", 11: "truncate"}
    assert main(_args(tiny_model, ceval_dir, proxy.url, tmp_path / "faulty")) == 0
    assert _records(tmp_path / "faulty") == _records(tmp_path / "clean")
    clean = json.loads((tmp_path / "clean" / "results.json").read_text(encoding="utf-8"))
    faulty = json.loads((tmp_path / "faulty" / "results.json").read_text(encoding="utf-8"))
    assert faulty["scores"] == clean["scores"]
    api = faulty["card"]["api"]
    assert api["retries"] == 6 and api["throttled"] == 2 and api["requests"] == clean["card"]["api"]["requests"] + 6
    assert api["lowest_concurrency"] < 4  # each 429 halved the requests in flight
    sent = proxy.sent(0)
    assert len(sent) == len(set(sent)) + 6  # exactly the six faulted requests were sent twice


def test_kill_9_then_rerun_repeats_no_answered_request(proxy, upstream, tiny_model, ceval_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    assert main(_args(tiny_model, ceval_dir, upstream, tmp_path / "clean")) == 0
    total = len(_records(tmp_path / "clean").splitlines())
    out = tmp_path / "killed"
    proxy.stall_after = 7  # the probe (which answers the first question) and six more; later answers are held
    env = {**os.environ, KEY_ENV: KEY}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *_args(tiny_model, ceval_dir, proxy.url, out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        # wait until the seven answers that can go out are recorded, then kill
        while True:
            done = len((out / "records.jsonl").read_text(encoding="utf-8").splitlines()) \
                if (out / "records.jsonl").is_file() else 0
            answered = len(proxy.ok(0))
            if answered == 7 and done == answered:
                break
            assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
            assert time.monotonic() < deadline, (done, answered)
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not (out / "results.json").exists()
    answered_before = set(proxy.ok(0))
    proxy.next_epoch()
    assert main(_args(tiny_model, ceval_dir, proxy.url, out)) == 0
    again = proxy.sent(1)
    assert not answered_before & set(again)  # nothing answered before the kill was asked again
    assert len(again) == len(set(again)) == total - len(answered_before)
    assert _records(out) == _records(tmp_path / "clean")


def test_a_malformed_answer_that_stays_malformed_is_one_line_and_exit_2(proxy, tiny_model, ceval_dir, tmp_path,
                                                                        monkeypatch, capsys):
    monkeypatch.setenv(KEY_ENV, KEY)
    proxy.always = "garbage"
    args = _args(tiny_model, ceval_dir, proxy.url, tmp_path / "run")
    args[args.index("--max-retries") + 1] = "1"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "malformed response" in err and "gave up after 2 attempts" in err
    assert len(proxy.sent(0)) == 2 and not (tmp_path / "run" / "results.json").exists()
