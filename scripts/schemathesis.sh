#!/usr/bin/env bash
# Validates docs/openapi.yaml (openapi-spec-validator), then property-based tests of the HTTP
# contract against a live server, with
# Schemathesis: every documented operation gets generated requests (the documents' examples,
# boundary values, then random ones), and every response is checked: no 5xx (a 503 counts only
# with a documented reason), status codes, content types, headers and bodies as documented.
#
#   scripts/schemathesis.sh                       about a minute (what CI runs)
#   SCHEMATHESIS_SECONDS=300 scripts/schemathesis.sh     a longer run
#   SCHEMATHESIS_MAX_EXAMPLES=50 scripts/schemathesis.sh  at most 50 random cases per operation, no time limit
#   scripts/schemathesis.sh --include-path-regex '^/v2' --seed 1   extra arguments go to `st run`
#
# Environment:
#   NFSERVE                       the nfserve binary (default .build/release/nfserve); it runs from
#                                 the repository root on ./checkpoints, ./datasets and ./Public
#   SCHEMATHESIS_SECONDS          time budget of the test run (default 60; ignored with MAX_EXAMPLES)
#   SCHEMATHESIS_MAX_EXAMPLES     random test cases per operation instead of a time budget
#   SCHEMATHESIS_SPP_BUDGET       estimated seconds one POST /diagnostics/spp case may cost (default 5;
#                                 0: no limit). The documented limits allow requests that take
#                                 minutes on 2 cores (4 runs of a width-8, 400-block design: ~50 s
#                                 each); generated cases estimated above this are not sent
#                                 (requests the server refuses, being over a limit, always are).
#   SCHEMATHESIS_REQUEST_TIMEOUT  seconds one request may take (default 300; a timeout is a failure)
#   SCHEMATHESIS_WORKERS          concurrent workers (default 1)
#   SCHEMATHESIS_CHECKS           the checks (default below)
#   SCHEMATHESIS_REPORT_DIR       where the JUnit and NDJSON reports go (default a temporary folder,
#                                 removed unless the run fails)
#   TOOLS_VENV                    the Python virtual environment with Schemathesis (default
#                                 ~/.cache/nfserve/venv-tools; created when missing)
#   SCHEMATHESIS_PACKAGE          what pip installs there (default schemathesis==4.32.5: the CLI changed
#                                 a lot between 3.x and 4.x)
#
# The server gets a free port and a random admin token (--admin-token-file), sent by Schemathesis
# as `Authorization: Bearer`. 503 is not counted as a server error (the document gives its
# reasons: a model unloaded by the tests, overload); every other 5xx is, and status code
# conformance still requires each 503 to be documented for its operation. The unload operation
# draws model names from its example only (fmnist-resnet-xbn), not from other responses, so
# that the other models keep serving while it runs.
# Exits 1 when Schemathesis finds a failure, when the server died during the run (a crash), or
# when it does not exit 0 on SIGTERM afterwards; the end of its log is printed, and every error
# it logged. The reports and the server's log are kept when it fails (`st replay ID` from there).
set -euo pipefail
cd "$(dirname "$0")/.."

NFSERVE="${NFSERVE:-.build/release/nfserve}"
SECONDS_BUDGET="${SCHEMATHESIS_SECONDS:-60}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-}"
REQUEST_TIMEOUT="${SCHEMATHESIS_REQUEST_TIMEOUT:-300}"
SPP_BUDGET="${SCHEMATHESIS_SPP_BUDGET:-5}"
WORKERS="${SCHEMATHESIS_WORKERS:-1}"
CHECKS="${SCHEMATHESIS_CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance}"
TOOLS_VENV="${TOOLS_VENV:-$HOME/.cache/nfserve/venv-tools}"
PACKAGE="${SCHEMATHESIS_PACKAGE:-schemathesis==4.32.5}"

log() { echo "schemathesis.sh: $*" >&2; }

[ -x "$NFSERVE" ] || { log "no nfserve binary at $NFSERVE (swift build -c release, or set NFSERVE)"; exit 1; }
[ -f docs/openapi.yaml ] || { log "docs/openapi.yaml is missing"; exit 1; }

if [ ! -x "$TOOLS_VENV/bin/st" ]; then
  log "creating $TOOLS_VENV with $PACKAGE"
  python3 -m venv "$TOOLS_VENV"
  "$TOOLS_VENV/bin/pip" install --quiet --disable-pip-version-check "$PACKAGE"
fi
log "$("$TOOLS_VENV/bin/st" --version 2>&1 | head -1)"
# The document itself first: valid OpenAPI 3.1.
"$TOOLS_VENV/bin/python" -c 'import openapi_spec_validator' 2>/dev/null ||
  "$TOOLS_VENV/bin/pip" install --quiet --disable-pip-version-check 'openapi-spec-validator==0.*'
"$TOOLS_VENV/bin/python" - docs/openapi.yaml <<'EOF'
import sys
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename
document, _ = read_from_filename(sys.argv[1])
validate(document)
print(f"schemathesis.sh: {sys.argv[1]} is valid OpenAPI {document['openapi']}", file=sys.stderr)
EOF

work="$(mktemp -d "${TMPDIR:-/tmp}/nfserve-schemathesis.XXXXXX")"
report_dir="$(realpath -m "${SCHEMATHESIS_REPORT_DIR:-$work/report}")"
server_pid=""
status=1
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$status" -eq 0 ] && [ -z "${SCHEMATHESIS_REPORT_DIR:-}" ]; then
    rm -rf "$work"
  else
    log "server log and reports kept in $work${SCHEMATHESIS_REPORT_DIR:+ and $report_dir}"
  fi
}
trap cleanup EXIT

# A free port (the kernel's choice; closed again just before the server binds it).
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
token="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
( umask 077; printf '%s\n' "$token" > "$work/admin-token" )
base="http://127.0.0.1:$port"

"$NFSERVE" serve --host 127.0.0.1 --port "$port" --grpc-port 0 --checkpoints ./checkpoints --datasets ./datasets \
  --admin-token-file "$work/admin-token" --shutdown-grace 5 >"$work/server.log" 2>&1 &
server_pid=$!

server_alive() { kill -0 "$server_pid" 2>/dev/null; }
ready=0
for _ in $(seq 1 300); do
  server_alive || break
  if python3 - "$base/v2/health/ready" <<'EOF' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
    sys.exit(0 if response.status == 200 else 1)
EOF
  then ready=1; break; fi
  sleep 0.2
done
if [ "$ready" -ne 1 ]; then
  log "the server did not become ready on $base (60 s); its log:"
  tail -n 40 "$work/server.log" >&2
  exit 1
fi
log "server ready on $base (pid $server_pid)"

# Schemathesis' configuration and the cost filter of POST /diagnostics/spp.
cat >"$work/schemathesis.toml" <<EOF
hooks = "$work/hooks.py"

[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "503"]

[[operations]]
include-name = "POST /v2/repository/models/{model}/unload"
phases.coverage.extra-data-sources.responses = false
phases.fuzzing.extra-data-sources.responses = false
EOF
cat >"$work/hooks.py" <<'EOF'
"""Drops POST /diagnostics/spp cases whose designs would take longer than the budget to
measure (estimated from their blocks, width, batch and size; SCHEMATHESIS_SPP_BUDGET seconds).
Cases the server refuses at once (a value over a documented limit, a wrong type) are kept."""
import os

import schemathesis

BUDGET = float(os.environ.get("SCHEMATHESIS_SPP_BUDGET", "5"))


def _int(value, low, high, default):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError  # refused by the server at once
    return value


def estimated_seconds(body):
    """About what the server takes on 2 cores: drawing the weights grows with blocks x width^2,
    the forward pass also with batch x size^2 (fitted to measurements: 41 s for 400 blocks of
    width 8 at batch 1, 32 px; 50 s at batch 16)."""
    total = 0.0
    for run in body if isinstance(body, list) else [body]:
        if not isinstance(run, dict) or "architecture" not in run:
            continue
        given = run.get("input")
        given = given if isinstance(given, dict) else {}
        designs = run["architecture"]
        for design in designs if isinstance(designs, list) else [designs]:
            if not isinstance(design, dict):
                continue
            try:
                depths = design.get("depths")
                depths = [50, 50, 50, 50] if depths is None else depths  # null is the default too
                if not isinstance(depths, list) or not 1 <= len(depths) <= 4:
                    continue
                blocks = sum(_int(d, 1, 100, None) for d in depths)
                width = _int(design.get("width"), 1, 8, 4)
                batch = _int(given.get("batch"), 1, 16, 4)
                size = _int(given.get("size"), 32, 512, 64)
            except (TypeError, ValueError):
                continue
            if batch * size * size > 16 * 256 * 256:
                continue
            total += blocks * width * width * (1.6e-3 + 2.3e-8 * batch * size * size)
    return total


@schemathesis.hook("filter_case")
def affordable_signal_propagation(context, case):
    operation = context.operation
    if BUDGET <= 0 or operation is None or operation.method.upper() != "POST" or operation.path != "/diagnostics/spp":
        return True
    return estimated_seconds(case.body) <= BUDGET
EOF

limits=(--max-time "$SECONDS_BUDGET")
[ -n "$MAX_EXAMPLES" ] && limits=(--max-examples "$MAX_EXAMPLES")

# From $work: Schemathesis keeps its cache (the failures `st replay` reruns) in ./.schemathesis.
st_command=("$TOOLS_VENV/bin/st" --config-file "$work/schemathesis.toml" run "$PWD/docs/openapi.yaml"
  --url "$base"
  --header "Authorization: Bearer $token"
  --checks "$CHECKS"
  --phases examples,coverage,fuzzing
  "${limits[@]}"
  --workers "$WORKERS"
  --request-timeout "$REQUEST_TIMEOUT"
  --generation-database none
  --suppress-health-check too_slow,filter_too_much,data_too_large
  --report junit,ndjson --report-dir "$report_dir"
  --no-color
  "$@")
log "running (from $work): ${st_command[*]//$token/TOKEN}"
st_status=0
( cd "$work" && SCHEMATHESIS_SPP_BUDGET="$SPP_BUDGET" "${st_command[@]}" ) || st_status=$?

# What the server answered, per operation and status (from the NDJSON report).
"$TOOLS_VENV/bin/python" - "$report_dir" <<'EOF' >&2 || true
import collections, glob, json, sys
files = sorted(glob.glob(sys.argv[1] + "/ndjson-*.ndjson"))
counts = collections.defaultdict(collections.Counter)
for line in open(files[-1], encoding="utf-8") if files else []:
    event = json.loads(line)
    recorder = event.get("ScenarioFinished", {}).get("recorder", {})
    for interaction in recorder.get("interactions", {}).values():
        response = interaction.get("response")
        counts[recorder["label"]][response["status_code"] if response else "no response"] += 1
total = sum(sum(c.values()) for c in counts.values())
print(f"schemathesis.sh: {total} requests; statuses per operation:")
for label in sorted(counts, key=lambda l: (l.split(" ", 1)[1], l)):
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(counts[label].items(), key=lambda i: str(i[0])))
    print(f"  {label:55} {statuses}")
EOF

crashed=0
shutdown_status=0
if server_alive; then
  # A clean stop: SIGTERM, no request in flight, exit status 0 within the grace.
  kill -TERM "$server_pid"
  for _ in $(seq 1 150); do server_alive || break; sleep 0.1; done
  if server_alive; then
    log "the server did not stop within 15 s of SIGTERM"
    shutdown_status=1
  else
    wait "$server_pid" || shutdown_status=$?
    [ "$shutdown_status" -eq 0 ] || log "the server exited with status $shutdown_status after SIGTERM"
  fi
  [ "$shutdown_status" -eq 0 ] || tail -n 20 "$work/server.log" >&2
  server_pid=""
else
  crashed=1
  wait "$server_pid" && server_status=0 || server_status=$?
  server_pid=""
  log "the server died during the run (exit status $server_status); the end of its log:"
  tail -n 60 "$work/server.log" >&2
fi
errors="$(grep -c -E ' (error|critical) ' "$work/server.log" || true)"
if [ "${errors:-0}" -gt 0 ]; then
  log "the server logged $errors error(s) (every 500 is logged with its request):"
  grep -E ' (error|critical) ' "$work/server.log" | tail -n 20 >&2
fi

if [ "$st_status" -ne 0 ] || [ "$crashed" -ne 0 ] || [ "$shutdown_status" -ne 0 ]; then
  log "FAILED (schemathesis exit status $st_status; server crashed: $([ $crashed -eq 1 ] && echo yes || echo no); exit status after SIGTERM: $shutdown_status)"
  exit 1
fi
status=0
log "passed"
