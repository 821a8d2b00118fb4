"""JSON Lines that no reader can split wrongly.

`json.dumps(..., ensure_ascii=False)` keeps U+0085 (NEL), U+2028 and U+2029 raw, and Python's
`str.splitlines()` splits on them: a record whose question contains one (three files of the real
MMLU release do) would come back as two broken lines. Lines are therefore written with those three
characters escaped, and read by splitting on "\\n" only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import UserError

_SEPARATORS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def dumps_line(obj: Any) -> str:
    """One JSON value on one line (no trailing newline), safe for every line splitter."""
    return json.dumps(obj, ensure_ascii=False).translate(_SEPARATORS)


def read_text(path: Path) -> str:
    """A UTF-8 text file, or one clear UserError naming it."""
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None


def lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) for each non-empty line, split on "\\n" only."""
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line.rstrip("\r")


def read_json(path: Path) -> Any:
    """A JSON file, or one clear UserError naming it."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
