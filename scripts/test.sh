#!/usr/bin/env bash
# Runs nfserve's tests on a fresh machine: installs the Debian packages that are missing,
# then builds and runs every test (swift test). Usage: scripts/test.sh [swift test args...]
#
# Without arguments the suites run in two passes: everything but DesignReferenceTests, then
# DesignReferenceTests alone. That suite builds 600-layer networks on every core for about a
# minute; run beside the server tests it would starve their timeouts on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-packages.sh build
scripts/install-packages.sh runtime
swift build --build-tests
if [ "$#" -gt 0 ]; then
  swift test --skip-build "$@"
else
  swift test --skip-build --skip DesignReferenceTests
  swift test --skip-build --filter DesignReferenceTests
fi
