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
        model_card={"base": base_path, "adapter": str(root / "no-such-adapter"), "key": None},
    )

    def hostile(rec: dict[str, Any]) -> None:
        rec["question"] = "<img src=x onerror=alert(2)>" + rec["question"]

    runs["evil"] = derive_run(runs["tiny2"], root / "a" / "evil", "<script>alert(1)</script>",
                              flip=lambda i, rec: i % 5 == 0, records_edit=hostile)
    return runs


def synthetic_many(root: Path, n_models: int = 50, per_subject: int = 5, seed: int = 0) -> Path:
    """`n_models` x 3 suites (C-Eval, MMLU, CMMLU subjects) of random answers, for size checks."""
    from harness.suite import load_suite

    rng = random.Random(seed)
    template = None
    for suite in ("ceval", "mmlu", "cmmlu"):
        spec = load_suite(suite)
        protocol = {"suite": suite, "split": spec.eval_split, "shots": 5, "method": "letter", "chat_template": False,
                    "choices": spec.choices, "prompt_hash": "p" + suite, "data_hash": "d" + suite, "limit": None}
        category_of = {s: spec.category_of(s) for s in spec.subjects}
        for m in range(n_models):
            skill = rng.uniform(0.25, 0.85)
            records = []
            for subject in spec.subjects:
                for q in range(per_subject):
                    gold = rng.choice("ABCD")
                    pred = gold if rng.random() < skill else rng.choice("ABCD")
                    records.append({"id": f"{subject}/{q}", "subject": subject, "gold": gold, "pred": pred,
                                    "correct": pred == gold, "logprobs": {c: -1.0 for c in "ABCD"},
                                    "question": f"题目 {q}：下列说法正确的是____。" * 3,
                                    "options": {c: f"选项 {c}" for c in "ABCD"}})
            name = f"model-{m:02d}"
            template = {"run_key": f"{suite}-{name}", "suite": suite, "model": name,
                        "scores": aggregate([Record.from_dict(r, "test") for r in records], category_of, spec.subsets),
                        "card": {"harness_version": "0.1.0", "protocol": protocol, "protocol_id": "id-" + suite,
                                 "model": {"name": name, "path": f"/models/{name}", "adapter": None},
                                 "backend": {"backend": "hf", "versions": {"torch": "x"}},
                                 "finished_at": "2026-01-01T00:00:00+00:00", "seconds": 1.0}}
            folder = root / f"{suite}-{name}"
            folder.mkdir(parents=True)
            (folder / "results.json").write_text(json.dumps(template, ensure_ascii=False), encoding="utf-8")
            (folder / "records.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                                                  encoding="utf-8")
    return root


def copy_run(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest
