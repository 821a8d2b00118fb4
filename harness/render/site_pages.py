"""The leaderboard's pages and files: jinja2 templates (autoescaped: everything a run or a user wrote is
HTML-escaped) rendered from the site's data, plus leaderboard.json and leaderboard.csv for programs.
Links are relative and nothing is fetched from the network: the site works from disk or any host.
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

import harness
from harness.errors import UserError
from harness.render.alignment import alignment
from harness.render.charts import published_chart
from harness.render.site_charts import change_picture, loss_picture, overview_picture
from harness.render.site_data import Entry, Model, build_models, comparisons, load_entries, slugify
from harness.render.site_tables import PROTOCOL_SUMMARY, Table, fill_table, plan_tables, protocol_label
from harness.render.svg import Bar, bar_chart
from harness.results.record import Record

WRONG_SAMPLE = 8
EXTREMES = 5
MATRIX_MODELS = 30  # a suite page's subject x model matrix shows the best this many (leaderboard.csv has all)


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


@functools.lru_cache(maxsize=64)
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


def _wrong_sample(entry: Entry, prefer: list[str] | None = None) -> list[Record]:
    """A spread of wrongly answered questions (the ones a variant broke first), for a person to read."""
    wrong = [r for r in entry.run.records if not r.correct]
    if prefer:
        wanted = set(prefer)
        wrong = [r for r in wrong if r.id in wanted] + [r for r in wrong if r.id not in wanted]
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
    subject_counts: dict[str, int] = {}
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
        subject_counts[e.suite] = len(info.get("subjects") or {})
        manifest = _adapter_manifest(m, e) if m.is_variant else None
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
            "manifest": manifest,
            "change_chart": change_picture(cmp, info, m.base or str(m.base_ref), e.suite) if m.is_variant else None,
            "loss_chart": loss_picture(manifest),
        })
    variants = [v for v in models.values() if v.base == m.name]
    aligned = alignment(m, subject_counts)
    return {"root": root, "model": m, "runs": runs, "base": models.get(m.base) if m.base else None,
            "variants": variants, "version": harness.__version__, "alignment": aligned,
            "alignment_chart": published_chart(aligned) if aligned else None}


def suite_context(suite: str, tables: list[Table], models: dict[str, Model], root: str) -> dict[str, Any]:
    info = _suite_info(suite)
    sections = []
    for t in tables:
        if suite not in t.protocols:
            continue
        pid = t.protocol_ids[suite]
        entries = [e for m in models.values() for e in m.entries if e.suite == suite and e.protocol_id == pid]
        entries.sort(key=lambda e: -e.overall["acc"])
        hidden = max(0, len(entries) - MATRIX_MODELS)
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
             "scores": [None if pd.isna(matrix.at[s, e.name]) else float(matrix.at[s, e.name])
                        for e in entries[:MATRIX_MODELS]]}
            for s in matrix.index
        ]
        sections.append({"table": t, "protocol": t.protocols[suite], "label": protocol_label(t.protocols[suite]),
                         "entries": entries, "matrix_entries": entries[:MATRIX_MODELS], "matrix_hidden": hidden,
                         "categories": categories, "subjects": subject_rows,
                         "rows": [r for g in t.groups for r in g]})
    main = sections[0] if sections else None
    return {"root": root, "suite": suite, "info": info, "sections": sections, "main": main,
            "version": harness.__version__}


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
    compares = comparisons(models, warn)
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
    overview, overview_note = overview_picture(tables, suite_titles)
    _write(out / "index.html", env.get_template("index.html").render(
        root="", tables=tables, suites=suites, suite_titles=suite_titles, version=harness.__version__,
        n_runs=sum(len(m.entries) for m in models.values()), n_models=len(models), overview=overview,
        overview_note=overview_note))
    for s in suites:
        _write(out / "suites" / f"{slugify(s)}.html", env.get_template("suite.html").render(
            **suite_context(s, tables, models, "../")))
    for m in models.values():
        _write(out / "models" / f"{m.slug}.html", env.get_template("model.html").render(
            **model_context(m, models, compares, "../"), standalone=False))
    _write(out / "leaderboard.json", json.dumps(leaderboard_json(models, tables, compares), ensure_ascii=False,
                                               separators=(",", ":")))
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
