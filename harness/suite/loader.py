"""Load a suite's questions from a local folder in the benchmark's release layout, or from the hub.

Local files are read with the csv module (not pandas) so that option texts such as "None" or "NA"
stay strings, exactly as written. Every problem in the user's data is a `UserError` naming the file
and row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.results.jsonl import read_json_lines
from harness.suite.spec import Question, SuiteSpec

FIELDS = ("question", "A", "B", "C", "D", "answer")


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None


def _csv_rows(path: Path, header: bool, columns: dict[str, str] | list[str]) -> Iterable[tuple[int, dict]]:
    text = _read_text(path)
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise UserError(f"{path}: malformed CSV ({exc})") from None
    if header:
        if not rows:
            raise UserError(f"{path}: empty CSV (no header row)")
        head, body, first_line = rows[0], rows[1:], 2
    else:
        head = list(columns) if isinstance(columns, list) else list(columns.values())
        body, first_line = rows, 1
    for offset, row in enumerate(body):
        if not row:
            continue
        if len(row) != len(head):
            raise UserError(
                f"{path}:{first_line + offset}: {len(row)} fields where the header has {len(head)}"
            )
        yield first_line + offset, dict(zip(head, row, strict=True))


def _jsonl_rows(path: Path) -> Iterable[tuple[int, dict]]:
    for number, row in read_json_lines(path):
        if not isinstance(row, dict):
            raise UserError(f"{path}: line {number}: a record must be a JSON object")
        yield number, row


def _text(value: Any) -> str:
    """A field's text with every newline as "\\n": a file saved with Windows line ends (CRLF, also inside
    quoted multi-line fields) gives the same prompts, data hash and protocol as the same file with LF."""
    return str(value).replace("\r\n", "\n").replace("\r", "\n")


def _column_map(spec: SuiteSpec) -> dict[str, str]:
    """Our field name -> the file's column name."""
    columns = spec.local.columns if spec.local else {}
    if isinstance(columns, list):
        return {name: name for name in columns}
    mapping = {name: name for name in FIELDS}
    mapping.update(columns)
    return mapping


def _normalise(
    spec: SuiteSpec, subject: str, split: str, rows: Iterable[tuple[int, dict]], where: str, need_answer: bool | None
) -> list[Question]:
    mapping = _column_map(spec)
    letters = spec.choices
    wanted = ["question", *letters] + (["answer"] if need_answer else [])
    questions: list[Question] = []
    checked = False
    for line, row in rows:
        if not checked:
            missing = [mapping.get(f, f) for f in wanted if mapping.get(f, f) not in row]
            if missing:
                found = ", ".join(repr(c) for c in row)
                hint = ""
                if need_answer and missing == [mapping.get("answer", "answer")]:
                    hint = f"; if split '{split}' has no answers, score another split"
                raise UserError(f"{where}: missing column(s) {', '.join(repr(m) for m in missing)} (found: {found}){hint}")
            checked = True
        answer = None
        answer_col = mapping.get("answer")
        if need_answer is not False and answer_col in row:
            answer = str(row[answer_col]).strip().upper() or None
            if (answer is None and need_answer) or any(ch not in letters for ch in answer or ""):
                raise UserError(
                    f"{where}:{line}: answer {row[answer_col]!r} is not one of {', '.join(letters)}"
                )
        id_col = mapping.get("id")
        row_id = str(row[id_col]) if id_col is not None and id_col in row else str(len(questions))
        questions.append(
            Question(
                id=f"{subject}/{split}/{row_id}",
                subject=subject,
                question=_text(row[mapping["question"]]),
                options={letter: _text(row[mapping.get(letter, letter)]) for letter in letters},
                answer=answer,
            )
        )
    return questions


def _load_local(spec: SuiteSpec, root: Path, subject: str, split: str, need_answer: bool | None) -> list[Question]:
    assert spec.local is not None
    path = root / spec.local.pattern.format(split=split, subject=subject)
    if not path.is_file():
        raise UserError(f"missing data file {path} (suite {spec.name}, subject {subject}, split {split})")
    if path.suffix in (".jsonl", ".json"):
        rows: Iterable[tuple[int, dict]] = _jsonl_rows(path)
    else:
        rows = _csv_rows(path, spec.local.header, spec.local.columns)
    return _normalise(spec, subject, split, rows, str(path), need_answer)


def _hub_rows(spec: SuiteSpec, subject: str, split: str) -> list[tuple[int, dict[str, Any]]]:
    """Rows from `datasets.load_dataset`, converted to the local layout's column names."""
    import datasets

    try:
        data = datasets.load_dataset(spec.hub, name=subject, split=split)
    except Exception as exc:  # noqa: BLE001 - hub errors are many; the user needs one line
        raise UserError(
            f"could not load {spec.hub} ({subject}, {split}) from the hub: {exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''} — offline? use --data-dir with a local copy"
        ) from None
    mapping = _column_map(spec)
    rows: list[tuple[int, dict[str, Any]]] = []
    for i, item in enumerate(data):
        if spec.hub_format == "mmlu":  # question, choices[4], answer as an index
            row = {mapping["question"]: item["question"]}
            for letter, text in zip(spec.choices, item["choices"], strict=False):
                row[mapping.get(letter, letter)] = text
            row[mapping["answer"]] = spec.choices[int(item["answer"])]
        else:  # ceval and cmmlu: the hub columns are the release columns
            row = dict(item)
            if mapping.get("id") == "" and "" not in row:
                row[""] = str(i)
        rows.append((i, row))
    return rows


def load_questions(
    spec: SuiteSpec, subject: str, split: str, data_dir: Path | None, need_answer: bool | None = True
) -> list[Question]:
    """One subject's questions of one split, from `data_dir` (release layout), the suite's own data, or the hub.

    need_answer: True, every question must have a valid answer; None, answers are read where given (a
    split without answers, such as C-Eval's test split, has no answer column or empty ones: answer None);
    False, answers are not read."""
    root = data_dir or spec.data_dir
    if root is not None:
        if not root.is_dir():
            raise UserError(f"data folder not found: {root}")
        return _load_local(spec, root, subject, split, need_answer)
    if not spec.hub:
        raise UserError(f"suite {spec.name} has no hub dataset: pass --data-dir")
    where = f"{spec.hub} ({subject}, {split})"
    return _normalise(spec, subject, split, _hub_rows(spec, subject, split), where, need_answer)


def discover_subjects(spec: SuiteSpec, root: Path, split: str) -> list[str]:
    """For a user suite that lists no subjects: every file matching its pattern for `split`."""
    import re

    assert spec.local is not None
    pattern = spec.local.pattern.replace("{split}", split)
    head, _, tail = pattern.partition("{subject}")
    regex = re.compile(re.escape(head) + r"(.+?)" + re.escape(tail) + "$")
    found = []
    for path in sorted(root.rglob("*")):
        match = regex.match(path.relative_to(root).as_posix())
        if match and path.is_file():
            found.append(match.group(1))
    return found
