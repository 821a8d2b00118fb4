"""Opening a backend builds long-lived objects: Python's cyclic collector is kept from re-scanning them.

Importing vLLM creates ~700,000 objects that live as long as the process (modules, functions, classes);
torch and transformers ~350,000. While they are being created, CPython's collector runs a full collection
each time the objects it tracks grow by a quarter, and every later full collection scans them all again:
on this project's 2-core benchmark machine a `--backend vllm` run of two C-Eval subjects spent 4.1 of its
20 s in 16 full collections (0.4 s each, a few hundred objects found each time): 9 during `import vllm`,
more in vLLM's own explicit `gc.collect()` calls while it loads the model, and one when the interpreter
exits; an hf run spent 0.7 s in 7.

- A backend's module is imported with automatic collections paused, and what the import built is then
  frozen (`gc.freeze`: moved to a generation no collection scans; frozen objects freed by reference
  counting are still freed). Cyclic garbage made by the import itself is kept for good: a few hundred
  small objects, once per process.
- While a backend is built (model loading), automatic collections pause too, but nothing built is frozen:
  a model that is closed and dropped must stay collectable (a sweep opens one model after another).
- At exit the heap is frozen, so the interpreter's last collection does not scan it once more.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

_at_exit = False


@contextmanager
def collections_paused() -> Iterator[None]:
    """No automatic collection inside the block (explicit `gc.collect()` calls still run)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def import_long_lived(name: str) -> ModuleType:
    """Import module `name` without collections, then freeze everything alive (the import above all); a
    module imported already is just returned."""
    if name in sys.modules:
        return sys.modules[name]
    global _at_exit
    if not _at_exit:
        atexit.register(gc.freeze)  # atexit runs before the interpreter's final collection
        _at_exit = True
    gc.collect()  # garbage from before is not frozen with the import (cheap: torch is not loaded yet)
    with collections_paused():
        try:
            return importlib.import_module(name)
        finally:
            gc.freeze()
