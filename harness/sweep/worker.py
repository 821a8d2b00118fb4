"""A sweep worker: one model's backend, kept loaded across that model's shards and merges.

The same class runs in-process (`--launcher local`) and as a Ray actor (`--launcher ray`), or once per
job (Ray task mode). A shard is `harness run` of some subjects through the one run loop
(`harness.runner.execute`) into the shard's own run folder, so resuming a partial shard and the
records it writes are the run loop's. A merge is the same run loop on the whole suite, resumed from
the shards' records (see harness/results/merge.py), so the merged folder is what one run would write.

Every job returns a plain dict (picklable, the same through Ray): `ok`, and on failure `error` and
`retry` (False for a user's mistake, which another attempt would repeat).

HARNESS_SWEEP_FAULT=SHARD_ID@MARKER (for tests of retries): the first attempt of that shard, while
MARKER does not exist, creates it and kills its own process after its first batch is stored.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.results.merge import annotate_card, seed_records
from harness.results.store import RECORDS, RESULTS, STATE, write_atomic
from harness.runner.config import RunConfig

SIDECAR = "sweep-shard.json"  # where and how a shard ran, beside its run files


@dataclass
class Job:
    kind: str  # "shard" or "merge"
    id: str  # the shard id, or "<model>/<suite>" for a merge
    config: RunConfig
    attempt: int = 1
    shard_folders: list[str] = field(default_factory=list)  # merge: the finished shards, in plan order
    sweep: dict[str, Any] = field(default_factory=dict)  # merge: what the card records of the sweep


def node_info(device: str | None) -> dict[str, Any]:
    """Where this process runs: Ray node and accelerator ids when inside Ray, else the host name."""
    info: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ctx = ray.get_runtime_context()
        info["node"] = ray.util.get_node_ip_address()
        info["node_id"] = ctx.get_node_id()[:12]
        gpus = ctx.get_accelerator_ids().get("GPU") or []
        info["devices"] = [f"cuda:{g}" for g in gpus] if gpus else [device or "cpu"]
    else:
        info["node"] = info["host"]
        info["devices"] = [device or "cpu"]
    return info


def stored_records(folder: Path) -> int:
    """Records a shard folder already holds (a partial run's lines; a finished run's all)."""
    path = folder / RECORDS
    if not path.is_file():
        return 0
    with open(path, "rb") as fh:
        return fh.read().count(b"\n")


class _CrashAfterFirstBatch:
    """A backend that kills its own process when asked for a second batch (the first is stored by then)."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def _crash_after_one(self, batches: Any) -> Any:
        for batch in batches:
            yield batch
            os._exit(70)

    def score(self, *args: Any, **kwargs: Any) -> Any:
        return self._crash_after_one(self._backend.score(*args, **kwargs))

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        return self._crash_after_one(self._backend.generate(*args, **kwargs))


def _fault_for(shard_id: str) -> bool:
    spec = os.environ.get("HARNESS_SWEEP_FAULT", "")
    target, _, marker = spec.partition("@")
    if not spec or target != shard_id or not marker or Path(marker).exists():
        return False
    Path(marker).write_text(f"{shard_id} crashed once (pid {os.getpid()})\n", encoding="utf-8")
    return True


class ShardWorker:
    """Runs the shard and merge jobs of one model with one backend, opened on the first job; a job of
    another model closes it and opens that model's (the process, with its libraries, stays)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.backend: Any = None

    def _open(self, config: RunConfig) -> Any:
        if self.backend is None:
            from harness.runner import open_backend
            from harness.runner.methods import resolve_run_model

            self.backend = open_backend(config, resolve_run_model(config))
        return self.backend

    def run(self, job: Job) -> dict[str, Any]:
        """Do one job; a failure comes back as a result (never raised), so one job never stops the others."""
        started = time.time()
        try:
            if job.config.model != self.model:  # the scheduler moved this worker to another model
                self.close()
                self.model = job.config.model
            out = self._shard(job) if job.kind == "shard" else self._merge(job)
            return {"ok": True, "id": job.id, "kind": job.kind, "attempt": job.attempt, **out}
        except UserError as exc:
            return self._failed(job, str(exc), False, started)
        except Exception as exc:  # noqa: BLE001 - reported with the job; OOM and the like may pass on retry
            return self._failed(job, f"{type(exc).__name__}: {exc}", True, started)

    def _failed(self, job: Job, error: str, retry: bool, started: float) -> dict[str, Any]:
        device = getattr(self.backend, "device", None)
        return {"ok": False, "id": job.id, "kind": job.kind, "attempt": job.attempt, "error": error.splitlines()[0],
                "retry": retry, "seconds": round(time.time() - started, 3), **node_info(device)}

    def _shard(self, job: Job) -> dict[str, Any]:
        from harness.runner import execute

        folder = Path(job.config.output)
        before = 0 if (folder / RESULTS).is_file() else stored_records(folder)
        backend = self._open(job.config)
        if _fault_for(job.id):
            backend = _CrashAfterFirstBatch(backend)
        started = time.time()
        results = execute(job.config, progress=False, backend=backend)
        seconds = round(time.time() - started, 3)
        card = results["card"]
        info = {"seconds": seconds, "questions": card["protocol"]["questions"],
                "computed": card["protocol"]["questions"] - before, "tokens": card["tokens"],
                "attempt": job.attempt, **node_info(card["backend"].get("device"))}
        write_atomic(folder / SIDECAR, json.dumps({"shard": job.id, **info}, ensure_ascii=False, indent=2))
        return info

    def _merge(self, job: Job) -> dict[str, Any]:
        from harness.runner import execute

        started = time.time()
        folders = [Path(f) for f in job.shard_folders]
        seeded = seed_records(Path(job.config.output), folders)
        results = execute(job.config, progress=False, backend=self._open(job.config), adopt_records=True)
        if self.backend.stats.computed_tokens or results["card"]["protocol"]["questions"] != len(seeded):
            (Path(job.config.output) / RESULTS).unlink(missing_ok=True)
            raise UserError(f"{job.id}: the shards hold {len(seeded)} questions but the suite has "
                            f"{results['card']['protocol']['questions']}; the shard plan does not cover it")
        ran = [json.loads((f / SIDECAR).read_text(encoding="utf-8")) for f in folders]
        shards = [{**planned, **{k: v for k, v in r.items() if k != "shard"}}
                  for planned, r in zip(job.sweep.get("plan", []), ran, strict=True)]
        tokens = {k: sum(s["tokens"].get(k, 0) for s in shards) for k in ("prompt", "computed")}
        sweep = {**{k: v for k, v in job.sweep.items() if k != "plan"}, "shards": shards,
                 "nodes": sorted({s["node"] for s in shards}),
                 "devices": sorted({f"{s['node']}:{d}" for s in shards for d in s["devices"]}),
                 "merge_seconds": round(time.time() - started, 3)}
        merged = annotate_card(Path(job.config.output), sweep, sum(s["seconds"] for s in shards), tokens)
        (Path(job.config.output) / STATE).unlink(missing_ok=True)
        overall = merged["scores"]["overall"]
        return {"seconds": round(time.time() - started, 3), "questions": len(seeded),
                "accuracy": overall["micro"]["acc"], **node_info(merged["card"]["backend"].get("device"))}

    def close(self) -> bool:
        if self.backend is not None:
            self.backend.close()
            self.backend = None
        return True


def run_once(model: str, job: Job) -> dict[str, Any]:
    """Ray task mode: load the model, do one job, release the model."""
    worker = ShardWorker(model)
    try:
        return worker.run(job)
    finally:
        worker.close()
