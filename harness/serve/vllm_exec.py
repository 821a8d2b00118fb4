"""`--engine vllm`: replace this process with vLLM's own OpenAI-compatible server, LoRA enabled.

Why exec and not a wrapper: vLLM's server already does batching, streaming, logprobs and its own
graceful shutdown; a proxy in front would only add a hop. Why the key goes through the environment
(`VLLM_API_KEY`) and not `--api-key`: a command line is visible to every user of the machine (`ps`).
`max_lora_rank` is the adapters' largest rank rounded up to a rank vLLM accepts (`lora_capacity`,
shared with the vLLM backend).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile

from harness.errors import UserError
from harness.serve.options import ServeOptions


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def vllm_command(options: ServeOptions) -> tuple[list[str], dict[str, str]]:
    """(argv, extra environment) for vLLM's server serving the base and every variant by name."""
    from vllm.platforms import current_platform

    from harness.backends.vllm_backend import adapter_rank, lora_capacity

    base = options.base
    on_cpu = current_platform.is_cpu()
    if (on_cpu and options.device not in ("auto", "cpu")) or (not on_cpu and options.device == "cpu"):
        raise UserError(f"this vLLM build runs on {'cpu' if on_cpu else 'cuda'}, not --device {options.device}")
    dtype = options.dtype if options.dtype != "auto" else ("float32" if on_cpu else "bfloat16")
    argv = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", base.path, "--served-model-name", base.name,
        "--host", options.host, "--port", str(options.port),
        "--dtype", dtype, "--max-logprobs", str(options.max_logprobs),
    ]
    if base.revision:
        argv += ["--revision", base.revision]
    if base.trust_remote_code:
        argv.append("--trust-remote-code")
    if on_cpu:
        argv.append("--enforce-eager")
    if base.chat_template:
        fd, path = tempfile.mkstemp(prefix="harness-chat-template-", suffix=".jinja")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(base.chat_template)
        argv += ["--chat-template", path]
    if options.variants:
        rank = lora_capacity(max(adapter_rank(v.adapter or "") for v in options.variants))
        argv += ["--enable-lora", "--max-lora-rank", str(rank), "--max-loras", str(len(options.variants)),
                 "--lora-modules", *[f"{v.name}={v.adapter}" for v in options.variants]]
    env = {"VLLM_API_KEY": options.api_key} if options.api_key else {}
    return argv, env


def notes(options: ServeOptions, limits_given: list[str]) -> list[str]:
    """What the vLLM engine does differently, said once at start."""
    out = []
    own = [v.name for v in options.variants if v.chat_template and v.chat_template != options.base.chat_template]
    if own:
        out.append(f"vLLM applies one chat template to every served model; the own template of {', '.join(own)} "
                   "is not used (use --engine hf to serve it)")
    if limits_given:
        out.append(f"{', '.join(limits_given)}: not enforced by vLLM's server (it checks max_tokens against the "
                   "model's context length)")
    return out


def exec_vllm(options: ServeOptions, limits_given: list[str]) -> int:
    """Print what is served, then become vLLM's server (never returns on success)."""
    argv, extra_env = vllm_command(options)
    for line in notes(options, limits_given):
        print(f"harness serve: note: {line}", file=sys.stderr)
    names = ", ".join(m.name for m in options.served)
    print(f"harness serve: vLLM engine, serving {names} on http://{options.host}:{options.port}/v1"
          f"{' (API key required)' if options.api_key else ''}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os.execve(sys.executable, argv, {**os.environ, **extra_env})
    return 0  # not reached
