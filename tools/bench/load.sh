#!/usr/bin/env bash
# End-to-end HTTP load test of an image classification server with wrk: PUTs one PNG (TorchServe's
# `curl -T image.png http://HOST:PORT/predictions/MODEL` form, raw PNG body) at 1, 8 and 32
# concurrent connections and reports requests/s, p50 / p99 latency and failed requests per client
# count, plus the server's start-up time and peak memory when this script started the server.
# TorchServe (--target torchserve) is only a benchmark PEER to compare against
# (tools/bench/torchserve/), never a dependency of nfserve.
#
# Usage: tools/bench/load.sh [--target nfserve|torchserve] [--url BASE] [--model NAME] [--image FILE]
#                            [--clients "1 8 32"] [--duration 10s] [--warmup 2s] [--repeat N]
#                            [--timeout 30s] [--batching on|off] [--port 8091] [--raw DIR]
#   --target    nfserve (default) or torchserve
#   --url       an already running server, e.g. http://127.0.0.1:8080 (default: start one, see below)
#   --model     model name in /predictions/NAME (default fmnist-resnet-bn)
#   --image     the PNG sent (default Public/samples/sneaker.png, 28x28 Fashion-MNIST)
#   --clients   concurrent connections, one measurement each (wrk -c N -t min(2, N))
#   --duration  wrk -d of each measurement; --warmup: one unreported run first at the largest client
#               count (0 skips it); --timeout: wrk's per-request timeout (a request slower than
#               that is counted as a timeout error, not in the latencies)
#   --repeat    measure each client count N times; the median requests/s, p50 and p99 of the N runs
#               are reported (each taken separately); failures are summed
#   --batching  nfserve only: off adds `--max-batch-size 1` to the server's flags, on adds nothing
#   --port      the port of the nfserve this script starts (default 8091)
#   --raw       keep wrk's raw outputs (and the started nfserve's log) in DIR
# Without --url:
#   nfserve     starts `${NFSERVE:-.build/release/nfserve} serve --checkpoints ./checkpoints
#               --port 8091 $NFSERVE_ARGS` (NFSERVE_ARGS: extra server flags, split on spaces),
#               waits until GET /v2/health/ready is 200, and stops it at the end. Start-up = launch
#               to ready; peak memory = the server's VmHWM (/proc/PID/status) after the runs.
#   torchserve  tools/bench/torchserve/start.sh (after tools/bench/torchserve/setup.sh; TS_WORKERS,
#               OMP_NUM_THREADS, TS_BATCH_SIZE pass through), http://127.0.0.1:8092, stopped with
#               stop.sh at the end. Start-up = launch until /ping is Healthy and a first prediction
#               answered; peak memory = the SUM of VmHWM of the java frontend and of its Python
#               worker processes after the runs (each process's own peak; their peaks need not
#               coincide, so this is an upper bound on the simultaneous peak).
# wrk runs on the same machine as the server and competes with it for the cores.
#
# Output (stdout): a header and one line per client count, then a server line, then one JSON line per
# client count (lines starting with '{': tools/bench/load.sh ... | grep '^{'). Progress to stderr.
# Latencies come from wrk's own histogram (a Lua done() hook prints them in microseconds).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

target=nfserve url="" model=fmnist-resnet-bn image=Public/samples/sneaker.png clients="1 8 32"
duration=10s warmup=2s repeat=1 timeout=30s batching="" port=8091 raw=""

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit "${1:-0}"; }
log() { printf '[load] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --target) target=$2; shift 2 ;;
    --url) url=${2%/}; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --batching) batching=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --raw) raw=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) log "unknown argument: $1"; usage 2 >&2 ;;
  esac
done
case "$target" in nfserve|torchserve) ;; *) die "--target must be nfserve or torchserve" ;; esac
case "$batching" in ""|on|off) ;; *) die "--batching must be on or off" ;; esac
[ -z "$batching" ] || [ "$target" = nfserve ] || die "--batching is for --target nfserve (TorchServe: TS_BATCH_SIZE)"
[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || die "--repeat must be a positive integer"
for c in $clients; do [[ "$c" =~ ^[1-9][0-9]*$ ]] || die "--clients: '$c' is not a positive integer"; done
[ -n "${clients// /}" ] || die "--clients is empty"
[ -f "$image" ] || die "no image $image"
image=$(cd "$(dirname "$image")" && pwd)/$(basename "$image")
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/load.XXXXXX")
server_pid="" started="" server_bin=null startup_s=null peak_mb=null peak_how=null server_args=""

stop_server() {
  if [ "$started" = nfserve ] && [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  elif [ "$started" = torchserve ]; then
    tools/bench/torchserve/stop.sh >/dev/null 2>&1 || log "tools/bench/torchserve/stop.sh failed"
  fi
  started=""
}
cleanup() {
  stop_server
  if [ -n "$raw" ]; then
    mkdir -p "$raw"
    cp "$tmp"/*.txt "$tmp"/*.log "$raw"/ 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true; }
port_busy() { curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; }

# ------------------------------------------------------------------------------------- the server
if [ -n "$url" ]; then
  log "using the running server at $url"
elif [ "$target" = nfserve ]; then
  bin=${NFSERVE:-.build/release/nfserve}
  [ -x "$bin" ] || die "no nfserve binary at $bin (swift build -c release, or NFSERVE=path)"
  server_args=${NFSERVE_ARGS:-}
  if [ "$batching" = off ]; then server_args="${server_args:+$server_args }--max-batch-size 1"; fi
  read -r -a extra <<< "$server_args"
  port_busy "$port" && die "port $port is already in use"
  url=http://127.0.0.1:$port
  server_bin=$(json_str "$bin")
  log "starting $bin serve --checkpoints ./checkpoints --port $port ${extra[*]}"
  t0=$(now)
  "$bin" serve --checkpoints ./checkpoints --port "$port" "${extra[@]}" > "$tmp/server.log" 2>&1 &
  server_pid=$! started=nfserve
  for _ in $(seq 2400); do   # 120 s
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url/v2/health/ready")" = 200 ] && break
    kill -0 "$server_pid" 2>/dev/null || { tail -20 "$tmp/server.log" >&2; die "nfserve exited"; }
    sleep 0.05
  done
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url/v2/health/ready")" = 200 ] \
    || { tail -20 "$tmp/server.log" >&2; die "nfserve not ready after 120 s"; }
  startup_s=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
  log "nfserve ready in $startup_s s (pid $server_pid)"
else
  for p in 8092 8093 8094; do port_busy "$p" && die "port $p is already in use (tools/bench/torchserve/stop.sh?)"; done
  url=http://127.0.0.1:8092
  started=torchserve
  startup_s=$(TS_MODEL="$model" TS_IMAGE="$image" tools/bench/torchserve/start.sh | sed -n 's/^startup_s=//p')
  [ -n "$startup_s" ] || die "tools/bench/torchserve/start.sh failed"
  server_args="TS_WORKERS=${TS_WORKERS:-default} OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset} TS_BATCH_SIZE=${TS_BATCH_SIZE:-1}"
fi
endpoint=$url/predictions/$model

code=$(curl -s -o "$tmp/first.json" -w '%{http_code}' --max-time 30 -T "$image" "$endpoint" || true)
log "PUT $(basename "$image") -> HTTP $code $(tr -d '\n ' < "$tmp/first.json" | cut -c1-300)"
case "$code" in 2??) ;; *) die "$endpoint does not answer 2xx" ;; esac

# ------------------------------------------------------------------------------------- wrk
cat > "$tmp/put.lua" <<EOF
-- PUT the image's raw bytes (curl -T); done() prints wrk's own totals and latency percentiles (us).
local f = assert(io.open([==[$image]==], "rb"))
wrk.method = "PUT"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "image/png"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("LOADSH requests=%d duration_us=%d p50_us=%d p99_us=%d status=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
EOF

# run_wrk CLIENTS DURATION OUTFILE -> "rps p50_ms p99_ms requests non2xx errors"
run_wrk() {
  local c=$1 d=$2 out=$3 t
  t=$(( c < 2 ? c : 2 ))
  wrk -t "$t" -c "$c" -d "$d" --timeout "$timeout" --latency -s "$tmp/put.lua" "$endpoint" > "$out" 2>&1 \
    || { cat "$out" >&2; die "wrk failed"; }
  awk '/^LOADSH / {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      printf "%.1f %.2f %.2f %d %d %d\n", v["requests"] / (v["duration_us"] / 1e6), v["p50_us"] / 1000,
        v["p99_us"] / 1000, v["requests"], v["status"], v["connect"] + v["read"] + v["write"] + v["timeout"]
    }' "$out"
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

max_c=0
for c in $clients; do [ "$c" -gt "$max_c" ] && max_c=$c; done
if [ "$warmup" != 0 ] && [ "$warmup" != 0s ]; then
  log "warm-up: $max_c clients, $warmup"
  run_wrk "$max_c" "$warmup" "$tmp/warmup.txt" > /dev/null
fi

printf '%-10s %-18s %7s %10s %9s %9s %8s %7s\n' target model clients req/s p50_ms p99_ms non2xx errors
declare -A row
for c in $clients; do
  : > "$tmp/runs-$c"
  for i in $(seq "$repeat"); do
    log "$c clients, $duration (run $i of $repeat)"
    run_wrk "$c" "$duration" "$tmp/wrk-$c-$i.txt" >> "$tmp/runs-$c"
  done
  rps=$(awk '{ print $1 }' "$tmp/runs-$c" | median)
  p50=$(awk '{ print $2 }' "$tmp/runs-$c" | median)
  p99=$(awk '{ print $3 }' "$tmp/runs-$c" | median)
  read -r requests non2xx errors < <(awk '{ r += $4; n += $5; e += $6 } END { print r, n, e }' "$tmp/runs-$c")
  runs=$(awk '{ printf "%s{\"requests_per_s\": %s, \"p50_ms\": %s, \"p99_ms\": %s, \"requests\": %s, \"non2xx\": %s, \"errors\": %s}",
                  (NR > 1 ? ", " : ""), $1, $2, $3, $4, $5, $6 }' "$tmp/runs-$c")
  printf '%-10s %-18s %7d %10s %9s %9s %8d %7d\n' "$target" "$model" "$c" "$rps" "$p50" "$p99" "$non2xx" "$errors"
  row[$c]="\"clients\": $c, \"wrk_threads\": $(( c < 2 ? c : 2 )), \"requests_per_s\": $rps, \"p50_ms\": $p50, \"p99_ms\": $p99, \"requests\": $requests, \"non2xx\": $non2xx, \"errors\": $errors, \"runs\": [$runs]"
done

# ------------------------------------------------------------------------------------- peak memory
if [ "$started" = nfserve ]; then
  kb=$(hwm_kb "$server_pid")
  [ -n "$kb" ] && peak_mb=$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }') peak_how='"VmHWM of the nfserve process"'
elif [ "$started" = torchserve ]; then
  java_pid=$(cat "${TMPDIR:-/tmp}/.model_server.pid" 2>/dev/null || true)
  if [ -n "$java_pid" ]; then
    kb=0 n=0
    for p in "$java_pid" $(ps -o pid= --ppid "$java_pid"); do
      k=$(hwm_kb "$p"); [ -n "$k" ] && kb=$(( kb + k )) n=$(( n + 1 ))
    done
    peak_mb=$(awk -v k="$kb" 'BEGIN { printf "%.1f", k / 1024 }')
    peak_how="\"sum of VmHWM of the java frontend and its $(( n - 1 )) Python workers\""
  fi
fi
if [ "$started" ]; then
  printf '%s: start-up %s s, peak memory %s MB (%s)\n' "$target" "$startup_s" "$peak_mb" "${peak_how//\"/}"
else
  printf '%s: server not started by this script (--url): no start-up time or peak memory\n' "$target"
fi

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- Sources Package.swift 2>/dev/null || commit="$commit+dirty"
omp_json=null
if [[ "${OMP_NUM_THREADS:-}" =~ ^[0-9]+$ ]]; then omp_json=$OMP_NUM_THREADS; elif [ -n "${OMP_NUM_THREADS:-}" ]; then omp_json=$(json_str "$OMP_NUM_THREADS"); fi
for c in $clients; do
  printf '{"target": %s, "model": %s, "url": %s, "image": %s, "duration": %s, "repeat": %d, %s, "server_args": %s, "startup_s": %s, "peak_mb": %s, "peak_how": %s, "server_bin": %s, "omp_num_threads": %s, "cpus": %d, "commit": %s}\n' \
    "$(json_str "$target")" "$(json_str "$model")" "$(json_str "$endpoint")" "$(json_str "${image#"$repo"/}")" \
    "$(json_str "$duration")" "$repeat" "${row[$c]}" "$(json_str "$server_args")" "$startup_s" "$peak_mb" "$peak_how" \
    "$server_bin" "$omp_json" "$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)" "$(json_str "$commit")"
done
