"""Runs as lm-evaluation-harness writes its own: `results_<date>.json` and `samples_<task>_<date>.jsonl`
under `<out>/<model_name_sanitized>/`, the layout and schema of lm-eval's EvaluationTracker
(lm_eval/loggers/evaluation_tracker.py, lm_eval/result_schema.py), so its readers and the tools built on
its outputs take ours.

Every subject becomes an lm-eval task (C-Eval val: `ceval-valid_<subject>`, MMLU: `mmlu_<subject>`,
CMMLU: `cmmlu_<subject>`, the names lm-eval's own task YAMLs use; other suites `<suite>-<split>_<subject>`),
and the suite a group over them. Numbers come from lm-eval's own functions (sample standard error, the
size-weighted group mean and pooled standard error), the hashes from its `hash_string`, so a reader that
recomputes them from the samples gets the file's values.

What we cannot know is written as lm-eval would write an unknown: a sample's `is_greedy` (whether the
answer letter was the model's top token over the whole vocabulary; we keep only the letters' log-probs)
is "None"; a prompt that cannot be rebuilt exactly (chat template, data not at hand) leaves `arg_0` and
`prompt_hash` null.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.export.runs import rebuild_contexts, split_id, split_sizes
from harness.results.record import Record
from harness.results.run import Run
from harness.suite.spec import SuiteSpec

# (suite, split) -> lm-eval's task name pattern and group name for it
LM_EVAL_NAMES = {
    ("ceval", "val"): ("ceval-valid_{subject}", "ceval-valid"),
    ("mmlu", "test"): ("mmlu_{subject}", "mmlu"),
    ("cmmlu", "test"): ("cmmlu_{subject}", "cmmlu"),
}


def task_names(run: Run) -> tuple[str, str]:
    """(task name pattern with {subject}, group name) of a run."""
    split = str(run.protocol.get("split"))
    return LM_EVAL_NAMES.get((run.suite, split), (f"{run.suite}-{split}_{{subject}}", f"{run.suite}-{split}"))


def _date_id(run: Run) -> str:
    """lm-eval's file-name timestamp (naive ISO time, ':' → '-'), from when the run finished: the same run
    always exports to the same file names."""
    try:
        when = datetime.fromisoformat(str(run.card.get("finished_at")))
    except ValueError:
        when = datetime.fromtimestamp(run.path.joinpath("results.json").stat().st_mtime)
    return when.replace(tzinfo=None).isoformat(timespec="microseconds").replace(":", "-")


def _spec(run: Run) -> SuiteSpec | None:
    from harness.suite import load_suite

    try:
        return load_suite(str((run.card.get("config") or {}).get("suite") or run.suite))
    except (UserError, OSError):
        return None


def _columns(run: Run, spec: SuiteSpec | None) -> dict[str, str]:
    """Our field name -> the dataset's column name, so `doc` reads like the dataset's own row."""
    local = spec.local if spec else None
    columns = local.columns if local else {}
    if isinstance(columns, list):
        return {name: name for name in columns}
    return {"question": "question", **{c: c for c in run.protocol.get("choices") or []}, "answer": "answer", **columns}


def _doc(rec: Record, columns: dict[str, str]) -> dict[str, Any]:
    row_id = split_id(rec.id)
    doc: dict[str, Any] = {}
    if "id" in columns:
        doc[columns["id"]] = int(row_id) if row_id.isdigit() else row_id  # datasets' csv reader types ids as int
    doc[columns.get("question", "question")] = rec.question
    for letter, text in (rec.options or {}).items():
        doc[columns.get(letter, letter)] = text
    doc[columns.get("answer", "answer")] = rec.gold
    return doc


def _sample(rec: Record, doc_id: int, run: Run, columns: dict[str, str], context: str | None) -> dict[str, Any]:
    from lm_eval.utils import handle_non_serializable, hash_string

    proto = run.protocol
    letters = list(proto.get("choices") or sorted(rec.logprobs or {}))
    doc = _doc(rec, columns)
    if rec.logprobs is not None:  # letter / choice: one loglikelihood request per option
        delimiter = (proto.get("prompt_template") or {}).get("target_delimiter", "")
        target = str(letters.index(rec.gold)) if rec.gold in letters else str(rec.gold)
        arguments = {f"gen_args_{i}": {"arg_0": context, "arg_1": delimiter + letter} for i, letter in enumerate(letters)}
        pairs = [[str(rec.logprobs[letter]), "None"] for letter in letters]
        resps: list[Any] = [[pair] for pair in pairs]
        filtered: list[Any] = pairs
    else:  # generated text: one generate_until request
        target = str(rec.gold)
        gen = proto.get("generation") or {}
        arguments = {"gen_args_0": {"arg_0": context, "arg_1": {
            "until": gen.get("stop", []), "max_gen_toks": gen.get("max_new_tokens"),
            "temperature": gen.get("temperature"), "do_sample": bool(gen.get("temperature"))}}}
        resps = [list(rec.outputs or [rec.output or ""])]
        filtered = [str(rec.extracted) if rec.extracted is not None else "[invalid]"]
    return {
        "doc_id": doc_id, "doc": doc, "target": target, "arguments": arguments, "resps": resps,
        "filtered_resps": filtered, "filter": "none", "metrics": ["acc"],
        "doc_hash": hash_string(json.dumps(doc, indent=2, default=handle_non_serializable, ensure_ascii=False)),
        "prompt_hash": hash_string(context) if context is not None else None,
        "target_hash": hash_string(target),
        "acc": 1.0 if rec.correct else 0.0,
    }


def _stderr(values: list[float]) -> float | str:
    from lm_eval.api.metrics import mean_stderr

    return mean_stderr(values) if len(values) > 1 else "N/A"


def _task_config(run: Run, spec: SuiteSpec | None, task: str, subject: str) -> dict[str, Any]:
    """The task's config as lm-eval records it, in our protocol's terms (prompt, choices, shots, data)."""
    import re

    from harness.suite.prompt import build_prefix

    proto = run.protocol
    template = proto.get("prompt_template") or {}
    letters = list(proto.get("choices") or [])
    doc_to_text = re.sub(r"\{(\w+)\}", lambda m: "{{question.strip()}}" if m.group(1) == "question" else "{{" + m.group(1) + "}}",
                         str(template.get("question", "")))
    data = run.card.get("data_dir")
    local = bool(data) and Path(str(data)).is_dir()
    config: dict[str, Any] = {
        "task": task,
        "dataset_path": "csv" if local else data,
        "dataset_name": None if local else subject,
        ("validation_split" if proto.get("split") in ("val", "validation") else "test_split"): proto.get("split"),
        "fewshot_split": proto.get("fewshot_split"),
        "doc_to_text": doc_to_text,
        "doc_to_target": "{{" + repr(letters) + ".index(answer)}}" if letters else "{{answer}}",
        "doc_to_choice": letters,
        "description": build_prefix(spec, subject, []) if spec else None,
        "target_delimiter": template.get("target_delimiter", " "),
        "fewshot_delimiter": str(template.get("answer", "")).split("{answer}")[-1],
        "fewshot_config": {"sampler": "first_n", "split": proto.get("fewshot_split")},
        "num_fewshot": proto.get("shots"),
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "output_type": "multiple_choice" if proto.get("method") in ("letter", "choice") else "generate_until",
        "repeats": 1,
        "should_decontaminate": False,
        "metadata": {"version": 2.0, "exported_by": "harness", "harness_protocol_id": run.card.get("protocol_id"),
                     "harness_method": proto.get("method"), "harness_run": str(run.path)},
    }
    return config


def _model_block(run: Run) -> dict[str, Any]:
    card, backend = run.card, run.card.get("backend") or {}
    ident = card.get("model") or {}
    args = [f"pretrained={ident.get('path') or run.model}"]
    if ident.get("adapter"):
        args.append(f"peft={ident['adapter']}")
    if backend.get("dtype"):
        args.append(f"dtype={backend['dtype']}")
    if ident.get("revision"):
        args.append(f"revision={ident['revision']}")
    return {
        "model": backend.get("backend", "hf"), "model_args": ",".join(args), "model_dtype": backend.get("dtype"),
        "model_revision": ident.get("revision"), "model_sha": ident.get("fingerprint") or "",
        "batch_size": backend.get("batch_size"), "batch_sizes": [], "device": backend.get("device"),
        "use_cache": None, "limit": run.protocol.get("limit"), "bootstrap_iters": 0, "gen_kwargs": None,
        "random_seed": None, "numpy_seed": None, "torch_seed": None, "fewshot_seed": None,
    }


def lm_eval_files(runs: list[Run]) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """One model's runs as lm-eval's results dict and its samples by task name."""
    from lm_eval.api.metrics import aggregate_subtask_metrics, pooled_sample_stderr
    from lm_eval.utils import hash_string, sanitize_model_name

    results: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    group_subtasks: dict[str, list[str]] = {}
    configs, versions, n_shot, higher, n_samples, hashes = {}, {}, {}, {}, {}, {}
    samples: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if run.results["scores"].get("no_gold"):
            raise UserError(f"{run.path}: split '{run.protocol.get('split')}' has no answers, so no accuracy to export "
                            "to lm-eval (a C-Eval test run: use --format ceval-submission)")
        pattern, group = task_names(run)
        if group in group_subtasks:
            raise UserError(f"two runs of {run.model} on {run.suite} ({run.protocol.get('split')}); "
                            "lm-eval names tasks by suite and subject: export them one at a time")
        contexts = rebuild_contexts(run) or {}
        originals = (split_sizes(run) or {}) if run.protocol.get("limit") else {}
        spec = _spec(run)
        columns = _columns(run, spec)
        by_subject: dict[str, list[Record]] = {}
        for rec in run.records:
            by_subject.setdefault(rec.subject, []).append(rec)
        tasks, accs, stderrs, sizes = [], [], [], []
        for subject, recs in by_subject.items():
            task = pattern.format(subject=subject)
            rows = [_sample(r, i, run, columns, contexts.get(r.id)) for i, r in enumerate(recs)]
            values = [row["acc"] for row in rows]
            acc = sum(values) / len(values)
            stderr = _stderr(values)
            results[task] = {"name": task, "alias": task, "sample_len": len(rows), "acc,none": acc, "acc_stderr,none": stderr}
            configs[task] = _task_config(run, spec, task, subject)
            versions[task] = 2.0
            n_shot[task] = run.protocol.get("shots")
            higher[task] = {"acc": True}
            n_samples[task] = {"original": originals.get(subject, len(rows)), "effective": len(rows)}
            if all(row["prompt_hash"] for row in rows):
                hashes[task] = hash_string("".join(r["doc_hash"] + r["prompt_hash"] + r["target_hash"] for r in rows))
            samples[task] = rows
            tasks.append(task)
            accs.append(acc)
            stderrs.append(stderr)
            sizes.append(len(rows))
        group_stderr = pooled_sample_stderr(stderrs, sizes) if "N/A" not in stderrs else "N/A"
        groups[group] = {"alias": group, "name": group, "sample_len": sum(sizes),
                         "acc,none": aggregate_subtask_metrics(accs, sizes, weight_by_size=True),
                         "acc_stderr,none": float(group_stderr) if group_stderr != "N/A" else "N/A",
                         "sample_count": {"acc,none": sum(sizes)}}
        results[group] = groups[group]
        group_subtasks[group] = tasks
        versions[group] = "2.0"
        n_shot[group] = run.protocol.get("shots")
        higher[group] = {"acc": True}
    first = runs[0]
    versions_used = (first.card.get("backend") or {}).get("versions") or {}
    name, model_block = first.model, _model_block(first)
    out = {
        "results": results, "groups": groups, "group_subtasks": group_subtasks, "configs": configs,
        "versions": versions, "n-shot": n_shot, "higher_is_better": higher, "n-samples": n_samples,
        "config": model_block, "git_hash": None,
        "date": _timestamp(first),
        "pretty_env_info": None, "transformers_version": versions_used.get("transformers"), "lm_eval_version": None,
        "upper_git_hash": None, "tokenizer_pad_token": None, "tokenizer_eos_token": None, "tokenizer_bos_token": None,
        "eot_token_id": None, "max_length": None, "task_hashes": hashes, "model_source": model_block["model"],
        "model_name": name, "model_name_sanitized": sanitize_model_name(name), "system_instruction": None,
        "system_instruction_sha": None, "fewshot_as_multiturn": False, "chat_template": None, "chat_template_sha": None,
        "total_evaluation_time_seconds": str(sum(float(r.card.get("seconds") or 0) for r in runs)),
        "harness": {"version": first.card.get("harness_version"), "runs": [str(r.path) for r in runs],
                    "protocol_ids": {r.suite: r.card.get("protocol_id") for r in runs},
                    "chat_template": {r.suite: bool(r.protocol.get("chat_template")) for r in runs}},
    }
    return out, samples


def _timestamp(run: Run) -> float:
    try:
        return datetime.fromisoformat(str(run.card.get("finished_at"))).timestamp()
    except ValueError:
        return run.path.joinpath("results.json").stat().st_mtime


def write_lm_eval(runs: list[Run], out: Path) -> list[Path]:
    """Write each model's runs as lm-eval's files under `out/<model_name_sanitized>/`."""
    from lm_eval.utils import sanitize_model_name

    if out.suffix.lower() in (".json", ".jsonl"):
        raise UserError(f"--out {out}: lm-eval writes a folder of files (results_*.json, samples_*.jsonl); give a folder")
    by_model: dict[str, list[Run]] = {}
    for run in runs:
        by_model.setdefault(run.model, []).append(run)
    written: list[Path] = []
    for name, model_runs in by_model.items():
        results, samples = lm_eval_files(model_runs)
        folder = out / sanitize_model_name(name)
        date_id = _date_id(max(model_runs, key=lambda r: str(r.card.get("finished_at"))))
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"results_{date_id}.json"
            path.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
            written.append(path)
            for task, rows in samples.items():
                spath = folder / f"samples_{task}_{date_id}.jsonl"
                spath.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
                written.append(spath)
        except OSError as exc:
            raise UserError(f"cannot write {folder}: {exc.strerror}") from None
    return written
