"""`harness run`: score a suite on a model and write a run folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.runner import METHODS, RunConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="score a suite on a model", description="Score a suite on a model.")
    p.add_argument("--suite", required=True, help="suite name (ceval, mmlu, cmmlu, …) or path to a suite .yaml")
    p.add_argument("--model", required=True, help="catalogue key (KEY or KEY:chat), variant BASE+NAME, local folder or hub id")
    p.add_argument("--split", help="split to score (default: the suite's, e.g. val for C-Eval)")
    p.add_argument("--shots", type=int, help="few-shot examples, the first k of the dev split (default: the suite's)")
    p.add_argument("--subjects", help="comma-separated subjects, categories or subsets (e.g. hard)")
    p.add_argument("--limit", type=int, help="score only the first N questions of each subject")
    p.add_argument("--method", default="letter", choices=METHODS, help="letter: next-token log-probs of A-D (default); choice: each option's log-likelihood as lm-eval computes it; generate: generate text and read the answer from it (always so for law, medicine, code)")
    p.add_argument("--backend", default="hf", help="hf (transformers), vllm, or openai (any OpenAI-compatible server or API)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 … (default: cuda when available)")
    p.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16 (auto: bf16 on GPU, fp32 on CPU)")
    p.add_argument("--batch-size", type=int, help="most sequences per forward pass (default: hf cuts scoring passes by length, up to 64; generation 16)")
    p.add_argument("--data-dir", type=Path, help="local folder in the benchmark's release layout (instead of the hub)")
    p.add_argument("--output", type=Path, help="run folder (default: runs/<suite>-<model>)")
    p.add_argument("--chat-template", action="store_true", help="wrap each prompt in the model's chat template")
    p.add_argument("--revision", help="model revision (branch, tag or commit) on the hub")
    p.add_argument("--no-prefix-cache", action="store_true", help="compute every prompt whole (no shared-prefix reuse)")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="run the model's own Python code (hub or local folder with auto_map), e.g. ChatGLM2/3")
    p.add_argument("--tensor-parallel-size", type=int, help="vllm: GPUs to shard the model over")
    p.add_argument("--gpu-memory-utilization", type=float, help="vllm: fraction of GPU memory for the engine (default 0.9)")
    p.add_argument("--max-model-len", type=int, help="vllm: context length to allocate (default: the model's)")
    p.add_argument("--overwrite", action="store_true", help="replace a different run already in --output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    a = p.add_argument_group("API models and servers (--backend openai; catalogue API entries bring their own URL)")
    a.add_argument("--base-url", help="the server's OpenAI-compatible root, e.g. http://127.0.0.1:8000/v1")
    a.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key (never stored)")
    a.add_argument("--api-model", help="model name to ask the server for (default: the catalogue's, else --model)")
    a.add_argument("--concurrency", type=int, help="requests in flight at most (default 8; halved on HTTP 429)")
    a.add_argument("--request-timeout", type=float, help="seconds to wait for an answer before retrying (default 60)")
    a.add_argument("--max-retries", type=int, help="retries of a failed request (default 6; backoff up to 30 s)")
    a.add_argument("--top-logprobs", type=int, help="log-probs per position to ask for (default 20)")
    g = p.add_argument_group("generation (--method generate; law, medicine, code)")
    g.add_argument("--max-new-tokens", type=int, help="tokens to generate per answer (default: the suite's, else 512)")
    g.add_argument("--samples", type=int, default=1, help="completions per question (code: pass@k needs n >= k)")
    g.add_argument("--temperature", type=float, help="0 = greedy (default); default 0.8 when --samples > 1")
    g.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling (with --temperature > 0)")
    g.add_argument("--seed", type=int, default=1234, help="sampling seed")
    g.add_argument("--cot", action="store_true", help="ask for step-by-step reasoning before the answer")
    g.add_argument("--code-timeout", type=float, default=10.0, help="seconds each code sample may run")
    g.add_argument("--unsafe-exec", action="store_true",
                   help="run model-written code even where the sandbox cannot isolate it (recorded in the card)")
    p.set_defaults(handler=handle)


def _vllm_options(args: argparse.Namespace) -> dict:
    from harness.errors import UserError

    names = ("tensor_parallel_size", "gpu_memory_utilization", "max_model_len")
    given = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    if given and args.backend != "vllm":
        raise UserError(f"--{next(iter(given)).replace('_', '-')} applies to --backend vllm only")
    return given


API_OPTIONS = ("base_url", "api_key_env", "api_model", "concurrency", "request_timeout", "max_retries", "top_logprobs")


def _api_options(args: argparse.Namespace, output: Path) -> dict:
    """--backend openai's options; its response cache lives in the run folder (emptied by --overwrite)."""
    from harness.errors import UserError

    given = {n: getattr(args, n) for n in API_OPTIONS if getattr(args, n) is not None}
    if args.backend != "openai":
        if given:
            raise UserError(f"--{next(iter(given)).replace('_', '-')} applies to --backend openai only")
        return {}
    cache = output / "api-responses.jsonl"
    if args.overwrite:
        cache.unlink(missing_ok=True)
    return {**given, "response_cache": str(cache)}


def handle(args: argparse.Namespace) -> int:
    from harness.render.terminal import print_scores
    from harness.runner import execute

    output = args.output or Path("runs") / f"{Path(args.suite).stem}-{args.model.replace('/', '_').replace(':', '_')}"
    config = RunConfig(
        suite=args.suite,
        model=args.model,
        output=output,
        split=args.split,
        shots=args.shots,
        subjects=[s.strip() for s in args.subjects.split(",") if s.strip()] if args.subjects else None,
        limit=args.limit,
        method=args.method,
        backend=args.backend,
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        chat_template=args.chat_template,
        revision=args.revision,
        overwrite=args.overwrite,
        prefix_cache=not args.no_prefix_cache,
        max_new_tokens=args.max_new_tokens,
        samples=args.samples,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        cot=args.cot,
        code_timeout=args.code_timeout,
        unsafe_exec=args.unsafe_exec,
        backend_options={**_vllm_options(args), **_api_options(args, output),
                         **({"trust_remote_code": True} if args.trust_remote_code else {})},
    )
    results = execute(config, progress=not args.quiet)
    print_scores(results)
    print(f"results: {output / 'results.json'}  records: {output / 'records.jsonl'}")
    return 0
