"""`harness sweep`: run models × suites × shards (one process or a Ray cluster) and merge them per
(model, suite) into run folders equal to single `harness run`s."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.runner import METHODS

# flag → RunConfig field, for the run options every shard shares
RUN_FLAGS = {"method": "method", "backend": "backend", "device": "device", "dtype": "dtype",
             "batch_size": "batch_size", "chat_template": "chat_template", "revision": "revision",
             "max_new_tokens": "max_new_tokens", "samples": "samples", "temperature": "temperature",
             "top_p": "top_p", "seed": "seed", "cot": "cot", "code_timeout": "code_timeout"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="run models × suites sharded over one process or a Ray cluster, merged per (model, suite)",
        description="Plan shards (model, suite, subject group) balanced by prompt tokens, run each as `harness "
        "run` through the one run loop (locally or on Ray), retry failed ones, and merge each (model, suite) "
        "into one run folder equal to a single run. Rerun the same command to resume.")
    p.add_argument("file", nargs="?", type=Path, help="a YAML sweep file (models:, suites:, output:, run: …); flags override it")
    p.add_argument("--models", help="comma-separated models (catalogue keys, variants BASE+NAME, folders, hub ids)")
    p.add_argument("--suites", help="comma-separated suites")
    p.add_argument("--output", type=Path, help="sweep folder: <model>/<suite> merged runs, shards/ and sweep.json")
    p.add_argument("--shards-per-suite", type=int, help="shards per (model, suite) (default: one per worker slot)")
    p.add_argument("--launcher", choices=("local", "ray"), help="local: one process (default); ray: a Ray cluster")
    p.add_argument("--ray-mode", dest="mode", choices=("actor", "task"),
                   help="actor: one actor per model replica keeps the model loaded across shards (default); task: load per shard")
    p.add_argument("--address", help="Ray cluster: ray://HOST:10001 or auto (default: start Ray on this machine)")
    p.add_argument("--gpus-per-shard", type=float, help="GPUs each shard asks Ray for (default: 1 on a cluster with GPUs, else 0; above 1: vLLM tensor parallel)")
    p.add_argument("--cpus-per-shard", type=float, help="CPUs each shard asks Ray for on a CPU cluster (default 1)")
    p.add_argument("--workers", type=int, help="most shards at once (default: what the cluster holds)")
    p.add_argument("--retries", type=int, help="attempts after a shard fails (worker killed, out of memory) (default 2)")
    p.add_argument("--overwrite", action="store_true", help="replace a sweep of other settings in --output")
    p.add_argument("--quiet", action="store_true", help="no live view (failures and the summary are still shown)")
    s = p.add_argument_group("per suite (VALUE for every suite, or SUITE=VALUE; repeatable)")
    s.add_argument("--data-dir", action="append", default=[], help="local folder in the benchmark's release layout")
    s.add_argument("--subjects", action="append", default=[], help="comma-separated subjects, categories or subsets")
    s.add_argument("--limit", action="append", default=[], help="score only the first N questions of each subject")
    s.add_argument("--split", action="append", default=[], help="split to score")
    s.add_argument("--shots", action="append", default=[], help="few-shot examples")
    r = p.add_argument_group("run options (as for `harness run`)")
    r.add_argument("--method", choices=METHODS)
    r.add_argument("--backend", help="hf or vllm")
    r.add_argument("--device", help="cpu, cuda … (default auto; Ray gives each shard its own GPUs)")
    r.add_argument("--dtype")
    r.add_argument("--batch-size", type=int)
    r.add_argument("--chat-template", action="store_true", default=None)
    r.add_argument("--revision")
    r.add_argument("--no-prefix-cache", action="store_true")
    r.add_argument("--max-new-tokens", type=int)
    r.add_argument("--samples", type=int)
    r.add_argument("--temperature", type=float)
    r.add_argument("--top-p", type=float)
    r.add_argument("--seed", type=int)
    r.add_argument("--cot", action="store_true", default=None)
    r.add_argument("--code-timeout", type=float)
    p.set_defaults(handler=handle)


def _per_suite(args: argparse.Namespace, names: list[str]) -> dict[str, dict[str, Any]]:
    from harness.sweep.config import parse_suite_value

    out: dict[str, dict[str, Any]] = {n: {} for n in names}
    convert = {"data_dir": lambda v: Path(v).expanduser(), "subjects": lambda v: [x.strip() for x in v.split(",") if x.strip()],
               "limit": int, "split": str, "shots": int}
    for option, fn in convert.items():
        for text in getattr(args, option):
            for name, value in parse_suite_value(text, names, f"--{option.replace('_', '-')}").items():
                try:
                    out[name][option] = fn(value)
                except ValueError:
                    raise UserError(f"--{option.replace('_', '-')} {text}: not a number") from None
    return out


def build_config(args: argparse.Namespace) -> Any:
    from harness.sweep.config import SuiteOptions, SweepConfig, load_sweep_file

    fields: dict[str, Any] = load_sweep_file(args.file) if args.file else {}
    if args.models:
        fields["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.suites:
        fields["suites"] = [SuiteOptions(s.strip()) for s in args.suites.split(",") if s.strip()]
    suites: list[SuiteOptions] = fields.get("suites", [])
    given = _per_suite(args, [s.name for s in suites])
    for suite in suites:
        for option, value in given[suite.name].items():
            setattr(suite, option, value)
    for name in ("output", "shards_per_suite", "launcher", "mode", "address", "gpus_per_shard", "cpus_per_shard",
                 "workers", "retries"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.overwrite:
        fields["overwrite"] = True
    fields["progress"] = not args.quiet
    run = dict(fields.get("run", {}))
    run.update({field: getattr(args, flag) for flag, field in RUN_FLAGS.items() if getattr(args, flag) is not None})
    if args.no_prefix_cache:
        run["prefix_cache"] = False
    fields["run"] = run
    if "output" not in fields:
        raise UserError("a sweep needs --output (or `output:` in the sweep file)")
    fields.setdefault("models", [])
    fields.setdefault("suites", [])
    fields["output"] = Path(fields["output"]).expanduser()
    try:
        return SweepConfig(**fields)
    except TypeError as exc:
        raise UserError(f"sweep settings: {exc}") from None


def handle(args: argparse.Namespace) -> int:
    from harness.sweep.run import run_sweep

    return run_sweep(build_config(args))
