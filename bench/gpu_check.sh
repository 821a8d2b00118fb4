#!/usr/bin/env bash
# One command on a fresh GPU machine (no network): install what its image lacks from the wheels staged by
# bench/prepare_gpu_wheels.sh (.whl/, carried with the working tree), install the project from this working
# tree, then run bench/gpu_check.py: harness vs lm-eval `hf` on a 7B-shaped random model, CUDA bf16, over
# C-Eval val, MMLU test and CMMLU-shaped data (default 10 questions per subject; --limit N, 0 = all).
#   bash bench/gpu_check.sh [gpu_check.py options]
# PYTHON (default python3) and WHEELS (default .whl) can be set; --device cpu --tiny is the CPU rehearsal.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
start=$SECONDS
if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  echo "gpu_check: no wheels in $WHEELS: run bench/prepare_gpu_wheels.sh where PyPI is reachable, and carry $WHEELS" >&2
  exit 2
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir "$WHEELS"/*.whl
"$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir .
echo "gpu_check: wheels and the project installed in $((SECONDS - start)) s"
"$PY" - <<'PY'
import importlib.metadata as md, sys
names = ["harness", "torch", "transformers", "tokenizers", "huggingface-hub", "peft", "accelerate", "lm-eval",
         "datasets", "pyarrow", "fsspec", "pandas", "numpy", "scikit-learn"]
found = []
for n in names:
    try:
        found.append(f"{n} {md.version(n)}")
    except md.PackageNotFoundError:
        found.append(f"{n} -")
print(f"gpu_check: Python {sys.version.split()[0]}; " + ", ".join(found))
PY
exec "$PY" bench/gpu_check.py --data-root "$WHEELS/data" "$@"
