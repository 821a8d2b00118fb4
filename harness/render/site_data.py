"""The leaderboard's data: run folders → entries (one finished run each) → models and variants, with
each variant's paired comparison against its base.

Rules the site keeps (users rely on them):
- Scores are ranked together only when their runs share a `protocol_id` (same split, shots, method,
  prompts and data); see harness/render/site_tables.py.
- A variant (fine-tune) is shown under its base with its delta, and its page shows the paired
  comparison computed by harness/compare.py from both runs (engines that differ are noted), or the run
  folder's `compare.json` (written by `harness compare`) when the base's run is not among the inputs.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.compare import Comparison, compare_runs
from harness.errors import UserError
from harness.results.discover import find_run_folders
from harness.results.run import Run, load_run

# ----------------------------------------------------------------------------- collecting runs


def slugify(name: str) -> str:
    """A file name for a model page: readable, safe on every host, and unique per name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"
    return f"{safe[:60]}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"


@dataclass
class Entry:
    """One finished run as the site sees it."""

    run: Run
    name: str
    suite: str
    protocol_id: str
    protocol: dict[str, Any]

    @property
    def overall(self) -> dict[str, Any]:
        return self.run.results["scores"]["overall"]["micro"]

    @property
    def finished_at(self) -> str:
        return str(self.run.card.get("finished_at") or "")


@dataclass
class Model:
    """A model or variant with its runs and registry metadata."""

    name: str
    slug: str
    key: str | None = None
    base: str | None = None  # name of the base model among the inputs, when found
    base_ref: str | None = None  # what the run card names as base (key or path)
    adapter: str | None = None
    organisation: str | None = None
    params_b: float | None = None
    license: str | None = None
    registry: dict[str, Any] | None = None
    entries: list[Entry] = field(default_factory=list)

    @property
    def is_variant(self) -> bool:
        return self.base_ref is not None or self.adapter is not None


def load_entries(paths: list[Path], warn=print) -> list[Entry]:
    """Load every finished run under `paths`; of repeated (model, suite, protocol) runs keep the newest."""
    folders, unfinished = find_run_folders(paths)
    for folder in unfinished:
        warn(f"harness: skipping unfinished run {folder}")
    if not folders:
        raise UserError(f"no finished runs (results.json) under {', '.join(str(p) for p in paths)}")
    chosen: dict[tuple[str, str, str], Entry] = {}
    for folder in folders:
        run = load_run(folder)
        try:
            entry = Entry(run, str(run.results["model"]), str(run.results["suite"]), str(run.card["protocol_id"]),
                          dict(run.card["protocol"]))
        except (KeyError, TypeError):
            raise UserError(f"{folder}: results.json lacks model, suite or protocol card") from None
        if run.results["scores"].get("no_gold"):
            warn(f"harness: skipping {folder}: split '{entry.protocol.get('split')}' has no answers (no score to show)")
            continue
        key = (entry.name, entry.suite, entry.protocol_id)
        if key in chosen:
            older, newer = sorted([chosen[key], entry], key=lambda e: e.finished_at)
            warn(f"harness: {entry.name} · {entry.suite}: two runs with one protocol; using {newer.run.path}")
            entry = newer
        chosen[key] = entry
    if not chosen:
        raise UserError(f"no scored runs under {', '.join(str(p) for p in paths)} (only runs on splits without answers)")
    return list(chosen.values())


def build_models(entries: list[Entry]) -> dict[str, Model]:
    """Group runs by model name, attach registry metadata and find each variant's base among the inputs."""
    from harness.registry import load_catalogue

    try:
        catalogue = load_catalogue()
    except UserError:
        catalogue = {}
    models: dict[str, Model] = {}
    for e in entries:
        ident = e.run.card.get("model", {}) or {}
        m = models.get(e.name)
        if m is None:
            m = models[e.name] = Model(name=e.name, slug=slugify(e.name), key=ident.get("key"),
                                       base_ref=ident.get("base"), adapter=ident.get("adapter"))
        m.entries.append(e)
    # base lookup: by catalogue key, run name, or weights path (a local adapter's base is a folder)
    by_ref: dict[str, str] = {}
    for m in models.values():
        if m.is_variant:
            continue
        for ref in (m.key, m.name, *(e.run.card.get("model", {}).get("path") for e in m.entries)):
            if ref:
                by_ref.setdefault(str(ref), m.name)
    for m in models.values():
        if m.is_variant:
            ref = m.base_ref or next((e.run.card["model"].get("path") for e in m.entries), None)
            m.base_ref = ref
            m.base = by_ref.get(str(ref)) if ref else None
            if m.base == m.name:
                m.base = None
        entry = catalogue.get(m.key or "") or catalogue.get(m.name.split(":")[0])
        base_entry = catalogue.get(entry.base) if entry and entry.base else None
        if entry is not None:
            m.registry = entry.as_dict()
            m.organisation = entry.organisation or (base_entry.organisation if base_entry else None)
            m.params_b = entry.params_b if entry.params_b is not None else (base_entry.params_b if base_entry else None)
            m.license = entry.license or (base_entry.license if base_entry else None)
    return models


# ----------------------------------------------------------------------------- comparing variants


def comparison_summary(c: Comparison, source: str) -> dict[str, Any]:
    """What a model page shows of a comparison: counts, delta, p-value, the changed ids and notes."""
    o = c.overall
    return {"source": source, "n": o.n, "fixed": o.fixed, "broken": o.broken, "delta": o.delta,
            "p_value": o.p_value, "fixed_ids": [x["id"] for x in c.fixed], "broken_ids": [x["id"] for x in c.broken],
            "notes": list(c.notes), "subjects": {s: _subject_change(vars(r)) for s, r in c.subjects.items()}}


def _subject_change(row: dict[str, Any]) -> dict[str, Any]:
    """A subject's row of a comparison, as the variant page's chart draws it."""
    return {"n": int(row["n"]), "fixed": int(row["fixed"]), "broken": int(row["broken"]), "delta": float(row["delta"]),
            "p_value": float(row["p_value"]), "p_holm": None if row.get("p_holm") is None else float(row["p_holm"])}


def read_compare_file(path: Path) -> dict[str, Any] | None:
    """The summary of a `compare.json` written by `harness compare`; None when it is not one."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        o = raw["overall"]
        summary = {"source": path.name, "n": int(o["n"]), "fixed": int(o["fixed"]), "broken": int(o["broken"]),
                   "delta": float(o["delta"]), "p_value": float(o["p_value"]),
                   "fixed_ids": [str(x["id"]) for x in raw.get("fixed", [])],
                   "broken_ids": [str(x["id"]) for x in raw.get("broken", [])], "notes": list(raw.get("notes", [])),
                   "subjects": {str(k): _subject_change(v) for k, v in (raw.get("subjects") or {}).items()}}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    summary["raw"] = json.dumps(raw, ensure_ascii=False, indent=2)[:20000]
    return summary


def comparisons(models: dict[str, Model], warn=print) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(variant, suite, protocol_id) → its comparison with its base on the same protocol."""
    result: dict[tuple[str, str, str], dict[str, Any]] = {}
    for m in models.values():
        if not m.is_variant:
            continue
        base = models.get(m.base) if m.base else None
        for e in m.entries:
            key = (m.name, e.suite, e.protocol_id)
            match = next((b for b in base.entries if b.suite == e.suite and b.protocol_id == e.protocol_id), None) if base else None
            if match is not None:
                try:
                    result[key] = comparison_summary(compare_runs(match.run, e.run, allow_engine_change=True),
                                                     "computed from both runs")
                    continue
                except UserError as exc:
                    warn(f"harness: {m.name} · {e.suite}: no comparison with {base.name}: {exc}")
            from_file = read_compare_file(e.run.path / "compare.json")
            if from_file is not None:
                result[key] = from_file
    return result
