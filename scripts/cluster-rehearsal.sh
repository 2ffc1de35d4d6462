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
# With --prometheus the replicas export their live BatchNorm sums per channel (--esm-export channel,
# every prediction observed) to a Prometheus server (Debian's) that scrapes them every second and
# evaluates deploy/prometheus/nfserve-rules.yaml. The open load then runs at --load-share of the
# capacity measured first (a 3 s closed-loop wrk burst through HAProxy), so the restarts happen
# under real load. After the restarts and the load, each replica's live sums are emptied
# (POST /diagnostics/esm/reset, admin token), the 300 images of datasets/fashion-mnist-sample go
# through HAProxy once each, and the pooled ESM Prometheus records must equal, per BatchNorm layer,
# what a fourth process computes on the same dataset (tools/fleet/fleet_esm.py).
#
# Usage: scripts/cluster-rehearsal.sh [--shutdown-delay S] [--replicas N] [--rate R] [--base-port P]
#                                     [--prometheus [--load-share F]]
#   --rate R        open load in requests/s (default 100; with --prometheus, F x the measured capacity)
#   --prometheus    the Prometheus server and the fleet ESM check above; ports P+200 (Prometheus),
#                   P+300 (the reference process)
#   --load-share F  with --prometheus and no --rate: the open load's share of the measured capacity
#                   (default 0.55: at least half of it even when the client falls a little behind)
#   NFSERVE=path/to/nfserve picks the binary (default: .build/release/nfserve, else .build/debug/nfserve);
#   REHEARSAL_LOGS=DIR keeps the replicas', HAProxy's and Prometheus' logs and configurations there.
# Exits 1 when a request failed for any other reason, a replica did not exit 0 or reported dropped
# requests, (with a delay) the load balancer sent anything to a closed port, or (--prometheus) the
# load client fell below half the capacity or the pooled ESM differs from one process's by more
# than 1e-6 (relative).
set -euo pipefail
cd "$(dirname "$0")/.."
delay=2 replicas=3 rate="" base=18080 prometheus=0 load_share=0.55 rate_from_capacity=0
while [ $# -gt 0 ]; do
  case "$1" in
    --shutdown-delay) delay="$2"; shift 2 ;;
    --replicas) replicas="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --base-port) base="$2"; shift 2 ;;
    --prometheus) prometheus=1; shift ;;
    --load-share) load_share="$2"; shift 2 ;;
    *) sed -n '2,34p' "$0" >&2; exit 2 ;;
  esac
done
if [ "$prometheus" = 0 ] && [ -z "$rate" ]; then rate=100; fi
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
prometheus_port=$((base + 200))
reference_port=$((base + 300))
model=fmnist-resnet-bn
image=Tests/Fixtures/images/astronaut_96_rgb.png
pids=()
haproxy_pid=""
load_pid=""
prometheus_pid=""
reference_pid=""
cleanup() {
  touch "$work/stop"
  if [ -n "${REHEARSAL_LOGS:-}" ]; then
    mkdir -p "$REHEARSAL_LOGS" && cp "$work"/*.log "$work"/*.cfg "$work"/*.yml "$REHEARSAL_LOGS"/ 2>/dev/null || true
  fi
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "$haproxy_pid" "$prometheus_pid" "$reference_pid"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

replica_flags=(--datasets /nonexistent)
if [ "$prometheus" = 1 ]; then
  # Per-channel sums (what Prometheus can add across replicas), every prediction observed (the
  # default budget samples, and the check needs each image once), and a fresh admin token for the
  # resets (every child inherits it; it is never printed).
  replica_flags=(--datasets datasets --esm-export channel --live-esm-budget all)
  NFSERVE_ADMIN_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  export NFSERVE_ADMIN_TOKEN
fi

start_replica() {  # $1: index from 1
  "$binary" serve --port $((base + $1)) --grpc-port 0 --checkpoints checkpoints "${replica_flags[@]}" \
    --shutdown-delay "$delay" --shutdown-grace 10 --log-level notice >>"$work/replica$1.log" 2>&1 &
  pids[$1]=$!
}

until_ok() {  # $1: seconds, $2: what is waited for, then a command that succeeds once it is there
  local limit="$1" what="$2"
  local deadline=$((SECONDS + limit))
  shift 2
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "cluster-rehearsal: $what: not within $limit s" >&2; return 1; fi
    sleep 0.1
  done
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

if [ "$prometheus" = 1 ]; then
  # Scrape and evaluate every second so the check waits little. The rule groups of
  # nfserve-rules.yaml set their own interval (15 s), which wins over evaluation_interval: the
  # check waits for an evaluation, up to 15 s. The scrape timeout may not exceed the interval.
  {
    cat <<CFG
global:
  scrape_interval: 2s
  scrape_timeout: 2s
  evaluation_interval: 1s
rule_files:
  - $PWD/deploy/prometheus/nfserve-rules.yaml
scrape_configs:
  - job_name: nfserve
    static_configs:
      - targets:
CFG
    for i in $(seq 1 "$replicas"); do echo "          - 127.0.0.1:$((base + i))"; done
  } >"$work/prometheus.yml"
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prometheus_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
  prometheus_pid=$!
  targets_up() {
    curl -fsS "http://127.0.0.1:$prometheus_port/api/v1/targets?state=active" 2>/dev/null | "$python3" -c '
import json, sys
targets = json.load(sys.stdin)["data"]["activeTargets"]
sys.exit(0 if len(targets) == int(sys.argv[1]) and all(t["health"] == "up" for t in targets) else 1)' "$replicas"
  }
  until_ok 30 "Prometheus ready" curl -fs -o /dev/null "http://127.0.0.1:$prometheus_port/-/ready" \
    || { tail -n 20 "$work/prometheus.log" >&2; exit 1; }
  until_ok 30 "Prometheus scraping every replica" targets_up || { tail -n 20 "$work/prometheus.log" >&2; exit 1; }

  # Capacity: a closed loop (16 connections, keep-alive to HAProxy, which opens one server
  # connection per request) sending the load's own request for 3 s. All replicas share this
  # machine's cores, so this is the fleet's capacity here, whatever else runs on it. A first
  # second at the same concurrency is not counted: a fresh replica's first passes of each batch
  # size set up their kernels (a debug build takes up to a second or two for that).
  cat >"$work/put.lua" <<LUA
local f = assert(io.open("$PWD/$image", "rb"))
wrk.method = "PUT"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "image/png"
LUA
  wrk -t1 -c16 -d1s --timeout 10s -s "$work/put.lua" "http://127.0.0.1:$base/predictions/$model" >"$work/wrk-warmup.log" 2>&1
  wrk -t1 -c16 -d3s --timeout 10s -s "$work/put.lua" "http://127.0.0.1:$base/predictions/$model" >"$work/wrk.log" 2>&1
  capacity=$(awk '$1 == "Requests/sec:" { print $2 }' "$work/wrk.log")
  if [ -z "$capacity" ] || grep -qE 'Non-2xx|Socket errors' "$work/wrk.log"; then
    echo "cluster-rehearsal: the capacity burst failed or had errors:" >&2; cat "$work/wrk.log" >&2; exit 1
  fi
  # wrk stops with requests in flight: they end (and are logged) before the load's lines begin.
  balancer_idle() {
    curl -fs "http://127.0.0.1:$stats/stats;csv" | awk -F, '($1 == "front" && $2 == "FRONTEND") || ($1 == "replicas" && $2 == "BACKEND") { busy += $5 } END { exit !(NR > 0 && busy == 0) }'
  }
  until_ok 30 "HAProxy idle after the capacity burst" balancer_idle
  if [ -z "$rate" ]; then
    rate=$(awk -v c="$capacity" -v s="$load_share" 'BEGIN { printf "%d", c * s + 0.5 }')
    rate_from_capacity=1
  fi
fi

# Only the load's lines of HAProxy's log count below (the capacity burst came before).
log_from=$(wc -l <"$work/haproxy.log")
"$python3" tools/fleet/load.py "$base" "$model" "$image" "$rate" "$work/stop" >"$work/load.json" &
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
tail -n +$((log_from + 1)) "$work/haproxy.log" >"$work/haproxy-load.log"
closed_port=$(awk '$1 == 503 && $2 ~ /^SC/' "$work/haproxy-load.log" | wc -l)
balancer_lines=$(awk '$1 ~ /^[0-9]+$/ && $3 != "<STATS>"' "$work/haproxy-load.log" | wc -l)
dropped=$(cat "$work"/replica*.log | grep -o 'requests dropped: [0-9]*' | awk '{ s += $3 } END { print s + 0 }')
stops=$(cat "$work"/replica*.log | grep -c 'requests dropped: ' || true)
aborts=$(cat "$work"/replica*.log | grep -c 'Fatal error' || true)
read -r sent ok failed_total failed_detail achieved lag_p99 < <("$python3" - "$work/load.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(r["sent"], r["ok"], sum(r["failed"].values()), json.dumps(r["failed"]).replace(" ", ""),
      r["achieved_rate"], r["lag_ms"]["p99"])
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
if [ "$prometheus" = 1 ]; then
  # The load must have been what it claims: the client kept its schedule (the rate at which it
  # opened connections), and, with the rate taken from the capacity, that was at least half of it.
  echo "cluster-rehearsal: capacity $capacity req/s (wrk, 3 s, 16 connections, through HAProxy);" \
    "open load target $rate req/s, achieved $achieved req/s (p99 lag $lag_p99 ms)"
  awk -v a="$achieved" -v r="$rate" 'BEGIN { exit !(a >= 0.9 * r) }' \
    || { echo "cluster-rehearsal: the load client fell behind its schedule" >&2; ok_run=0; }
  if [ "$rate_from_capacity" = 1 ]; then
    awk -v a="$achieved" -v c="$capacity" 'BEGIN { exit !(a >= c / 2) }' \
      || { echo "cluster-rehearsal: the open load reached less than half the capacity" >&2; ok_run=0; }
  fi
fi
if [ "$ok_run" != 1 ]; then
  echo "cluster-rehearsal: FAILED" >&2
  tail -n 5 "$work"/replica*.log >&2
  exit 1
fi

if [ "$prometheus" = 1 ]; then
  # The reference: one process, not behind HAProxy, given the same images as a dataset. It starts
  # here so that it loads while the replicas are reset and the images sent.
  "$binary" serve --port "$reference_port" --grpc-port 0 --checkpoints checkpoints --datasets datasets \
    --log-level notice >"$work/reference.log" 2>&1 &
  reference_pid=$!
  replica_ports=$(seq -s, $((base + 1)) $((base + replicas)))
  "$python3" tools/fleet/fleet_esm.py --replicas "$replica_ports" --balancer "$base" --reference "$reference_port" \
    --prometheus "$prometheus_port" --model "$model" --dataset fashion-mnist-sample \
    --dataset-dir datasets/fashion-mnist-sample --tolerance 1e-6 \
    || { echo "cluster-rehearsal: FAILED (fleet ESM)" >&2; tail -n 5 "$work"/prometheus.log "$work"/reference.log >&2; exit 1; }
fi
echo "cluster-rehearsal: passed in $SECONDS s"
