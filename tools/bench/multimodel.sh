#!/usr/bin/env bash
# Several models on one server (issue 24): is a small model's latency held hostage by a big model's
# forward passes? One server serves fmnist-resnet-bn (28x28 Fashion-MNIST), fmnist-nf-resnet (the
# same, no BatchNorm) and a timm resnet50 (@224, the folder NFSERVE_RESNET50). wrk load, each group
# of clients with its own wrk process, every request a PUT of a raw image (TorchServe's
# `curl -T image http://HOST:PORT/predictions/MODEL` form):
#   small  4 clients -> fmnist-resnet-bn, Public/samples/sneaker.png (PNG)
#   big    8 clients -> resnet50, a 320x288 RGB JPEG (see below)
#   nf     4 clients -> fmnist-nf-resnet, Public/samples/bag.png (PNG)
# Phases (each --duration long; the groups of a phase run at the same time, their wrk processes
# started together with the same duration):
#   small-solo  small alone             big-solo  big alone             nf-solo  nf alone
#   two         small + big             three     small + big + nf
# For each phase and model: requests/s, p50 and p99 latency, and in the shared phases the ratio of
# the model's requests/s (and p99) to its solo phase's. With --repeat N every phase is run N times
# (run 1 does all phases in order, then run 2, ...: slow drifts of the machine hit every phase
# alike; after each phase, and after the warm-up, one unmeasured request to each of its models in
# turn, resnet50 first, waits until the server has worked off what the stopped wrk left in flight);
# the median of the N runs is reported, each statistic taken separately (so a line's p50
# and p99 may come from different runs); requests, non-2xx and errors are summed over the runs.
#
# Usage: tools/bench/multimodel.sh [--target nfserve|torchserve] [--url BASE] [--duration 10s]
#                                  [--repeat 3] [--phases "small-solo big-solo two nf-solo three"]
#                                  [--warmup 2s] [--timeout 30s] [--port 8097] [--raw DIR]
#                                  [--ts-config default|tuned|env]
#   --target     nfserve (default) or torchserve (a benchmark PEER, tools/bench/torchserve/; never a
#                dependency of nfserve)
#   --url        an already running server, e.g. http://127.0.0.1:8080, serving the three models
#                under those names (default: start one, see below; then --ts-config does not apply)
#   --duration   wrk -d of every phase (default 10s)
#   --repeat     runs of every phase; medians reported (default 3)
#   --phases     which phases, in this order within a run (ratios need the model's solo phase)
#   --warmup     one unreported run of every model the phases use, all at once, right after the
#                server is up (default 2s; 0 skips it)
#   --timeout    wrk's per-request timeout: a slower request is a timeout error, not a latency
#   --port       the port of the nfserve this script starts (default 8097)
#   --raw        keep wrk's raw outputs, the JPEG and the server's log in DIR (TorchServe: the last
#                2000 lines of each of its logs, which get a line per request)
#   --ts-config  torchserve only:
#                default  TorchServe's own defaults: TS_WORKERS and OMP_NUM_THREADS unset, i.e.
#                         default_workers_per_model = one worker per core (2 here) for each model,
#                         each worker's torch using every core (6 workers x 2 threads on 2 cores)
#                tuned    TS_WORKERS=1 and OMP_NUM_THREADS=1: one single-threaded Python worker per
#                         model, three processes for two cores, no oversubscription: resnet50's
#                         forward passes take at most one core and the small models' workers keep
#                         the other. Of the configurations tried on this 2-core machine (one run
#                         each, with a Swift test run beside them, 2026-12-04): in 5 s runs of
#                         small-solo, big-solo and two, fmnist-resnet-bn's p99 in two / resnet50's
#                         req/s in two: this one 59 ms / 5.0; the same with 2 resnet50 workers
#                         76 ms / 6.8 (more resnet50 throughput, a higher p99 for the small model);
#                         1 worker each with OMP_NUM_THREADS unset 286 ms / 1.4; in 3 s runs the
#                         defaults 2.65 s / 0 (no resnet50 request completed within 3 s). Chosen for
#                         the small model's latency, the question here.
#                env      TS_WORKERS, OMP_NUM_THREADS, TS_BATCH_SIZE as this script's environment has
#                         them, and TS_MODEL_WORKERS="NAME=N ..." sets a model's workers after the
#                         start (management API, PUT /models/NAME?min_worker=N&max_worker=N): for
#                         trying other configurations
#   -h, --help   this text
# Without --url:
#   nfserve     starts `${NFSERVE:-.build/release/nfserve} serve --host 127.0.0.1 --port PORT
#               --grpc-port 0 --checkpoints TMP/checkpoints --datasets /nonexistent --no-live-esm
#               --log-level warning $NFSERVE_ARGS` (NFSERVE_ARGS: extra flags, split on spaces;
#               --grpc-port 0: no gRPC listener, so nothing clashes with a server on 8081), where
#               TMP/checkpoints holds symbolic links to checkpoints/fmnist-resnet-bn,
#               checkpoints/fmnist-nf-resnet and NFSERVE_RESNET50 (served as resnet50); waits until
#               GET /v2/health/ready and each GET /v2/models/NAME/ready answer 200; SIGTERM at the end.
#   torchserve  tools/bench/torchserve/start.sh with TS_MODEL="fmnist-resnet-bn resnet50
#               fmnist-nf-resnet" (one TorchServe, http://127.0.0.1:8092), stopped with stop.sh at
#               the end. Needs the three .mar files first:
#                 TS_MODEL_DIR="checkpoints/fmnist-resnet-bn checkpoints/fmnist-nf-resnet /tmp/ckpt/resnet50" \
#                   tools/bench/torchserve/setup.sh
#               (the resnet50 folder must be named resnet50: the .mar is named after its folder).
# NFSERVE_RESNET50: a timm resnet50 checkpoint folder (config.json + model.safetensors), e.g. the one
#   `tools/bench/peers.py --model resnet50 --save-checkpoint /tmp/ckpt/resnet50` writes.
# The JPEG: Public/samples/ankle-boot.png converted to RGB, resized to 320x288 (bicubic) and saved
#   at quality 90 with Pillow, made once per run in the temporary folder (deterministic for a given
#   Pillow; its size and sha256 are printed and in the JSON). Python: $PYTHON, else ../.venv-ref,
#   else ../.venv-torchserve, else python3, the first that imports PIL.
# wrk runs on the same machine as the server and competes with it for the cores (wrk -t min(2, N)
# -c N for each group: up to 6 client threads in `three`).
#
# Output (stdout): a line of settings, a markdown table (phase, model, clients, req/s, p50 ms,
# p99 ms, req/s and p99 relative to the model's solo phase, non-2xx, errors), then one JSON line
# per (phase, model) (lines starting with '{': tools/bench/multimodel.sh ... | grep '^{').
# Progress to stderr. Latencies come from wrk's own histogram (a Lua done() hook prints them in
# microseconds, as tools/bench/load.sh does); req/s counts every response wrk got, non-2xx
# included (as load.sh's). non-2xx: wrk's count of responses with a status of
# 400 or more (the servers send no 1xx/3xx here); errors: wrk's connect, read, write and timeout
# errors. Any of either is also reported on stdout below the table (and on stderr).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

target=nfserve url="" duration=10s repeat=3 phases="small-solo big-solo two nf-solo three" warmup=2s
timeout=30s port=8097 raw="" ts_config=""

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit "${1:-0}"; }
log() { printf '[multimodel] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
set -E
trap 'log "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

while [ $# -gt 0 ]; do
  case "$1" in
    --target) target=$2; shift 2 ;;
    --url) url=${2%/}; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --phases) phases=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --raw) raw=$2; shift 2 ;;
    --ts-config) ts_config=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) log "unknown argument: $1"; usage 2 >&2 ;;
  esac
done
case "$target" in nfserve|torchserve) ;; *) die "--target must be nfserve or torchserve" ;; esac
case "$ts_config" in ""|default|tuned|env) ;; *) die "--ts-config must be default, tuned or env" ;; esac
[ -z "$ts_config" ] || [ "$target" = torchserve ] || die "--ts-config is for --target torchserve"
[ -z "$ts_config" ] || [ -z "$url" ] || die "--ts-config applies to a TorchServe this script starts, not to --url"
[ "$target" = torchserve ] && [ -z "$url" ] && ts_config=${ts_config:-default}
[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || die "--repeat must be a positive integer"
[[ "$port" =~ ^[1-9][0-9]*$ ]] || die "--port must be a port number"
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"

# ------------------------------------------------------------------------------------- the groups
small=fmnist-resnet-bn big=resnet50 nf=fmnist-nf-resnet
declare -A clients=([$small]=4 [$big]=8 [$nf]=4)
declare -A solo_of=([$small]=small-solo [$big]=big-solo [$nf]=nf-solo)
declare -A phase_models=(
  [small-solo]="$small" [big-solo]="$big" [nf-solo]="$nf" [two]="$small $big" [three]="$small $big $nf")
read -r -a phase_list <<< "$phases"
[ "${#phase_list[@]}" -ge 1 ] || die "--phases is empty"
used_models=()
for p in "${phase_list[@]}"; do
  [ -n "${phase_models[$p]:-}" ] || die "unknown phase '$p' (small-solo big-solo two nf-solo three)"
  for m in ${phase_models[$p]}; do
    [[ " ${used_models[*]} " == *" $m "* ]] || used_models+=("$m")
  done
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/multimodel.XXXXXX")
server_pid="" started="" server_args="" wrk_pids=()
ts_work=${TS_WORK:-$(dirname "$repo")/.torchserve-work}

stop_server() {
  if [ "$started" = nfserve ] && [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  elif [ "$started" = torchserve ]; then
    if [ -n "$raw" ]; then
      for f in "$ts_work"/logs/*.log; do [ -f "$f" ] && tail -n 2000 "$f" > "$tmp/torchserve-$(basename "$f")"; done
    fi
    tools/bench/torchserve/stop.sh >/dev/null 2>&1 || log "tools/bench/torchserve/stop.sh failed"
  fi
  started=""
}
cleanup() {
  for p in "${wrk_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_server
  if [ -n "$raw" ]; then
    mkdir -p "$raw"
    cp "$tmp"/*.txt "$tmp"/*.log "$tmp"/*.jpg "$raw"/ 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; }
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true; }

# ------------------------------------------------------------------------------------- the images
declare -A image=([$small]=$repo/Public/samples/sneaker.png [$nf]=$repo/Public/samples/bag.png [$big]=$tmp/resnet50-320x288.jpg)
declare -A image_name=([$small]=Public/samples/sneaker.png [$nf]=Public/samples/bag.png
                        [$big]="Public/samples/ankle-boot.png as RGB 320x288 bicubic JPEG q90")
declare -A ctype=([$small]=image/png [$nf]=image/png [$big]=image/jpeg)
py=""
for cand in "${PYTHON:-}" "$(dirname "$repo")/.venv-ref/bin/python" "$(dirname "$repo")/.venv-torchserve/bin/python" python3; do
  [ -n "$cand" ] && "$cand" -c 'import PIL' 2>/dev/null && { py=$cand; break; }
done
[ -n "$py" ] || die "no Python with Pillow for the JPEG (PYTHON=..., or tools/reference/make-env.sh)"
"$py" - "$repo/Public/samples/ankle-boot.png" "${image[$big]}" <<'EOF'
import sys
from PIL import Image
src, dst = sys.argv[1], sys.argv[2]
Image.open(src).convert("RGB").resize((320, 288), Image.Resampling.BICUBIC).save(dst, "JPEG", quality=90)
EOF
jpeg_bytes=$(stat -c %s "${image[$big]}")
jpeg_sha=$(sha256sum "${image[$big]}" | cut -c1-16)
log "JPEG: ${image[$big]} ($jpeg_bytes bytes, sha256 $jpeg_sha..., Pillow via $py)"
for m in "$small" "$nf"; do [ -f "${image[$m]}" ] || die "no image ${image[$m]}"; done

# ------------------------------------------------------------------------------------- the server
if [ -n "$url" ]; then
  log "using the running server at $url"
  server_args="external server (--url)"
elif [ "$target" = nfserve ]; then
  bin=${NFSERVE:-.build/release/nfserve}
  [ -x "$bin" ] || die "no nfserve binary at $bin (swift build -c release, or NFSERVE=path)"
  r50=${NFSERVE_RESNET50:-}
  [ -n "$r50" ] || die "set NFSERVE_RESNET50 to a timm resnet50 checkpoint folder (tools/bench/peers.py --model resnet50 --save-checkpoint /tmp/ckpt/resnet50)"
  for d in checkpoints/$small checkpoints/$nf "$r50"; do
    { [ -f "$d/config.json" ] && [ -f "$d/model.safetensors" ]; } || die "$d: not a checkpoint folder (config.json + model.safetensors)"
  done
  mkdir "$tmp/checkpoints"
  ln -s "$repo/checkpoints/$small" "$tmp/checkpoints/$small"
  ln -s "$repo/checkpoints/$nf" "$tmp/checkpoints/$nf"
  ln -s "$(cd "$r50" && pwd)" "$tmp/checkpoints/$big"
  server_args=${NFSERVE_ARGS:-}
  read -r -a extra <<< "$server_args"
  port_busy "$port" && die "port $port is already in use"
  url=http://127.0.0.1:$port
  log "starting $bin serve --host 127.0.0.1 --port $port --grpc-port 0 --checkpoints $tmp/checkpoints ${extra[*]}"
  t0=$(date +%s.%N)
  "$bin" serve --host 127.0.0.1 --port "$port" --grpc-port 0 --checkpoints "$tmp/checkpoints" \
    --datasets /nonexistent --no-live-esm --log-level warning "${extra[@]}" > "$tmp/server.log" 2>&1 &
  server_pid=$! started=nfserve
  for path in /v2/health/ready "/v2/models/$small/ready" "/v2/models/$big/ready" "/v2/models/$nf/ready"; do
    for _ in $(seq 1200); do   # 120 s each
      [ "$(http_code "$url$path")" = 200 ] && break
      kill -0 "$server_pid" 2>/dev/null || { tail -20 "$tmp/server.log" >&2; die "nfserve exited"; }
      sleep 0.1
    done
    [ "$(http_code "$url$path")" = 200 ] || { tail -20 "$tmp/server.log" >&2; die "GET $path is not 200 after 120 s"; }
  done
  log "nfserve ready in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s (pid $server_pid)"
else
  missing=()
  for m in "$small" "$big" "$nf"; do [ -f "$ts_work/model-store/$m.mar" ] || missing+=("$ts_work/model-store/$m.mar"); done
  [ "${#missing[@]}" = 0 ] || die "missing ${missing[*]}: run TS_MODEL_DIR=\"checkpoints/$small checkpoints/$nf /path/to/resnet50\" tools/bench/torchserve/setup.sh"
  for p in 8092 8093 8094; do port_busy "$p" && die "port $p is already in use (tools/bench/torchserve/stop.sh?)"; done
  url=http://127.0.0.1:8092
  ts_env=(env -u TS_WORKERS -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT -u TS_BATCH_SIZE -u TS_MAX_BATCH_DELAY_MS)
  case "$ts_config" in
    tuned) ts_env+=(TS_WORKERS=1 OMP_NUM_THREADS=1)
           server_args="ts-config tuned: TS_WORKERS=1 OMP_NUM_THREADS=1" ;;
    env)   ts_env=(env)
           server_args="ts-config env: TS_WORKERS=${TS_WORKERS:-default} OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset} TS_BATCH_SIZE=${TS_BATCH_SIZE:-1} TS_MODEL_WORKERS=${TS_MODEL_WORKERS:-}" ;;
    *)     server_args="ts-config default: TS_WORKERS=default OMP_NUM_THREADS=unset" ;;
  esac
  log "starting TorchServe ($server_args)"
  started=torchserve
  startup_s=$("${ts_env[@]}" TS_MODEL="$small $big $nf" TS_IMAGE="${image[$small]}" tools/bench/torchserve/start.sh \
              | sed -n 's/^startup_s=//p')
  [ -n "$startup_s" ] || die "tools/bench/torchserve/start.sh failed"
  if [ "$ts_config" = env ]; then
    for mw in ${TS_MODEL_WORKERS:-}; do   # NAME=N: that model's workers, through the management API
      log "scaling ${mw%%=*} to ${mw#*=} workers"
      curl -sf -o /dev/null --max-time 300 -X PUT \
        "http://127.0.0.1:8093/models/${mw%%=*}?min_worker=${mw#*=}&max_worker=${mw#*=}&synchronous=true" \
        || die "PUT /models/${mw%%=*}?min_worker=${mw#*=} failed"
    done
  fi
  for m in "$small" "$big" "$nf"; do
    log "  $m: $(curl -s --max-time 5 "http://127.0.0.1:8093/models/$m" | tr -d ' \n' | grep -o '"pid":' | wc -l || true) workers"
  done
  log "TorchServe ready in $startup_s s"
fi

for m in "${used_models[@]}"; do
  code=$(curl -s -o "$tmp/first-$m.json" -w '%{http_code}' --max-time 60 -H "Content-Type: ${ctype[$m]}" \
         -T "${image[$m]}" "$url/predictions/$m" || true)
  log "PUT $(basename "${image[$m]}") -> $m: HTTP $code $(tr -d '\n ' < "$tmp/first-$m.json" | cut -c1-200)"
  case "$code" in 2??) ;; *) die "$url/predictions/$m does not answer 2xx" ;; esac
done

# ------------------------------------------------------------------------------------- wrk
for m in "${used_models[@]}"; do
  cat > "$tmp/put-$m.lua" <<EOF
-- PUT the image's raw bytes (curl -T); done() prints wrk's own totals and latency percentiles (us).
local f = assert(io.open([==[${image[$m]}]==], "rb"))
wrk.method = "PUT"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "${ctype[$m]}"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("LOADSH requests=%d duration_us=%d p50_us=%d p99_us=%d status=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
EOF
done

# parse_wrk OUTFILE -> "rps p50_ms p99_ms requests non2xx errors"
parse_wrk() {
  awk '/^LOADSH / {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      printf "%.1f %.2f %.2f %d %d %d\n", v["requests"] / (v["duration_us"] / 1e6), v["p50_us"] / 1000,
        v["p99_us"] / 1000, v["requests"], v["status"], v["connect"] + v["read"] + v["write"] + v["timeout"]
    }' "$1"
}
# server_pids: the server's processes when this script started it (TorchServe: java and its Python
# workers), else nothing.
server_pids() {
  local java
  if [ "$started" = nfserve ]; then
    echo "$server_pid"
  elif [ "$started" = torchserve ]; then
    java=$(cat "${TMPDIR:-/tmp}/.model_server.pid" 2>/dev/null || true)
    [ -z "$java" ] || { echo "$java"; ps -o pid= --ppid "$java" | tr -d ' '; }
  fi
}
cpu_ticks() {  # PID... -> utime + stime summed, in clock ticks
  local p t=0 f
  for p in "$@"; do
    f=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || true)
    t=$(( t + ${f:-0} ))
  done
  echo "$t"
}
# drain MODEL... : after a phase, so that the next one starts on an idle server: wrk stops at
# --duration but the server still computes the requests it had queued or in flight. One request to
# each model in turn, resnet50 first (it answers once what was queued before it is done), then, when
# this script started the server, a wait (60 s at most) until the server's processes use less than a
# tenth of a core over half a second (TorchServe's other workers may still be busy). Not measured.
drain() {
  local m code t0 order=()
  t0=$(date +%s.%N)
  for m in "$@"; do if [ "$m" = "$big" ]; then order=("$m" "${order[@]}"); else order+=("$m"); fi; done
  for m in "${order[@]}"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 300 -H "Content-Type: ${ctype[$m]}" \
           -T "${image[$m]}" "$url/predictions/$m" || true)
    [ "$code" = 200 ] || log "  drain: $m answered HTTP $code"
  done
  local pids a b tck idle
  mapfile -t pids < <(server_pids)
  if [ "${#pids[@]}" -gt 0 ]; then
    tck=$(getconf CLK_TCK) idle=""
    for _ in $(seq 120); do
      a=$(cpu_ticks "${pids[@]}"); sleep 0.5; b=$(cpu_ticks "${pids[@]}")
      if [ $(( (b - a) * 20 )) -lt "$tck" ]; then idle=1; break; fi   # < 0.1 core over 0.5 s
    done
    [ -n "$idle" ] || log "  drain: the server still uses $(( (b - a) * 200 / tck ))% of a core after 60 s; going on"
  fi
  log "  drained in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
}
# median: of the numbers on stdin, one a line; nothing for no number
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# run_phase DURATION TAG MODEL... : one wrk per model, all started together; each one's parsed line
# goes to $tmp/line-TAG-MODEL.
run_phase() {
  local d=$1 tag=$2 m c t i pids=() failed=0
  shift 2
  wrk_pids=()
  for m in "$@"; do
    c=${clients[$m]} t=$(( ${clients[$m]} < 2 ? ${clients[$m]} : 2 ))
    wrk -t "$t" -c "$c" -d "$d" --timeout "$timeout" --latency -s "$tmp/put-$m.lua" "$url/predictions/$m" \
      > "$tmp/wrk-$tag-$m.txt" 2>&1 &
    pids+=("$!")
  done
  wrk_pids=("${pids[@]}")
  i=0
  for m in "$@"; do
    if ! wait "${pids[$i]}"; then cat "$tmp/wrk-$tag-$m.txt" >&2; failed=1; fi
    i=$(( i + 1 ))
  done
  wrk_pids=()
  [ "$failed" = 0 ] || die "wrk failed ($tag)"
  for m in "$@"; do
    parse_wrk "$tmp/wrk-$tag-$m.txt" > "$tmp/line-$tag-$m"
    [ -s "$tmp/line-$tag-$m" ] || { cat "$tmp/wrk-$tag-$m.txt" >&2; die "no LOADSH line from wrk ($tag, $m)"; }
  done
}

if [ "$warmup" != 0 ] && [ "$warmup" != 0s ]; then
  log "warm-up: ${used_models[*]} at once, $warmup"
  run_phase "$warmup" warmup "${used_models[@]}"
  drain "${used_models[@]}"
fi

for i in $(seq "$repeat"); do
  for p in "${phase_list[@]}"; do
    read -r -a ms <<< "${phase_models[$p]}"
    desc=""
    for m in "${ms[@]}"; do desc="${desc:+$desc + }$m x${clients[$m]}"; done
    log "run $i of $repeat: $p ($desc), $duration"
    run_phase "$duration" "$p-$i" "${ms[@]}"
    for m in "${ms[@]}"; do
      cat "$tmp/line-$p-$i-$m" >> "$tmp/runs-$p-$m"
      read -r rps p50 p99 n bad err < "$tmp/line-$p-$i-$m"
      log "  $m: $rps req/s, p50 $p50 ms, p99 $p99 ms, $n requests, $bad non-2xx, $err errors"
    done
    drain "${ms[@]}"
  done
done

# ------------------------------------------------------------------------------------- report
declare -A med_rps med_p50 med_p99 sum_req sum_bad sum_err runs_json zero_runs
for p in "${phase_list[@]}"; do
  for m in ${phase_models[$p]}; do
    k=$p/$m f=$tmp/runs-$p-$m
    [ -z "${med_rps[$k]:-}" ] || continue   # a phase listed twice: its runs are pooled already
    med_rps[$k]=$(awk '{ print $1 }' "$f" | median)
    # latencies: of the runs that completed a request (a run with none has no latency: "-", null)
    med_p50[$k]=$(awk '$4 > 0 { print $2 }' "$f" | median)
    med_p99[$k]=$(awk '$4 > 0 { print $3 }' "$f" | median)
    zero_runs[$k]=$(awk '$4 == 0 { n++ } END { print n + 0 }' "$f")
    read -r r n e < <(awk '{ r += $4; n += $5; e += $6 } END { print r, n, e }' "$f")
    sum_req[$k]=$r sum_bad[$k]=$n sum_err[$k]=$e
    runs_json[$k]=$(awk '{ printf "%s{\"requests_per_s\": %s, \"p50_ms\": %s, \"p99_ms\": %s, \"requests\": %s, \"non2xx\": %s, \"errors\": %s}",
                            (NR > 1 ? ", " : ""), $1, ($4 > 0 ? $2 : "null"), ($4 > 0 ? $3 : "null"), $4, $5, $6 }' "$f")
  done
done
# ratio A B -> A / B with 2 decimals, or "-" when either is missing or B is 0
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
orj() { if [ -n "$1" ]; then printf '%s' "$1"; else printf null; fi; }   # a number, or JSON null

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- Sources Package.swift 2>/dev/null || commit="$commit+dirty"
cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
printf 'target %s (%s), %s, duration %s, repeat %s (medians), %s cpus, load average %s, commit %s\n\n' \
  "$target" "${server_args:-no extra flags}" "$url" "$duration" "$repeat" "$cpus" "$loadavg" "$commit"
printf '| phase | model | clients | req/s | p50 ms | p99 ms | req/s vs solo | p99 vs solo | non-2xx | errors |\n'
printf '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n'
total_bad=0 total_err=0 total_zero=0 json=()
declare -A printed=()
for p in "${phase_list[@]}"; do
  for m in ${phase_models[$p]}; do
    k=$p/$m
    [ -z "${printed[$k]:-}" ] || continue
    printed[$k]=1
    solo=${solo_of[$m]} rr="-" pr="-" rr_json=null pr_json=null
    if [ "$solo" != "$p" ] && [ -n "${med_rps[$solo/$m]:-}" ]; then
      rr=$(ratio "${med_rps[$k]}" "${med_rps[$solo/$m]}")
      pr=$(ratio "${med_p99[$k]}" "${med_p99[$solo/$m]}")
      [ "$rr" = - ] || rr_json=$rr
      [ "$pr" = - ] || pr_json=$pr
    fi
    printf '| %s | %s | %d | %s | %s | %s | %s | %s | %d | %d |\n' "$p" "$m" "${clients[$m]}" "${med_rps[$k]}" \
      "${med_p50[$k]:--}" "${med_p99[$k]:--}" "$rr" "$pr" "${sum_bad[$k]}" "${sum_err[$k]}"
    total_bad=$(( total_bad + sum_bad[$k] )) total_err=$(( total_err + sum_err[$k] ))
    total_zero=$(( total_zero + zero_runs[$k] ))
    json+=("$(printf '{"bench": "multimodel", "target": %s, "server_args": %s, "phase": %s, "model": %s, "clients": %d, "wrk_threads": %d, "image": %s, "content_type": %s, "requests_per_s": %s, "p50_ms": %s, "p99_ms": %s, "solo_phase": %s, "rps_vs_solo": %s, "p99_vs_solo": %s, "requests": %d, "runs_without_requests": %d, "non2xx": %d, "errors": %d, "runs": [%s], "duration": %s, "repeat": %d, "url": %s, "jpeg_bytes": %d, "jpeg_sha256_16": %s, "cpus": %d, "loadavg": %s, "commit": %s}' \
      "$(json_str "$target")" "$(json_str "$server_args")" "$(json_str "$p")" "$(json_str "$m")" "${clients[$m]}" \
      "$(( ${clients[$m]} < 2 ? ${clients[$m]} : 2 ))" "$(json_str "${image_name[$m]}")" "$(json_str "${ctype[$m]}")" \
      "${med_rps[$k]}" "$(orj "${med_p50[$k]}")" "$(orj "${med_p99[$k]}")" "$(json_str "$solo")" "$rr_json" "$pr_json" \
      "${sum_req[$k]}" "${zero_runs[$k]}" "${sum_bad[$k]}" "${sum_err[$k]}" "${runs_json[$k]}" "$(json_str "$duration")" "$repeat" \
      "$(json_str "$url")" "$jpeg_bytes" "$(json_str "$jpeg_sha")" "$cpus" "$(json_str "$loadavg")" "$(json_str "$commit")")")
  done
done
if [ "$total_bad" -gt 0 ] || [ "$total_err" -gt 0 ]; then
  printf '\nWARNING: %d non-2xx responses and %d socket errors/timeouts (columns non-2xx, errors)\n' "$total_bad" "$total_err"
  log "WARNING: $total_bad non-2xx responses and $total_err socket errors/timeouts"
fi
if [ "$total_zero" -gt 0 ]; then
  printf '\nWARNING: %d runs of a (phase, model) completed no request within %s (latency "-": their medians leave them out)\n' "$total_zero" "$duration"
  log "WARNING: $total_zero runs of a (phase, model) completed no request within $duration"
fi
echo
printf '%s\n' "${json[@]}"
