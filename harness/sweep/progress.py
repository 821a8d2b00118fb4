"""One view over all shards of a sweep while it runs, and the summary table at its end.

Progress is read from the run store itself: every shard appends and fsyncs its records batch by
batch, so counting the lines of a running shard's records.jsonl gives its done questions, wherever
the shard runs (the output is shared), without any channel from the workers. On a terminal the view
is a live table (running and failed shards, done/total questions, ETA); elsewhere (CI logs) it is one
line per shard event. The ETA weighs shards by their planned prompt tokens, not by question counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness.sweep.plan import Shard
from harness.sweep.worker import stored_records


@dataclass
class Row:
    shard: Shard
    folder: Path
    state: str = "pending"  # pending, running, retrying, done, finished earlier, failed
    done: int = 0
    attempts: int = 0
    computed: int = 0
    seconds: float | None = None
    node: str = ""
    devices: list[str] = field(default_factory=list)
    error: str = ""
    started: float | None = None
    at_start: int = 0  # records already there when this sweep started it


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


class SweepView:
    """`with SweepView(rows, enabled, title) as view: view.started(id) / view.finished(id, result) …`"""

    def __init__(self, rows: list[Row], enabled: bool, title: str) -> None:
        self.rows = {r.shard.id: r for r in rows}
        self.enabled, self.title = enabled, title
        self.console = Console(stderr=True)
        self.live: Live | None = None
        self.t0 = time.time()

    def __enter__(self) -> SweepView:
        self.t0 = time.time()
        if self.enabled and self.console.is_terminal:
            self.live = Live(get_renderable=self.render, console=self.console, refresh_per_second=2, transient=True)
            self.live.start()
        elif self.enabled:
            todo = sum(1 for r in self.rows.values() if r.state == "pending")
            self.console.print(f"sweep: {self.title}: {len(self.rows)} shards, {todo} to run")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()

    # -- events ---------------------------------------------------------------------------------
    def _line(self, text: str) -> None:
        if self.enabled and self.live is None:
            self.console.print(f"sweep [{_clock(time.time() - self.t0)}] {text}", highlight=False, soft_wrap=True)

    def started(self, shard_id: str) -> None:
        row = self.rows[shard_id]
        row.state, row.started = "running", time.time()
        row.attempts += 1
        row.at_start = row.done = stored_records(row.folder)
        self._line(f"{shard_id}: started (attempt {row.attempts})" + (f", {row.done} questions already stored" if row.done else ""))

    def finished(self, shard_id: str, result: dict[str, Any]) -> None:
        row = self.rows[shard_id]
        row.state, row.done = "done", row.shard.questions
        row.computed, row.seconds = result.get("computed", 0), result.get("seconds")
        row.node, row.devices = str(result.get("node", "")), list(result.get("devices", []))
        finished = sum(1 for r in self.rows.values() if r.state in ("done", "finished earlier"))
        self._line(f"{shard_id}: done in {row.seconds:.1f}s on {row.node} ({finished}/{len(self.rows)} shards; "
                   f"{self.done_questions()}/{self.total_questions()} questions; ETA {_clock(self.eta())})")

    def failed(self, shard_id: str, result: dict[str, Any], retrying: bool) -> None:
        row = self.rows[shard_id]
        row.state, row.error = ("retrying" if retrying else "failed"), str(result.get("error", ""))
        row.node = str(result.get("node", row.node))
        row.done = stored_records(row.folder)
        # a failure is news even with --quiet
        where = f" on {result['node']}" if result.get("node") else ""
        message = f"{shard_id}: attempt {row.attempts} failed{where}: {row.error}" + ("; retrying" if retrying else "")
        if self.live is not None:
            self.live.console.print(f"sweep: {message}", highlight=False)
        else:
            self.console.print(f"sweep [{_clock(time.time() - self.t0)}] {message}", highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        if self.live is not None:
            self.live.console.print(f"sweep: {text}", highlight=False)
        else:
            self._line(text)

    # -- numbers --------------------------------------------------------------------------------
    def _poll(self) -> None:
        for row in self.rows.values():
            if row.state == "running":
                row.done = min(row.shard.questions, stored_records(row.folder))

    def total_questions(self) -> int:
        return sum(r.shard.questions for r in self.rows.values())

    def done_questions(self) -> int:
        return sum(r.done for r in self.rows.values())

    def eta(self) -> float | None:
        """Seconds left: the planned weight still to do at the rate weight was done in this sweep."""
        done = left = 0.0
        for row in self.rows.values():
            if row.state == "finished earlier":
                continue
            part = row.shard.weight / max(1, row.shard.questions)
            done += part * (row.done - row.at_start) if row.started else 0
            left += part * (row.shard.questions - row.done)
        elapsed = time.time() - self.t0
        return left * elapsed / done if done > 0 else (0.0 if left == 0 else None)

    def render(self) -> Group:
        self._poll()
        counts: dict[str, int] = {}
        for row in self.rows.values():
            counts[row.state] = counts.get(row.state, 0) + 1
        head = Text(f"sweep {self.title} · {self.done_questions()}/{self.total_questions()} questions · "
                    + " · ".join(f"{n} {s}" for s, n in counts.items())
                    + f" · elapsed {_clock(time.time() - self.t0)} · ETA {_clock(self.eta())}")
        table = Table(box=None, pad_edge=False)
        for col in ("shard", "state", "questions", "try", "elapsed"):
            table.add_column(col, justify="left" if col in ("shard", "state") else "right")
        for row in self.rows.values():
            if row.state in ("running", "retrying", "failed"):
                table.add_row(row.shard.id, row.state, f"{row.done}/{row.shard.questions}", str(row.attempts),
                              _clock(time.time() - row.started if row.started else None))
        return Group(head, table)

    # -- the end --------------------------------------------------------------------------------
    def summary(self, console: Console, merged: list[dict[str, Any]], wall: float) -> None:
        """Time per shard and node, then the merged runs."""
        table = Table(title=f"sweep {self.title}: shards ({_clock(wall)} wall)")
        for col in ("shard", "subjects", "questions", "computed", "state", "tries", "seconds", "node", "devices"):
            table.add_column(col, justify="right" if col in ("questions", "computed", "tries", "seconds") else "left")
        per_node: dict[str, list[float]] = {}
        for row in self.rows.values():
            subjects = ", ".join(row.shard.subjects)
            table.add_row(row.shard.id, subjects if len(subjects) < 40 else f"{len(row.shard.subjects)} subjects",
                          str(row.shard.questions), str(row.computed), row.state, str(row.attempts),
                          f"{row.seconds:.1f}" if row.seconds is not None else "—", row.node, ", ".join(row.devices))
            if row.seconds is not None and row.node:
                per_node.setdefault(row.node, []).append(row.seconds)
        console.print(table)
        if per_node:
            nodes = Table(title="time per node")
            for col in ("node", "shards", "seconds"):
                nodes.add_column(col, justify="left" if col == "node" else "right")
            for node, times in sorted(per_node.items()):
                nodes.add_row(node, str(len(times)), f"{sum(times):.1f}")
            console.print(nodes)
        if merged:
            runs = Table(title="merged runs")
            for col in ("model", "suite", "questions", "acc %", "folder"):
                runs.add_column(col, justify="right" if col in ("questions", "acc %") else "left")
            for m in merged:
                runs.add_row(m["model"], m["suite"], str(m["questions"]), f"{100 * m['accuracy']:.2f}", m["folder"])
            console.print(runs)
        failed = [r for r in self.rows.values() if r.state == "failed"]
        for row in failed:
            console.print(f"failed: {row.shard.id} after {row.attempts} attempt(s): {row.error}", highlight=False)
