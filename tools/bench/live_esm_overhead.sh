#!/usr/bin/env bash
# The cost of the live estimation shift: predictions per second of one model with and without
# it (`nfserve serve` and `nfserve serve --no-live-esm`), alternating, ROUNDS times each, with
# wrk PUTting one shipped 28x28 PNG to /predictions/MODEL from CONNECTIONS clients; medians.
#
# Usage: tools/bench/live_esm_overhead.sh [MODEL] [ROUNDS] [SECONDS] [CONNECTIONS]
#        (defaults fmnist-resnet-bn 3 10 8; needs wrk from Debian and a release build)
set -euo pipefail
cd "$(dirname "$0")/../.."
server="" model=${1:-fmnist-resnet-bn} rounds=${2:-3} seconds=${3:-10} connections=${4:-8}
nfserve=.build/release/nfserve
[ -x "$nfserve" ] || swift build -c release --product nfserve
image=$(find datasets/fashion-mnist-sample -name '*.png' | sort | head -1)
lua=$(mktemp --suffix .lua)
trap 'rm -f "$lua"; [ -n "$server" ] && kill $server 2>/dev/null || true' EXIT
cat > "$lua" <<LUA
local f = io.open("$image", "rb"); local body = f:read("*a"); f:close()
wrk.method = "PUT"; wrk.body = body; wrk.headers["Content-Type"] = "image/png"
LUA
port=8187
run() {  # $1: extra serve flag; prints requests/s
  "$nfserve" serve --port $port $1 > /dev/null 2>&1 & server=$!
  until curl -sf localhost:$port/v2/health/ready > /dev/null; do sleep 0.2; done
  wrk -t2 -c"$connections" -d2s -s "$lua" "http://127.0.0.1:$port/predictions/$model" > /dev/null  # warm-up
  wrk -t2 -c"$connections" -d"${seconds}s" -s "$lua" "http://127.0.0.1:$port/predictions/$model" | awk '/Requests\/sec/ {print $2}'
  kill $server; wait $server 2>/dev/null || true
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
on=() off=()
for _ in $(seq "$rounds"); do
  on+=("$(run "")")
  off+=("$(run --no-live-esm)")
done
a=$(printf '%s\n' "${on[@]}" | median) b=$(printf '%s\n' "${off[@]}" | median)
echo "live ESM on:  ${on[*]} requests/s (median $a)"
echo "live ESM off: ${off[*]} requests/s (median $b)"
echo "overhead: $(echo "(1 - $a / $b) * 100" | bc -l | xargs printf '%.1f')%"
