"""`harness models`: the catalogue as a table, TSV or JSON; `harness models show KEY`: every field of one entry.

Keys are what users copy into `--model`, so no output ever shortens one: piped or in CI (80 columns, not a
terminal) the table folds long cells onto more lines instead of cutting them with an ellipsis, and
`--format tsv` / `--json` give programs one entry per line or record.
"""

from __future__ import annotations

import argparse
from typing import Any

from harness.errors import UserError

TSV_COLUMNS = (
    "key", "name_en", "name_zh", "organisation", "family", "params_b", "context_length", "license",
    "weights", "vllm", "domain", "published",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models", help="list the model catalogue", description="List the catalogued models and variants."
    )
    p.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    p.add_argument("key", nargs="?", help="the entry to show")
    p.add_argument("--json", action="store_true", help="print JSON (same as --format json)")
    p.add_argument("--format", choices=["table", "tsv", "json"], default="table", help="output format")
    p.add_argument("--family", help="only this architecture family (transformers model_type, e.g. qwen3)")
    p.add_argument("--domain", help="only this domain (general, law, medicine, code, multimodal)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--api", action="store_true", help="only API-only models")
    where.add_argument("--open", action="store_true", help="only models with open weights (and their variants)")
    p.set_defaults(handler=handle)


def _kind(e) -> str:
    """Open weights, API, or a variant: short enough for the compact table."""
    if e.api:
        return f"API: {e.api.get('provider')}"
    if e.base:
        return f"variant of {e.base}"
    return "open weights" if e.hf else "weights off the Hub"


def _where(e) -> str:
    """Where the weights come from: API provider, base of a variant, or the hub repo."""
    if e.api:
        return f"API: {e.api.get('provider')}"
    if e.base:
        return f"variant of {e.base}"
    return e.hf.get("base") or e.hf.get("chat") or "—"


def _published_line(rec: dict[str, Any]) -> str:
    """One published score with the protocol facts that explain a gap to ours."""
    facts = [f"{rec['shots']}-shot" if rec.get("shots") is not None else "shots not stated"]
    for name in ("split", "release", "method"):
        if rec.get(name):
            facts.append(f"{name}: {rec[name]}" if name != "release" else f"{rec[name]} release")
    text = f"{rec['score']:g} ({'; '.join(facts)})"
    if rec.get("note"):
        text += f" — {rec['note']}"
    return f"{text} — {rec['source']}"


def _select(catalogue: dict, args: argparse.Namespace) -> list:
    entries = list(catalogue.values())
    for name in ("family", "domain"):
        wanted = getattr(args, name)
        if wanted is None:
            continue
        known = sorted({getattr(e, name) for e in entries if getattr(e, name)})
        if wanted.lower() not in {k.lower() for k in known}:
            raise UserError(f"unknown {name} '{wanted}' (known: {', '.join(known)})")
        entries = [e for e in entries if (getattr(e, name) or "").lower() == wanted.lower()]
    if args.api:
        entries = [e for e in entries if e.is_api]
    if args.open:
        entries = [e for e in entries if not e.is_api]
    return entries


def _console():
    from rich.console import Console

    # soft_wrap off and no ellipsis anywhere: rich only ever folds cells (see the tables below).
    return Console(highlight=False)


def _show(entry, as_json: bool) -> int:
    """Every field, one per line (`field  value`): no table, so long values (URLs, repo ids) wrap in the
    terminal without being cut or split inside the text, and `grep` finds them whole."""
    import json

    data = entry.as_dict()
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    lines: list[tuple[str, str]] = []
    for field, value in data.items():
        if field == "published":
            lines += [(f"published.{b}", _published_line(rec)) for b, rec in value.items()] or [(field, "—")]
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "—"
        elif isinstance(value, list):
            value = ", ".join(map(str, value)) or "—"
        flag = " (unverified)" if field in data["unverified"] else ""
        lines.append((field, f"{'—' if value is None else value}{flag}"))
    width = max(len(f) for f, _ in lines)
    for field, value in lines:
        print(f"{field:<{width}}  {value}")
    return 0


def _row(e) -> dict[str, str]:
    return {
        "key": e.key, "name_en": e.name_en, "name_zh": e.name_zh or "", "organisation": e.organisation or "",
        "family": e.family or "", "params_b": "" if e.params_b is None else f"{e.params_b:g}",
        "context_length": "" if e.context_length is None else str(e.context_length), "license": e.license or "",
        "weights": _where(e), "kind": _kind(e), "vllm": e.vllm or "", "domain": e.domain or "",
        "published": ", ".join(f"{b} {r['score']:g}" for b, r in e.published.items()),
    }


def _tsv(entries: list) -> None:
    print("\t".join(TSV_COLUMNS))
    for e in entries:
        row = _row(e)
        print("\t".join(" ".join(row[c].split()) for c in TSV_COLUMNS))  # no tab or newline inside a cell


# Columns of the table: (header, row field, fold long text?). A narrow console (under WIDE columns, e.g. CI
# logs at 80) gets the compact set so cells stay legible instead of folding into one-character strips.
WIDE = 150
FULL = [("key", "key", False), ("name", "name", True), ("family", "family", False), ("params (B)", "params_b", False),
        ("context", "context_length", False), ("license", "license", True), ("weights / API", "weights", True),
        ("vLLM", "vllm", False)]
COMPACT = [("key", "key", False), ("family", "family", False), ("params (B)", "params_b", False),
           ("context", "context_length", False), ("weights", "kind", True)]


def _table(entries: list, total: int) -> None:
    from rich import box
    from rich.table import Table

    console = _console()
    columns = FULL if console.width >= WIDE else COMPACT
    title = f"harness model catalogue ({len(entries)} of {total} entries)" if len(entries) != total else (
        f"harness model catalogue ({total} entries)"
    )
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for header, field, fold in columns:
        width = max([len(header)] + [len(_row(e)[field]) for e in entries]) if not fold else None
        # never shortened: keys are copied into --model; the other short cells keep their full width too.
        table.add_column(header, no_wrap=not fold, min_width=width, overflow="fold")
    for e in entries:
        r = _row(e)
        r["name"] = r["name_en"] + (f" / {r['name_zh']}" if r["name_zh"] else "")
        table.add_row(*(r[field] for _, field, _ in columns))
    console.print(table)
    if columns is COMPACT:
        console.print("every field: harness models show KEY; all columns: --format tsv or --json")


def handle(args: argparse.Namespace) -> int:
    import difflib
    import json
    import os
    import sys

    from harness.registry import load_catalogue

    catalogue = load_catalogue()
    fmt = "json" if args.json else args.format
    if args.action == "show":
        if not args.key:
            raise UserError("harness models show KEY: which model?")
        if args.key not in catalogue:
            close = difflib.get_close_matches(args.key, list(catalogue), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UserError(f"unknown model '{args.key}'{hint}; see `harness models`")
        return _show(catalogue[args.key], fmt == "json")
    entries = _select(catalogue, args)
    try:
        if fmt == "json":
            print(json.dumps([e.as_dict() for e in entries], ensure_ascii=False, indent=2))
        elif fmt == "tsv":
            _tsv(entries)
        else:
            _table(entries, len(catalogue))
        sys.stdout.flush()
    except BrokenPipeError:  # `harness models --format tsv | head`: the reader left; that is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
