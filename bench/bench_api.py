"""API benchmark: the harness's `--backend openai` vs lm-eval's `local-completions` model, both against the
same `harness serve`, on C-Eval val 5-shot: requests sent, wall time, identical predictions.

    PYTHONPATH=. python bench/bench_api.py [--subjects a,b] [--limit N] [--concurrency 8] [--workdir DIR]

The model is bench/bench_speed.py's (random-weight Qwen2, hidden 512, 8 layers, a byte-level BPE tokenizer
trained on C-Eval's dev text). One `harness serve --engine hf` process serves it on loopback; requests
are counted from the server's access log (one line per request). lm-eval gets the task YAMLs of
bench_speed.py (the harness's C-Eval prompt exactly) and scores each option by its echoed prompt
log-probs (`loglikelihood`: one request per option at its default batch size 1, tokenised locally and
sent as token ids). The harness asks one greedy one-token completion per question and reads the letters
from its top log-probs (plus one tokenisation probe per run).

A random-weight model does not put the answer letters among its 20 most likely tokens the way a trained
model does after "答案：", so the harness run asks for the whole vocabulary's log-probs (--top-logprobs
= vocabulary size): every letter is then present and the predictions can be compared with lm-eval's one
for one. That makes each of our responses far larger than a real run's (top 20): the time measured here
is a conservative bound for us.

Both clients use the same number of concurrent requests. The machine may be shared: the load average is
printed before and after each run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "ceval" / "ceval-exam"
for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def start_server(model: Path, port: int, log: Path, threads: int, max_logprobs: int) -> subprocess.Popen:
    import httpx

    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "harness.cli", "serve", "--model", str(model), "--engine", "hf", "--port", str(port),
           "--device", "cpu", "--max-logprobs", str(max_logprobs), "--max-tokens-limit", "64"]
    proc = subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env)  # noqa: SIM115
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("server did not become healthy")


def requests_in_log(log: Path) -> int:
    return sum('"POST /v1/' in line for line in log.read_text(encoding="utf-8", errors="replace").splitlines())


def run_ours(model: Path, url: str, args: argparse.Namespace, subjects: list[str] | None, vocab: int) -> tuple[float, list[str], dict]:
    from harness.runner import RunConfig, execute

    out = args.workdir / "harness-openai"
    cache = out / "api-responses.jsonl"
    cache.unlink(missing_ok=True)
    config = RunConfig(suite="ceval", model=str(model), output=out, shots=args.shots, limit=args.limit,
                       data_dir=args.data, subjects=subjects, backend="openai", overwrite=True,
                       backend_options={"base_url": url, "concurrency": args.concurrency, "top_logprobs": vocab,
                                        "response_cache": str(cache)})
    start = time.time()
    results = execute(config, progress=False)
    seconds = time.time() - start
    records = [json.loads(x) for x in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    return seconds, [r.get("pred") for r in records], results


def run_theirs(model: Path, url: str, args: argparse.Namespace, tasks: list[str], prep) -> tuple[float, list[str]]:
    import lm_eval
    from lm_eval.tasks import TaskManager

    model_args = (f"model={model.name},base_url={url}/completions,tokenizer_backend=huggingface,tokenizer={model},"
                  f"num_concurrent={args.concurrency},max_retries=3,max_length=8192")
    start = time.time()
    out = lm_eval.simple_evaluate(model="local-completions", model_args=model_args, tasks=tasks,
                                  task_manager=TaskManager(include_path=str(args.workdir / "lm_eval_tasks")),
                                  batch_size=args.lmeval_batch_size, log_samples=True)
    seconds = time.time() - start
    preds = []
    for subject in prep.subjects:
        for s in sorted(out["samples"][f"bench_ceval_{subject}"], key=lambda s: s["doc_id"]):
            lls = [r[0] for r in s["filtered_resps"]]
            preds.append("ABCD"[max(range(len(lls)), key=lls.__getitem__)])
    return seconds, preds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="C-Eval release folder (dev/ val/)")
    ap.add_argument("--limit", type=int, help="questions per subject (default: all)")
    ap.add_argument("--subjects", help="comma-separated subjects (default: all 52)")
    ap.add_argument("--shots", type=int, default=5)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--concurrency", type=int, default=8, help="requests in flight, both clients")
    ap.add_argument("--lmeval-batch-size", type=int, default=1, help="lm-eval's batch_size (prompts per request)")
    ap.add_argument("--server-threads", type=int, default=1, help="OMP_NUM_THREADS of the server")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/harness-bench-api"))
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from bench.bench_speed import build_model, lm_eval_tasks
    from harness.runner import RunConfig, prepare

    args.workdir.mkdir(parents=True, exist_ok=True)
    model = build_model(args.workdir, args.data, args.hidden, args.layers)
    vocab = json.loads((model / "config.json").read_text(encoding="utf-8"))["vocab_size"]
    subjects = args.subjects.split(",") if args.subjects else None
    prep = prepare(RunConfig(suite="ceval", model=str(model), output=args.workdir / "x", shots=args.shots,
                             limit=args.limit, data_dir=args.data, subjects=subjects))
    gold = [p.question.answer for p in prep.prompts]
    n = len(prep.prompts)
    tasks = lm_eval_tasks(args.workdir, prep, args.shots)
    import lm_eval.models.openai_completions  # noqa: F401  (imports paid before timing, by both sides)

    import harness.backends.openai_api  # noqa: F401

    port = 18000 + os.getpid() % 1000
    log = args.workdir / "server.log"
    server = start_server(model, port, log, args.server_threads, vocab + 1)
    url = f"http://127.0.0.1:{port}/v1"
    rows = []
    try:
        for name in ("harness openai", "lm-eval local-completions"):
            before, load_before = requests_in_log(log), load()
            if name == "harness openai":
                secs, preds, results = run_ours(model, url, args, subjects, vocab)
                fallback = results["scores"]["letter_fallback"]["questions"]
            else:
                secs, preds = run_theirs(model, url, args, tasks, prep)
                fallback = None
            time.sleep(1.0)  # let the access log flush
            sent = requests_in_log(log) - before
            rows.append((name, secs, sent, preds, fallback, load_before, load()))
            print(f"{name}: {secs:.1f} s, {sent} requests (load average {load_before} -> {load()})", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"\nC-Eval val {args.shots}-shot, {n} questions, {len(prep.subjects)} subjects; model {model.name} "
          f"(float32, CPU, server OMP_NUM_THREADS={args.server_threads}); {args.concurrency} concurrent requests; "
          f"{os.cpu_count()} cores")
    print(f"{'client':<28}{'seconds':>9}{'requests':>10}{'req/question':>14}{'acc %':>8}  same preds  load avg (1/5/15 min) before -> after")
    first = rows[0][3]
    for name, secs, sent, preds, _fb, lb, la in rows:
        acc = 100 * sum(p == g for p, g in zip(preds, gold, strict=True)) / n
        same = sum(a == b for a, b in zip(preds, first, strict=True))
        print(f"{name:<28}{secs:>9.1f}{sent:>10}{sent / n:>14.2f}{acc:>8.2f}  {same:>4}/{n:<5}  {lb} -> {la}")
    ours, theirs = rows[0], rows[1]
    print(f"harness letters outside the top list (answered by generation): {ours[4]}")
    req_ratio, time_ratio = theirs[2] / ours[2], theirs[1] / ours[1]
    print(f"fewer requests: {req_ratio:.2f}x (target >= 4x: {'met' if req_ratio >= 4 else 'NOT met'}); "
          f"less time: {time_ratio:.2f}x (target >= 3x: {'met' if time_ratio >= 3 else 'NOT met'})")
    ok = ours[3] == theirs[3]
    print(f"identical predictions: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
