"""What a plain `pip install .` brings, and what starting the command costs.

A user who installs the harness to score a model gets the libraries the harness calls, not an
evaluation framework (lm-eval) or a machine-learning library (scikit-learn) that only the parity test
and the benchmark use: scikit-learn alone added seconds to every run's start, because transformers
imports it whenever it is installed. The dependency closure is computed offline from pyproject.toml and
the installed distributions' own metadata (every runtime requirement is installed in the test
environment, which is a superset), exactly as pip would resolve it.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
NOT_AT_RUN_TIME = {"lm-eval", "scikit-learn"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _applies(req: Requirement) -> bool:
    """Whether a requirement is installed without any extra on this platform."""
    return req.marker is None or req.marker.evaluate({"extra": ""})


def _closure(requirements: list[str]) -> set[str]:
    """Every distribution that installing `requirements` (no extras) pulls in, by normalised name."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = _norm(req.name)
        if name in seen or not _applies(req):
            continue
        seen.add(name)
        try:
            deps = md.requires(req.name) or []
        except md.PackageNotFoundError:
            continue  # not installed here: nothing below it can be walked (and the assert names it if it matters)
        for dep in deps:
            dep_req = Requirement(dep)
            if _applies(dep_req):  # extras of a dependency are not installed by a plain install either
                todo.append(dep_req)
    return seen


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_plain_install_brings_no_lm_eval_or_scikit_learn():
    runtime = _project()["dependencies"]
    closure = _closure(runtime)
    assert {"torch", "transformers", "peft"} <= closure  # the walk did reach the installed metadata
    assert not closure & NOT_AT_RUN_TIME, f"a plain install pulls in {sorted(closure & NOT_AT_RUN_TIME)}"


def test_parity_test_and_benchmark_still_get_lm_eval():
    extras = _project()["optional-dependencies"]
    for extra in ("test", "bench"):
        assert "lm-eval" in {_norm(Requirement(r).name) for r in extras[extra]}, extra


def test_help_imports_no_torch_and_no_evaluation_framework():
    code = (
        "import sys\n"
        "from harness import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'lm_eval', 'sklearn', 'datasets', 'pandas', 'scipy') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "usage: harness" in out
    assert out.strip().splitlines()[-1] == "HEAVY []"
