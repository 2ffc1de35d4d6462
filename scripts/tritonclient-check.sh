#!/usr/bin/env bash
# nfserve as tritonclient's users call it (tools/peers/tritonclient_check.py): starts a server on
# the shipped checkpoints, runs tritonclient.http with its default (binary) arguments and with
# binary_data=False, and tritonclient.grpc against the gRPC listener, and compares every answer
# with the plain JSON request's.
#   NFSERVE     the binary (default .build/release/nfserve)
#   TOOLS_VENV  the Python environment with tritonclient (default ~/.cache/nfserve/venv-tools;
#               tritonclient[http,grpc] is installed there when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
NFSERVE="${NFSERVE:-.build/release/nfserve}"
TOOLS_VENV="${TOOLS_VENV:-$HOME/.cache/nfserve/venv-tools}"
[ -x "$TOOLS_VENV/bin/python" ] || python3 -m venv "$TOOLS_VENV"
"$TOOLS_VENV/bin/python" -c 'import tritonclient.http, tritonclient.grpc, numpy' 2>/dev/null ||
  "$TOOLS_VENV/bin/pip" install --quiet --disable-pip-version-check 'tritonclient[http,grpc]==2.*' numpy
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
port="$(free_port)"
grpc_port="$(free_port)"
log="$(mktemp)"
"$NFSERVE" serve --host 127.0.0.1 --port "$port" --grpc-port "$grpc_port" --checkpoints ./checkpoints --datasets ./datasets >"$log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
ready=0
for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$port/v2/health/ready" >/dev/null && { ready=1; break; }
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
[ "$ready" = 1 ] || { echo "tritonclient-check.sh: the server did not become ready (60 s); its log:" >&2; cat "$log" >&2; exit 1; }
"$TOOLS_VENV/bin/python" tools/peers/tritonclient_check.py --url "127.0.0.1:$port" --grpc-url "127.0.0.1:$grpc_port"
