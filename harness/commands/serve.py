"""`harness serve`: an OpenAI-compatible server for a base model and its LoRA variants."""

from __future__ import annotations

import argparse

from harness.errors import UserError

ENGINES = ("auto", "vllm", "hf")
LIMIT_DEFAULTS = {"max_body_bytes": 1 << 20, "max_tokens_limit": 4096, "max_logprobs": 20}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="serve a model and its LoRA variants over an OpenAI-compatible HTTP API",
        description="Serve a base model and its LoRA variants (selected by the request's `model` field) on "
                    "/v1/models, /v1/completions and /v1/chat/completions. Binds 127.0.0.1 unless told "
                    "otherwise; any other address needs an API key.",
    )
    p.add_argument("--model", required=True, help="catalogue key, local model folder, adapter folder or variant BASE+NAME")
    p.add_argument("--variants", help="comma-separated LoRA variants of the same base (adapter folders or BASE+NAME)")
    p.add_argument("--engine", default="auto", choices=ENGINES, help="vllm (vLLM's own server), hf (transformers), auto: vllm when installed")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need an API key)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--api-key-env", metavar="VAR", help="read the API key clients must send from this environment variable")
    p.add_argument("--api-key", help="the API key itself (visible in `ps`: prefer --api-key-env)")
    p.add_argument("--max-body-bytes", type=int, help=f"largest request body (default {LIMIT_DEFAULTS['max_body_bytes']})")
    p.add_argument("--max-tokens-limit", type=int, help=f"largest max_tokens a request may ask (default {LIMIT_DEFAULTS['max_tokens_limit']})")
    p.add_argument("--max-logprobs", type=int, help=f"largest logprobs / top_logprobs a request may ask (default {LIMIT_DEFAULTS['max_logprobs']})")
    p.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16 (auto: bf16 on GPU, fp32 on CPU)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 … (default: cuda when available)")
    p.add_argument("--shutdown-timeout", type=float, default=10.0, help="seconds in-flight requests may finish after SIGINT/SIGTERM")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from harness.serve.options import build_options
    from harness.serve.vllm_exec import exec_vllm, vllm_available

    given = {k: getattr(args, k) for k in LIMIT_DEFAULTS if getattr(args, k) is not None}
    options = build_options(
        args.model, [v.strip() for v in (args.variants or "").split(",") if v.strip()],
        host=args.host, port=args.port, api_key=args.api_key, api_key_env=args.api_key_env,
        **{**LIMIT_DEFAULTS, **given}, dtype=args.dtype, device=args.device, shutdown_timeout=args.shutdown_timeout,
    )
    engine = args.engine
    if engine == "auto":
        engine = "vllm" if vllm_available() else "hf"
    if engine == "vllm":
        if not vllm_available():
            raise UserError("--engine vllm: vLLM is not installed (pip install 'harness[vllm]'), or use --engine hf")
        return exec_vllm(options, [f"--{k.replace('_', '-')}" for k in given if k != "max_logprobs"])
    return _serve_hf(options)


def _serve_hf(options) -> int:  # noqa: ANN001 - ServeOptions, imported lazily
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UserError("the transformers server needs FastAPI and uvicorn: pip install 'harness[serve]'") from None
    from harness.serve.app import create_app
    from harness.serve.engine import Engine
    from harness.serve.server import run_server

    engine = Engine(options)
    return run_server(create_app(engine, options), options, engine.names)
