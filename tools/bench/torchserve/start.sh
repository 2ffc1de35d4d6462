#!/usr/bin/env bash
# Starts TorchServe, a BENCHMARK PEER of nfserve (never a dependency of it), serving the .mar that
# tools/bench/torchserve/setup.sh built from checkpoints/fmnist-resnet-bn, and waits until it answers.
#
# Usage: tools/bench/torchserve/start.sh          (stop with tools/bench/torchserve/stop.sh)
#   curl -T Public/samples/sneaker.png http://127.0.0.1:8092/predictions/fmnist-resnet-bn
#
# Ports: 8092 inference, 8093 management, 8094 metrics (127.0.0.1 only).
# Work folder ../.torchserve-work (TS_WORK overrides): config.properties is written there, the model
# store is its model-store/, TorchServe's logs go to its logs/ (LOG_LOCATION, METRICS_LOCATION;
# TorchServe's default log4j2 config, INFO: a line per request, kept as a peer's default costs).
# config.properties: token authorization off (disable_token_authorization=true: TorchServe 0.12
# otherwise demands a key from key_file.json on every call), enable_model_api=true (0.12 disables the
# management model API by default), no config snapshots.
# Environment:
#   TS_WORKERS            default_workers_per_model (unset: TorchServe's default, one worker per core)
#   OMP_NUM_THREADS       passed through to the Python workers (unset: each worker's torch uses every
#                         core, so the default 2 workers on 2 cores oversubscribe)
#   TS_BATCH_SIZE, TS_MAX_BATCH_DELAY_MS
#                         server-side batching (TorchServe's batchSize / maxBatchDelay; default off:
#                         batchSize 1)
#   TS_MODEL, TS_IMAGE    the model served (a .mar setup.sh built; default fmnist-resnet-bn) and the
#                         image of the first prediction (default Public/samples/sneaker.png).
#                         TS_MODEL may list several models separated by spaces: one TorchServe serves
#                         them all (load_models=a=a.mar,b=b.mar; TS_WORKERS and TS_BATCH_SIZE apply to
#                         each), and each answers a first prediction of TS_IMAGE before the start counts
#                         as done
#   TS_START_TIMEOUT      seconds to wait for the model to answer (default 300)
# Prints `startup_s=SECONDS` on stdout: launch until /ping is Healthy and a prediction of
# Public/samples/sneaker.png (TS_IMAGE) returned 200 from every model. Progress goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
venv=${TS_VENV:-$(dirname "$repo")/.venv-torchserve}
work=${TS_WORK:-$(dirname "$repo")/.torchserve-work}
read -r -a models <<< "${TS_MODEL:-fmnist-resnet-bn}"
image=${TS_IMAGE:-$repo/Public/samples/sneaker.png}
timeout=${TS_START_TIMEOUT:-300}

log() { printf '[torchserve] %s\n' "$*" >&2; }

[ -x "$venv/bin/torchserve" ] || { log "no $venv/bin/torchserve: run tools/bench/torchserve/setup.sh first"; exit 1; }
[ "${#models[@]}" -ge 1 ] || { log "TS_MODEL is empty"; exit 1; }
for model in "${models[@]}"; do
  [ -f "$work/model-store/$model.mar" ] || { log "no $work/model-store/$model.mar: run tools/bench/torchserve/setup.sh first"; exit 1; }
done
for port in 8092 8093 8094; do
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
    log "port $port is already in use (a TorchServe still running? tools/bench/torchserve/stop.sh)"
    exit 1
  fi
done

# TorchServe logs every request at INFO (ts_log.log, access_log.log and the launcher's stdout: about
# 20 MB per 10 s of load here); logs/ keeps only the last start's.
mkdir -p "$work/logs"
rm -f "$work/logs"/*.log "$work/logs/first-prediction.json"
config=$work/config.properties
{
  echo "inference_address=http://127.0.0.1:8092"
  echo "management_address=http://127.0.0.1:8093"
  echo "metrics_address=http://127.0.0.1:8094"
  echo "model_store=$work/model-store"
  load=""
  for model in "${models[@]}"; do load="${load:+$load,}$model=$model.mar"; done
  echo "load_models=$load"
  echo "disable_token_authorization=true"
  echo "enable_model_api=true"
  echo "install_py_dep_per_model=false"
  if [ -n "${TS_WORKERS:-}" ]; then
    echo "default_workers_per_model=$TS_WORKERS"
  fi
  if [ -n "${TS_BATCH_SIZE:-}" ]; then
    workers=${TS_WORKERS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)}  # nproc alone honours OMP_NUM_THREADS
    entries=""
    for model in "${models[@]}"; do
      entries="${entries:+$entries, }$(printf '"%s": {"1.0": {"defaultVersion": true, "marName": "%s.mar", "minWorkers": %d, "maxWorkers": %d, "batchSize": %d, "maxBatchDelay": %d}}' \
        "$model" "$model" "$workers" "$workers" "$TS_BATCH_SIZE" "${TS_MAX_BATCH_DELAY_MS:-5}")"
    done
    printf 'models={%s}\n' "$entries"
  fi
} > "$config"
log "config $config:"
sed 's/^/[torchserve]   /' "$config" >&2
log "OMP_NUM_THREADS=${OMP_NUM_THREADS:-<unset>} TS_WORKERS=${TS_WORKERS:-<default>}"

t0=$(date +%s.%N)
# TorchServe's frontend (java) is started in the background by the `torchserve` launcher, which
# records its pid in $TMPDIR/.model_server.pid (what `torchserve --stop` reads). Run from the work
# folder so nothing (logs, key files) lands in the repository.
(cd "$work" && LOG_LOCATION="$work/logs" METRICS_LOCATION="$work/logs" \
  "$venv/bin/torchserve" --start --ncs --ts-config "$config" --model-store "$work/model-store" \
  >> "$work/logs/launcher.log" 2>&1)

deadline=$(( $(date +%s) + timeout ))
pidfile=${TMPDIR:-/tmp}/.model_server.pid
until [ "$(curl -s --max-time 2 http://127.0.0.1:8092/ping 2>/dev/null | tr -d ' \n')" = '{"status":"Healthy"}' ]; do
  if [ "$(date +%s)" -gt "$deadline" ] || { [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then
    log "TorchServe did not become healthy; last lines of $work/logs/ts_log.log:"
    tail -20 "$work/logs/ts_log.log" >&2 || true
    exit 1
  fi
  sleep 0.2
done
for model in "${models[@]}"; do
  until code=$(curl -s -o "$work/logs/first-prediction.json" -w '%{http_code}' --max-time 30 -T "$image" \
                 "http://127.0.0.1:8092/predictions/$model") && [ "$code" = 200 ]; do
    if [ "$(date +%s)" -gt "$deadline" ]; then
      log "$model did not answer (HTTP $code); last lines of $work/logs/model_log.log:"
      tail -20 "$work/logs/model_log.log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  log "$model: $(basename "$image") -> $(tr -d '\n ' < "$work/logs/first-prediction.json")"
done
t1=$(date +%s.%N)
startup=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
log "ready in $startup s (java pid $(cat "$pidfile" 2>/dev/null || echo '?'))"
echo "startup_s=$startup"
