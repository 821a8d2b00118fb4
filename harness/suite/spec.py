"""Suite definitions: one YAML file per benchmark, parsed and checked into a `SuiteSpec`."""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import UserError
from harness.resources import data_dir


@dataclass(frozen=True)
class Question:
    """One multiple-choice item, normalised from any source layout."""

    id: str
    subject: str
    question: str
    options: dict[str, str]
    answer: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "question": self.question,
            "options": self.options,
            "answer": self.answer,
        }


@dataclass(frozen=True)
class PromptSpec:
    header: str
    question: str
    answer: str
    target_delimiter: str = " "


@dataclass(frozen=True)
class LocalLayout:
    pattern: str
    header: bool = True
    columns: dict[str, str] | list[str] = field(default_factory=dict)


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    title: str
    language: str
    path: Path
    prompt: PromptSpec
    subjects: dict[str, dict[str, str]]
    categories: list[str]
    choices: list[str]
    eval_split: str
    splits: list[str]
    fewshot_split: str | None
    default_shots: int
    local: LocalLayout | None
    hub: str | None = None
    hub_format: str | None = None
    data_dir: Path | None = None  # default local folder (a suite shipped with its own data)
    subsets: dict[str, list[str]] = field(default_factory=dict)
    description: str = ""
    kind: str = "multiple_choice"
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def definition_hash(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]

    def category_of(self, subject: str) -> str:
        return self.subjects[subject].get("category", "Other")

    def display_name(self, subject: str) -> str:
        info = self.subjects[subject]
        return info.get("name_zh" if self.language == "zh" else "name_en") or subject

    def select_subjects(self, wanted: list[str] | None) -> list[str]:
        """The subjects to run, in definition order; names may also be a category or a subset name."""
        if not wanted:
            return list(self.subjects)
        chosen: list[str] = []
        for name in wanted:
            if name in self.subjects:
                members = [name]
            elif name in self.subsets:
                members = self.subsets[name]
            elif name in self.categories:
                members = [s for s in self.subjects if self.category_of(s) == name]
            else:
                raise UserError(
                    f"unknown subject '{name}' for suite {self.name} "
                    f"(subjects: {', '.join(list(self.subjects)[:6])}…; subsets: {', '.join(self.subsets) or 'none'})"
                )
            chosen.extend(m for m in members if m not in chosen)
        return [s for s in self.subjects if s in chosen]


# what each part of a prompt template may name (`kind` is the mc format's 单项/多项选择题)
HEADER_FIELDS = ("subject", "subject_spaced", "subject_en", "subject_zh", "kind")


def check_templates(path: Path, prompt: PromptSpec, choices: list[str]) -> None:
    """An unknown {placeholder} (a typo such as {questoin}) or a stray brace is an error now, when the
    suite is loaded — not an empty string in every prompt of a finished run."""
    allowed = {"header": HEADER_FIELDS, "question": ("question", *choices), "answer": ("answer",)}
    for part, names in allowed.items():
        text = getattr(prompt, part)
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
        except ValueError as exc:
            raise UserError(f"{path}: prompt {part}: {exc} (write {{{{ and }}}} for literal braces)") from None
        for name in fields:
            if re.split(r"[.\[]", name)[0] not in names:
                raise UserError(f"{path}: prompt {part} names unknown placeholder {{{name}}} "
                                f"(known: {', '.join('{' + n + '}' for n in names)})")


def _require(raw: dict[str, Any], key: str, path: Path) -> Any:
    if key not in raw:
        raise UserError(f"{path}: suite definition lacks '{key}'")
    return raw[key]


def parse_suite(path: Path) -> SuiteSpec:
    """Read and check a suite YAML file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}: not valid YAML{where}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a suite definition must be a YAML mapping")
    prompt_raw = _require(raw, "prompt", path)
    try:
        prompt = PromptSpec(**prompt_raw)
    except TypeError as exc:
        raise UserError(f"{path}: bad prompt section ({exc})") from None
    subjects = raw.get("subjects") or {}
    if isinstance(subjects, list):
        subjects = {s: {} for s in subjects}
    local_raw = raw.get("local")
    local = LocalLayout(**local_raw) if local_raw else None
    categories = list(raw.get("categories") or sorted({v.get("category", "Other") for v in subjects.values()}))
    for subject, info in subjects.items():
        cat = (info or {}).get("category", "Other")
        if cat not in categories:
            raise UserError(f"{path}: subject '{subject}' has category '{cat}' not in categories")
    subsets = raw.get("subsets") or {}
    for subset, members in subsets.items():
        missing = [m for m in members if m not in subjects]
        if missing:
            raise UserError(f"{path}: subset '{subset}' names unknown subjects: {', '.join(missing)}")
    data = raw.get("data_dir")
    choices = list(raw.get("choices", ["A", "B", "C", "D"]))
    check_templates(path, prompt, choices)
    return SuiteSpec(
        name=_require(raw, "name", path),
        title=raw.get("title", raw["name"]),
        language=raw.get("language", "en"),
        path=path,
        prompt=prompt,
        subjects={k: dict(v or {}) for k, v in subjects.items()},
        categories=categories,
        choices=choices,
        eval_split=raw.get("eval_split", "test"),
        splits=list(raw.get("splits") or [raw.get("eval_split", "test")]),
        fewshot_split=raw.get("fewshot_split"),
        default_shots=int(raw.get("default_shots", 0)),
        local=local,
        hub=raw.get("hub"),
        hub_format=raw.get("hub_format"),
        data_dir=(path.parent / data).resolve() if data else None,
        subsets={k: list(v) for k, v in subsets.items()},
        description=raw.get("description", ""),
        kind=raw.get("kind", "multiple_choice"),
        raw=raw,
    )


def list_suites() -> dict[str, Path]:
    """Shipped suite definitions by name."""
    return {p.stem: p for p in sorted(data_dir("suites").glob("*.yaml"))}


def load_suite(name_or_path: str) -> SuiteSpec:
    """A shipped suite by name, or a user's suite YAML by path."""
    shipped = list_suites()
    if name_or_path in shipped:
        return parse_suite(shipped[name_or_path])
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise UserError(f"suite file not found: {path}")
        return parse_suite(path.resolve())
    raise UserError(f"unknown suite '{name_or_path}' (available: {', '.join(shipped)}; or a path to a suite .yaml)")
