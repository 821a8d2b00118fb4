"""On a CPU the transformers backend keeps freed activation buffers for the next pass (glibc's malloc): a loop that
allocates and frees megabyte-sized tensors of changing sizes, as a forward pass does, stops faulting pages in."""

from __future__ import annotations

import ctypes.util
import json
import subprocess
import sys

import pytest

LOOP = """
import json, resource, sys, torch
if sys.argv[1] == "keep":
    from harness.backends.cpu_memory import keep_freed_memory
    assert keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):  # warm up: the first touch of any buffer faults either way
    for n in (1, 3, 2, 5, 4):
        torch.ones(n * 512 * 1024) @ torch.ones(n * 512 * 1024)
start = faults()
for _ in range(40):
    for n in (1, 3, 2, 5, 4):  # 2 to 20 MB
        torch.ones(n * 512 * 1024) @ torch.ones(n * 512 * 1024)
print(json.dumps(faults() - start))
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", LOOP, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not (ctypes.util.find_library("c") or "").startswith("libc.so"), reason="glibc only")
def test_freed_buffers_are_reused_instead_of_faulted_in_again():
    default, kept = _faults("default"), _faults("keep")
    # 200 rounds of 2-20 MB tensors: hundreds of thousands of page faults by default, almost none when kept
    assert default > 10_000
    assert kept < default / 20


def test_the_hf_backend_on_cpu_asks_for_it(tiny_model):
    from harness.backends import cpu_memory
    from harness.backends.hf import HFBackend
    from harness.registry.resolve import ResolvedModel

    HFBackend(ResolvedModel(name="tiny", path=str(tiny_model)), device="cpu")
    assert cpu_memory._done == bool((ctypes.util.find_library("c") or "").startswith("libc.so"))
