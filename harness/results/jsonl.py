"""JSON Lines that no reader can split wrongly, and the one reader of JSON Lines in harness.

`json.dumps(..., ensure_ascii=False)` keeps U+0085 (NEL), U+2028 and U+2029 raw, and Python's
`str.splitlines()` splits on them: a record whose question contains one (three files of the real
MMLU release do) would come back as two broken lines. Lines are therefore written with those three
characters escaped, and read by splitting on "\\n" only.

Lines are decoded one by one: a write cut short by a crash can end inside a multi-byte character
(a Chinese question), and that must spoil only its own line, which the caller may then drop.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import UserError

_SEPARATORS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def dumps_line(obj: Any) -> str:
    """One JSON value on one line (no trailing newline), safe for every line splitter."""
    return json.dumps(obj, ensure_ascii=False).translate(_SEPARATORS)


def read_bytes(path: Path) -> bytes:
    """A file's bytes, or one clear UserError naming it (missing, a folder, unreadable)."""
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, where a file was expected") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_text(path: Path) -> str:
    """A UTF-8 text file, or one clear UserError naming it."""
    try:
        return read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None


def json_lines(data: bytes, where: str, allow_torn_end: bool = False) -> list[tuple[int, Any]]:
    """(line number, JSON value) for each non-blank line of `data`, split on b"\\n" only.

    A line that is not UTF-8 or not JSON is one UserError naming `where` and the line — except, with
    `allow_torn_end`, the last line when the data does not end with a newline (a write cut short):
    that one is dropped."""
    if data.startswith(b"\xef\xbb\xbf"):  # a byte-order mark some editors add
        data = data[3:]
    pieces = data.split(b"\n")
    last = len(pieces) - 1  # pieces[last] is b"" when the data ends with a newline
    out: list[tuple[int, Any]] = []
    for number, raw in enumerate(pieces, start=1):
        if not raw.strip():
            continue
        torn_ok = allow_torn_end and number - 1 == last
        try:
            text = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            if torn_ok:
                break
            raise UserError(f"{where}: line {number} is not UTF-8 text (damaged file?)") from None
        try:
            out.append((number, json.loads(text)))
        except json.JSONDecodeError as exc:
            if torn_ok:
                break
            raise UserError(f"{where}: line {number} is not valid JSON ({exc.msg}; damaged file?)") from None
    return out


def read_json_lines(path: Path, allow_torn_end: bool = False) -> list[tuple[int, Any]]:
    """`json_lines` of a file (see there); a missing or unreadable file is one UserError naming it."""
    return json_lines(read_bytes(path), str(path), allow_torn_end)


def read_json(path: Path) -> Any:
    """A JSON file, or one clear UserError naming it."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
