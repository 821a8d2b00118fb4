"""`harness finetune`: train a LoRA adapter and register it as a variant; `harness finetune merge`: full weights."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune", help="LoRA fine-tune a model and register the variant",
        description="Train a LoRA adapter (peft) on alpaca or sharegpt data with a recipe from adapters/, "
                    "write it with a manifest, and register it as BASE+NAME for `harness run`. "
                    "`harness finetune merge ADAPTER --output DIR` writes merged full weights.",
    )
    p.add_argument("--model", help="base model: catalogue key, local folder or hub id")
    p.add_argument("--data", type=Path, help="training data: alpaca or sharegpt, .json or .jsonl")
    p.add_argument("--recipe", help="recipe name (general-zh, law, medicine, demo) or path to a .yaml (default: built-in defaults)")
    p.add_argument("--output", type=Path, help="adapter folder (default: adapters-out/<base>+<name>)")
    p.add_argument("--name", help="variant name: registered as BASE+NAME (default: the recipe's name)")
    p.add_argument("--max-steps", type=int, help="stop after N optimiser steps (overrides the recipe)")
    p.add_argument("--epochs", type=float, help="epochs (overrides the recipe)")
    p.add_argument("--max-samples", type=int, help="use at most N records (overrides the recipe)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 … (default: cuda when available)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an adapter already in --output (refused otherwise; the new one appears only when complete)")
    p.add_argument("--no-register", action="store_true", help="do not register the variant")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=handle)
    msub = p.add_subparsers(dest="finetune_action", metavar="ACTION")
    m = msub.add_parser("merge", help="merge an adapter into its base's full weights",
                        description="Merge a LoRA adapter (folder or registered variant) into full weights.")
    m.add_argument("adapter", help="adapter folder or registered variant BASE+NAME")
    m.add_argument("--output", type=Path, required=True, dest="merge_output", help="folder for the merged model")
    m.set_defaults(handler=handle_merge)


def handle(args: argparse.Namespace) -> int:
    from harness.finetune.recipe import load_recipe
    from harness.finetune.train import finetune

    if not args.model or not args.data:
        raise UserError("harness finetune needs --model and --data (or: harness finetune merge ADAPTER --output DIR)")
    if args.max_steps is not None and args.max_steps < 1:
        raise UserError("--max-steps must be at least 1")
    recipe = load_recipe(args.recipe, max_steps=args.max_steps, epochs=args.epochs, max_samples=args.max_samples)
    name = args.name or recipe.name
    if "+" in name or "/" in name or ":" in name:
        raise UserError(f"variant name '{name}' may not contain '+', '/' or ':'")
    output = args.output or Path("adapters-out") / f"{Path(args.model).name}+{name}"
    manifest = finetune(args.model, args.data, recipe, output, name=name, device=args.device,
                        progress=not args.quiet, register=not args.no_register, overwrite=args.overwrite)
    losses = manifest["losses"]
    best = losses["best_eval"]
    print(f"adapter: {output}  manifest: {output / 'manifest.json'}")
    print(f"steps {manifest['steps']} · final train loss {losses['final_train']:.4f}"
          + (f" · best eval loss {best:.4f} (step {losses['best_step']})" if best is not None else ""))
    flag = "" if recipe.template == "plain" else " --chat-template"
    target = manifest["variant"] or str(output)
    if manifest["variant"]:
        print(f"registered variant: {manifest['variant']}")
    print(f"evaluate it with the template it was trained with: harness run --model {target}{flag} --suite …")
    return 0


def handle_merge(args: argparse.Namespace) -> int:
    from harness.finetune.merge import merge_adapter

    out = merge_adapter(args.adapter, args.merge_output)
    print(f"merged model: {out}")
    return 0
