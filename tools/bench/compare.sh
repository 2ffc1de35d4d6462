#!/usr/bin/env bash
# Times nfserve beside PyTorch eager and ONNX Runtime on the same model, input and machine, in one
# run (nfserve first, then each peer in its own process), and prints one JSON line per runtime.
#   tools/bench/compare.sh MODEL SIZE [BATCH] [ITERATIONS]
#   e.g. tools/bench/compare.sh resnet50 224
# Needs a release build (swift build -c release) and the reference venv
# (python -m venv ../.venv-ref && ../.venv-ref/bin/pip install -r tools/reference/requirements.txt);
# PYTHON overrides the interpreter; OMP_NUM_THREADS (default: every core) sets the threads of all three.
set -euo pipefail
cd "$(dirname "$0")/../.."
model="$1"; size="$2"; batch="${3:-1}"; iterations="${4:-10}"
python="${PYTHON:-../.venv-ref/bin/python}"
.build/release/nfserve bench --model "$model" --size "$size" --batch "$batch" --iterations "$iterations" --warmup 2
"$python" tools/bench/peers.py --model "$model" --size "$size" --batch "$batch" --threads "${OMP_NUM_THREADS:-$(nproc)}" \
    --iterations "$iterations" --warmup 2 --runtime both
