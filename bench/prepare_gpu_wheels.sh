#!/usr/bin/env bash
# Stage, on a machine with PyPI, what bench/gpu_check.sh needs on a GPU machine that has no network:
#   .whl/*.whl   Python 3.12 manylinux wheels of what that machine's image lacks: lm-eval and the parts of its
#                dependency tree the image does not hold (datasets, evaluate, rouge-score, ...), and hatchling
#                to build the project from the working tree (pip cannot fetch a build backend there);
#   .whl/data/   the benchmark data from ../shared/data (C-Eval dev/val/test, MMLU dev/test): ../shared does
#                not travel with the working tree, and the data is never committed (.whl/ is git-ignored).
# Then carry `.whl` with the working tree (device run: carry [".whl"]) and run `bash bench/gpu_check.sh`.
#
#   bash bench/prepare_gpu_wheels.sh [--python-version 3.12] [--dest .whl] [--no-data]
#
# The image's own packages (torch 2.11, transformers 5.17, peft, accelerate, pandas, pyarrow, scipy,
# scikit-learn, jinja2, sacrebleu, huggingface-hub, fsspec, xxhash, aiohttp, pyyaml, rich, ...) are not
# carried: two versions of one package stop the whole install. Versions are pinned to a set that imports
# together (lm-eval 0.4.13 as in the test extra's environment). --python-version 3.11 stages the same set for
# a CPU dry run here (bench/gpu_dry_run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PYV=3.12
DEST=.whl
DATA=1
while [ $# -gt 0 ]; do
  case "$1" in
    --python-version) PYV=$2; shift 2 ;;
    --dest) DEST=$2; shift 2 ;;
    --no-data) DATA=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python3}
rm -rf "$DEST"
mkdir -p "$DEST"
# wheels on PyPI (binary or pure); --no-deps: every needed one is named here, and nothing the image has
WHEELS=(
  lm-eval==0.4.13
  datasets==5.2.0 evaluate==0.4.6 dill==0.4.1 multiprocess==0.70.19
  pytablewriter==1.2.1 DataProperty==1.1.1 mbstrdecoder==1.1.5 pathvalidate==3.3.1 tabledata==1.3.5
  tcolorpy==0.1.7 typepy==1.3.5 chardet==6.0.0.post1
  more-itertools==11.2.1 nltk==3.10.4
  hatchling==1.29.0 trove-classifiers==2026.1.14.14
)
# published only as source: built here into pure-Python wheels
SDISTS=(sqlitedict==2.1.0 word2number==1.1 rouge-score==0.1.2)
$PY -m pip download -q --no-deps --only-binary=:all: --python-version "$PYV" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$DEST" "${WHEELS[@]}"
$PY -m pip wheel -q --no-deps -w "$DEST" "${SDISTS[@]}"
for w in "$DEST"/*.whl; do
  case "$(basename "$w")" in *-py3-none-any.whl|*-py2.py3-none-any.whl|*"-cp${PYV/./}-"*|*"-py${PYV/./}-"*|*-abi3-*) ;;
    *) echo "prepare: $(basename "$w") is not for Python $PYV" >&2; exit 1 ;;
  esac
done
if [ "$DATA" = 1 ]; then
  SHARED=../shared/data
  [ -d "$SHARED/ceval/ceval-exam" ] && [ -d "$SHARED/mmlu/data" ] || { echo "prepare: no $SHARED (C-Eval, MMLU)" >&2; exit 1; }
  mkdir -p "$DEST/data/ceval" "$DEST/data/mmlu"
  for split in dev val test; do cp -r "$SHARED/ceval/ceval-exam/$split" "$DEST/data/ceval/"; done
  for split in dev test; do cp -r "$SHARED/mmlu/data/$split" "$DEST/data/mmlu/"; done
fi
echo "prepare: $(ls "$DEST"/*.whl | wc -l) wheels for Python $PYV, $(du -sh "$DEST" | cut -f1) in $DEST (limit 64 MiB with the tree)"
