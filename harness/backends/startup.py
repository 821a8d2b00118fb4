"""Opening a backend builds long-lived objects: Python's cyclic collector is kept from re-scanning them.

Importing vLLM creates ~700,000 objects that live as long as the process (modules, functions, classes);
torch and transformers ~350,000. While they are being created, CPython's collector runs full collections
each time the objects it tracks grow by a quarter, and every later full collection scans them all again:
on this project's 2-core benchmark machine a `--backend vllm` run of two C-Eval subjects spent 4.1 of its
20 s in 16 full collections (0.4 s each, a few hundred objects found each time), 9 of them during
`import vllm` and more in vLLM's own explicit `gc.collect()` calls while it loads the model; an hf run
spent 0.5 s in 6.

So while a backend's module is imported the automatic collections pause, and what the import built is
frozen (`gc.freeze`: moved to a generation no collection scans; objects freed by reference counting are
still freed). While a backend is built (model loading) they pause too, and at its end one collection
looks at what was created since the import (cheap: the import is frozen) and frees its garbage before
the survivors are frozen. Cyclic garbage that exists when an import is frozen is kept for good: a few
hundred small objects, once per process (an import already done is not repeated).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived(collect: bool) -> Iterator[None]:
    """Pause automatic collections for the block; afterwards freeze what is alive, first collecting the
    garbage among the objects not frozen yet when `collect` (cheap once the big imports are frozen)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collect:
            gc.collect()
        gc.freeze()
        if enabled:
            gc.enable()
