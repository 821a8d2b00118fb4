"""`--launcher ray`: sweep workers as Ray actors (one per model replica, the model kept loaded across
its shards) or as one Ray task per job (the model loaded for each job).

Each worker asks Ray for `--gpus-per-shard` GPUs (Ray sets CUDA_VISIBLE_DEVICES; more than one is
vLLM's tensor parallel inside the shard) or, on a CPU cluster, `--cpus-per-shard` CPUs (Ray sets
OMP_NUM_THREADS to match). The number of workers at once is what the cluster's resources hold,
at most `--workers`. Ray is imported only here: without it, every other command works.

Shards write their run folders on the worker's node, so on a cluster of several nodes the sweep's
output must be a folder every node sees at the same path (NFS or the like); a worker that cannot see
the sweep's `sweep.json` fails with that message instead of writing elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.sweep.worker import Job, ShardWorker, run_once


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError("--launcher ray needs Ray: pip install 'harness[ray]'") from None
    return ray


def _check_shared(sweep_file: str) -> None:
    """On the worker: the sweep's output must be the driver's (one file system, the same path)."""
    if not Path(sweep_file).is_file():
        raise UserError(f"Ray node {os.uname().nodename} does not see {sweep_file}: the sweep's --output must be "
                        "on storage every node mounts at the same path")


class RayPool:
    """Workers on a Ray cluster: `mode` "actor" (a model replica per actor) or "task" (one job per task)."""

    def __init__(self, address: str | None, mode: str, gpus: float | None, cpus: float, workers: int | None,
                 sweep_file: Path, backend: str = "hf") -> None:
        ray = import_ray()
        self.ray, self.mode, self.sweep_file = ray, mode, str(sweep_file)
        self.started_ray = not ray.is_initialized()
        if self.started_ray:
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # a sweep reports nothing to anyone
            try:
                ray.init(address=address or None, include_dashboard=False, log_to_driver=True)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise UserError(f"cannot reach the Ray cluster at {address or 'a new local instance'}: "
                                f"{str(exc).splitlines()[0]}") from None
        resources = ray.cluster_resources()
        if gpus is None:  # not asked: a GPU per shard where the cluster has GPUs
            gpus = 1.0 if resources.get("GPU", 0) >= 1 else 0.0
        self.gpus = gpus
        self.options: dict[str, Any] = {"num_cpus": cpus if not gpus else min(cpus, 1), "num_gpus": gpus}
        fit = int(resources.get("GPU", 0) // gpus) if gpus else int(resources.get("CPU", 0) // cpus)
        unit = f"{gpus:g} GPU" if gpus else f"{cpus:g} CPU"
        if fit < 1:
            have = f"{resources.get('GPU', 0):g} GPU" if gpus else f"{resources.get('CPU', 0):g} CPU"
            raise UserError(f"the Ray cluster has {have} in all, less than one shard asks for ({unit})")
        self.slots = min(fit, workers) if workers else fit
        nodes = len([n for n in ray.nodes() if n.get("Alive")])
        self.description = f"ray, {mode}s · {nodes} node(s) · {self.slots} worker(s) of {unit}"
        # vLLM does not give all its GPU memory back inside a process: a fresh actor per model there
        self.switch_models = backend != "vllm"
        self._actor = ray.remote(max_restarts=0, max_task_retries=0)(_RayWorker)
        self._task = ray.remote(max_retries=0)(_run_task)

    def start(self, model: str) -> Any:
        if self.mode == "task":
            return model
        return self._actor.options(**self.options).remote(model, self.sweep_file)

    def submit(self, handle: Any, job: Job) -> Any:
        if self.mode == "task":
            return self._task.options(**self.options).remote(job.config.model, job, self.sweep_file)
        return handle.run.remote(job)

    def wait(self, futures: list[Any], timeout: float) -> list[Any]:
        ready, _ = self.ray.wait(futures, num_returns=1, timeout=timeout)
        return ready

    def result(self, future: Any) -> dict[str, Any]:
        ray = self.ray
        try:
            return ray.get(future)
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.OutOfMemoryError, ray.exceptions.ObjectLostError) as exc:
            return {"ok": False, "crashed": True, "retry": True, "error": f"worker died ({type(exc).__name__})"}
        except ray.exceptions.RayTaskError as exc:  # raised outside ShardWorker.run (e.g. unpickling the job)
            return {"ok": False, "crashed": self.mode == "actor", "retry": True,
                    "error": str(exc).strip().splitlines()[-1][:300]}

    def stop(self, handle: Any) -> None:
        if self.mode == "task":
            return
        try:
            self.ray.get(handle.close.remote(), timeout=60)
        except Exception:  # noqa: BLE001, S110 - a dead actor has nothing to release
            pass
        self.ray.kill(handle)

    def shutdown(self) -> None:
        if self.started_ray:
            self.ray.shutdown()


class _RayWorker(ShardWorker):
    """The actor: a ShardWorker that checks first that it sees the sweep's output."""

    def __init__(self, model: str, sweep_file: str) -> None:
        super().__init__(model)
        self.sweep_file = sweep_file

    def run(self, job: Job) -> dict[str, Any]:
        try:
            _check_shared(self.sweep_file)
        except UserError as exc:
            return {"ok": False, "id": job.id, "kind": job.kind, "attempt": job.attempt, "error": str(exc),
                    "retry": False}
        return super().run(job)


def _run_task(model: str, job: Job, sweep_file: str) -> dict[str, Any]:
    try:
        _check_shared(sweep_file)
    except UserError as exc:
        return {"ok": False, "id": job.id, "kind": job.kind, "attempt": job.attempt, "error": str(exc), "retry": False}
    return run_once(model, job)
