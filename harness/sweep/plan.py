"""The shard plan: models × suites × subject groups, balanced by the prompt tokens each will compute.

A shard is a set of whole subjects. Subjects are never split, because the backends plan their
batches and their shared-prefix cache per subject: a subject scored in a shard gives the very same
numbers as in a whole run, so the merged records equal a single run's byte for byte. Subjects are
packed into shards longest-first onto the lightest shard (LPT), weighed by the tokens the backend
will run: with the prefix cache, a subject's shared prefix once plus each prompt's remainder. Tokens
come from the model's tokenizer when it is a local folder, else characters stand in for them.

The plan is kept in the sweep's `sweep.json`, keyed by a digest of everything its shards' results
depend on (model identity, suite, options), so a rerun finds the same shard folders to resume.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.results.discover import SHARDS_MARKER, SWEEP
from harness.results.jsonl import read_json
from harness.results.store import write_atomic
from harness.suite.prompt import digest
from harness.sweep.config import SuiteOptions, SweepConfig, model_folder

SHARDS = "shards"


@dataclass
class Shard:
    model: str
    suite: str  # the suite's folder name
    index: int  # 1-based
    count: int
    subjects: list[str]
    questions: int
    weight: int

    @property
    def id(self) -> str:
        return f"{model_folder(self.model)}/{self.suite}/{self.index:02d}-of-{self.count:02d}"


@dataclass
class SuitePlan:
    """The shards of one (model, suite) and what they merge into."""

    model: str
    suite: SuiteOptions
    digest: str
    balance: str  # "tokens" or "characters"
    subjects: list[str]
    questions: int
    shards: list[Shard]

    @property
    def key(self) -> str:
        return f"{model_folder(self.model)}/{self.suite.folder}"

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "suite": self.suite.as_dict() | {"name": self.suite.name}, "digest": self.digest,
                "balance": self.balance, "subjects": self.subjects, "questions": self.questions,
                "shards": [asdict(s) for s in self.shards]}


def merged_folder(output: Path, plan: SuitePlan) -> Path:
    return output / model_folder(plan.model) / plan.suite.folder


def shard_folder(output: Path, shard: Shard) -> Path:
    return output / SHARDS / shard.id


def _digest(config: SweepConfig, model: str, suite: SuiteOptions, shards: int) -> str:
    from harness.registry.identity import model_identity
    from harness.runner.methods import resolve_run_model

    identity = model_identity(resolve_run_model(config.run_config(model, suite, Path(os.devnull), None)))
    run = {k: v for k, v in sorted(config.run.items())}
    return digest([repr(sorted(identity.items())), repr(sorted(suite.as_dict().items())), suite.name, repr(run),
                   str(shards), f"tp{max(1, int(config.gpus_per_shard or 0))}"])  # launcher-free: resume anywhere


def _counter(resolved):
    """(count function, "tokens"), or len and "characters" when no tokenizer loads from a local folder."""
    if resolved.is_local:
        try:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(resolved.path, trust_remote_code=resolved.trust_remote_code)
            return (lambda texts: [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]), "tokens"
        except (OSError, ValueError, ImportError):
            pass
    return (lambda texts: [len(t) for t in texts]), "characters"


def subject_weights(config: SweepConfig, model: str, suite: SuiteOptions) -> tuple[dict[str, tuple[int, int]], str]:
    """subject → (questions, weight) in the suite's order, and the unit of the weights. Loads the data
    and renders the prompts (no model)."""
    from harness.runner.choose import make_method
    from harness.runner.generate import GenerateMethod
    from harness.suite import load_suite

    full = config.run_config(model, suite, Path(os.devnull), None)
    method = make_method(full, load_suite(suite.name))
    if isinstance(method, GenerateMethod):
        texts = [(i.subject, i.prompt) for i in method.items]
        decode = method.params.max_new_tokens * method.params.n  # a generated token costs about a prompt token
    else:
        texts = [(p.question.subject, p.context) for p in method.prep.prompts]
        decode = 0
    from harness.runner.methods import resolve_run_model

    count, unit = _counter(resolve_run_model(full))
    by_subject: dict[str, list[str]] = {}
    for subject, text in texts:
        by_subject.setdefault(subject, []).append(text)
    cached = full.prefix_cache and not isinstance(method, GenerateMethod)
    out: dict[str, tuple[int, int]] = {}
    for subject, items in by_subject.items():
        prefix = os.path.commonprefix(items) if cached and len(items) > 1 else ""
        sizes = count([t[len(prefix):] for t in items] + [prefix])
        out[subject] = (len(items), sum(sizes) + len(items) * decode)
    return out, unit


def pack(weights: dict[str, tuple[int, int]], n: int) -> list[list[str]]:
    """Subjects into at most `n` groups of near-equal weight (longest first onto the lightest group);
    each group keeps the suite's order, and groups are numbered by their first subject."""
    order = list(weights)
    n = max(1, min(n, len(order)))
    groups: list[list[str]] = [[] for _ in range(n)]
    load = [0] * n
    for subject in sorted(order, key=lambda s: (-weights[s][1], order.index(s))):
        lightest = min(range(n), key=lambda g: (load[g], g))
        groups[lightest].append(subject)
        load[lightest] += weights[subject][1]
    groups = [sorted(g, key=order.index) for g in groups if g]
    return sorted(groups, key=lambda g: order.index(g[0]))


def make_plan(config: SweepConfig, model: str, suite: SuiteOptions, shards: int) -> SuitePlan:
    weights, unit = subject_weights(config, model, suite)
    groups = pack(weights, shards)
    made = [Shard(model, suite.folder, i + 1, len(groups), g, sum(weights[s][0] for s in g),
                  sum(weights[s][1] for s in g)) for i, g in enumerate(groups)]
    return SuitePlan(model, suite, _digest(config, model, suite, shards), unit, list(weights),
                     sum(s.questions for s in made), made)


def plan_sweep(config: SweepConfig, shards: int) -> list[SuitePlan]:
    """Every (model, suite) plan: the one kept in sweep.json when its settings are unchanged, else a
    new one (refused over a different finished or partial one unless --overwrite)."""
    path = config.output / SWEEP
    kept: dict[str, Any] = {}
    if path.is_file():
        data = read_json(path)
        kept = data.get("plans", {}) if isinstance(data, dict) else {}
    plans: list[SuitePlan] = []
    for model in config.models:
        for suite in config.suites:
            key = f"{model_folder(model)}/{suite.folder}"
            want = _digest(config, model, suite, shards)
            old = kept.get(key)
            if old and old.get("digest") == want:
                plans.append(SuitePlan(model, suite, want, old["balance"], old["subjects"], old["questions"],
                                       [Shard(**s) for s in old["shards"]]))
                continue
            if old and not config.overwrite:
                raise UserError(f"{config.output} holds a sweep of {key} with other settings (model, options or "
                                "shards); use another --output, or --overwrite to replace it")
            plans.append(make_plan(config, model, suite, shards))
            if old:
                _remove(config.output, key)
    save_plans(config.output, plans, kept)
    return plans


def _remove(output: Path, key: str) -> None:
    import shutil

    for folder in (output / key, output / SHARDS / key):
        if folder.is_dir():
            shutil.rmtree(folder)


def save_plans(output: Path, plans: list[SuitePlan], kept: dict[str, Any]) -> None:
    """sweep.json: every plan of this output (those of earlier sweeps into it are kept)."""
    try:
        (output / SHARDS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output folder {output}: {exc.strerror}") from None
    marker = output / SHARDS / SHARDS_MARKER
    if not marker.is_file():
        marker.write_text(json.dumps({"note": "shard runs of a sweep; the merged runs are <output>/<model>/<suite>"})
                          + "\n", encoding="utf-8")
    merged = {**kept, **{p.key: p.to_dict() for p in plans}}
    text = json.dumps({"version": 1, "plans": merged}, ensure_ascii=False, indent=2)
    path = output / SWEEP
    if not path.is_file() or path.read_text(encoding="utf-8") != text:  # a rerun leaves the folder untouched
        write_atomic(path, text)
