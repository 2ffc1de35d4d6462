#!/usr/bin/env bash
# Runs the dashboard's browser test (Tests/Browser/test_dashboard.py: headless Chromium through
# Selenium, both from Debian) against the debug build serving ./checkpoints, ./datasets and
# ./Public with an admin token. Usage: scripts/browser-test.sh [--docs docs/screenshots]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-packages.sh browser
[ -x .build/debug/nfserve ] || swift build --product nfserve
port=$((20000 + RANDOM % 20000))
token="browser-test-$RANDOM"
NFSERVE_ADMIN_TOKEN="$token" .build/debug/nfserve serve --port "$port" --grpc-port 0 --public Public --log-level warning &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$port/v2/health/ready" > /dev/null && break
  sleep 0.2
done
# Debian's Python, which has Debian's Selenium (not a python3 earlier on PATH).
/usr/bin/python3 Tests/Browser/test_dashboard.py --url "http://127.0.0.1:$port" --token "$token" "$@"
