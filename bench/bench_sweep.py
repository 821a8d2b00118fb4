"""Sweep benchmark: the same sweep on 1 vs 2 Ray worker processes (actors and tasks), and in one process.

    PYTHONPATH=. python bench/bench_sweep.py [--limit N] [--configs local,actor1,actor2,task1,task2]

The sweep: 2 random-weight Qwen2 models (default hidden 256, 4 layers; speed does not depend on the
weights) × 2 suites (C-Eval val 5-shot over the first --subjects subjects of ../shared/data, --limit
questions each, or the test fixture's three subjects when that data is absent; and the bundled
`sample` suite) × 3 shards each. Each Ray configuration gets a fresh local Ray head on 127.0.0.1 with
num_cpus = its workers; Ray gives each worker 1 CPU (OMP_NUM_THREADS=1), so 1 vs 2 workers is one vs two
processes of one thread each; `local` is one process with torch's default threads. The time is the
sweep's wall time from the command's start to its end: planning, worker start (a process importing
torch), model loads, shards and merges, not Ray's own start (printed apart). Every configuration must
merge to the same records: byte-identical among the Ray configurations (one thread per process each);
against `local` (two threads) the predictions must agree and the log-probabilities differ only in float
rounding (torch sums in another order with another thread count; printed). The machine may be shared: the load average is printed before and
after each configuration, and numbers taken under load are slower and noisier than the machine allows.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ceval" / "ceval-exam"
for key, value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                   "TOKENIZERS_PARALLELISM": "false", "RAY_USAGE_STATS_ENABLED": "0",
                   "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # Ray's single-machine mode: loopback only
                   "RAY_AUTH_MODE": "disabled"}.items():
    os.environ.setdefault(key, value)


def build_models(workdir: Path, data: Path, hidden: int, layers: int) -> list[Path]:
    from harness.demo.tiny import build_tiny_model, suite_texts

    texts = [p.read_text(encoding="utf-8") for p in sorted((data / "dev").glob("*.csv"))]
    texts += suite_texts(REPO / "suites" / "sample")
    out = []
    for seed in (0, 1):
        folder = workdir / f"qwen2-h{hidden}-l{layers}-s{seed}"
        heads = max(1, hidden // 64)
        if not (folder / "config.json").is_file():
            build_tiny_model(folder, texts, vocab_size=8000, hidden_size=hidden, layers=layers, heads=heads,
                             kv_heads=max(1, heads // 4), intermediate_size=int(hidden * 2.75), seed=seed)
        out.append(folder)
    return out


def _difference(a: bytes, b: bytes) -> str:
    """Same predictions? and the largest log-probability difference between two records files."""
    import json

    ra = [json.loads(line) for line in a.decode().splitlines()]
    rb = [json.loads(line) for line in b.decode().splitlines()]
    assert [r["id"] for r in ra] == [r["id"] for r in rb]
    preds = sum(x["pred"] != y["pred"] for x, y in zip(ra, rb, strict=True))
    delta = max(abs(x["logprobs"][k] - y["logprobs"][k]) for x, y in zip(ra, rb, strict=True) for k in x["logprobs"])
    return f"{preds} different predictions, largest log-prob difference {delta:.1e}"


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(config: str, models: list[Path], data: Path, subjects: str | None, limit: int, out: Path) -> float:
    from harness.cli import main

    args = ["sweep", "--models", ",".join(str(m) for m in models), "--suites", "ceval,sample",
            "--data-dir", f"ceval={data}", "--limit", str(limit), "--shards-per-suite", "3", "--output", str(out),
            "--quiet"]
    if subjects:
        args += ["--subjects", f"ceval={subjects}"]
    if config != "local":
        args += ["--launcher", "ray", "--ray-mode", config.rstrip("0123456789")]
    started = time.perf_counter()
    code = main(args)
    seconds = time.perf_counter() - started
    if code != 0:
        sys.exit(f"{config}: sweep failed ({code})")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=5, help="questions per subject (default 5)")
    parser.add_argument("--subjects", type=int, default=12, help="C-Eval subjects, the first N (default 12)")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--configs", default="local,actor1,actor2,task1,task2")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "harness-bench-sweep")
    args = parser.parse_args()
    data, subjects = DATA, None
    if (DATA / "val").is_dir():
        names = sorted(p.name.removesuffix("_val.csv") for p in (DATA / "val").glob("*_val.csv"))
        subjects = ",".join(names[: args.subjects])
    else:
        sys.path.insert(0, str(REPO / "tests"))
        from conftest import SUBJECT_QUESTIONS, write_ceval_layout

        data = write_ceval_layout(args.workdir / "ceval", n_val=20, n_dev=5)
        subjects = ",".join(SUBJECT_QUESTIONS)
        print(f"(no {DATA}: the test fixture's {len(SUBJECT_QUESTIONS)} subjects instead)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    models = build_models(args.workdir, data, args.hidden, args.layers)
    import torch  # noqa: F401 - imported before timing, as bench_speed.py does

    print(f"machine: {os.cpu_count()} CPUs; {load()} (shared with other work: see the load averages)")
    times: dict[str, float] = {}
    reference: dict[str, bytes] = {}
    for config in args.configs.split(","):
        out = args.workdir / f"out-{config}"
        shutil.rmtree(out, ignore_errors=True)
        before = load()
        ray = None
        if config != "local":
            import ray

            workers = int(re.sub(r"\D", "", config))
            temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
            started = time.perf_counter()
            ray.init(num_cpus=workers, include_dashboard=False, _temp_dir=temp, log_to_driver=False)
            print(f"{config}: Ray head started in {time.perf_counter() - started:.1f}s")
        try:
            times[config] = run(config, models, data, subjects, args.limit, out)
        finally:
            if ray is not None:
                ray.shutdown()
                shutil.rmtree(temp, ignore_errors=True)
        merged = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob("*/*/records.jsonl"))}
        # byte-identical between configurations with the same torch threads per process (Ray: 1);
        # across thread counts, float sums are added in another order: compare predictions and log-probs
        group = "local" if config == "local" else "ray"
        for name, text in merged.items():
            assert reference.setdefault(f"{group}:{name}", text) == text, f"{config}: {name} differs from its group"
            other = reference.get(f"{'ray' if group == 'local' else 'local'}:{name}")
            if other is not None:
                print(f"  {name}: {_difference(other, text)} vs the other thread count")
        questions = sum(t.count(b"\n") for t in merged.values())
        print(f"{config}: {times[config]:.1f}s for {questions} questions ({questions / times[config]:.2f} q/s); "
              f"{before} → {load()}")
    print("\n| configuration | wall s | vs 1 worker |")
    print("|---|---|---|")
    for config, seconds in times.items():
        one = times.get(re.sub(r"\d+$", "1", config)) if config != "local" else None
        ratio = f"{one / seconds:.2f}x" if one else ""
        print(f"| {config} | {seconds:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
