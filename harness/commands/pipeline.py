"""`harness pipeline`: evaluate the base, fine-tune, evaluate the variant, compare — resumable.
With --serve it then puts the better of the two in use: `harness serve` on a loopback port and a
short smoke suite run against it through `--backend openai` (harness/serve/smoke.py).

Each step writes its own folder under --output, and that folder is its checkpoint: a finished run
(results.json), adapter (manifest.json) or smoke test (serve.json) is kept, an interrupted run
resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pipeline", help="evaluate base, fine-tune, evaluate variant, compare",
        description="Evaluate the base on a suite, fine-tune it with a recipe, evaluate the variant with the same "
                    "protocol and compare the two. Run the same command again to resume after an interruption.",
    )
    p.add_argument("--model", required=True, help="base model: catalogue key or local folder")
    p.add_argument("--recipe", required=True, help="recipe name or .yaml path")
    p.add_argument("--data", required=True, type=Path, help="training data (alpaca or sharegpt)")
    p.add_argument("--suite", required=True, help="suite to evaluate on")
    p.add_argument("--data-dir", type=Path, help="local suite data in the release layout")
    p.add_argument("--output", required=True, type=Path, help="pipeline folder (base/, adapter/, variant/, compare.json)")
    p.add_argument("--name", help="variant name (default: the recipe's)")
    p.add_argument("--shots", type=int, help="few-shot examples (default: the suite's)")
    p.add_argument("--subjects", help="comma-separated subjects or categories")
    p.add_argument("--limit", type=int, help="first N questions per subject")
    p.add_argument("--chat-template", action="store_true", help="score both models inside their chat templates")
    p.add_argument("--max-steps", type=int, help="fine-tune for N optimiser steps (overrides the recipe)")
    p.add_argument("--device", default="auto", help="cpu, cuda, … (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--serve", action="store_true", help="then serve the better model (harness serve, loopback, a fresh key) "
                   "and run a short smoke suite against it through --backend openai")
    p.add_argument("--serve-limit", type=int, default=5, help="--serve: questions per subject in the smoke suite (default 5)")
    p.add_argument("--serve-engine", default="auto", choices=("auto", "vllm", "hf"), help="--serve: harness serve --engine")
    p.add_argument("--serve-top-logprobs", type=int, default=20, help="--serve: log-probs per answer to ask for (default 20)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from harness.commands.compare import write_comparison
    from harness.compare import compare_runs
    from harness.finetune.recipe import load_recipe
    from harness.finetune.train import MANIFEST, finetune
    from harness.render.compare import print_comparison
    from harness.results.run import load_run
    from harness.results.store import RESULTS
    from harness.runner import RunConfig, execute

    out: Path = args.output
    recipe = load_recipe(args.recipe, max_steps=args.max_steps)
    name = args.name or recipe.name
    common = dict(
        suite=args.suite, data_dir=args.data_dir, shots=args.shots, limit=args.limit, device=args.device,
        subjects=[s.strip() for s in args.subjects.split(",") if s.strip()] if args.subjects else None,
        chat_template=args.chat_template,
    )
    progress = not args.quiet

    def evaluate(model: str, folder: Path, label: str) -> None:
        if (folder / RESULTS).is_file():
            print(f"[{label}] done already: {folder}")
            return
        print(f"[{label}] evaluating {model} on {args.suite}")
        execute(RunConfig(model=model, output=folder, **common), progress=progress)

    evaluate(args.model, out / "base", "1/4 base")
    adapter = out / "adapter"
    if (adapter / MANIFEST).is_file():
        manifest = json.loads((adapter / MANIFEST).read_text(encoding="utf-8"))
        print(f"[2/4 finetune] done already: {adapter}")
    else:
        print(f"[2/4 finetune] {args.model} on {args.data} with recipe {recipe.name}")
        manifest = finetune(args.model, args.data, recipe, adapter, name=name, device=args.device, progress=progress)
    variant = manifest.get("variant") or str(adapter)
    from harness.registry import load_catalogue

    if manifest.get("variant") and variant not in load_catalogue():
        from harness.finetune.train import register_variant

        register_variant(variant, manifest["base"]["model"], adapter, manifest["template"], recipe)
    evaluate(variant, out / "variant", "3/4 variant")
    print("[4/4 compare]")
    try:
        result = compare_runs(load_run(out / "base"), load_run(out / "variant"))
    except UserError as exc:
        raise UserError(f"{exc} — rerun with --chat-template only where both models share the trained template") from None
    print_comparison(result)
    write_comparison(result, out / "compare.json")
    if args.serve:
        serve_better(args, out, variant, result.overall.delta, common, progress)
    return 0


def serve_better(args: argparse.Namespace, out: Path, variant: str, delta: float, common: dict, progress: bool) -> None:
    """Serve the variant if it beat the base (else the base) and smoke-test it over HTTP; serve.json records it."""
    from harness.serve.smoke import smoke_test

    done = out / "serve.json"
    if done.is_file():
        print(f"[serve] done already: {done}")
        return
    better, folder = (variant, out / "variant") if delta > 0 else (args.model, out / "base")
    which = "the variant" if delta > 0 else "the base (the variant did not beat it)"
    print(f"[serve] serving {which}: {better}; smoke suite of {args.serve_limit} questions per subject over HTTP")
    summary = smoke_test(better, folder, out / "served", common, args.serve_limit, args.serve_engine, args.device,
                         args.serve_top_logprobs, progress)
    agree = summary["agreement_with_local_run"]
    print(f"[serve] {summary['scores']['overall']['micro']['n']} questions answered by the server "
          f"(accuracy {summary['scores']['overall']['micro']['acc']:.1%}); same answer as the local run on "
          f"{agree['agree']} of {agree['compared']} scored from all letters' log-probs; server exit code "
          f"{summary['server_exit_code']}")
    if agree["compared"] and agree["agree"] < agree["compared"]:
        print("[serve] warning: the served model answers differently from the evaluated one on some questions",
              file=sys.stderr)
    done.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"serve it yourself: harness serve --model {better}")
