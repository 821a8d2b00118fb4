"""Opening a backend does not make Python's collector re-scan the libraries it imported (backends/startup.py),
and nothing that became garbage while a backend was built or closed is kept."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import weakref

from harness.backends.startup import long_lived

OPEN = """
import gc, json, sys
full = []
gc.callbacks.append(lambda phase, info: full.append(1) if phase == "stop" and info["generation"] == 2 else None)
from harness.backends import make_backend
from harness.registry.resolve import ResolvedModel
backend = make_backend("hf", ResolvedModel(name="tiny", path=sys.argv[1]), device="cpu")
opened = len(full)
for _ in range(3):
    gc.collect()
print(json.dumps({"opened": opened, "frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects()),
                  "enabled": gc.isenabled()}))
"""


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_garbage_made_inside_is_collected_and_survivors_frozen():
    kept = []
    before = gc.get_freeze_count()
    try:
        with long_lived(collect=True):
            assert not gc.isenabled()  # no automatic collection while the block builds objects
            dropped = weakref.ref(Node())
            kept.append(Node())
        assert dropped() is None  # the garbage made in the block is gone
        assert gc.get_freeze_count() > before  # the survivors are no longer scanned
        assert gc.isenabled()
    finally:
        gc.unfreeze()


def test_a_disabled_collector_stays_disabled():
    gc.disable()
    try:
        with long_lived(collect=False):
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_opening_the_hf_backend_runs_one_full_collection(tiny_model):
    """In a fresh process, as `harness run` opens it: importing torch and transformers and loading the model
    used to trigger several full collections of a growing heap; now one, and the heap is frozen after it."""
    out = subprocess.run([sys.executable, "-c", OPEN, str(tiny_model)], capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["opened"] == 1
    assert seen["frozen"] > 100_000  # torch and transformers: hundreds of thousands of objects
    assert seen["tracked"] < seen["frozen"] / 10  # what later collections still scan
    assert seen["enabled"]
