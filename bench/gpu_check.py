"""One-command GPU check (H200): the harness's transformers backend vs lm-eval `hf`, CUDA bf16.

    PYTHONPATH=. python bench/gpu_check.py [--limit N] [--peak-tflops 989]

Needs only torch, transformers, peft, lm-eval (no vLLM, no internet): the model is Qwen2.5-7B's
configuration with random weights, built in memory and saved once to --workdir; the tokenizer is
trained on C-Eval's dev text (the 7B config's 152k vocabulary is kept for the model; the tokenizer
uses the first ids). Prints questions per second, the ratio, identical-prediction check, and the
fraction of the GPU's dense bf16 peak reached: 2 * parameters * tokens computed / seconds / peak,
with the peak defaulting to 989 TFLOP/s (H200 SXM dense bf16, no sparsity).
Aim: under 8 minutes on one H200 (default --limit 10 per subject, 52 subjects; --limit 0 = all 1,346).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QWEN25_7B = dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                 num_key_value_heads=4, max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6,
                 vocab_size=152064, tie_word_embeddings=False)


def build_7b(workdir: Path, data: Path) -> tuple[Path, int]:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from harness.demo.tiny import train_tokenizer

    out = workdir / "qwen2.5-7b-random"
    if not (out / "config.json").is_file():
        texts = [p.read_text(encoding="utf-8") for p in sorted((data / "dev").glob("*.csv"))]
        tokenizer = train_tokenizer(texts, vocab_size=32000)
        config = Qwen2Config(**QWEN25_7B, head_dim=128, bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id, initializer_range=0.02)
        torch.manual_seed(0)
        with torch.device("cuda"):
            model = Qwen2ForCausalLM(config).to(torch.bfloat16)
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        del model
        torch.cuda.empty_cache()
    import json

    cfg = json.loads((out / "config.json").read_text())
    h, i, n = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    kv = cfg["num_key_value_heads"] * (h // cfg["num_attention_heads"])
    # matmul weights each token passes through; the embedding is a lookup and the LM head is counted out
    # (the harness applies it only where it reads a log-prob)
    return out, n * (h * h * 2 + 2 * h * kv + 3 * h * i)


def main() -> int:
    from bench_speed import DEFAULT_DATA, lm_eval_tasks, run_harness, run_lm_eval

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=10, help="questions per subject; 0 = all")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H200 SXM: 989)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/harness-gpu-check"))
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device", file=sys.stderr)
        return 2
    from harness.runner import RunConfig, prepare

    limit = args.limit or None
    args.workdir.mkdir(parents=True, exist_ok=True)
    model, params = build_7b(args.workdir, args.data)
    prep = prepare(RunConfig(suite="ceval", model=str(model), output=args.workdir / "x", shots=5, limit=limit,
                             data_dir=args.data))
    n = len(prep.prompts)
    tasks = lm_eval_tasks(args.workdir, prep, 5)
    secs_h, preds_h, tokens = run_harness("hf", model, args.data, limit, 5, args.workdir, args.batch_size, {}, None,
                                          device="cuda", dtype="bfloat16")
    secs_l, preds_l = run_lm_eval("hf", f"pretrained={model},dtype=bfloat16", tasks, args.workdir / "lm_eval_tasks",
                                  args.batch_size, prep, device="cuda")
    same = sum(a == b for a, b in zip(preds_h, preds_l, strict=True))
    peak = args.peak_tflops * 1e12
    print(f"\nGPU: {torch.cuda.get_device_name(0)}; C-Eval val 5-shot, {n} questions; random Qwen2.5-7B config, bf16")
    print(f"{'run':<12}{'seconds':>9}{'q/s':>8}{'tokens computed':>17}{'% of bf16 peak':>16}")
    for name, secs, computed in (("harness hf", secs_h, tokens["computed"]), ("lm-eval hf", secs_l, tokens["prompt"])):
        util = 2 * params * computed / secs / peak
        print(f"{name:<12}{secs:>9.1f}{n / secs:>8.2f}{computed:>17,}{100 * util:>15.1f}%")
    print(f"peak used: {args.peak_tflops:g} TFLOP/s dense bf16; FLOPs counted as 2 x {params / 1e9:.2f}B x tokens computed"
          " (attention scores and LM head not counted; times include model loading)")
    print(f"speed-up: {secs_l / secs_h:.2f}x; same predictions: {same}/{n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
