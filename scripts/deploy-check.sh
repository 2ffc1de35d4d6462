#!/usr/bin/env bash
# Checks the Kubernetes and KServe manifests under deploy/ offline (no cluster needed):
# tools/deploy/validate.py on deploy/ (yamllint, kubernetes-validate's strict schemas, KServe
# v0.20's SDK field tables, KEDA's fields, the cross-checks, and the containers' flags against
# `nfserve serve --help`), then tools/deploy/test_validate.py (broken copies must fail).
#   NFSERVE     the binary whose flags the args are checked against (default .build/debug/nfserve;
#               absent: that check is skipped with a notice)
#   TOOLS_VENV  the Python environment (default ~/.cache/nfserve/venv-tools); what is missing
#               is installed there
# About 15 s once installed.
set -euo pipefail
cd "$(dirname "$0")/.."
NFSERVE="${NFSERVE:-.build/debug/nfserve}"
TOOLS_VENV="${TOOLS_VENV:-$HOME/.cache/nfserve/venv-tools}"
[ -x "$TOOLS_VENV/bin/python" ] || python3 -m venv "$TOOLS_VENV"
py="$TOOLS_VENV/bin/python"
installed() {
  "$py" - <<'PY' 2>/dev/null
import importlib.metadata as m
assert m.version("kserve") == "0.20.0" and m.version("kubernetes").startswith("35.")
import kubernetes_validate, six, yamllint  # noqa: F401
PY
}
if ! installed; then
  # kserve's SDK without its dependencies: they are the model server's (FastAPI, uvicorn, pandas,
  # grpcio-tools, ...), and validate.py reads only the generated kserve.models, which need six,
  # urllib3 and the kubernetes client. kubernetes 35: its models include every type the SDK's
  # fields name (V1ContainerRestartRule is Kubernetes 1.34's), and it accepts the
  # python-dateutil < 3 that kserve asks for.
  "$TOOLS_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps 'kserve==0.20.0'
  "$TOOLS_VENV/bin/pip" install --quiet --disable-pip-version-check 'kubernetes==35.0.0' 'python-dateutil<3' \
    six 'kubernetes-validate==1.37.0' 'yamllint==1.38.0'
fi
# Kubernetes 1.31's schemas: the oldest API server the manifests are written for.
"$py" tools/deploy/validate.py deploy --kubernetes-version 1.31 --nfserve "$NFSERVE"
"$py" tools/deploy/test_validate.py
