"""`harness demo`: the whole job offline — build a tiny model, score the bundled sample suite,
fine-tune it on a training set the project writes, score the variant and compare the two.

The demo is a sequence of steps over one folder; each step is a small function."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEMO_SHOTS = 0  # the fine-tune learns the sample suite's zero-shot prompt; both runs use it


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="run the offline demo",
        description="Build a tiny model, score the bundled sample suite, LoRA fine-tune it on new questions of the "
                    "same kinds, score the variant on the held-out suite and compare (no network).",
    )
    p.add_argument("--output", type=Path, default=Path("demo-out"), help="demo folder (default: demo-out)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(handler=handle)


def tiny_base(output: Path) -> Path:
    """The demo's tiny base model, built once under `output/models`."""
    from harness.demo.tiny import build_tiny_model

    folder = output / "models" / "tiny-base"
    if not (folder / "config.json").is_file():
        build_tiny_model(folder, demo_tokenizer_texts(), vocab_size=3000)
    return folder


def demo_tokenizer_texts() -> list[str]:
    """Text the tiny tokenizer learns from: the sample suite, its prompt, and the demo's words, so
    that each word is one token (as a real Chinese tokenizer would have it)."""
    from harness.demo.sample_data import WORDS
    from harness.demo.tiny import suite_texts
    from harness.resources import data_dir
    from harness.suite import load_suite

    prompt = load_suite("sample").prompt
    words = " ".join(w for ws in WORDS.values() for w in ws)
    return suite_texts(data_dir("suites") / "sample") + [prompt.header, prompt.question] * 20 + [words] * 20


def training_set(output: Path) -> Path:
    """Alpaca records of new membership questions (none of them in the suite), written once."""
    from harness.demo.sample_data import training_records

    path = output / "data" / "train.jsonl"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        records = training_records(shots=DEMO_SHOTS)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def evaluate(model: str, run_dir: Path, progress: bool) -> dict:
    from harness.render.terminal import print_scores
    from harness.runner import RunConfig, execute

    results = execute(RunConfig(suite="sample", model=model, output=run_dir, shots=DEMO_SHOTS), progress=progress)
    print_scores(results)
    print(f"results: {run_dir / 'results.json'}")
    return results


def fine_tune(base: Path, data: Path, output: Path, progress: bool) -> str:
    """LoRA on the tiny base with the shipped demo recipe; returns what `--model` takes for the variant."""
    from harness.finetune.recipe import load_recipe
    from harness.finetune.train import MANIFEST, finetune

    adapter = output / "adapters" / "tiny-base+demo"
    if not (adapter / MANIFEST).is_file():
        finetune(str(base), data, load_recipe("demo"), adapter, name="demo", progress=progress, register=False)
    print(f"adapter: {adapter}")
    return str(adapter)


def compare(base_run: Path, variant_run: Path, output: Path):
    from harness.commands.compare import write_comparison
    from harness.compare import compare_runs
    from harness.render.compare import print_comparison
    from harness.results.run import load_run

    result = compare_runs(load_run(base_run), load_run(variant_run))
    print_comparison(result)
    write_comparison(result, output / "compare.json")
    return result


def handle(args: argparse.Namespace) -> int:
    output: Path = args.output
    progress = not args.quiet
    base = tiny_base(output)
    print(f"tiny model: {base}")
    evaluate(str(base), output / "runs" / "sample-tiny-base", progress)
    variant = fine_tune(base, training_set(output), output, progress)
    evaluate(variant, output / "runs" / "sample-tiny-base+demo", progress)
    compare(output / "runs" / "sample-tiny-base", output / "runs" / "sample-tiny-base+demo", output)
    from harness.render.site_pages import build_site

    index = build_site([output / "runs"], output / "site")
    print(f"leaderboard: open {index.resolve()}")
    return 0
