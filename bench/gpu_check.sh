#!/usr/bin/env bash
# One command on a GPU machine (torch, transformers, peft, lm-eval; no vLLM, no internet).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHONPATH="$PWD" exec python bench/gpu_check.py "$@"
