#!/usr/bin/env bash
# Makes the reference environment: a Python virtual environment outside the repository with
# PyTorch, timm and the rest of tools/reference/requirements.txt, which the fixture scripts
# (tools/reference/make_*.py) and the peer benchmarks (tools/bench/) run in. Never a runtime or
# test dependency of nfserve.
# Usage: tools/reference/make-env.sh [DIR]   (default: ../.venv-ref beside the repository)
# Then:  PYTHON=DIR/bin/python tools/bench/spp_timing.sh, or DIR/bin/python tools/reference/make_parity_fixtures.py
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
venv=${1:-$(dirname "$repo")/.venv-ref}
python3 -m venv "$venv"
"$venv/bin/pip" install -q -r "$repo/tools/reference/requirements.txt"
echo "reference environment ready: PYTHON=$venv/bin/python"
