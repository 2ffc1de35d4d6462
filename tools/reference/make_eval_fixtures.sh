#!/usr/bin/env bash
# PyTorch + timm predictions for every shipped checkpoint on the shipped sample dataset
# (datasets/fashion-mnist-sample, PNG files through PIL and timm's eval transform), written to
# Tests/Fixtures/eval/<model>.sample.{tsv,json}: the reference NFDatasetsTests compare
# `nfserve eval`'s per-image predictions with. Deterministic (no randomness involved).
#   tools/reference/make_eval_fixtures.sh        (PYTHON: the reference environment's python, else python3 from PATH)
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${PYTHON:-python3}"
mkdir -p Tests/Fixtures/eval
for dir in checkpoints/*/; do
  name="$(basename "$dir")"
  "$python" tools/train/eval_torch.py --checkpoint "$dir" --image-folder datasets/fashion-mnist-sample \
      --dump-predictions "Tests/Fixtures/eval/$name.sample.tsv" > "Tests/Fixtures/eval/$name.sample.json"
  cat "Tests/Fixtures/eval/$name.sample.json"
done
