#!/usr/bin/env bash
# CPU rehearsal of bench/gpu_check.sh, for machines without a GPU: a fresh virtual environment holding what the
# GPU image holds (torch, transformers 5.17, peft, accelerate, pandas, pyarrow, scipy, scikit-learn, jinja2,
# sacrebleu, ... and NOT datasets, lm-eval, rouge-score, evaluate, vLLM), wheels staged by
# bench/prepare_gpu_wheels.sh for this Python, then gpu_check.sh itself (offline installs from the wheels, the
# project from the working tree) with --device cpu --tiny. What it cannot show: CUDA, bf16, the 7B model's
# memory and time, and Python 3.12 (the local torch wheel is for this machine's Python).
#   bash bench/gpu_dry_run.sh [gpu_check.py options]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${DRY_VENV:-/tmp/harness-gpu-dry/venv}
PYV=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
rm -rf "$VENV" && mkdir -p "$(dirname "$VENV")" && python3 -m venv "$VENV"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$VENV/bin/pip" install -q torch==2.13.0
"$VENV/bin/pip" install -q transformers==5.17.0 peft accelerate pandas pyarrow scipy scikit-learn jinja2 sacrebleu \
  pyyaml rich tokenizers safetensors huggingface-hub fsspec xxhash aiohttp requests absl-py six click joblib regex \
  psutil packaging pathspec pluggy setuptools httpx python-dateutil tqdm filelock
for absent in datasets lm_eval rouge_score evaluate vllm; do
  if "$VENV/bin/python" -c "import $absent" 2>/dev/null; then echo "dry run: $absent must be absent, as on the GPU image" >&2; exit 1; fi
done
bash bench/prepare_gpu_wheels.sh --python-version "$PYV" --dest .whl-dry
WHEELS=.whl-dry PYTHON="$VENV/bin/python" bash bench/gpu_check.sh --device cpu --tiny --workdir "$(dirname "$VENV")/work" "$@"
