#!/usr/bin/env bash
# Runs nfserve's tests on a fresh machine: installs the Debian packages that are missing,
# then builds and runs every test (swift test, then the dashboard's browser test).
# Usage: scripts/test.sh [swift test args...]
#
# Without arguments the suites run in two passes: everything but the heavy reference suites,
# then those alone (DesignReferenceTests builds 600-layer networks on every core;
# EstimationShiftReferenceTests recalibrates two models layer by layer over 2000 images): run
# beside the server tests they would starve their timeouts on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-packages.sh build
scripts/install-packages.sh runtime
scripts/install-packages.sh data
scripts/install-packages.sh browser
swift build --build-tests
if [ "$#" -gt 0 ]; then
  swift test --skip-build "$@"
else
  heavy='DesignReferenceTests|EstimationShiftReferenceTests'
  swift test --skip-build --skip "$heavy"
  swift test --skip-build --filter "$heavy"
  scripts/browser-test.sh
fi
