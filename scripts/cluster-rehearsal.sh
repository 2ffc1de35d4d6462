#!/usr/bin/env bash
# A rolling restart of nfserve replicas behind a real load balancer, under open load.
#
# HAProxy (Debian's) balances the replicas with active health checks on /v2/health/ready and no
# retries (a Kubernetes Service retries nothing either); tools/fleet/load.py sends PUT
# /predictions/fmnist-resnet-bn at a fixed rate, each request on a new connection. Every replica in
# turn gets SIGTERM, must exit 0, is started again once HAProxy marks it DOWN, and waited for until
# HAProxy marks it UP. The load balancer's log tells apart the requests it sent to a replica whose
# port had already closed (termination state SC): with --shutdown-delay 0 those are expected, since
# HAProxy learns of the drain only from its next failed checks; with a delay longer than the
# checks take to fail, none.
#
# Usage: scripts/cluster-rehearsal.sh [--shutdown-delay S] [--replicas N] [--rate R] [--base-port P]
#   NFSERVE=path/to/nfserve picks the binary (default: .build/release/nfserve, else .build/debug/nfserve);
#   REHEARSAL_LOGS=DIR keeps the replicas' and HAProxy's logs there.
# Exits 1 when a request failed for any other reason, a replica did not exit 0 or reported dropped
# requests, or (with a delay) the load balancer sent anything to a closed port.
set -euo pipefail
cd "$(dirname "$0")/.."
delay=2 replicas=3 rate=100 base=18080
while [ $# -gt 0 ]; do
  case "$1" in
    --shutdown-delay) delay="$2"; shift 2 ;;
    --replicas) replicas="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --base-port) base="$2"; shift 2 ;;
    *) sed -n '2,17p' "$0" >&2; exit 2 ;;
  esac
done
binary="${NFSERVE:-}"
if [ -z "$binary" ]; then
  for candidate in .build/release/nfserve .build/debug/nfserve; do
    if [ -x "$candidate" ]; then binary="$candidate"; break; fi
  done
fi
[ -x "${binary:-}" ] || { echo "build nfserve first (swift build), or set NFSERVE" >&2; exit 2; }
scripts/install-packages.sh fleet
python3=$(command -v python3)

work=$(mktemp -d)
stats=$((base + 100))
pids=()
haproxy_pid=""
load_pid=""
cleanup() {
  touch "$work/stop"
  if [ -n "${REHEARSAL_LOGS:-}" ]; then mkdir -p "$REHEARSAL_LOGS" && cp "$work"/*.log "$work"/*.cfg "$REHEARSAL_LOGS"/ 2>/dev/null || true; fi
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "$haproxy_pid" ] && kill "$haproxy_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start_replica() {  # $1: index from 1
  "$binary" serve --port $((base + $1)) --grpc-port 0 --checkpoints checkpoints --datasets /nonexistent \
    --shutdown-delay "$delay" --shutdown-grace 10 --log-level notice >>"$work/replica$1.log" 2>&1 &
  pids[$1]=$!
}

status_of() {  # $1: index; HAProxy's view of the server (UP, DOWN, ...)
  curl -fsS "http://127.0.0.1:$stats/stats;csv" 2>/dev/null | awk -F, -v s="r$1" '$1 == "replicas" && $2 == s { print $18 }'
}

wait_status() {  # $1: index, $2: UP or DOWN
  for _ in $(seq 1 600); do
    [ "$(status_of "$1")" = "$2" ] && return 0
    sleep 0.05
  done
  echo "replica $1 never became $2 in HAProxy" >&2
  return 1
}

{
  cat <<CFG
global
  log stdout format raw local0
defaults
  mode http
  log global
  log-format "%ST %tsc %s"
  option http-server-close
  retries 0
  timeout connect 2s
  timeout client 30s
  timeout server 30s
frontend front
  bind 127.0.0.1:$base
  default_backend replicas
backend replicas
  balance roundrobin
  option httpchk GET /v2/health/ready
  http-check expect status 200
  default-server check inter 200ms fall 2 rise 2
CFG
  for i in $(seq 1 "$replicas"); do echo "  server r$i 127.0.0.1:$((base + i))"; done
  cat <<CFG
listen stats
  bind 127.0.0.1:$stats
  stats enable
  stats uri /stats
CFG
} >"$work/haproxy.cfg"

for i in $(seq 1 "$replicas"); do start_replica "$i"; done
haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
haproxy_pid=$!
for i in $(seq 1 "$replicas"); do wait_status "$i" UP; done

"$python3" tools/fleet/load.py "$base" fmnist-resnet-bn Tests/Fixtures/images/astronaut_96_rgb.png "$rate" "$work/stop" >"$work/load.json" &
load_pid=$!
sleep 3
exits=()
for i in $(seq 1 "$replicas"); do
  kill -TERM "${pids[$i]}"
  set +e
  wait "${pids[$i]}"
  exits[$i]=$?
  set -e
  echo "replica $i exited ${exits[$i]}; restarting" >&2
  # As a Kubernetes Service drops a terminated pod's endpoint and adds its successor (a new
  # address) only once ready: the port is reused here, so the balancer must have seen it down.
  wait_status "$i" DOWN
  start_replica "$i"
  wait_status "$i" UP
  sleep 1
done
sleep 2
touch "$work/stop"
wait "$load_pid"
load_pid=""

# Each HAProxy log line: status, termination state, server.
closed_port=$(awk '$1 == 503 && $2 ~ /^SC/' "$work/haproxy.log" | wc -l)
balancer_lines=$(awk '$1 ~ /^[0-9]+$/ && $3 != "<STATS>"' "$work/haproxy.log" | wc -l)
dropped=$(cat "$work"/replica*.log | grep -o 'requests dropped: [0-9]*' | awk '{ s += $3 } END { print s + 0 }')
stops=$(cat "$work"/replica*.log | grep -c 'requests dropped: ' || true)
aborts=$(cat "$work"/replica*.log | grep -c 'Fatal error' || true)
read -r sent ok failed_total failed_detail < <("$python3" - "$work/load.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(r["sent"], r["ok"], sum(r["failed"].values()), json.dumps(r["failed"]).replace(" ", ""))
PY
)
other=$((failed_total - closed_port))
echo "cluster-rehearsal: replicas=$replicas shutdown-delay=$delay rate=$rate/s sent=$sent ok=$ok failed=$failed_total" \
  "(sent by the balancer to a closed port: $closed_port; other: $other $failed_detail) balancer-log-lines=$balancer_lines" \
  "exits=${exits[*]} replica-stops-logged=$stops dropped=$dropped aborts=$aborts"
ok_run=1
for code in "${exits[@]}"; do [ "$code" = 0 ] || ok_run=0; done
[ "$other" -eq 0 ] && [ "$dropped" -eq 0 ] && [ "$aborts" -eq 0 ] && [ "$stops" -ge "$replicas" ] || ok_run=0
if [ "$delay" != 0 ] && [ "$closed_port" -ne 0 ]; then ok_run=0; fi
if [ "$ok_run" != 1 ]; then
  echo "cluster-rehearsal: FAILED" >&2
  tail -n 5 "$work"/replica*.log >&2
  exit 1
fi
