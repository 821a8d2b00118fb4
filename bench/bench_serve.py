"""Load test of `harness serve` (transformers engine) on loopback: latency, throughput, zero errors.

    PYTHONPATH=. python bench/bench_serve.py [--requests 500] [--concurrency 1,32] [--max-tokens 8]

Starts `python -m harness.cli serve` with a tiny random-weight Qwen2 model and one LoRA variant (API
key on), then sends a fixed mix of requests from an asyncio client at each concurrency level:
greedy completions, one-token letter scoring with `logprobs` (what an evaluation client sends),
and streamed chat completions; half go to the base, half to the variant by name. Prints p50/p99
latency per kind, requests/s and errors; exits 1 on any error or if the server does not stop with
exit code 0 on SIGTERM. Numbers depend on the machine's load: compare runs from one sitting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUESTIONS = ["计算机网络中，TCP属于哪一层？", "我国的根本大法是____。", "光在真空中的速度约为____。",
             "民事行为能力的年龄界限是____。", "HTTP默认端口是____。", "电阻的国际单位是____。"]
KINDS = ("completion", "letter", "chat-stream")


def build(workdir: Path) -> tuple[Path, Path]:
    """The tiny model (as the tests build it) and a LoRA variant with non-zero weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from harness.demo.tiny import build_tiny_model, suite_texts

    model = workdir / "tiny"
    if not (model / "config.json").is_file():
        build_tiny_model(model, suite_texts(REPO / "suites" / "sample") + QUESTIONS, vocab_size=1500, seed=1)
    variant = workdir / "variant"
    if not (variant / "adapter_config.json").is_file():
        torch.manual_seed(0)
        base = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32)
        get_peft_model(base, LoraConfig(r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)).save_pretrained(variant)
    return model, variant


def prompt(i: int) -> str:
    q = QUESTIONS[i % len(QUESTIONS)]
    return f"以下是中国关于考试的单项选择题，请选出其中的正确答案。\n\n{q}\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案："


def request(i: int, models: list[str], max_tokens: int) -> tuple[str, str, dict]:
    kind = KINDS[i % len(KINDS)]
    model = models[(i // len(KINDS)) % len(models)]
    if kind == "completion":
        return kind, "/v1/completions", {"model": model, "prompt": prompt(i), "max_tokens": max_tokens, "temperature": 0}
    if kind == "letter":
        return kind, "/v1/completions", {"model": model, "prompt": prompt(i), "max_tokens": 1, "temperature": 0,
                                         "logprobs": 5}
    return kind, "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": QUESTIONS[i % 6]}],
                                          "max_tokens": max_tokens, "temperature": 0, "stream": True}


async def one(client, kind: str, path: str, body: dict) -> tuple[str, float, bool]:
    start = time.perf_counter()
    try:
        if body.get("stream"):
            async with client.stream("POST", path, json=body) as r:
                lines = [line async for line in r.aiter_lines() if line]
                ok = r.status_code == 200 and lines[-1] == "data: [DONE]" and '"error"' not in "".join(lines)
        else:
            r = await client.post(path, json=body)
            ok = r.status_code == 200 and bool(r.json()["choices"])
    except Exception:  # noqa: BLE001 - every failure counts as an error in the table
        ok = False
    return kind, time.perf_counter() - start, ok


async def load(url: str, key: str, models: list[str], requests: int, concurrency: int, max_tokens: int) -> dict:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, limits=limits,
                                 timeout=600) as client:
        async def guarded(i: int):
            async with sem:
                return await one(client, *request(i, models, max_tokens))

        start = time.perf_counter()
        results = await asyncio.gather(*(guarded(i) for i in range(requests)))
        wall = time.perf_counter() - start
    return {"results": results, "wall": wall}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def table(concurrency: int, out: dict) -> list[str]:
    rows = [f"concurrency {concurrency}: {len(out['results'])} requests in {out['wall']:.1f} s = "
            f"{len(out['results']) / out['wall']:.1f} req/s",
            f"  {'kind':<12} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'errors':>6}"]
    for kind in (*KINDS, "all"):
        sel = [(t, ok) for k, t, ok in out["results"] if kind in ("all", k)]
        lat = [t * 1000 for t, _ in sel]
        rows.append(f"  {kind:<12} {len(sel):>5} {pct(lat, .5):>8.1f} {pct(lat, .99):>8.1f} "
                    f"{statistics.fmean(lat):>8.1f} {sum(not ok for _, ok in sel):>6}")
    return rows


def main() -> int:
    import httpx

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--concurrency", default="1,32", help="comma-separated levels, each run with --requests")
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "harness-bench-serve")
    ap.add_argument("--threads", type=int, help="OMP_NUM_THREADS for the server (default: torch's choice)")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    model, variant = build(args.workdir)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = os.urandom(16).hex()
    env = {**os.environ, "BENCH_SERVE_KEY": key, "PYTHONPATH": str(REPO)}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    log = args.workdir / "server.log"
    cmd = [sys.executable, "-m", "harness.cli", "serve", "--model", str(model), "--variants", str(variant),
           "--engine", "hf", "--port", str(port), "--api-key-env", "BENCH_SERVE_KEY"]
    with open(log, "wb") as fh:
        server = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        while True:
            if server.poll() is not None:
                print(log.read_text(errors="replace"), file=sys.stderr)
                return 1
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        print(f"server ready in {time.perf_counter() - started:.1f} s (threads: {args.threads or 'default'})")
        models = ["tiny", "variant"]
        asyncio.run(load(url, key, models, 12, 4, args.max_tokens))  # warm-up
        errors = 0
        for level in [int(c) for c in args.concurrency.split(",")]:
            out = asyncio.run(load(url, key, models, args.requests, level, args.max_tokens))
            print("\n".join(table(level, out)))
            errors += sum(not ok for _, _, ok in out["results"])
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    leaked = key in log.read_text(errors="replace")
    print(f"server exit code after SIGTERM: {code}; key in server log: {leaked}; errors: {errors}")
    return 0 if errors == 0 and code == 0 and not leaked else 1


if __name__ == "__main__":
    sys.exit(main())
