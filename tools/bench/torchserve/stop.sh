#!/usr/bin/env bash
# Stops the TorchServe that tools/bench/torchserve/start.sh started (a BENCHMARK PEER of nfserve,
# never a dependency of it): `torchserve --stop`, then waits until the java frontend and its Python
# workers are gone (killing them after 30 s).
#
# Usage: tools/bench/torchserve/stop.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
venv=${TS_VENV:-$(dirname "$repo")/.venv-torchserve}
work=${TS_WORK:-$(dirname "$repo")/.torchserve-work}
pidfile=${TMPDIR:-/tmp}/.model_server.pid

log() { printf '[torchserve] %s\n' "$*" >&2; }

pid=$(cat "$pidfile" 2>/dev/null || true)
workers=()
if [ -n "$pid" ]; then
  mapfile -t workers < <(ps -o pid= --ppid "$pid" 2>/dev/null | tr -d ' ')
fi
(cd "${work}" 2>/dev/null || cd /tmp; "$venv/bin/torchserve" --stop) >&2
for p in ${pid:+"$pid"} "${workers[@]}"; do
  for _ in $(seq 150); do
    kill -0 "$p" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$p" 2>/dev/null; then
    log "pid $p still running after 30 s: killing it"
    kill -9 "$p" 2>/dev/null || true
  fi
done
