#!/usr/bin/env bash
# How close serving comes to the compute alone: rounds that alternate `nfserve bench` (the batched
# forward passes alone) and tools/bench/load.sh (end to end over HTTP, wrk on the same machine),
# each round printing both and their ratio, then the medians. Side by side, so that a slow spell
# of a shared machine hits both.
#
# Usage: tools/bench/served-vs-compute.sh --model-dir DIR [--precision int8] [--batch 8]
#                                         [--clients 8] [--image FILE] [--duration 15s]
#                                         [--warmup 5s] [--rounds 3]
#   --model-dir  a checkpoint folder (served as the only model, named after the folder)
#   --precision  the precision of both (default int8; the folder needs a calibration for int8)
#   --batch      the batch `nfserve bench` times (default 8, as many as --clients)
#   --image      what the clients PUT (default the 320x288 JPEG of the fixtures)
# The server: `nfserve serve` with live ESM off (`--no-live-esm`), as the bench has none.
# NFSERVE (default .build/release/nfserve) names the binary; NFSERVE_ARGS adds server flags.
set -euo pipefail
cd "$(dirname "$0")/../.."

dir="" precision=int8 batch=8 clients=8 image=Tests/Fixtures/images/astronaut_320x288_q85_420.jpg
duration=15s warmup=5s rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --model-dir) dir=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
[ -d "$dir" ] || { echo "--model-dir: no folder '$dir'" >&2; exit 2; }
dir=$(cd "$dir" && pwd)
model=$(basename "$dir")
nfserve=${NFSERVE:-.build/release/nfserve}

computes=() served=() ratios=()
for round in $(seq "$rounds"); do
  compute=$("$nfserve" bench --model "$dir" --batch "$batch" --precision "$precision" 2>/dev/null | tail -1 |
    python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["images_per_s"])')
  rate=$(NFSERVE="$nfserve" NFSERVE_ARGS="--checkpoints $(dirname "$dir") --precision $precision --no-live-esm ${NFSERVE_ARGS:-}" \
    tools/bench/load.sh --model "$model" --image "$image" --clients "$clients" --duration "$duration" \
    --warmup "$warmup" 2>/dev/null | grep '^{' | python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["requests_per_s"])')
  ratio=$(python3 -c "print(f'{100 * $rate / $compute:.1f}')")
  echo "round $round: compute $compute images/s (batch $batch), served $rate requests/s ($clients clients): $ratio%"
  computes+=("$compute") served+=("$rate") ratios+=("$ratio")
done
python3 - "${computes[*]}" "${served[*]}" "${ratios[*]}" <<'PY'
import statistics, sys
c, s, r = ([float(x) for x in a.split()] for a in sys.argv[1:4])
print(f"medians: compute {statistics.median(c):.1f} images/s, served {statistics.median(s):.1f} requests/s, "
      f"ratio of the medians {100 * statistics.median(s) / statistics.median(c):.1f}%, median ratio {statistics.median(r):.1f}%")
PY
