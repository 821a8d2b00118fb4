"""`harness sweep`: plan → skip what is finished → run shards and merges on the pool → summary.

Output layout:
    <output>/sweep.json                      the plans (and the settings digest each belongs to)
    <output>/<model>/<suite>/                one merged run per (model, suite), as `harness run` writes it
    <output>/shards/<model>/<suite>/NN-of-MM/ the shard runs (skipped by the leaderboard and the gate)

A rerun finds each finished shard (its results.json and sidecar) and each merged run whose card
names the same plan, and runs nothing for them; a shard left partial is resumed by the run loop.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.errors import UserError
from harness.results.discover import SWEEP
from harness.results.jsonl import read_json
from harness.results.store import RESULTS
from harness.sweep.config import SweepConfig, model_folder
from harness.sweep.launch import LocalPool, Queues, schedule
from harness.sweep.plan import SuitePlan, merged_folder, plan_sweep, shard_folder
from harness.sweep.progress import Row, SweepView
from harness.sweep.worker import SIDECAR, Job


def _shard_done(folder: Path) -> bool:
    return (folder / RESULTS).is_file() and (folder / SIDECAR).is_file()


def _merged_done(folder: Path, plan: SuitePlan) -> bool:
    path = folder / RESULTS
    if not path.is_file():
        return False
    data = read_json(path)
    sweep = data.get("card", {}).get("sweep", {}) if isinstance(data, dict) else {}
    return sweep.get("digest") == plan.digest


def _merged_summary(folder: Path, plan: SuitePlan) -> dict[str, Any]:
    data = read_json(folder / RESULTS)
    return {"model": plan.model, "suite": plan.suite.folder, "questions": data["card"]["protocol"]["questions"],
            "accuracy": data["scores"]["overall"]["micro"]["acc"], "folder": str(folder)}


def make_pool(config: SweepConfig) -> Any:
    if config.launcher == "local":
        if config.workers not in (None, 1):
            raise UserError("--launcher local runs one shard at a time; use --launcher ray for --workers above 1")
        return LocalPool()
    from harness.sweep.ray_pool import RayPool

    config.output.mkdir(parents=True, exist_ok=True)
    return RayPool(config.address, config.mode, config.gpus_per_shard, config.cpus_per_shard, config.workers,
                   (config.output / SWEEP).resolve(), config.run.get("backend", "hf"))


class _Sweep:
    """The state of one sweep invocation, updated by the scheduler's events."""

    def __init__(self, config: SweepConfig, plans: list[SuitePlan], view: SweepView, launcher: str) -> None:
        self.config, self.plans, self.view, self.launcher = config, plans, view, launcher
        self.left = {p.key: {s.id for s in p.shards if not _shard_done(shard_folder(config.output, s))} for p in plans}
        self.by_key = {p.key: p for p in plans}
        self.merged: list[dict[str, Any]] = []
        self.failed: list[str] = []

    def merge_job(self, plan: SuitePlan) -> Job:
        out = self.config.output
        sweep = {"digest": plan.digest, "launcher": self.launcher, "balance": plan.balance,
                 "shards_per_suite": len(plan.shards),
                 "plan": [{"id": s.id, "subjects": s.subjects, "questions": s.questions, "weight": s.weight}
                          for s in plan.shards]}
        return Job("merge", plan.key, self.config.run_config(plan.model, plan.suite, merged_folder(out, plan), None),
                   shard_folders=[str(shard_folder(out, s)) for s in plan.shards], sweep=sweep)

    def on_event(self, kind: str, job: Job, result: dict[str, Any] | None) -> list[tuple[Job, int]]:
        if job.kind == "merge":
            return self._merge_event(kind, job, result)
        if kind == "start":
            self.view.started(job.id)
        elif kind in ("retry", "failed"):
            self.view.failed(job.id, result or {}, retrying=kind == "retry")
            if kind == "failed":
                self.failed.append(job.id)
        elif kind == "done":
            self.view.finished(job.id, result or {})
            key = job.id.rsplit("/", 1)[0]
            self.left[key].discard(job.id)
            if not self.left[key]:
                return [(self.merge_job(self.by_key[key]), 0)]
        return []

    def _merge_event(self, kind: str, job: Job, result: dict[str, Any] | None) -> list[tuple[Job, int]]:
        plan = self.by_key[job.id]
        if kind == "done":
            folder = merged_folder(self.config.output, plan)
            self.merged.append(_merged_summary(folder, plan))
            self.view.note(f"{job.id}: merged {len(plan.shards)} shards into {folder}")
        elif kind in ("retry", "failed"):
            error = (result or {}).get("error", "")
            self.view.note(f"{job.id}: merge attempt {job.attempt} failed: {error}" + ("; retrying" if kind == "retry" else ""))
            if kind == "failed":
                self.failed.append(f"{job.id} (merge)")
        return []


def run_sweep(config: SweepConfig, console: Console | None = None) -> int:
    """Run the sweep; 0 when every (model, suite) is merged, 1 when some shard or merge failed."""
    config.check()
    if console is None:
        console = Console()
        if not console.is_terminal:  # a log file: wide enough for the summary tables not to wrap
            console = Console(width=max(console.width, 160))
    started = time.time()
    pool = make_pool(config)
    if config.gpus_per_shard is None:
        config.gpus_per_shard = getattr(pool, "gpus", 0)
    try:
        plans = plan_sweep(config, config.shards_per_suite or pool.slots)
        rows = []
        for plan in plans:
            for shard in plan.shards:
                folder = shard_folder(config.output, shard)
                row = Row(shard, folder)
                if _shard_done(folder):
                    info = read_json(folder / SIDECAR)
                    row.state, row.done, row.seconds = "finished earlier", shard.questions, info.get("seconds")
                    row.node, row.devices = str(info.get("node", "")), list(info.get("devices", []))
                rows.append(row)
        title = f"{len(config.models)} model(s) × {len(config.suites)} suite(s) · {getattr(pool, 'description', '')}"
        view = SweepView(rows, config.progress, title)
        state = _Sweep(config, plans, view, getattr(pool, "description", config.launcher))
        queues = Queues()
        shard_jobs = []
        for plan in plans:
            todo = [s for s in plan.shards if s.id in state.left[plan.key]]
            for shard in todo:
                shard_jobs.append((shard.weight, Job("shard", shard.id, config.run_config(
                    plan.model, plan.suite, shard_folder(config.output, shard), shard.subjects))))
            folder = merged_folder(config.output, plan)
            if not todo and not _merged_done(folder, plan):
                queues.add(state.merge_job(plan), 0, first=True)
            elif not todo:
                state.merged.append(_merged_summary(folder, plan))
        # each model's shards of all its suites longest first: the big ones start early, small ones fill the tail
        for weight, job in sorted(shard_jobs, key=lambda wj: -wj[0]):
            queues.add(job, weight)
        with view:
            schedule(pool, queues, config.retries, state.on_event)
    finally:
        shutdown = getattr(pool, "shutdown", None)
        if shutdown:
            shutdown()
    view.summary(console, sorted(state.merged, key=lambda m: (m["model"], m["suite"])), time.time() - started)
    ran = sum(1 for r in rows if r.attempts)
    console.print(f"sweep: {ran} shard(s) run, {len(rows) - ran} already finished; merged runs in {config.output}/"
                  f"{{{','.join(model_folder(m) for m in config.models)}}}/<suite>", highlight=False)
    if state.failed:
        console.print(f"sweep: {len(state.failed)} job(s) failed: {', '.join(state.failed)}; run the same command "
                      "again to retry them", highlight=False)
        return 1
    return 0
