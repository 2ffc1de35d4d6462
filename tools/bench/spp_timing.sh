#!/usr/bin/env bash
# The 600-layer SPP requests (batch 4, 64 px) timed side by side with the PyTorch reference
# script on the same machine, in one run: for each of the paper's four networks, alternately
# nfserve (`nfserve spp --architecture`, the request's own "seconds": building the network,
# the forward pass, the statistics) and tools/reference/make_spp_fixtures.py --time (the same
# work in PyTorch, torch.set_num_threads(2)), REPEAT times each; medians printed.
#
# Usage: tools/bench/spp_timing.sh [REPEAT]     (needs a release build; PYTHON: the reference environment's python, tools/reference/make-env.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
repeat=${1:-3}
python=${PYTHON:-python3}
nfserve=.build/release/nfserve
[ -x "$nfserve" ] || swift build -c release --product nfserve
declare -A designs=(
  [bn_relu_conv]='{"family": "preact_resnet", "order": "bn_relu_conv", "depths": [50, 50, 50, 50], "width": 4}'
  [relu_bn_conv]='{"family": "preact_resnet", "order": "relu_bn_conv", "depths": [50, 50, 50, 50], "width": 4}'
  [nf_resnet_ws]='{"family": "nf_resnet", "weight_standardization": true, "depths": [50, 50, 50, 50], "width": 4}'
  [nf_resnet_no_ws]='{"family": "nf_resnet", "weight_standardization": false, "depths": [50, 50, 50, 50], "width": 4}'
)
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
printf '%-16s %10s %10s %8s\n' network nfserve_s pytorch_s ratio
for name in bn_relu_conv relu_bn_conv nf_resnet_ws nf_resnet_no_ws; do
  ours=() theirs=()
  for _ in $(seq "$repeat"); do
    ours+=("$("$nfserve" spp --architecture "${designs[$name]}" --batch 4 --size 64 --seed 0 \
      | "$python" -c 'import json, sys; print(json.load(sys.stdin)["seconds"])')")
    theirs+=("$("$python" tools/reference/make_spp_fixtures.py --time "$name" --repeat 1 \
      | "$python" -c 'import json, sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["median"])')")
  done
  a=$(printf '%s\n' "${ours[@]}" | median) b=$(printf '%s\n' "${theirs[@]}" | median)
  printf '%-16s %10.2f %10.2f %8.2f\n' "$name" "$a" "$b" "$(echo "$a / $b" | bc -l)"
done
