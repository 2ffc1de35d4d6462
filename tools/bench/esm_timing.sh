#!/usr/bin/env bash
# An estimation-shift pass over the Fashion-MNIST test set (10,000 images), timed side by side
# with the PyTorch reference doing the same work, in one run: for each shipped BatchNorm model,
# alternately `nfserve esm --model M --dataset fashion-mnist-test` (the whole command: start,
# load, read and preprocess, the pass with every BatchNorm input observed, the report) and
# tools/reference/make_esm_fixtures.py --time (load, read and preprocess, the pass with forward
# pre-hooks, float64 moments; torch.set_num_threads(2); the interpreter's start and imports not
# counted), REPEAT times each; medians printed.
#
# Usage: tools/bench/esm_timing.sh [REPEAT]     (needs a release build; PYTHON: the reference environment's python, tools/reference/make-env.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
repeat=${1:-3}
python=${PYTHON:-python3}
nfserve=.build/release/nfserve
[ -x "$nfserve" ] || swift build -c release --product nfserve
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
printf '%-20s %10s %10s %8s\n' model nfserve_s pytorch_s ratio
for model in fmnist-resnet-bn fmnist-resnet-xbn; do
  ours=() theirs=()
  for _ in $(seq "$repeat"); do
    start=$(date +%s.%N)
    "$nfserve" esm --model "$model" --dataset fashion-mnist-test --checkpoints ./checkpoints > /dev/null
    ours+=("$(echo "$(date +%s.%N) - $start" | bc -l)")
    theirs+=("$("$python" tools/reference/make_esm_fixtures.py --time "checkpoints/$model" --images 10000 --threads 2 \
      | "$python" -c 'import json, sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["seconds"])')")
  done
  a=$(printf '%s\n' "${ours[@]}" | median) b=$(printf '%s\n' "${theirs[@]}" | median)
  printf '%-20s %10.2f %10.2f %8.2f\n' "$model" "$a" "$b" "$(echo "$a / $b" | bc -l)"
done
