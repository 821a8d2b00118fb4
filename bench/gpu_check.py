"""GPU check: the harness's transformers backend vs lm-eval `hf` on a 7B-shaped random model, CUDA bf16.

    bash bench/gpu_check.sh [--limit N] [--suites ceval,mmlu,cmmlu]      (installs, then runs this)
    python bench/gpu_check.py --data-root DIR [--device cpu --tiny]      (this script alone)

Three suites, 5-shot: C-Eval val, MMLU test and CMMLU-shaped data (CMMLU's 67 subjects, layout and prompt,
filled with C-Eval test questions: CMMLU itself is not among the data this project may use). The model is
Qwen2.5-7B's configuration with random weights (speed does not depend on the weights), saved once to
--workdir; its tokenizer is a byte-level BPE trained on the C-Eval and MMLU dev text (32k vocabulary, the
model keeps the 7B config's 152k embedding rows). Every run is a whole process (`harness run` as a user
types it; lm-eval in a fresh interpreter) and reports when its first forward pass began, so scoring time
is shown apart from start-up and model loading.

Printed per suite and run: seconds (whole process), questions per second, tokens computed, tokens per
second while scoring, and the fraction of the GPU's dense bf16 peak reached while scoring:
2 x matmul parameters x tokens computed / scoring seconds / peak (peak 989 TFLOP/s: H200 SXM dense bf16
as specified; a plain 8192^3 bf16 matmul reaches about 790 there). Then whether both tools predict the
same letter for every question; in bf16 a question whose top two options are within rounding of each
other can flip with the batch's shape, so each disagreement is listed with the harness's top-two gap.

--device cpu --tiny runs the same code on a tiny model in float32 (a rehearsal: bench/gpu_dry_run.sh).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from common import (  # noqa: E402
    SHARED,
    check_load,
    harness_child,
    lm_eval_child,
    lm_eval_tasks,
    token_floor,
)

QWEN25_7B = dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                 num_key_value_heads=4, max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6,
                 vocab_size=152064, tie_word_embeddings=False)
CMMLU_PER_SUBJECT = 172  # CMMLU's test split: 11,528 questions over 67 subjects
SUITES = {"ceval": ("ceval", "val"), "mmlu": ("mmlu", "test"), "cmmlu": ("cmmlu", "test")}  # data folder, split


def data_paths(root: Path) -> tuple[Path, Path]:
    """(C-Eval, MMLU) release folders: under `root` as prepare_gpu_wheels.sh stages them, else ../shared/data."""
    if (root / "ceval" / "dev").is_dir() and (root / "mmlu" / "dev").is_dir():
        return root / "ceval", root / "mmlu"
    return SHARED / "ceval" / "ceval-exam", SHARED / "mmlu" / "data"


def _dev_texts(ceval: Path, mmlu: Path) -> list[str]:
    return [p.read_text(encoding="utf-8") for d in (ceval, mmlu) for p in sorted((d / "dev").glob("*.csv"))]


def build_model(workdir: Path, texts: list[str], tiny: bool, device: str) -> Path:
    """The random model and its tokenizer, built once into `workdir`."""
    out = workdir / ("tiny-random" if tiny else "qwen2.5-7b-random")
    if (out / "config.json").is_file():
        return out
    if tiny:
        from harness.demo.tiny import build_tiny_model

        return build_tiny_model(out, texts, vocab_size=4000, hidden_size=64, layers=2, heads=2,
                                kv_heads=1, intermediate_size=176)
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from harness.demo.tiny import train_tokenizer

    tokenizer = train_tokenizer(texts, vocab_size=32000)
    config = Qwen2Config(**QWEN25_7B, head_dim=128, bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, initializer_range=0.02)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return out


def matmul_params(model: Path) -> int:
    """Weights every computed token passes through (the embedding is a lookup; the LM head is applied only
    where a log-prob is read, so it is left out)."""
    cfg = json.loads((model / "config.json").read_text())
    h, i, n = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    head_dim = cfg.get("head_dim") or h // cfg["num_attention_heads"]
    q = cfg["num_attention_heads"] * head_dim
    kv = cfg["num_key_value_heads"] * head_dim
    return n * (2 * h * q + 2 * h * kv + 3 * h * i)


def cmmlu_shaped(ceval: Path, out: Path, per_subject: int) -> Path:
    """CMMLU's layout (`{split}/{subject}.csv`, header `,Question,A,B,C,D,Answer`) for its 67 subjects, filled
    with C-Eval test questions (answers drawn at random: C-Eval's test answers are not public) and C-Eval dev
    questions as the 5 few-shot examples."""
    from harness.suite import load_suite

    if (out / "test").is_dir():
        return out
    rng = random.Random(0)

    def rows(split: str) -> list[list[str]]:
        found = []
        for path in sorted((ceval / split).glob("*.csv")):
            with open(path, encoding="utf-8", newline="") as fh:
                for r in csv.DictReader(fh):
                    found.append([r["question"], r["A"], r["B"], r["C"], r["D"], r.get("answer") or rng.choice("ABCD")])
        rng.shuffle(found)
        return found

    test, dev = rows("test"), rows("dev")
    for split in ("test", "dev"):
        (out / split).mkdir(parents=True, exist_ok=True)
    for k, subject in enumerate(load_suite("cmmlu").subjects):
        for split, pool, n in (("test", test, per_subject), ("dev", dev, 5)):
            chosen = [pool[(k * n + j) % len(pool)] for j in range(n)]
            with open(out / split / f"{subject}.csv", "w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["", "Question", "A", "B", "C", "D", "Answer"])
                writer.writerows([j, *row] for j, row in enumerate(chosen))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, default=REPO / ".whl" / "data",
                    help="folder with ceval/ and mmlu/ release layouts (bench/prepare_gpu_wheels.sh stages "
                         ".whl/data; default falls back to ../shared/data)")
    ap.add_argument("--suites", default="ceval,mmlu,cmmlu")
    ap.add_argument("--limit", type=int, default=10, help="questions per subject; 0 = all")
    ap.add_argument("--subjects-per-suite", type=int, help="only the first N subjects of each suite")
    ap.add_argument("--batch-size", type=int, default=64, help="harness --batch-size and lm-eval batch size")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (with --tiny: a rehearsal)")
    ap.add_argument("--tiny", action="store_true", help="a tiny random model instead of the 7B shape")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H200 SXM: 989)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/harness-gpu-check"))
    args = ap.parse_args()
    started = time.time()
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: no CUDA device (use --device cpu --tiny for a rehearsal)", file=sys.stderr)
        return 2
    ceval, mmlu = data_paths(args.data_root)
    args.workdir.mkdir(parents=True, exist_ok=True)
    dtype = "bfloat16" if args.device.startswith("cuda") else "float32"
    limit = args.limit or None
    model = build_model(args.workdir, _dev_texts(ceval, mmlu), args.tiny, args.device)
    params = matmul_params(model)
    roots = {"ceval": ceval, "mmlu": mmlu,
             "cmmlu": cmmlu_shaped(ceval, args.workdir / "cmmlu-shaped", CMMLU_PER_SUBJECT)}
    device_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"CPU ({os.cpu_count()} cores)"
    print(f"gpu_check: {device_name}; model {model.name} ({params / 1e9:.2f}B matmul parameters, {dtype}); "
          f"built in {time.time() - started:.0f}s", flush=True)
    from harness.runner import RunConfig, prepare
    from harness.suite import load_suite

    results = []
    for suite in [s.strip() for s in args.suites.split(",")]:
        data = roots[suite]
        subjects = None
        if args.subjects_per_suite:
            subjects = list(load_suite(suite).subjects)[: args.subjects_per_suite]
        prep = prepare(RunConfig(suite=suite, model=str(model), output=args.workdir / "x", shots=5, limit=limit,
                                 data_dir=data, subjects=subjects, split=SUITES[suite][1]))
        tasks = lm_eval_tasks(args.workdir / "lm_eval_tasks" / suite, prep, 5, split=SUITES[suite][1])
        prompt_tokens, floor, _ = token_floor(prep, model)
        check_load(False)
        ours = harness_child("hf", model, suite, data, args.workdir / f"harness-{suite}", shots=5, limit=limit,
                             subjects=subjects, device=args.device, dtype=dtype, batch_size=args.batch_size,
                             python=sys.executable, src=None)
        print(f"harness {suite}: {ours.seconds:.1f}s", flush=True)
        theirs = lm_eval_child("hf", f"pretrained={model},dtype={dtype}", tasks, args.workdir / "lm_eval_tasks" / suite,
                               args.batch_size, args.device, args.workdir / f"lm-eval-{suite}.json")
        print(f"lm-eval {suite}: {theirs.seconds:.1f}s", flush=True)
        results.append((suite, len(prep.prompts), prompt_tokens, floor, ours, theirs))
    report(results, params, args.peak_tflops if args.device.startswith("cuda") else None)
    print(f"gpu_check: {time.time() - started:.0f}s in all (install not included)")
    return 0


def report(results, params: int, peak_tflops: float | None) -> None:  # noqa: ANN001
    print(f"\n{'suite':<7}{'run':<9}{'questions':>10}{'seconds':>9}{'1st fwd':>9}{'q/s':>8}{'computed':>11}"
          f"{'tok/s':>10}{'% bf16 peak':>12}")
    for suite, n, prompt_tokens, floor, ours, theirs in results:
        for name, child, computed in (("harness", ours, ours.info["tokens"]["computed"]), ("lm-eval", theirs, prompt_tokens)):
            scoring = child.seconds - (child.first_forward or 0)
            util = f"{100 * 2 * params * computed / scoring / (peak_tflops * 1e12):.1f}%" if peak_tflops else "n/a"
            print(f"{suite:<7}{name:<9}{n:>10}{child.seconds:>9.1f}{child.first_forward or 0:>9.1f}{n / child.seconds:>8.2f}"
                  f"{computed:>11,}{computed / scoring:>10,.0f}{util:>12}")
        print(f"{'':<7}speed-up {theirs.seconds / ours.seconds:.2f}x whole process; tokens: prompts {prompt_tokens:,}, "
              f"floor {floor:,}, harness computed {ours.info['tokens']['computed']:,}")
    for suite, n, _, _, ours, theirs in results:
        got, want = ours.info["preds"], theirs.info["preds"]
        diff = [i for i in range(n) if got[i] != want[i]]
        print(f"{suite}: same predictions {n - len(diff)}/{n}")
        for i in diff[:10]:
            lp = sorted(ours.info["logprobs"][i].values(), reverse=True)
            print(f"  question {i}: harness {got[i]}, lm-eval {want[i]}; harness top-two gap {lp[0] - lp[1]:.4f}")
    if peak_tflops:
        print(f"peak used: {peak_tflops:g} TFLOP/s dense bf16; FLOPs = 2 x {params / 1e9:.2f}B x tokens computed "
              "(attention scores and LM head not counted); tok/s and % peak over scoring time (from the first forward "
              "pass to the end of the process), q/s over the whole process")


if __name__ == "__main__":
    raise SystemExit(main())
