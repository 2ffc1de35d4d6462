#!/usr/bin/env bash
# The Open Inference Protocol's three ways to send an FP32 tensor, side by side on one server:
# JSON (`data` as numbers), Triton's binary tensor data over HTTP, and gRPC (`raw_input_contents`).
# For each model and way: requests/s, p50 / p99 latency and the server's CPU time per request,
# medians of --repeat runs. Load from h2load (Debian's nghttp2-client; HTTP/1.1 keep-alive for the
# two HTTP ways, one HTTP/2 stream per connection for gRPC), every way at the same concurrency, the
# same prebuilt request body resent (so the client's cost is the same small one for all three).
#
#   tools/bench/protocols.sh [--checkpoints DIR] [--runs "MODEL:SIZE:CLIENTS ..."] [--duration 10]
#                            [--repeat 3] [--ways "json binary grpc"] [--port 8095] [--grpc-port 8096]
#   --checkpoints  a folder holding the models (default: a temporary one with fmnist-resnet-bn and
#                  NFSERVE_RESNET50, a resnet50 checkpoint folder, when set)
#   --runs         model, input side, clients (default "resnet50:224:8 fmnist-resnet-bn:28:32")
# The server is ${NFSERVE:-.build/release/nfserve} serve. h2load runs on the same machine and
# competes with the server for the cores. Each body is checked once (a 200 with outputs, and for
# gRPC grpc-status 0) before it is measured.
set -euo pipefail
cd "$(dirname "$0")/../.."
NFSERVE="${NFSERVE:-.build/release/nfserve}"
runs="resnet50:224:8 fmnist-resnet-bn:28:32"
duration=10 repeat=3 port=8095 grpc_port=8096 checkpoints="" ways="json binary grpc"
while [ $# -gt 0 ]; do
  case "$1" in
    --checkpoints) checkpoints="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --ways) ways="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --grpc-port) grpc_port="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v h2load >/dev/null || { echo "protocols.sh: needs h2load (apt-get install nghttp2-client)" >&2; exit 1; }
tmp="$(mktemp -d)"
if [ -z "$checkpoints" ]; then
  checkpoints="$tmp/checkpoints"
  mkdir -p "$checkpoints"
  cp -r checkpoints/fmnist-resnet-bn "$checkpoints/"
  [ -n "${NFSERVE_RESNET50:-}" ] && cp -r "$NFSERVE_RESNET50" "$checkpoints/resnet50"
fi
"$NFSERVE" serve --host 127.0.0.1 --port "$port" --grpc-port "$grpc_port" --checkpoints "$checkpoints" \
  --datasets /nonexistent --no-live-esm --log-level warning > "$tmp/server.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 600); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/health/ready")" = 200 ] && break
  sleep 0.1
done

# Bodies: one seeded N(0, 1) tensor per model, [1, C, S, S], as the three requests.
bodies() {  # model side channels
  python3 - "$tmp" "$1" "$2" "$3" <<'PY'
import json, random, struct, sys
tmp, model, side, channels = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(20261204)
shape = [1, channels, side, side]
values = [rng.gauss(0, 1) for _ in range(channels * side * side)]
raw = struct.pack(f"<{len(values)}f", *values)
outputs = [{"name": "probabilities"}]
with open(f"{tmp}/{model}.json", "w") as f:
    json.dump({"inputs": [{"name": "input", "datatype": "FP32", "shape": shape, "data": values}], "outputs": outputs}, f)
header = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": shape, "parameters": {"binary_data_size": len(raw)}}],
                     "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]}).encode()
open(f"{tmp}/{model}.bin", "wb").write(header + raw)
open(f"{tmp}/{model}.bin.len", "w").write(str(len(header)))
def varint(n):
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out
def field(number, payload):
    payload = payload.encode() if isinstance(payload, str) else payload
    return varint(number << 3 | 2) + varint(len(payload)) + payload
tensor = field(1, "input") + field(2, "FP32") + field(3, b"".join(varint(x) for x in shape))
message = field(1, model) + field(5, tensor) + field(6, field(1, "probabilities")) + field(7, raw)
open(f"{tmp}/{model}.grpc", "wb").write(b"\0" + struct.pack(">I", len(message)) + message)
PY
}

# The model's images classified and forward passes so far (from /metrics): "IMAGES PASSES".
passes() {
  curl -s "http://127.0.0.1:$port/metrics" | python3 -c '
import sys
model, images, passes = sys.argv[1], 0.0, 0.0
for line in sys.stdin:
    if "model=\"%s\"" % model not in line: continue
    if line.startswith("nfserve_inference_images_total"): images += float(line.split()[-1])
    if line.startswith("nfserve_inference_duration_seconds_count"): passes += float(line.split()[-1])
print(images, passes)' "$1"
}

# One h2load run: requests/s, p50 ms, p99 ms, server CPU ms per request, failed requests, and
# the mean batch (images per forward pass, warm-up included).
measure() {  # way model clients
  local way=$1 model=$2 clients=$3 args=()
  case "$way" in
    json) args=(--h1 -H "content-type: application/json" -d "$tmp/$model.json" "http://127.0.0.1:$port/v2/models/$model/infer") ;;
    binary) args=(--h1 -H "content-type: application/octet-stream" -H "inference-header-content-length: $(cat "$tmp/$model.bin.len")"
                  -d "$tmp/$model.bin" "http://127.0.0.1:$port/v2/models/$model/infer") ;;
    grpc) args=(-H "content-type: application/grpc" -H "te: trailers" -d "$tmp/$model.grpc"
                "http://127.0.0.1:$grpc_port/inference.GRPCInferenceService/ModelInfer") ;;
  esac
  local cpu0 cpu1 passes0 passes1
  rm -f "$tmp/log"
  passes0=$(passes "$model")
  cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  h2load -c "$clients" -m 1 -D "$duration" --warm-up-time 2 --log-file "$tmp/log" "${args[@]}" > "$tmp/h2load.out" 2>&1
  cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  passes1=$(passes "$model")
  python3 - "$tmp/log" "$cpu0" "$cpu1" "$duration" "$(getconf CLK_TCK)" "$passes0" "$passes1" <<'PY'
import sys
path, cpu0, cpu1, duration, tck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
(images0, passes0), (images1, passes1) = (map(float, sys.argv[i].split()) for i in (6, 7))
batch = (images1 - images0) / max(1, passes1 - passes0)
rows = [line.split("\t") for line in open(path) if line.strip()]
ok = sorted(int(r[2]) for r in rows if r[1] == "200")
bad = len(rows) - len(ok)
if not ok:
    print("0 0 0 0 %d 0" % bad); sys.exit()
q = lambda p: ok[min(len(ok) - 1, int(p * len(ok)))] / 1000
# CPU includes the warm-up's requests (h2load logs only the measured ones): per request over
# all requests sent in the window (the warm-up's share is estimated at the measured rate).
requests = len(ok) * (duration + 2) / duration
print("%.1f %.2f %.2f %.2f %d %.2f" % (len(ok) / duration, q(0.5), q(0.99), (cpu1 - cpu0) * 1000 / tck / requests, bad, batch))
PY
}

median() { python3 -c 'import statistics, sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

printf "%-18s %-7s %7s %9s %9s %9s %12s %6s %6s\n" model way clients "req/s" "p50 ms" "p99 ms" "CPU ms/req" failed batch
for run in $runs; do
  IFS=: read -r model side clients <<< "$run"
  channels=$(curl -s "http://127.0.0.1:$port/v2/models/$model" | python3 -c 'import json, sys; print(json.load(sys.stdin)["inputs"][0]["shape"][1])')
  bodies "$model" "$side" "$channels"
  # Each body once: a 200 with outputs (for gRPC, grpc-status 0 in the trailers).
  curl -sf -H "content-type: application/json" --data-binary "@$tmp/$model.json" "http://127.0.0.1:$port/v2/models/$model/infer" | grep -q '"outputs"'
  curl -sf -H "inference-header-content-length: $(cat "$tmp/$model.bin.len")" --data-binary "@$tmp/$model.bin" \
    "http://127.0.0.1:$port/v2/models/$model/infer" | grep -q '"binary_data_size"'
  nghttp -v -H "content-type: application/grpc" -H "te: trailers" -d "$tmp/$model.grpc" \
    "http://127.0.0.1:$grpc_port/inference.GRPCInferenceService/ModelInfer" 2>&1 | grep -q 'grpc-status: 0'
  for way in $ways; do
    results=()
    for _ in $(seq "$repeat"); do results+=("$(measure "$way" "$model" "$clients")"); done
    col() { for r in "${results[@]}"; do echo "$r" | cut -d' ' -f"$1"; done; }
    failed=0; for f in $(col 5); do failed=$((failed + ${f%.*})); done
    printf "%-18s %-7s %7s %9s %9s %9s %12s %6s %6s\n" "$model" "$way" "$clients" \
      "$(median $(col 1))" "$(median $(col 2))" "$(median $(col 3))" "$(median $(col 4))" "$failed" "$(median $(col 6))"
    echo "   runs: $(printf '[%s] ' "${results[@]}")" >&2
  done
done
