"""Time from process start to the first forward pass of a command, then stop it there.

    python bench/first_forward.py harness run --suite ceval --model M ...
    python bench/first_forward.py lm_eval --model hf --model_args ... --tasks ...
    python bench/first_forward.py path/to/script.py ARGS...

The command runs in this process exactly as its console script would (`harness.cli` / `lm_eval` / a script),
with one addition: when `torch` is imported (by whoever imports it first) a global forward pre-hook is
registered; the first forward pass of any module prints `FIRST_FORWARD <unix time> <cpu seconds> <modules>` and ends
the process at once. A caller records the time just before it starts the process and subtracts: what is
left is interpreter start-up, imports, data loading, model loading and everything else a user waits
for before the model computes anything. `<modules>` says whether torch's import pulled in scikit-learn
(transformers imports it whenever it is installed) or lm-eval. With FIRST_FORWARD_PROFILE=FILE set, a
cProfile of everything up to the first forward pass is written to FILE (read it with pstats). With
FIRST_FORWARD_CONTINUE=1 the line is printed and the command runs on to its end (the hook removes itself),
so one run gives both the time to the first forward pass and the whole run's time.
"""

from __future__ import annotations

import cProfile
import importlib.abc
import importlib.machinery
import os
import runpy
import sys
import time


def _on_first_forward(module, args) -> None:  # noqa: ANN001 - torch's hook signature
    if _HOOK:
        _HOOK.pop().remove()
    heavy = ",".join(m for m in ("sklearn", "lm_eval", "datasets", "vllm") if m in sys.modules) or "-"
    cpu = sum(os.times()[:2])  # user + system CPU seconds of this process: steadier than wall time under load
    print(f"FIRST_FORWARD {time.time():.3f} {cpu:.2f} {heavy}", flush=True)
    if _PROFILE is not None:
        _PROFILE.disable()
        _PROFILE.dump_stats(os.environ["FIRST_FORWARD_PROFILE"])
    if os.environ.get("FIRST_FORWARD_CONTINUE") != "1":
        os._exit(0)


_HOOK: list = []
_PROFILE = cProfile.Profile() if os.environ.get("FIRST_FORWARD_PROFILE") else None


class _TorchWatcher(importlib.abc.MetaPathFinder):
    """Runs the hook registration right after `torch` has finished importing."""

    def find_spec(self, name, path, target=None):  # noqa: ANN001
        if name != "torch":  # (asked again on the real import when an earlier find_spec only probed for torch)
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        original = spec.loader.exec_module

        def exec_module(module):  # noqa: ANN001
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            original(module)
            _HOOK.append(module.nn.modules.module.register_module_forward_pre_hook(_on_first_forward))

        spec.loader.exec_module = exec_module
        return spec


def main() -> None:
    if len(sys.argv) < 2 or not (sys.argv[1] in ("harness", "lm_eval") or sys.argv[1].endswith(".py")):
        sys.exit("usage: first_forward.py harness|lm_eval|SCRIPT.py ARGS...")
    tool = sys.argv[1]
    sys.argv = [tool, *sys.argv[2:]]
    sys.meta_path.insert(0, _TorchWatcher())
    if _PROFILE is not None:
        _PROFILE.enable()
    if tool.endswith(".py"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(tool)))
        runpy.run_path(tool, run_name="__main__")
    else:
        runpy.run_module("harness.cli" if tool == "harness" else "lm_eval", run_name="__main__", alter_sys=True)
    if os.environ.get("FIRST_FORWARD_CONTINUE") != "1":
        print("FIRST_FORWARD none", flush=True)  # the command ended without a forward pass


if __name__ == "__main__":
    main()
