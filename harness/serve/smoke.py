"""Test a model in use: serve it with `harness serve`, run a short suite against the server through
`--backend openai`, and set the served answers beside the local evaluation's (`harness pipeline --serve`).

The server is a child process on a free loopback port, started with a fresh random key (in the child's
environment, and in this process's only while the smoke run needs it), and stopped with SIGTERM (its
graceful shutdown) at the end, whatever happened. Agreement is counted over the questions both runs
scored from all the answer letters' log-probabilities: a served model that is not the evaluated one
(another adapter, another base) shows up there.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.errors import UserError

KEY_ENV = "HARNESS_SMOKE_SERVE_KEY"
START_TIMEOUT_S = 600.0  # loading a 7B model on a slow disk takes minutes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(proc: subprocess.Popen, url: str, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] if log.is_file() else []
            raise UserError(f"harness serve exited with code {proc.returncode}: {tail[0] if tail else 'no output'} (log: {log})")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise UserError(f"harness serve did not answer /health within {START_TIMEOUT_S:.0f} s (log: {log})")


def _stop(proc: subprocess.Popen) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def agreement(local: list[Any], served: list[Any], letters: int) -> dict[str, int]:
    """How many questions both runs scored from all `letters` log-probs, and on how many they agree."""
    by_id = {r.id: r for r in local}
    pairs = [(by_id[r.id], r) for r in served if r.id in by_id]
    both = [(a, b) for a, b in pairs if b.values.get("letters_present") == letters and a.logprobs
            and len(a.logprobs) == letters and not a.values.get("fallback")]
    return {"questions": len(pairs), "compared": len(both), "agree": sum(a.pred == b.pred for a, b in both)}


def smoke_test(model: str, local_run: Path, out: Path, run_options: dict[str, Any], limit: int, engine: str = "auto",
               device: str = "auto", top_logprobs: int = 20, progress: bool = True) -> dict[str, Any]:
    """Serve `model`, run the suite of `run_options` (first `limit` questions per subject) against it,
    and compare with the local run in `local_run`. Returns what `serve.json` records."""
    from harness.results.run import load_run
    from harness.runner import RunConfig, execute

    if limit < 1:
        raise UserError("--serve-limit must be at least 1")
    out.mkdir(parents=True, exist_ok=True)
    port, key = _free_port(), secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}"
    log = out / "server.log"
    cmd = [sys.executable, "-m", "harness.cli", "serve", "--model", model, "--port", str(port), "--engine", engine,
           "--device", device, "--api-key-env", KEY_ENV, "--max-logprobs", str(max(20, top_logprobs))]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, KEY_ENV: key})
    started = time.time()
    try:
        _wait_healthy(proc, url, log)
        os.environ[KEY_ENV] = key
        config = RunConfig(model=model, output=out / "run", backend="openai", **{**run_options, "limit": limit},
                           backend_options={"base_url": f"{url}/v1", "api_key_env": KEY_ENV, "top_logprobs": top_logprobs,
                                            "response_cache": str(out / "run" / "api-responses.jsonl")})
        results = execute(config, progress=progress)
    finally:
        os.environ.pop(KEY_ENV, None)
        code = _stop(proc)
    served = load_run(out / "run")
    letters = len(served.results.get("card", {}).get("protocol", {}).get("choices") or "ABCD")
    return {
        "model": model,
        "engine": engine,
        "seconds": round(time.time() - started, 1),
        "server_exit_code": code,
        "scores": {"overall": results["scores"]["overall"], "letter_fallback": results["scores"].get("letter_fallback")},
        "api": results["card"].get("api"),
        "agreement_with_local_run": agreement(load_run(local_run).records, served.records, letters),
    }
