"""Generation-scored suites (law, medicine, code): each subject names its file format and metric.

A subject in such a suite YAML carries `format` (see harness/suite/formats.py),
`metric` (see harness/scoring/metrics.py), `files` (paths under --data-dir, tried in order; `{split}`
and `{subject}` are filled in) and optionally `hub` ({path, name, split}) for `datasets.load_dataset`.
With --data-dir, subjects whose file is not in the folder are left out, so one suite can be run on
the folder of just one of its data sets (e.g. code on a HumanEval folder only).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.results.jsonl import json_lines
from harness.suite.formats import make_item
from harness.suite.items import GenItem
from harness.suite.spec import SuiteSpec


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
            rows = [value for _, value in json_lines(raw, str(path))]
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


def load_items(spec: SuiteSpec, subject: str, split: str, data_dir: Path | None) -> list[GenItem]:
    """One subject's items from `data_dir` (or the hub when there is none)."""
    if data_dir is not None:
        path = subject_file(spec, subject, split, data_dir)
        if path is None:
            raise UserError(f"no data file for {spec.name}/{subject} ({split}) under {data_dir}")
        rows, where = _read_records(path), str(path)
    else:
        rows, where = _hub_records(spec, subject, split), f"{spec.name}/{subject} (hub)"
    return [make_item(spec, subject, split, i, row, f"{where}:{i + 1}") for i, row in enumerate(rows)]


def available_subjects(spec: SuiteSpec, split: str, data_dir: Path | None) -> list[str]:
    """Subjects with data: those whose file is in `data_dir`, or those with a hub dataset."""
    if data_dir is None:
        return [s for s, info in spec.subjects.items() if info.get("hub")]
    return [s for s in spec.subjects if subject_file(spec, s, split, data_dir) is not None]
