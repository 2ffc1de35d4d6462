#!/usr/bin/env bash
# Runs nfserve's tests on a fresh machine: installs the Debian packages that are missing,
# then builds and runs every test (swift test, the dashboard's browser test, the rolling-restart
# rehearsal behind HAProxy).
# Usage: scripts/test.sh [swift test args...]
#
# Without arguments the suites run in three passes: everything but the heavy reference suites and
# the process tests; the reference suites alone (DesignReferenceTests builds 600-layer networks on
# every core; EstimationShiftReferenceTests recalibrates two models layer by layer over 2000
# images); then the process tests. Run beside the server tests they would starve those tests'
# timeouts and load on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-packages.sh build
scripts/install-packages.sh runtime
scripts/install-packages.sh data
scripts/install-packages.sh browser
scripts/install-packages.sh fleet
swift build --build-tests
if [ "$#" -gt 0 ]; then
  swift test --skip-build "$@"
else
  heavy='DesignReferenceTests|EstimationShiftReferenceTests'
  # Fresh server processes under a burst of connections or in a 1 GiB cgroup: beside the other
  # server tests they would take the cores those tests' load needs.
  processes='AcceptBurstTests|MemoryCgroupTests'
  swift test --skip-build --skip "$heavy|$processes"
  swift test --skip-build --filter "$heavy"
  swift test --skip-build --filter "$processes"
  scripts/browser-test.sh
  # A rolling restart of three replicas behind HAProxy under load, with the shutdown delay the
  # docs recommend for its checks and with none (requests sent to a closed port counted apart).
  NFSERVE=.build/debug/nfserve scripts/cluster-rehearsal.sh --shutdown-delay 2
  NFSERVE=.build/debug/nfserve scripts/cluster-rehearsal.sh --shutdown-delay 0
fi
