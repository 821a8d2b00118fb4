"""`harness models`: the catalogue as a table; `harness models show KEY`: one entry."""

from __future__ import annotations

import argparse

from harness.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the model catalogue", description="List the catalogued models and variants.")
    p.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    p.add_argument("key", nargs="?", help="the entry to show")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from harness.registry import load_catalogue

    catalogue = load_catalogue()
    console = Console()
    if args.action == "show":
        if not args.key:
            raise UserError("harness models show KEY: which model?")
        if args.key not in catalogue:
            raise UserError(f"unknown model '{args.key}'; see `harness models`")
        entry = catalogue[args.key].as_dict()
        if args.json:
            print(json.dumps(entry, ensure_ascii=False, indent=2))
            return 0
        table = Table(show_header=False, title=entry["key"])
        for field, value in entry.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}: {v}" for k, v in value.items())
            elif isinstance(value, list):
                value = ", ".join(map(str, value)) or "—"
            flag = " (unverified)" if field in entry["unverified"] else ""
            table.add_row(field, f"{'—' if value is None else value}{flag}")
        console.print(table)
        return 0
    if args.json:
        print(json.dumps([e.as_dict() for e in catalogue.values()], ensure_ascii=False, indent=2))
        return 0
    table = Table(title=f"harness model catalogue ({len(catalogue)} entries)")
    for col in ("key", "name", "中文名", "organisation", "params (B)", "context", "license", "weights / API", "vLLM"):
        table.add_column(col)
    for e in catalogue.values():
        if e.api:
            where = f"API: {e.api.get('provider')}"
        elif e.base:
            where = f"variant of {e.base}"
        else:
            where = e.hf.get("base") or e.hf.get("chat") or "—"
        table.add_row(
            e.key, e.name_en, e.name_zh or "", e.organisation or "", "" if e.params_b is None else f"{e.params_b:g}",
            "" if e.context_length is None else str(e.context_length), e.license or "", where, e.vllm or "",
        )
    console.print(table)
    return 0
