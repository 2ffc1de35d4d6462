#!/usr/bin/env bash
# Serves the shipped checkpoints on port 8080: installs what is missing, builds a release
# binary and starts `nfserve serve`. Extra arguments go to `nfserve serve`
# (e.g. scripts/serve.sh --host 0.0.0.0 --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-packages.sh build
scripts/install-packages.sh runtime
swift build -c release --product nfserve
exec .build/release/nfserve serve --checkpoints ./checkpoints --datasets ./datasets "$@"
