"""Training data: alpaca records (`instruction`, `input`, `output`) and sharegpt conversations, as chat messages.

Every record becomes a list of `{"role", "content"}` messages ending with an assistant turn. A record
that does not fit is refused with its position and what is wrong, never skipped silently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.results.jsonl import read_json_lines, read_text

Messages = list[dict[str, str]]
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "system": "system", "observation": "user", "function_call": "assistant"}


def read_records(path: Path) -> list[Any]:
    """Records of a JSON array file or a JSONL file (one JSON object a line)."""
    if not path.is_file():
        raise UserError(f"training data not found: {path}")
    if path.suffix == ".jsonl":  # split on "\n" only: U+0085 or U+2028 inside a string is text, not a line end
        return [value for _, value in read_json_lines(path)]
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON array of records (or a .jsonl file)")
    return data


def _text(value: Any, where: str, field: str, required: bool) -> str:
    if value is None or value == "":
        if required:
            raise UserError(f"{where}: '{field}' is missing or empty")
        return ""
    if not isinstance(value, str):
        raise UserError(f"{where}: '{field}' must be a string, not {type(value).__name__}")
    return value


def alpaca_messages(rec: dict[str, Any], where: str) -> Messages:
    """instruction (+ input on a new line) → user; output → assistant; optional system and history pairs."""
    instruction = _text(rec.get("instruction"), where, "instruction", True)
    extra = _text(rec.get("input"), where, "input", False)
    output = _text(rec.get("output"), where, "output", True)
    messages: Messages = []
    system = _text(rec.get("system"), where, "system", False)
    if system:
        messages.append({"role": "system", "content": system})
    history = rec.get("history") or []
    if not isinstance(history, list) or not all(isinstance(h, list) and len(h) == 2 for h in history):
        raise UserError(f"{where}: 'history' must be a list of [question, answer] pairs")
    for q, a in history:
        messages += [{"role": "user", "content": str(q)}, {"role": "assistant", "content": str(a)}]
    user = f"{instruction}\n{extra}" if extra else instruction
    return messages + [{"role": "user", "content": user}, {"role": "assistant", "content": output}]


def sharegpt_messages(rec: dict[str, Any], where: str) -> Messages:
    """`conversations: [{from, value}]` (sharegpt) or `messages: [{role, content}]` (OpenAI style)."""
    turns = rec.get("conversations", rec.get("messages"))
    if not isinstance(turns, list) or not turns:
        raise UserError(f"{where}: 'conversations' must be a non-empty list of turns")
    messages: Messages = []
    system = rec.get("system")
    if system:
        messages.append({"role": "system", "content": _text(system, where, "system", True)})
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise UserError(f"{where}: turn {i} is not an object")
        who = turn.get("from", turn.get("role"))
        role = _SHAREGPT_ROLES.get(who) if isinstance(who, str) else None
        if role is None:
            raise UserError(f"{where}: turn {i} has unknown speaker {who!r} (use human/gpt or user/assistant)")
        content = _text(turn.get("value", turn.get("content")), where, f"turn {i} value", True)
        messages.append({"role": role, "content": content})
    if messages[-1]["role"] != "assistant":
        raise UserError(f"{where}: the conversation must end with an assistant (gpt) turn")
    if not any(m["role"] == "user" for m in messages):
        raise UserError(f"{where}: the conversation has no user (human) turn")
    return messages


def load_examples(path: Path) -> tuple[list[Messages], str]:
    """All records of `path` as message lists, and the format found ('alpaca' or 'sharegpt')."""
    records = read_records(path)
    if not records:
        raise UserError(f"{path}: no training records")
    out: list[Messages] = []
    fmt = None
    for i, rec in enumerate(records):
        where = f"{path.name}: record {i + 1}"
        if not isinstance(rec, dict):
            raise UserError(f"{where}: expected an object, got {type(rec).__name__}")
        kind = "sharegpt" if ("conversations" in rec or "messages" in rec) else "alpaca"
        if kind == "alpaca" and "instruction" not in rec:
            raise UserError(f"{where}: neither alpaca ('instruction', 'output') nor sharegpt ('conversations')")
        if fmt is not None and kind != fmt:
            raise UserError(f"{where}: is {kind} but earlier records are {fmt}; use one format a file")
        fmt = kind
        out.append(alpaca_messages(rec, where) if kind == "alpaca" else sharegpt_messages(rec, where))
    return out, fmt or "alpaca"
