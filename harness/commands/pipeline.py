"""`harness pipeline`: evaluate the base, fine-tune, evaluate the variant, compare — resumable.

Each step writes its own folder under --output, and that folder is its checkpoint: a finished run
(results.json) or adapter (manifest.json) is kept, an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
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
    return 0
