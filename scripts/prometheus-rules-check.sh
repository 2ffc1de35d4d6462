#!/usr/bin/env bash
# Checks the Prometheus rules for the fleet-wide estimation shift (deploy/prometheus/):
#   1. promtool check rules: the rules file parses and its expressions are valid PromQL;
#   2. promtool test rules: the unit tests (pooled esm_mean/esm_var of three synthetic replicas
#      against values computed directly from their raw data, the alert firing and not);
#   3. tools/fleet/make_rules_test.py --check: the committed tests are what the generator writes;
#   4. the tests can fail: copies of the rules with one formula broken each must pass
#      `promtool check rules` and FAIL `promtool test rules` on value comparisons.
# Installs Debian's prometheus package (which ships promtool) with
# scripts/install-packages.sh fleet if promtool is missing.
# Usage: scripts/prometheus-rules-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v promtool >/dev/null || scripts/install-packages.sh fleet
rules=deploy/prometheus/nfserve-rules.yaml
tests=deploy/prometheus/nfserve-rules.test.yaml

promtool check rules "$rules"
promtool test rules "$tests"
python3 tools/fleet/make_rules_test.py --check

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$tests" "$work/"
# Each break: a name, the exact text in the rules, its replacement.
breaks=(
  "N without the pooled sum (one replica's N)"
  "sum by (model, statistics, layer, group) (nfserve_esm_values_total)"
  "max by (model, statistics, layer, group) (nfserve_esm_values_total)"

  "variance without subtracting d_c^2"
  "- model_layer_channel:nfserve_esm_mean_deviation:pooled ^ 2,"
  ","

  "running_var summed over replicas instead of taken once"
  "max by (model, statistics, layer, group, channel) (nfserve_esm_running_var)"
  "sum by (model, statistics, layer, group, channel) (nfserve_esm_running_var)"
)
for ((i = 0; i < ${#breaks[@]}; i += 3)); do
  name="${breaks[i]}" from="${breaks[i + 1]}" to="${breaks[i + 2]}"
  FROM="$from" TO="$to" python3 - "$rules" "$work/nfserve-rules.yaml" <<'EOF'
import os, sys
text = open(sys.argv[1]).read()
count = text.count(os.environ["FROM"])
if count != 1:
    sys.exit(f"the text to break occurs {count} times, not once: {os.environ['FROM']}")
open(sys.argv[2], "w").write(text.replace(os.environ["FROM"], os.environ["TO"]))
EOF
  promtool check rules "$work/nfserve-rules.yaml" >/dev/null
  if promtool test rules "$work/$(basename "$tests")" >"$work/out" 2>&1; then
    echo "FAIL: the tests pass with a broken rule ($name)" >&2
    exit 1
  fi
  failed=$(grep -cE '^ *(expr|alertname): ' "$work/out" || true)
  if [ "$failed" -eq 0 ]; then
    echo "FAIL: the broken rule ($name) made promtool fail, but not on a value comparison:" >&2
    cat "$work/out" >&2
    exit 1
  fi
  echo "broken rule ($name): promtool test rules fails, as it must ($failed failing checks)"
done
echo "prometheus rules: OK"
