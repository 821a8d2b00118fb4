"""Generation-scored suites (law, medicine, code): each subject names its file format and metric.

A subject in such a suite YAML carries `format` (lawbench | mc | alpaca | humaneval | mbpp),
`metric` (see harness/generation.py), `files` (paths under --data-dir, tried in order; `{split}`
and `{subject}` are filled in) and optionally `hub` ({path, name, split}) for `datasets.load_dataset`.
With --data-dir, subjects whose file is not in the folder are left out, so one suite can be run on
the folder of just one of its data sets (e.g. code on a HumanEval folder only).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.scoring.extract import extract_choice
from harness.suite.spec import SuiteSpec

LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class GenItem:
    """One generation request and what its output is scored against."""

    id: str
    subject: str
    prompt: str
    gold: str
    metric: str
    options: dict[str, str] = field(default_factory=dict)
    tests: str = ""  # code: the program run after the completion
    prefix: str = ""  # code: what the completion continues (HumanEval's signature and docstring)
    labels: tuple[str, ...] = ()  # label-set metrics: the task's label vocabulary


def subject_file(spec: SuiteSpec, subject: str, split: str, root: Path) -> Path | None:
    info = spec.subjects[subject]
    files = info.get("files") or ([spec.local.pattern] if spec.local else [])
    for pattern in [files] if isinstance(files, str) else files:
        path = root / pattern.format(split=split, subject=subject)
        if path.is_file():
            return path
    return None


def _read_records(path: Path) -> list[dict[str, Any]]:
    """A JSON list, or JSON Lines (optionally gzipped)."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            rows = json.loads(stripped)
        else:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON or JSON Lines (line {exc.lineno}: {exc.msg})") from None
    if not all(isinstance(r, dict) for r in rows):
        raise UserError(f"{path}: every record must be a JSON object")
    return rows


def _hub_records(spec: SuiteSpec, subject: str, split: str) -> list[dict[str, Any]]:
    hub = spec.subjects[subject].get("hub")
    if not hub:
        raise UserError(f"suite {spec.name}: subject {subject} has no hub dataset; pass --data-dir")
    import datasets

    try:
        data = datasets.load_dataset(hub["path"], name=hub.get("name"), split=hub.get("split", split))
    except Exception as exc:  # noqa: BLE001 - the user needs one line
        raise UserError(
            f"could not load {hub['path']} from the hub ({exc.__class__.__name__}) — offline? use --data-dir"
        ) from None
    return [dict(r) for r in data]


def _need(row: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if k not in row]
    if missing:
        raise UserError(f"{where}: record lacks {', '.join(missing)} (has {', '.join(row)})")


def _labels(instruction: str) -> tuple[str, ...]:
    """The label vocabulary a LawBench instruction lists ("类别包括：a、b、c。")."""
    match = re.search(r"包括[:：](.+?)。", instruction)
    if not match:
        return ()
    return tuple(x.strip() for x in re.split(r"[、，,]", match.group(1)) if x.strip())


def _mc_options(row: dict[str, Any], where: str) -> dict[str, str]:
    opts = row.get("options", row.get("Options"))
    if isinstance(opts, dict):
        return {str(k).strip().upper(): str(v) for k, v in opts.items()}
    if isinstance(opts, str):  # CMExam: "A 选项一\nB 选项二"
        opts = [x for x in opts.splitlines() if x.strip()]
    if isinstance(opts, list):
        out = {}
        for i, text in enumerate(opts):
            m = re.match(r"\s*([A-H])[\s.、:：)）]+(.*)", str(text), re.S)
            out[m.group(1) if m else LETTERS[i]] = (m.group(2) if m else str(text)).strip()
        return out
    letters = [x for x in LETTERS if x in row]
    if letters:
        return {x: str(row[x]) for x in letters}
    raise UserError(f"{where}: no options (expected 'options' as a dict or list, or columns A, B, C, …)")


def _item(spec: SuiteSpec, subject: str, split: str, i: int, row: dict[str, Any], where: str) -> GenItem:
    info = spec.subjects[subject]
    fmt, metric = info.get("format", "mc"), info.get("metric", "choice")
    rid = f"{subject}/{split}/{row.get('id', row.get('task_id', i))}"
    if fmt == "lawbench":
        _need(row, ("instruction", "question", "answer"), where)
        prompt = f"{row['instruction']}\n{row['question']}"
        gold = str(row["answer"])
        options: dict[str, str] = {}
        if metric == "choice":
            letters = info.get("choices", "ABCD")
            gold = extract_choice(gold, letters) or ""
            options = {x: "" for x in letters}
        return GenItem(rid, subject, prompt, gold, metric, options, labels=_labels(row["instruction"]))
    if fmt == "mc":
        question = row.get("question", row.get("Question"))
        answer = row.get("answer", row.get("Answer"))
        if question is None or answer is None:
            raise UserError(f"{where}: record lacks question or answer (has {', '.join(row)})")
        options = _mc_options(row, where)
        said = "".join(map(str, answer)) if isinstance(answer, list) else str(answer)
        gold = "".join(x for x in options if x in said.upper())
        if not gold:
            raise UserError(f"{where}: answer {answer!r} names none of the options {', '.join(options)}")
        body = "\n".join(f"{k}. {v}" for k, v in options.items())
        kind = "多项选择题（可能有多个正确答案）" if len(gold) > 1 or info.get("multi") else "选择题"
        prompt = spec.prompt.header.format(kind=kind) + f"{question}\n{body}\n答案："
        return GenItem(rid, subject, prompt, gold, "choice", options)
    if fmt == "alpaca":
        _need(row, ("instruction", "output"), where)
        prompt = str(row["instruction"]) + (f"\n{row['input']}" if row.get("input") else "")
        return GenItem(rid, subject, prompt, str(row["output"]), metric)
    if fmt == "humaneval":
        _need(row, ("task_id", "prompt", "canonical_solution", "test", "entry_point"), where)
        tests = f"\n{row['test']}\n\ncheck({row['entry_point']})\n"
        return GenItem(rid, subject, row["prompt"], row["canonical_solution"], "pass", tests=tests, prefix=row["prompt"])
    if fmt == "mbpp":
        _need(row, ("task_id", "text", "code", "test_list"), where)
        tests = "\n".join(row["test_list"])
        prompt = (
            f"You are an expert Python programmer, and here is your task: {row['text']} "
            f"Your code should pass these tests:\n\n{tests}\n"
        )
        setup = row.get("test_setup_code") or ""
        return GenItem(rid, subject, prompt, row["code"], "pass", tests=f"\n{setup}\n{tests}\n")
    raise UserError(f"suite {spec.name}: subject {subject} has unknown format '{fmt}'")


def load_items(spec: SuiteSpec, subject: str, split: str, data_dir: Path | None) -> list[GenItem]:
    """One subject's items from `data_dir` (or the hub when there is none)."""
    if data_dir is not None:
        path = subject_file(spec, subject, split, data_dir)
        if path is None:
            raise UserError(f"no data file for {spec.name}/{subject} ({split}) under {data_dir}")
        rows, where = _read_records(path), str(path)
    else:
        rows, where = _hub_records(spec, subject, split), f"{spec.name}/{subject} (hub)"
    return [_item(spec, subject, split, i, row, f"{where}:{i + 1}") for i, row in enumerate(rows)]


def available_subjects(spec: SuiteSpec, split: str, data_dir: Path | None) -> list[str]:
    """Subjects with data: those whose file is in `data_dir`, or those with a hub dataset."""
    if data_dir is None:
        return [s for s, info in spec.subjects.items() if info.get("hub")]
    return [s for s in spec.subjects if subject_file(spec, s, split, data_dir) is not None]
