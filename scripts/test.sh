#!/usr/bin/env bash
# Runs nfserve's tests on a fresh machine: installs the Debian packages that are missing,
# then builds and runs every test (swift test). Usage: scripts/test.sh [swift test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-packages.sh build
scripts/install-packages.sh runtime
swift build --build-tests
swift test --skip-build "$@"
