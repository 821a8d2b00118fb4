"""Scheduling a sweep's jobs onto workers: the same for one process and for a Ray cluster.

A *pool* starts workers (each bound to one model, see worker.py), runs jobs on them and says which
finished. The scheduler keeps at most `pool.slots` workers: an idle worker takes the next shard of
its own model (its model stays loaded); one with nothing left of its model loads the model with the
most work queued per worker (its process and libraries stay: starting a worker costs more than
loading a model on CPU), or is stopped when there is none or the pool says not to switch. When a (model, suite)'s last shard is done,
its merge goes first in that model's queue, so it runs on a worker that has the model loaded.

A failed job (its worker died, ran out of memory, raised) is put back first in the queue up to
`retries` more times, then reported; either way the other jobs go on. A user's mistake (a
UserError) is not retried: another attempt would make it again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.sweep.worker import Job, ShardWorker


class Pool(Protocol):
    slots: int
    switch_models: bool  # may a worker done with its model's jobs load another model (vs a new worker)?

    def start(self, model: str) -> Any: ...
    def submit(self, handle: Any, job: Job) -> Any: ...
    def wait(self, futures: list[Any], timeout: float) -> list[Any]: ...
    def result(self, future: Any) -> dict[str, Any]: ...
    def stop(self, handle: Any) -> None: ...


class LocalPool:
    """`--launcher local`: one worker in this process; a job runs when submitted."""

    slots = 1
    switch_models = True
    description = "local (one process)"

    def start(self, model: str) -> ShardWorker:
        return ShardWorker(model)

    def submit(self, handle: ShardWorker, job: Job) -> dict[str, Any]:
        return handle.run(job)

    def wait(self, futures: list[Any], timeout: float) -> list[Any]:
        return list(futures)

    def result(self, future: dict[str, Any]) -> dict[str, Any]:
        return future

    def stop(self, handle: ShardWorker) -> None:
        handle.close()


@dataclass
class Worker:
    model: str
    handle: Any
    job: Job | None = None


@dataclass
class Queues:
    """Jobs waiting, per model, with the weight of the shards among them."""

    jobs: dict[str, deque[Job]] = field(default_factory=dict)
    weight: dict[str, int] = field(default_factory=dict)
    weights: dict[str, int] = field(default_factory=dict)  # job id → weight

    def add(self, job: Job, weight: int = 0, first: bool = False) -> None:
        queue = self.jobs.setdefault(job.config.model, deque())
        queue.appendleft(job) if first else queue.append(job)
        self.weights[job.id] = weight
        self.weight[job.config.model] = self.weight.get(job.config.model, 0) + weight

    def pop(self, model: str) -> Job | None:
        queue = self.jobs.get(model)
        if not queue:
            return None
        job = queue.popleft()
        self.weight[model] -= self.weights.get(job.id, 0)
        return job

    def busiest(self, running: dict[str, int]) -> str | None:
        """The model with the most queued weight per worker it already has (ties: most jobs, then name)."""
        waiting = [m for m, q in self.jobs.items() if q]
        if not waiting:
            return None
        return max(waiting, key=lambda m: ((self.weight[m] + 1) / (1 + running.get(m, 0)), len(self.jobs[m]), m))


def schedule(
    pool: Pool,
    queues: Queues,
    retries: int,
    on_event: Callable[[str, Job, dict[str, Any] | None], list[tuple[Job, int]]],
    poll: float = 0.5,
) -> None:
    """Run every queued job. `on_event(kind, job, result)` is told "start", "done", "retry" and "failed";
    for "done" it returns jobs that became ready (a merge), each with its weight, to run next."""
    workers: list[Worker] = []
    inflight: dict[_Future, Worker] = {}

    def submit(worker: Worker, job: Job) -> None:
        worker.job = job
        on_event("start", job, None)
        inflight[_Future(pool.submit(worker.handle, job))] = worker

    while True:
        for worker in [w for w in workers if w.job is None]:
            job = queues.pop(worker.model)
            if job is None and pool.switch_models:  # nothing left of its model: take the busiest other one
                model = queues.busiest(_running(workers, but=worker))
                if model is not None:
                    worker.model = model
                    job = queues.pop(model)
            if job is not None:
                submit(worker, job)
            else:
                pool.stop(worker.handle)
                workers.remove(worker)
        while len(workers) < pool.slots:
            model = queues.busiest(_running(workers))
            if model is None:
                break
            worker = Worker(model, pool.start(model))
            workers.append(worker)
            submit(worker, queues.pop(model))  # type: ignore[arg-type] - busiest() has a job
        if not inflight:
            return
        for key in pool.wait([k.future for k in inflight], poll):
            entry = next(k for k in inflight if k.future is key)
            worker = inflight.pop(entry)
            job, worker.job = worker.job, None
            result = pool.result(key)
            if result.get("ok"):
                for ready, weight in on_event("done", job, result):
                    queues.add(ready, weight, first=True)
                continue
            if result.get("crashed"):
                workers.remove(worker)
                pool.stop(worker.handle)
            if result.get("retry") and job.attempt <= retries:
                on_event("retry", job, result)
                job.attempt += 1
                queues.add(job, queues.weights.get(job.id, 0), first=True)
            else:
                on_event("failed", job, result)


def _running(workers: list[Worker], but: Worker | None = None) -> dict[str, int]:
    running: dict[str, int] = {}
    for w in workers:
        if w is not but:
            running[w.model] = running.get(w.model, 0) + 1
    return running


class _Future:
    """A pool's future as a dict key (Ray's ObjectRefs and plain dicts are not all hashable the same way)."""

    __slots__ = ("future",)

    def __init__(self, future: Any) -> None:
        self.future = future

