"""The `predictions` backend: answers generation requests from a JSON Lines file of outputs made elsewhere
(another framework, an API, a person), so that `harness score` runs the one run loop with the same
stops, answer reading, metrics and sandbox as `harness run`.

Each line is {"subject": S, "id": ID, "output": "..."} or {"subject": S, "id": ID, "outputs": [...]}
(several samples: pass@k). ID is the id the data file gives the item (HumanEval's task_id, MBPP's
task_id, a record's `id`, else its 0-based line number in the subject's file) or the full id harness
records carry ("subject/split/ID"). The file is checked against the suite's items before anything
runs (harness/runner/score.py); this module only reads it and looks outputs up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.backends.base import Backend, Batch, GenerateRequest, GenerationParams, ScoreRequest, TokenStats
from harness.errors import UserError
from harness.registry import ResolvedModel

BATCH = 64  # items per batch handed to the loop (scoring code in parallel sandboxes wants several at once)


@dataclass(frozen=True)
class Prediction:
    line: int
    subject: str
    id: str
    outputs: list[str]


def read_predictions(path: Path) -> tuple[list[Prediction], list[str]]:
    """Every well-formed line, and one problem per malformed one ("line N: …")."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise UserError(f"cannot read predictions {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    found, problems = [], []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            problems.append(f"line {number}: not a JSON object")
            continue
        missing = [k for k in ("subject", "id") if k not in row]
        if missing:
            problems.append(f"line {number}: lacks {' and '.join(missing)}")
            continue
        outputs: Any = row.get("outputs", [row["output"]] if "output" in row else None)
        if not isinstance(outputs, list) or not outputs or not all(isinstance(o, str) for o in outputs):
            problems.append(f"line {number}: needs \"output\" (a string) or \"outputs\" (a list of strings)")
            continue
        found.append(Prediction(number, str(row["subject"]), str(row["id"]), outputs))
    return found, problems


def raw_id(item_id: str, subject: str) -> str:
    """The data file's own id of an item whose harness id is "subject/split/ID"."""
    rest = item_id.removeprefix(subject + "/")
    return rest.split("/", 1)[1] if "/" in rest else rest


class PredictionsBackend(Backend):
    """Generation from a file: request `id` → that item's outputs."""

    name = "predictions"

    def __init__(self, model: ResolvedModel, **_options: Any) -> None:
        self.path = Path(model.path)
        rows, problems = read_predictions(self.path)
        if problems:
            raise UserError(f"{self.path}: {problems[0]}")
        self.table: dict[tuple[str, str], list[str]] = {}
        for row in rows:
            self.table.setdefault((row.subject, row.id), row.outputs)
        self.model_ref = model
        self._stats = TokenStats()

    def outputs_for(self, request: GenerateRequest) -> list[str]:
        for key in ((request.group, request.id), (request.group, raw_id(request.id, request.group))):
            if key in self.table:
                return self.table[key]
        raise UserError(f"{self.path}: no prediction for {request.group} {request.id}")

    def generate(
        self, requests: Sequence[GenerateRequest], params: GenerationParams, done: set[int] | None = None
    ) -> Iterator[Batch]:
        done = done or set()
        for start in range(0, len(requests), BATCH):
            indices = [i for i in range(start, min(start + BATCH, len(requests)))]
            if set(indices) <= done:
                continue
            yield Batch(indices, [self.outputs_for(requests[i]) for i in indices])

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "file": str(self.path),
                "sha256": hashlib.sha256(self.path.read_bytes()).hexdigest(), "dtype": None, "batch_size": None}

    def letter_token_ids(self, context: str, continuations: Sequence[str]) -> list[int] | None:
        return None

    def score(self, requests: Sequence[ScoreRequest], method: str, letter_ids: dict[str, list[int]] | None = None,
              done: set[int] | None = None) -> Iterator[Batch]:
        raise UserError("predictions are scored as generated text; log-probability methods need a model")

    def apply_chat_template(self, text: str) -> str:
        return text  # the outputs answered whatever prompt the other system used
