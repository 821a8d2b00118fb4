"""Opening a backend does not make Python's collector re-scan the libraries it imported (backends/startup.py),
and a backend that is closed and dropped is still freed."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import weakref

from harness.backends.startup import collections_paused

OPEN = """
import gc, json, sys, weakref
full = []
gc.callbacks.append(lambda phase, info: full.append(info["collected"])
                    if phase == "stop" and info["generation"] == 2 else None)
from harness.backends import make_backend
from harness.registry.resolve import ResolvedModel
backend = make_backend("hf", ResolvedModel(name="tiny", path=sys.argv[1]), device="cpu")
opened = list(full)
frozen, tracked, enabled = gc.get_freeze_count(), len(gc.get_objects()), gc.isenabled()
backend.itself = backend  # a reference cycle, as hooks and adapters make: only the collector frees it
model = weakref.ref(backend)
backend.close()
del backend
gc.collect()
print(json.dumps({"opened": opened, "frozen": frozen, "tracked": tracked, "enabled": enabled,
                  "model_freed": model() is None}))
"""


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_no_automatic_collection_while_paused():
    gen0 = gc.get_count()[0]
    with collections_paused():
        assert not gc.isenabled()
        made = [Node() for _ in range(3 * gc.get_threshold()[0])]
        assert gc.get_count()[0] >= gen0 + len(made)  # nothing collected them into an older generation
    assert gc.isenabled()
    dropped = weakref.ref(made[0])
    del made
    gc.collect()
    assert dropped() is None  # nothing built in the block was frozen


def test_a_disabled_collector_stays_disabled():
    gc.disable()
    try:
        with collections_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_opening_the_hf_backend_freezes_its_imports_and_the_model_stays_collectable(tiny_model):
    """In a fresh process, as `harness run` opens it: importing torch and transformers and loading the model
    used to trigger 7 full collections of a growing heap; now one, before torch is imported."""
    out = subprocess.run([sys.executable, "-c", OPEN, str(tiny_model)], capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(seen["opened"]) == 1
    assert seen["frozen"] > 100_000  # torch and transformers: hundreds of thousands of objects
    assert seen["tracked"] < seen["frozen"] / 4  # what later collections still scan
    assert seen["enabled"]
    assert seen["model_freed"]  # nothing built with the model was frozen: a backend in a cycle is still freed
