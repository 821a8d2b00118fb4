"""`harness run` and `harness score`: the one run loop, the same for every method.

the method names the model (from --model; for `harness score`, the predictions file) → open the
backend → let the method render its prompts → protocol card and run key → resume from the store →
batches from the backend → records from the method → store → aggregate → results. The method
(harness/runner/methods.py) decides only what a batch asks and how an output becomes a record.
"""

from __future__ import annotations

import time
from typing import Any

from harness.backends import make_backend
from harness.backends.base import Backend
from harness.errors import UserError
from harness.registry import ResolvedModel
from harness.registry.identity import model_identity
from harness.results.record import Record
from harness.results.store import RunStore, check_writable
from harness.runner.card import build_card, now, run_key, run_settings
from harness.runner.choose import make_method
from harness.runner.config import RunConfig
from harness.runner.progress import Progress
from harness.suite import load_suite


def open_backend(config: RunConfig, model: ResolvedModel) -> Backend:
    """The configured backend for `model` (the run's device, dtype and batch options as defaults)."""
    options = dict(config.backend_options)
    options.setdefault("device", config.device)
    options.setdefault("dtype", config.dtype)
    options.setdefault("batch_size", config.batch_size)
    options.setdefault("prefix_cache", config.prefix_cache)
    return make_backend(config.backend, model, **options)


def execute(config: RunConfig, progress: bool = True, backend: Backend | None = None,
            adopt_records: bool = False) -> dict[str, Any]:
    """Run (or resume) one suite on one model and return the results written to `config.output`.

    `backend`: one already open for `config.model` (a sweep worker keeps its model loaded across
    shards); it is left open, and its token counts start again from zero for this run's card.
    `adopt_records`: the folder's records carry no run key and are this run's (a sweep's merge)."""
    if config.batch_size is not None and config.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    spec = load_suite(config.suite)
    method = make_method(config, spec)  # loads and checks the data before any model is loaded
    check_writable(config.output)  # an unwritable --output fails now, not after the model loaded
    model = method.model()
    started = time.time()
    own = backend is None
    if backend is None:
        backend = open_backend(config, model)
    else:
        backend.reset_stats()
    try:
        method.setup(backend)
        protocol = method.protocol()
        identity = model_identity(model)
        backend_info = backend.describe()
        settings = run_settings(protocol, identity, backend_info)
        key = run_key(settings)
        store = RunStore(config.output, key, settings, overwrite=config.overwrite, adopt=adopt_records)
        done = store.begin({"suite": spec.name, "model": model.name, "started_at": now()})
        finished: dict[int, Record] = {i: done[qid] for i, qid in enumerate(method.ids) if qid in done}
        label = f"{spec.name} · {model.name}" + (f" · {method.name}" if method.name in ("generate", "score") else "")
        with Progress(progress, len(method.ids), len(finished), label) as advance:
            for indices, outputs in method.outputs(backend, set(finished)):
                todo = [(i, o) for i, o in zip(indices, outputs, strict=True) if i not in finished]
                new = method.records([i for i, _ in todo], [o for _, o in todo]) if todo else []
                for (i, _), record in zip(todo, new, strict=True):
                    finished[i] = record
                store.append(new)
                advance(len(new))
        ordered = [finished[i] for i in range(len(method.ids))]
        scores = method.aggregate(ordered)
        card = build_card(config, spec, protocol, identity, backend_info, backend, started)
        results = {"suite": spec.name, "model": model.name, "scores": scores, "card": card}
        store.finish(ordered, results)
        method.finished(scores, progress)
        return {"run_key": key, **results}
    finally:
        if own:
            backend.close()
