"""The per-question record: one type, written by the run loop and read by every other command.

A record holds what a reader needs to recompute or compare a score: the question's `id`, `subject`
and `gold`; what the model did (`pred` and `logprobs` for log-probability methods; `output`,
`outputs` and `extracted` for generation); the verdict (`correct`, and a graded `score` with its
`metric`); and the metric's own numbers in `values` (e.g. ROUGE-L and BLEU, or per-sample pass
results). Serialised with a fixed key order and without empty fields, so that the same run gives
the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from harness.errors import UserError

REQUIRED = ("id", "subject", "correct")


@dataclass
class Record:
    id: str
    subject: str
    gold: str | None
    correct: bool
    pred: str | None = None
    logprobs: dict[str, float] | None = None
    method: str | None = None
    question: str | None = None
    options: dict[str, str] | None = None
    output: str | None = None
    outputs: list[str] | None = None
    extracted: Any = None
    score: float | None = None
    metric: str | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to records.jsonl: fields in ORDER, empty ones left out —
        except `gold`, and `extracted` of a generated output: there "none" is information."""
        out: dict[str, Any] = {}
        for f in ORDER:
            value = getattr(self, f)
            if value is not None and value != {} or f == "gold" or f == "extracted" and self.output is not None:
                out[f] = value
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Record:
        """A record from its JSON object; a malformed or foreign one is one clear UserError naming `where`."""
        if not isinstance(data, dict):
            raise UserError(f"{where}: a record must be a JSON object, not {type(data).__name__}")
        missing = [k for k in REQUIRED if k not in data]
        if missing:
            raise UserError(f"{where}: a record lacks {', '.join(missing)} (not written by `harness run`?)")
        if not isinstance(data["id"], str | int) or isinstance(data["id"], bool):
            raise UserError(f"{where}: record id must be a string")
        if not isinstance(data["subject"], str):
            raise UserError(f"{where}: record subject must be a string")
        if not isinstance(data["correct"], bool):
            raise UserError(f"{where}: record field 'correct' must be true or false")
        known = {k: v for k, v in data.items() if k in _FIELDS}
        # records of older versions kept metric values at the top level
        values = dict(known.pop("values", None) or {})
        values.update({k: v for k, v in data.items() if k not in _FIELDS})
        known["id"] = str(known["id"])
        known.setdefault("gold", None)
        for name, kind in (("logprobs", dict), ("options", dict), ("outputs", list)):
            if known.get(name) is not None and not isinstance(known[name], kind):
                raise UserError(f"{where}: record field '{name}' must be a JSON {kind.__name__}")
        return cls(**known, values=values)


_FIELDS = frozenset(f.name for f in fields(Record))
# the order of keys in records.jsonl (fixed: the same run gives the same bytes)
ORDER = ("id", "subject", "gold", "pred", "correct", "logprobs", "method", "question", "options", "output", "outputs",
         "extracted", "score", "metric", "values")
assert set(ORDER) == _FIELDS
