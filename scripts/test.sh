#!/usr/bin/env bash
# Runs nfserve's tests on a fresh machine: installs the Debian packages that are missing,
# then builds and runs every test (swift test, the dashboard's browser test, the rolling-restart
# rehearsal behind HAProxy).
# Usage: scripts/test.sh [swift test args...]
#
# Without arguments: the static checks (imports against Package.swift, documents and links,
# the OpenAPI JSON against its YAML, swift-format), every Swift test suite in one pass (the suites
# that load the whole machine and those whose servers must answer in time keep apart through the
# MachineLoad trait, Tests/NFTestSupport), the browser test, the rolling-restart rehearsals, a
# short Schemathesis pass against the OpenAPI document, tritonclient as a peer, the deploy/
# manifests (offline validation) and the Prometheus rules (promtool).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-packages.sh build
scripts/install-packages.sh runtime
scripts/install-packages.sh data
scripts/install-packages.sh browser
scripts/install-packages.sh fleet
scripts/install-packages.sh checks
swift build --build-tests --explicit-target-dependency-import-check error
if [ "$#" -gt 0 ]; then
  swift test --skip-build "$@"
else
  python3 scripts/check-imports.py
  python3 tools/check-docs.py
  python3 tools/openapi-json.py --check
  swift format lint --strict --recursive --parallel Package.swift Sources Tests Fuzz
  swift test --skip-build
  scripts/browser-test.sh
  # A rolling restart of three replicas behind HAProxy under load, with the shutdown delay the
  # docs recommend for its checks and with none (requests sent to a closed port counted apart);
  # the first with Prometheus pooling the replicas' estimation shift, checked against one process.
  NFSERVE=.build/debug/nfserve scripts/cluster-rehearsal.sh --shutdown-delay 2 --prometheus
  NFSERVE=.build/debug/nfserve scripts/cluster-rehearsal.sh --shutdown-delay 0
  # The HTTP contract, generated requests against a live server (about a minute).
  NFSERVE=.build/debug/nfserve scripts/schemathesis.sh
  # A real OIP client: tritonclient with its default (binary) arguments, answers equal to JSON's.
  NFSERVE=.build/debug/nfserve scripts/tritonclient-check.sh
  # The Kubernetes and KServe manifests checked offline (deploy/; broken copies must fail), and
  # the Prometheus recording rules with promtool against three synthetic replicas.
  NFSERVE=.build/debug/nfserve scripts/deploy-check.sh
  scripts/prometheus-rules-check.sh
fi
