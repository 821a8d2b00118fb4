"""The leaderboard's tables: runs ranked together only when they share a protocol.

Each suite's most used protocol forms the main table; every other (suite, protocol) gets its own table
that says which protocol fields differ. Within a table, each suite column is ranked on its own, complete
rows by their average, and a variant sits under its base with its delta.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from harness.render.site_data import Entry, Model

PROTOCOL_SUMMARY = ("split", "shots", "method", "chat_template", "limit", "questions")


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
