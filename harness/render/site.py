"""The static leaderboard: run folders → pandas tables → jinja2 pages, JSON and CSV.

Rules the site keeps (users rely on them):
- Scores are ranked together only when their runs share a `protocol_id` (same split, shots, method,
  prompts and data). Each suite's most used protocol forms the main table; every other protocol gets
  its own table that says which protocol fields differ.
- A variant (fine-tune) is shown under its base with its delta, and its page shows the paired
  comparison: the run folder's `compare.json` when present, else McNemar computed from both runs.
- Everything a run or a user wrote (model names, questions, outputs) is HTML-escaped (autoescape on).
- Links are relative and nothing is fetched from the network: the site works from disk or any host.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

import harness
from harness.errors import UserError
from harness.render.svg import Bar, bar_chart
from harness.results.store import RESULTS, STATE, Run, load_run

PROTOCOL_SUMMARY = ("split", "shots", "method", "chat_template", "limit", "questions")
WRONG_SAMPLE = 8
EXTREMES = 5


# ----------------------------------------------------------------------------- collecting runs


def find_run_folders(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Run folders under `paths` (each a run folder or a folder holding them, searched recursively),
    and the unfinished ones (a `run.lock.json` without `results.json`), which are left out."""
    found: list[Path] = []
    unfinished: list[Path] = []
    for path in paths:
        if not path.exists():
            raise UserError(f"{path}: no such folder")
        if path.is_file():
            if path.name != RESULTS:
                raise UserError(f"{path}: give a run folder or a folder of run folders")
            found.append(path.parent)
            continue
        found.extend(sorted(p.parent for p in path.rglob(RESULTS)))
        unfinished.extend(sorted(p.parent for p in path.rglob(STATE) if not (p.parent / RESULTS).is_file()))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique, unfinished


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
        key = (entry.name, entry.suite, entry.protocol_id)
        if key in chosen:
            older, newer = sorted([chosen[key], entry], key=lambda e: e.finished_at)
            warn(f"harness: {entry.name} · {entry.suite}: two runs with one protocol; using {newer.run.path}")
            entry = newer
        chosen[key] = entry
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


def compare_runs(base: Run, variant: Run) -> dict[str, Any]:
    """Paired comparison on the questions both runs scored: fixed, broken, exact McNemar p-value."""
    from harness.scoring.stats import mcnemar_exact

    b = {r["id"]: bool(r["correct"]) for r in base.records}
    v = {r["id"]: bool(r["correct"]) for r in variant.records}
    ids = [i for i in v if i in b]
    test = mcnemar_exact([b[i] for i in ids], [v[i] for i in ids])
    return {
        "source": "computed from both runs",
        "n": test.n,
        "fixed": test.only_b,
        "broken": test.only_a,
        "delta": test.delta,
        "p_value": test.p_value,
        "fixed_ids": [i for i in ids if v[i] and not b[i]],
        "broken_ids": [i for i in ids if b[i] and not v[i]],
    }


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, list):
        return len(value)
    return None


def read_compare_file(path: Path) -> dict[str, Any] | None:
    """A `compare.json` written by `harness compare`, normalised to fixed/broken/p_value; the raw file is kept."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(raw, dict):
        return None
    flat = dict(raw)
    for nested in ("overall", "paired", "test", "mcnemar"):
        if isinstance(raw.get(nested), dict):
            flat = {**raw[nested], **flat}
    out: dict[str, Any] = {"source": path.name, "raw": json.dumps(raw, ensure_ascii=False, indent=2)[:20000],
                           "p_value": None, "delta": None}
    for name in ("fixed", "broken"):
        ids = flat.get(f"{name}_ids") or (flat.get(name) if isinstance(flat.get(name), list) else None)
        out[f"{name}_ids"] = [str(i) for i in ids] if isinstance(ids, list) else []
        out[name] = _count(flat.get(name)) if _count(flat.get(name)) is not None else _count(ids)
    for name in ("p_value", "p", "pvalue", "p_adjusted"):
        if isinstance(flat.get(name), int | float):
            out["p_value"] = float(flat[name])
            break
    for name in ("delta", "diff"):
        if isinstance(flat.get(name), int | float):
            out["delta"] = float(flat[name])
            break
    out["n"] = flat.get("n") if isinstance(flat.get("n"), int) else None
    return out


def comparisons(models: dict[str, Model]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(variant, suite, protocol_id) → comparison with its base on the same protocol."""
    result: dict[tuple[str, str, str], dict[str, Any]] = {}
    for m in models.values():
        if not m.is_variant:
            continue
        base = models.get(m.base) if m.base else None
        for e in m.entries:
            key = (m.name, e.suite, e.protocol_id)
            from_file = read_compare_file(e.run.path / "compare.json") if (e.run.path / "compare.json").is_file() else None
            if from_file is not None:
                result[key] = from_file
                continue
            match = next((b for b in base.entries if b.suite == e.suite and b.protocol_id == e.protocol_id), None) if base else None
            if match is not None:
                result[key] = compare_runs(match.run, e.run)
    return result


# ----------------------------------------------------------------------------- tables


@dataclass
class Table:
    """Rows ranked together: every suite column has exactly one protocol."""

    id: str
    title: str
    protocols: dict[str, dict[str, Any]]  # suite → protocol (one per suite)
    protocol_ids: dict[str, str]
    reason: str | None = None
    groups: list[list[dict[str, Any]]] = field(default_factory=list)

    @property
    def suites(self) -> list[str]:
        return list(self.protocols)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:39] + "…"


def protocol_difference(main: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """Which protocol fields differ, as 'field: main → other' lines."""
    diffs = []
    for name in dict.fromkeys([*main, *other]):
        if main.get(name) != other.get(name):
            if name == "prompt_template":
                diffs.append("prompt_template differs")
            else:
                diffs.append(f"{name}: {_short(main.get(name))} → {_short(other.get(name))}")
    return diffs


def plan_tables(entries: list[Entry]) -> list[Table]:
    """The main table (each suite's most used protocol) and one table per other (suite, protocol)."""
    by_suite: dict[str, Counter] = {}
    first: dict[str, Entry] = {}
    for e in entries:
        by_suite.setdefault(e.suite, Counter())[e.protocol_id] += 1
        first.setdefault(e.protocol_id, e)
    main_ids = {
        suite: max(counts, key=lambda pid: (counts[pid], first[pid].protocol.get("questions") or 0, pid))
        for suite, counts in sorted(by_suite.items())
    }
    tables = [Table("main", "Leaderboard", {s: first[p].protocol for s, p in main_ids.items()}, dict(main_ids))]
    for suite, counts in sorted(by_suite.items()):
        for pid in sorted(p for p in counts if p != main_ids[suite]):
            proto = first[pid].protocol
            diff = protocol_difference(first[main_ids[suite]].protocol, proto)
            reason = f"{suite} under another protocol than the main table: " + "; ".join(diff)
            tables.append(Table(f"{suite}-{pid}", f"{suite} · {protocol_label(proto)}", {suite: proto}, {suite: pid}, reason))
    return tables


def protocol_label(proto: dict[str, Any]) -> str:
    label = f"{proto.get('split')} · {proto.get('shots')}-shot · {proto.get('method')}"
    if proto.get("chat_template"):
        label += " · chat template"
    if proto.get("limit"):
        label += f" · first {proto['limit']} per subject"
    return label


def fill_table(table: Table, models: dict[str, Model], compares: dict) -> None:
    """Rows of models with a run in the table; variants grouped under their base; ranks by score."""
    rows: dict[str, dict[str, Any]] = {}
    for m in models.values():
        cells = {}
        for e in m.entries:
            if table.protocol_ids.get(e.suite) == e.protocol_id:
                o = e.overall
                cells[e.suite] = {"acc": o["acc"], "ci95": o["ci95"], "n": o["n"], "protocol_id": e.protocol_id,
                                  "macro": e.run.results["scores"]["overall"]["macro"]["acc"]}
        if not cells:
            continue
        complete = all(s in cells for s in table.suites)
        avg = sum(c["acc"] for c in cells.values()) / len(cells) if complete else None
        rows[m.name] = {"model": m, "cells": cells, "average": avg}
    for name, row in rows.items():
        m = row["model"]
        base_row = rows.get(m.base) if m.base else None
        row["delta"] = {}
        for suite, cell in row["cells"].items():
            if base_row and suite in base_row["cells"]:
                cmp = compares.get((name, suite, cell["protocol_id"]), {})
                row["delta"][suite] = {"value": cell["acc"] - base_row["cells"][suite]["acc"],
                                       "p_value": cmp.get("p_value")}
    for suite in table.suites:  # each suite column is ranked on its own as well
        in_suite = sorted((r for r in rows.values() if suite in r["cells"]), key=lambda r: -r["cells"][suite]["acc"])
        for rank, row in enumerate(in_suite, 1):
            row["cells"][suite]["rank"] = rank
    # complete rows by average; then rows missing a suite, by how many suites they have and their mean
    ordered = sorted(rows.values(), key=lambda r: (r["average"] is None, -len(r["cells"]),
                                                   -sum(c["acc"] for c in r["cells"].values()) / len(r["cells"]),
                                                   r["model"].name))
    for rank, row in enumerate(ordered, 1):
        row["rank"] = rank if row["average"] is not None else None
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in ordered:  # a group takes the place of its best row; the base row leads it
        m = row["model"]
        groups.setdefault(m.base if m.base in rows else m.name, []).append(row)
    table.groups = [[r for r in g if r["model"].name == head] + [r for r in g if r["model"].name != head]
                    for head, g in groups.items()]


# ----------------------------------------------------------------------------- pages


def _env() -> Environment:
    from harness.resources import data_dir

    env = Environment(
        loader=FileSystemLoader([str(data_dir("leaderboard")), str(data_dir("reports"))]),
        autoescape=select_autoescape(["html", "xml"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda x, d=1: "—" if x is None else f"{100 * x:.{d}f}"
    env.filters["signed"] = lambda x: "—" if x is None else f"{100 * x:+.1f}"
    env.filters["pval"] = lambda p: "—" if p is None else (f"{p:.3g}" if p >= 0.001 else "<0.001")
    env.filters["params"] = lambda b: "—" if b is None else (f"{b:g}B")
    env.filters["tojson_pretty"] = lambda o: json.dumps(o, ensure_ascii=False, indent=2, default=str)
    env.globals["protocol_label"] = protocol_label
    env.globals["suite_slug"] = slugify
    return env


def _suite_info(name: str) -> dict[str, Any]:
    """Display names and categories from the suite definition, when it can be loaded."""
    from harness.suite import load_suite

    try:
        spec = load_suite(name)
    except (UserError, FileNotFoundError, OSError):
        return {"title": name, "description": "", "subjects": {}, "categories": []}
    return {"title": spec.title, "description": spec.description, "subjects": spec.subjects,
            "categories": spec.categories, "language": spec.language}


def _subject_rows(entry: Entry, info: dict[str, Any]) -> list[dict[str, Any]]:
    subjects = entry.run.results["scores"]["subjects"]
    meta = info.get("subjects", {})
    return [
        {"subject": s, "name_zh": meta.get(s, {}).get("name_zh"), "name_en": meta.get(s, {}).get("name_en"),
         "category": v.get("category"), "acc": v["acc"], "ci95": v["ci95"], "n": v["n"], "correct": v["correct"]}
        for s, v in subjects.items()
    ]


def _chance(entry: Entry) -> float | None:
    choices = entry.protocol.get("choices")
    return 1 / len(choices) if choices else None


def _wrong_sample(entry: Entry, prefer: list[str] | None = None) -> list[dict[str, Any]]:
    """A spread of wrongly answered questions (the ones a variant broke first), for a person to read."""
    wrong = [r for r in entry.run.records if not r.get("correct")]
    if prefer:
        wanted = set(prefer)
        wrong = [r for r in wrong if r["id"] in wanted] + [r for r in wrong if r["id"] not in wanted]
        return wrong[:WRONG_SAMPLE]
    step = max(1, len(wrong) // WRONG_SAMPLE)
    return wrong[::step][:WRONG_SAMPLE]


def _adapter_manifest(m: Model, entry: Entry) -> dict[str, Any] | None:
    """What the registry and the adapter folder say about a variant's adapter."""
    manifest: dict[str, Any] = {}
    if m.registry and m.registry.get("adapter"):
        manifest["registry"] = m.registry["adapter"]
    adapter = entry.run.card.get("model", {}).get("adapter")
    if adapter:
        manifest["path"] = adapter
        fp = entry.run.card.get("model", {}).get("adapter_fingerprint")
        if fp:
            manifest["fingerprint"] = fp
        for fname in ("adapter_config.json", "manifest.json", "training.json"):
            path = Path(adapter) / fname
            if path.is_file():
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                    continue
                if fname == "adapter_config.json":
                    data = {k: data.get(k) for k in ("peft_type", "base_model_name_or_path", "r", "lora_alpha",
                                                      "lora_dropout", "target_modules", "task_type") if k in data}
                manifest[fname] = data
    return manifest or None


def model_context(m: Model, models: dict[str, Model], compares: dict, root: str) -> dict[str, Any]:
    runs = []
    for e in sorted(m.entries, key=lambda x: (x.suite, x.protocol_id)):
        info = _suite_info(e.suite)
        scores = e.run.results["scores"]
        cats = scores.get("categories", {})
        subjects = _subject_rows(e, info)
        ranked = sorted(subjects, key=lambda r: (-r["acc"], r["subject"]))
        k = min(EXTREMES, len(ranked) // 2)  # strongest and weakest never overlap
        cmp = compares.get((m.name, e.suite, e.protocol_id))
        chart = bar_chart(
            [Bar(c, v["micro"]["acc"], tuple(v["micro"]["ci95"]), v["micro"]["n"]) for c, v in cats.items()]
            + [Bar("overall", scores["overall"]["micro"]["acc"], tuple(scores["overall"]["micro"]["ci95"]),
                   scores["overall"]["micro"]["n"])],
            title=f"{e.suite} · accuracy by category (95% CI)",
            chance=_chance(e),
        )
        card = e.run.card
        runs.append({
            "entry": e, "suite": e.suite, "title": info["title"], "label": protocol_label(e.protocol),
            "scores": scores, "subjects": subjects, "chart": chart,
            "strongest": ranked[:k], "weakest": list(reversed(ranked[-k:])) if k else [],
            "protocol": {k: v for k, v in e.protocol.items() if k != "prompt_template"},
            "prompt_template": e.protocol.get("prompt_template"),
            "versions": {"harness": card.get("harness_version"), **(card.get("backend", {}).get("versions") or {})},
            "backend": {k: v for k, v in (card.get("backend") or {}).items() if k != "versions"},
            "identity": card.get("model"), "finished_at": card.get("finished_at"), "seconds": card.get("seconds"),
            "protocol_id": e.protocol_id,
            "compare": cmp,
            "wrong": _wrong_sample(e, (cmp or {}).get("broken_ids")),
            "manifest": _adapter_manifest(m, e) if m.is_variant else None,
        })
    variants = [v for v in models.values() if v.base == m.name]
    return {"root": root, "model": m, "runs": runs, "base": models.get(m.base) if m.base else None,
            "variants": variants, "version": harness.__version__}


def suite_context(suite: str, tables: list[Table], models: dict[str, Model], root: str) -> dict[str, Any]:
    info = _suite_info(suite)
    sections = []
    for t in tables:
        if suite not in t.protocols:
            continue
        pid = t.protocol_ids[suite]
        entries = [e for m in models.values() for e in m.entries if e.suite == suite and e.protocol_id == pid]
        entries.sort(key=lambda e: -e.overall["acc"])
        categories = list(dict.fromkeys(c for e in entries for c in e.run.results["scores"].get("categories", {})))
        # subject x model matrix, built with pandas
        long = pd.DataFrame(
            [{"subject": s, "model": e.name, "acc": v["acc"], "n": v["n"]}
             for e in entries for s, v in e.run.results["scores"]["subjects"].items()]
        )
        matrix = long.pivot(index="subject", columns="model", values="acc") if not long.empty else pd.DataFrame()
        matrix = matrix.reindex(list(dict.fromkeys(long["subject"]))) if not long.empty else matrix  # suite order
        counts = long.groupby("subject")["n"].max() if not long.empty else pd.Series(dtype=int)
        cat_of = {s: v.get("category") for e in entries for s, v in e.run.results["scores"]["subjects"].items()}
        subject_rows = [
            {"subject": s, "name_zh": info["subjects"].get(s, {}).get("name_zh"),
             "name_en": info["subjects"].get(s, {}).get("name_en"), "category": cat_of.get(s),
             "n": int(counts.get(s, 0)),
             "scores": [None if pd.isna(matrix.at[s, e.name]) else float(matrix.at[s, e.name]) for e in entries]}
            for s in matrix.index
        ]
        sections.append({"table": t, "protocol": t.protocols[suite], "label": protocol_label(t.protocols[suite]),
                         "entries": entries, "categories": categories, "subjects": subject_rows,
                         "rows": [r for g in t.groups for r in g]})
    main = sections[0] if sections else None
    return {"root": root, "suite": suite, "info": info, "sections": sections, "main": main,
            "version": harness.__version__}


# ----------------------------------------------------------------------------- data files


def runs_frame(models: dict[str, Model], tables: list[Table]) -> pd.DataFrame:
    """One row per run (the CSV): model, registry data, protocol, overall scores and its table."""
    table_of = {(s, pid): t.id for t in tables for s, pid in t.protocol_ids.items()}
    rows = []
    for m in models.values():
        for e in m.entries:
            o = e.run.results["scores"]["overall"]
            row = {"model": m.name, "base": m.base or m.base_ref, "variant": m.is_variant,
                   "organisation": m.organisation, "params_b": m.params_b, "license": m.license,
                   "suite": e.suite, "table": table_of.get((e.suite, e.protocol_id)), "protocol_id": e.protocol_id}
            row.update({k: e.protocol.get(k) for k in PROTOCOL_SUMMARY})
            row.update({"acc": o["micro"]["acc"], "ci95_low": o["micro"]["ci95"][0], "ci95_high": o["micro"]["ci95"][1],
                        "n": o["micro"]["n"], "correct": o["micro"]["correct"], "macro_acc": o["macro"]["acc"]})
            for cat, v in e.run.results["scores"].get("categories", {}).items():
                row[f"category:{cat}"] = v["micro"]["acc"]
            rows.append(row)
    return pd.DataFrame(rows)


def leaderboard_json(models: dict[str, Model], tables: list[Table], compares: dict) -> dict[str, Any]:
    """The site's data for programs: the ranked tables and every run's scores exactly as in results.json."""
    def table_json(t: Table) -> dict[str, Any]:
        return {
            "id": t.id, "title": t.title, "reason": t.reason,
            "protocols": {s: {"protocol_id": t.protocol_ids[s], **{k: p.get(k) for k in PROTOCOL_SUMMARY}}
                          for s, p in t.protocols.items()},
            "rows": [
                {"rank": r["rank"], "model": r["model"].name, "base": r["model"].base, "average": r["average"],
                 "scores": {s: {"acc": c["acc"], "ci95": c["ci95"], "n": c["n"], "rank": c["rank"],
                                "delta": r["delta"].get(s, {}).get("value"), "p_value": r["delta"].get(s, {}).get("p_value")}
                            for s, c in r["cells"].items()}}
                for g in t.groups for r in g
            ],
        }

    runs = []
    for m in models.values():
        for e in m.entries:
            cmp = compares.get((m.name, e.suite, e.protocol_id))
            runs.append({
                "model": m.name, "suite": e.suite, "protocol_id": e.protocol_id, "run_key": e.run.results.get("run_key"),
                "base": m.base or m.base_ref, "organisation": m.organisation, "params_b": m.params_b, "license": m.license,
                "protocol": e.protocol, "model_card": e.run.card.get("model"), "finished_at": e.finished_at,
                "scores": e.run.results["scores"],
                "compare": {k: v for k, v in cmp.items() if k != "raw"} if cmp else None,
                "page": f"models/{m.slug}.html",
            })
    return {"generator": f"harness {harness.__version__}", "tables": [table_json(t) for t in tables], "runs": runs}


# ----------------------------------------------------------------------------- entry points


def _copy_assets(out: Path) -> None:
    from harness.resources import data_dir

    src = data_dir("leaderboard") / "assets"
    dest = out / "assets"
    dest.mkdir(parents=True, exist_ok=True)
    for path in src.iterdir():
        if path.is_file():
            shutil.copyfile(path, dest / path.name)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def prepare(paths: list[Path], warn=print) -> tuple[dict[str, Model], list[Table], dict]:
    entries = load_entries(paths, warn)
    models = build_models(entries)
    compares = comparisons(models)
    tables = plan_tables(entries)
    for t in tables:
        fill_table(t, models, compares)
    return models, tables, compares


def build_site(paths: list[Path], out: Path, warn=print) -> Path:
    """Write the whole site to `out`; returns the path of index.html."""
    models, tables, compares = prepare(paths, warn)
    env = _env()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {out}: {exc.strerror}") from None
    _copy_assets(out)
    suites = sorted({e.suite for m in models.values() for e in m.entries})
    suite_titles = {s: _suite_info(s)["title"] for s in suites}
    _write(out / "index.html", env.get_template("index.html").render(
        root="", tables=tables, suites=suites, suite_titles=suite_titles, version=harness.__version__,
        n_runs=sum(len(m.entries) for m in models.values()), n_models=len(models)))
    for s in suites:
        _write(out / "suites" / f"{slugify(s)}.html", env.get_template("suite.html").render(
            **suite_context(s, tables, models, "../")))
    for m in models.values():
        _write(out / "models" / f"{m.slug}.html", env.get_template("model.html").render(
            **model_context(m, models, compares, "../"), standalone=False))
    _write(out / "leaderboard.json", json.dumps(leaderboard_json(models, tables, compares), ensure_ascii=False, indent=1))
    runs_frame(models, tables).to_csv(out / "leaderboard.csv", index=False)
    return out / "index.html"


def build_report(paths: list[Path], out: Path, model: str | None = None, warn=print) -> Path:
    """One model's page as a single self-contained HTML file (CSS inlined, no links to a site)."""
    models, _tables, compares = prepare(paths, warn)
    if model is None:
        candidates = [m for m in models.values() if m.is_variant] or list(models.values())
        if len(candidates) != 1:
            names = ", ".join(sorted(models))
            raise UserError(f"the runs are of several models ({names}); choose one with --model")
        chosen = candidates[0]
    elif model in models:
        chosen = models[model]
    else:
        raise UserError(f"no run of model '{model}' among the inputs (found: {', '.join(sorted(models))})")
    if out.suffix.lower() not in (".html", ".htm"):
        out = out / f"{chosen.slug}.html"
    from harness.resources import data_dir

    assets = data_dir("leaderboard") / "assets"
    html = _env().get_template("model.html").render(
        **model_context(chosen, models, compares, ""), standalone=True,
        inline_css=Markup(assets.joinpath("site.css").read_text(encoding="utf-8")),
        inline_js=Markup(assets.joinpath("site.js").read_text(encoding="utf-8")))
    try:
        _write(out, html)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror}") from None
    return out
