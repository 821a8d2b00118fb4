"""Run folders for the leaderboard tests: real runs of tiny models on the sample suite, and synthetic
runs derived from them (a variant, a hostile model name, many models) written the way the store writes."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.cli import main
from harness.results.record import Record
from harness.scoring.mc import aggregate

LIMIT = "8"  # questions per subject: 48 per run, a few seconds each on the tiny model


def real_run(model: Path, out: Path, *extra: str) -> Path:
    code = main(["run", "--suite", "sample", "--model", str(model), "--limit", LIMIT, "--output", str(out), "--quiet", *extra])
    assert code == 0
    return out


def derive_run(
    src: Path,
    dest: Path,
    name: str,
    flip: Callable[[int, dict[str, Any]], bool] | None = None,
    model_card: dict[str, Any] | None = None,
    records_edit: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """Copy a run under another model name, optionally flipping answers (and rescoring as the runner does)."""
    results = json.loads((src / "results.json").read_text(encoding="utf-8"))
    records = [json.loads(line) for line in (src / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    for i, rec in enumerate(records):
        if flip and flip(i, rec):
            letters = sorted(rec["logprobs"])
            new = rec["gold"] if not rec["correct"] else next(x for x in letters if x != rec["gold"])
            logprobs = rec["logprobs"]  # swap, so that the new answer is the argmax as in a real run
            logprobs[new], logprobs[rec["pred"]] = logprobs[rec["pred"]], logprobs[new]
            rec["pred"] = new
            rec["correct"] = rec["pred"] == rec["gold"]
        if records_edit:
            records_edit(rec)
    category_of = {s: v["category"] for s, v in results["scores"]["subjects"].items()}
    results["scores"] = aggregate([Record.from_dict(r, "test") for r in records], category_of, {})
    results["model"] = name
    results["card"]["model"] = {**results["card"]["model"], "name": name, **(model_card or {})}
    results["run_key"] = f"derived-{name}"
    text = "".join(json.dumps({**r, "run_key": results["run_key"]}, ensure_ascii=False) + "\n" for r in records)
    results["records_sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "records.jsonl").write_text(text, encoding="utf-8")
    (dest / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return dest


def make_runs(root: Path, tiny_model: Path, second_model: Path) -> dict[str, Path]:
    """Two real models, the first also under another protocol (0-shot), a variant of it, a hostile name."""
    runs = {
        "tiny": real_run(tiny_model, root / "a" / "tiny"),
        "tiny2": real_run(second_model, root / "a" / "tiny2"),
        "tiny-0shot": real_run(tiny_model, root / "b" / "tiny-0shot", "--shots", "0"),
    }
    base_path = json.loads((runs["tiny"] / "results.json").read_text(encoding="utf-8"))["card"]["model"]["path"]
    runs["variant"] = derive_run(
        runs["tiny"], root / "a" / "nested" / "tiny+ft", "tiny+ft",
        flip=lambda i, rec: i % 3 == 0,
        model_card={"base": base_path, "adapter": str(write_manifest(root / "adapter-ft")), "key": None},
    )

    def hostile(rec: dict[str, Any]) -> None:
        rec["question"] = "<img src=x onerror=alert(2)>" + rec["question"]

    runs["evil"] = derive_run(runs["tiny2"], root / "a" / "evil", "<script>alert(1)</script>",
                              flip=lambda i, rec: i % 5 == 0, records_edit=hostile)
    return runs


SUITES_3 = ("ceval", "mmlu", "cmmlu")
SUITES_6 = ("ceval", "mmlu", "cmmlu", "law", "medicine", "code")


def write_manifest(adapter: Path, steps: int = 100, epochs: int = 5) -> Path:
    """An adapter folder with the manifest.json `harness finetune` writes (harness/finetune/train.py):
    `losses.history` has step, epoch, train_loss and eval_loss per epoch, `losses.best_step` the step kept."""
    train, evals = [2.4, 1.3, 0.8, 0.5, 0.35], [2.1, 1.5, 1.2, 1.25, 1.4]  # eval loss turns up: an earlier step is kept
    history = [{"step": steps * e // epochs, "epoch": e, "train_loss": train[e - 1], "eval_loss": evals[e - 1]}
               for e in range(1, epochs + 1)]
    best = min(history, key=lambda h: h["eval_loss"])
    adapter.mkdir(parents=True, exist_ok=True)
    manifest = {"harness_version": "0.1.0", "variant": None, "recipe": {"name": "synthetic"},
                "losses": {"final_train": history[-1]["train_loss"], "final_eval": history[-1]["eval_loss"],
                           "best_eval": best["eval_loss"], "best_step": best["step"], "history": history},
                "steps": steps}
    (adapter / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return adapter


def synthetic_run(folder: Path, suite: str, name: str, records: list[dict[str, Any]], model_card: dict[str, Any] | None = None,
                  protocol: dict[str, Any] | None = None) -> Path:
    """A finished run folder of `records`, scored and carded the way `harness run` writes one."""
    from harness.suite import load_suite

    spec = load_suite(suite)
    proto = {"suite": suite, "split": spec.eval_split, "shots": 5, "method": "letter", "chat_template": False,
             "choices": ["A", "B", "C", "D"], "prompt_hash": "p" + suite, "data_hash": "d" + suite, "limit": None,
             **(protocol or {})}
    category_of = {s: spec.category_of(s) for s in spec.subjects}
    results = {"run_key": f"{suite}-{name}", "suite": suite, "model": name,
               "scores": aggregate([Record.from_dict(r, "test") for r in records], category_of, spec.subsets),
               "card": {"harness_version": "0.1.0", "protocol": proto, "protocol_id": "id-" + suite + "-" + str(proto["shots"]),
                        "model": {"name": name, "path": f"/models/{name}", "adapter": None, **(model_card or {})},
                        "backend": {"backend": "hf", "dtype": "bfloat16", "versions": {"torch": "x"}},
                        "finished_at": "2026-01-01T00:00:00+00:00", "seconds": 1.0}}
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")
    (folder / "records.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return folder


def synthetic_records(suite: str, skill: float, rng: random.Random, per_subject: int) -> list[dict[str, Any]]:
    """Random answers of a model of accuracy about `skill` on every subject of `suite`."""
    from harness.suite import load_suite

    records = []
    for subject in load_suite(suite).subjects:
        s = min(0.97, max(0.03, skill + rng.uniform(-0.15, 0.15)))
        for q in range(per_subject):
            gold = rng.choice("ABCD")
            pred = gold if rng.random() < s else rng.choice("ABCD")
            records.append({"id": f"{subject}/q/{q}", "subject": subject, "gold": gold, "pred": pred,
                            "correct": pred == gold, "logprobs": {c: -1.0 for c in "ABCD"},
                            "question": f"题目 {q}：下列说法正确的是____。", "options": {c: f"选项 {c}" for c in "ABCD"}})
    return records


def synthetic_many(root: Path, n_models: int = 50, per_subject: int = 5, seed: int = 0, suites: tuple[str, ...] = SUITES_3,
                   variant_every: int = 0) -> Path:
    """`n_models` x `suites` of random answers, for size checks; with `variant_every` k, every k-th model is a
    fine-tuned variant of the model before it (answers of its base, some flipped; an adapter with a manifest)."""
    rng = random.Random(seed)
    adapter = write_manifest(root / "adapter") if variant_every else None
    for m in range(n_models):
        skill = rng.uniform(0.25, 0.85)
        variant = bool(variant_every) and m % variant_every == variant_every - 1
        name = f"model-{m - 1:03d}+ft" if variant else f"model-{m:03d}"
        for suite in suites:
            if variant:
                lines = (root / f"{suite}-model-{m - 1:03d}" / "records.jsonl").read_text(encoding="utf-8").splitlines()
                records = [json.loads(x) for x in lines]
                for rec in records:
                    if rng.random() < 0.2:
                        rec["pred"] = rec["gold"] if rng.random() < 0.6 else next(c for c in "ABCD" if c != rec["gold"])
                        rec["correct"] = rec["pred"] == rec["gold"]
                card = {"base": f"/models/model-{m - 1:03d}", "adapter": str(adapter)}
            else:
                records, card = synthetic_records(suite, skill, rng, per_subject), None
            synthetic_run(root / f"{suite}-{name}", suite, name, records, card)
    return root


def copy_run(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest
