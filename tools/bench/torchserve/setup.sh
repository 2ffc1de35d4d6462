#!/usr/bin/env bash
# Sets up TorchServe (PyPI) as a BENCHMARK PEER of nfserve, to compare the HTTP serving path with
# tools/bench/load.sh --target torchserve. TorchServe is never a runtime or build dependency of
# nfserve: nothing here is used by the Swift package, its tests or CI.
#
# Usage: tools/bench/torchserve/setup.sh
#   then tools/bench/torchserve/start.sh / stop.sh, or tools/bench/load.sh --target torchserve
#
# What it does:
#   1. Java: TorchServe's frontend is a Java program (11 or newer). Uses `java` from PATH, else
#      installs Debian's openjdk-17-jre-headless (apt-get, needs root).
#   2. A venv at ../.venv-torchserve (outside the repository; TS_VENV overrides) with
#      tools/bench/torchserve/requirements.txt (torchserve, torch-model-archiver) and the torch,
#      timm, safetensors, pillow and numpy pins of tools/reference/requirements.txt.
#      If ../.venv-ref (TS_REUSE_VENV overrides; set it empty to opt out) already has exactly those
#      pins, the new venv reuses them through a .pth file that appends .venv-ref's site-packages to
#      sys.path (the venv's own packages come first) instead of downloading torch again; otherwise
#      the pins are installed from PyPI (PyPI's Linux torch wheel is the CUDA build with its nvidia-*
#      dependencies, several GB; it runs on CPU).
#   3. Packages TS_MODEL_DIR (default checkpoints/fmnist-resnet-bn: config.json + model.safetensors) with
#      torch-model-archiver and tools/bench/torchserve/timm_handler.py into
#      ../.torchserve-work/model-store/NAME.mar, NAME the folder's name (TS_WORK overrides the work folder).
#      TS_MODEL_DIR may list several folders separated by spaces (no spaces inside a path; their
#      names must differ): each becomes its own NAME.mar, e.g. for tools/bench/multimodel.sh
#        TS_MODEL_DIR="checkpoints/fmnist-resnet-bn checkpoints/fmnist-nf-resnet /tmp/ckpt/resnet50"
#   4. Runs the handler once outside TorchServe on TS_IMAGE (default Public/samples/sneaker.png) and
#      prints its top-5, for each folder of step 3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
venv=${TS_VENV:-$(dirname "$repo")/.venv-torchserve}
work=${TS_WORK:-$(dirname "$repo")/.torchserve-work}
reuse=${TS_REUSE_VENV-$(dirname "$repo")/.venv-ref}
read -r -a ckpts <<< "${TS_MODEL_DIR:-$repo/checkpoints/fmnist-resnet-bn}"
image=${TS_IMAGE:-$repo/Public/samples/sneaker.png}

log() { printf '[setup] %s\n' "$*" >&2; }

[ "${#ckpts[@]}" -ge 1 ] || { log "TS_MODEL_DIR is empty"; exit 1; }
declare -A seen=()
for ckpt in "${ckpts[@]}"; do
  { [ -f "$ckpt/config.json" ] && [ -f "$ckpt/model.safetensors" ]; } \
    || { log "$ckpt: not a checkpoint folder (config.json + model.safetensors)"; exit 1; }
  name=$(basename "$ckpt")
  [ -z "${seen[$name]:-}" ] || { log "two folders of TS_MODEL_DIR are named $name"; exit 1; }
  seen[$name]=1
done

# ---------------------------------------------------------------------------------------- 1. Java
if ! command -v java >/dev/null; then
  log "no java on PATH: installing Debian's openjdk-17-jre-headless"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless
fi
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
if [ -z "$java_major" ] || [ "$java_major" -lt 11 ]; then
  log "TorchServe needs Java 11 or newer; found: $(java -version 2>&1 | head -1)"
  exit 1
fi
log "java $java_major: $(command -v java)"

# ---------------------------------------------------------------------------------------- 2. venv
# The pins shared with the reference scripts.
mapfile -t pins < <(grep -iE '^(torch|timm|safetensors|pillow|numpy)==' "$repo/tools/reference/requirements.txt")
[ "${#pins[@]}" -ge 3 ] || { log "no torch/timm/safetensors pins in tools/reference/requirements.txt"; exit 1; }
log "pins: ${pins[*]}"

base_python=${PYTHON:-python3}
reuse_ok=0
if [ -n "$reuse" ] && [ -x "$reuse/bin/python" ]; then
  if "$reuse/bin/python" - "${pins[@]}" <<'EOF'
import importlib.metadata as md, sys
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        have = md.version(name)
    except md.PackageNotFoundError:
        sys.exit(1)
    # torch reports local versions such as 2.15.0+cu132
    if have.split("+")[0] != want:
        sys.exit(1)
EOF
  then
    reuse_ok=1
    base_python=$reuse/bin/python   # same interpreter version as the site-packages we reuse
  else
    log "$reuse does not have exactly ${pins[*]}: installing them from PyPI"
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv"
  "$base_python" -m venv "$venv"
fi
vpy=$venv/bin/python
if [ "$reuse_ok" = 1 ]; then
  reuse_site=$("$reuse/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  venv_site=$("$vpy" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  [ "$("$reuse/bin/python" -c 'import sys; print(sys.version_info[:2])')" = "$("$vpy" -c 'import sys; print(sys.version_info[:2])')" ] \
    || { log "$venv and $reuse have different Python versions; remove $venv or set TS_REUSE_VENV="; exit 1; }
  log "reusing torch/timm/safetensors from $reuse_site (via $venv_site/zz-reuse-venv-ref.pth)"
  printf '%s\n' "$reuse_site" > "$venv_site/zz-reuse-venv-ref.pth"
fi
"$vpy" -m pip install --quiet --upgrade pip
nice -n 19 "$vpy" -m pip install --quiet -r "$here/requirements.txt" "${pins[@]}"
"$vpy" - <<'EOF' >&2
import importlib.metadata as md
for name in ("torchserve", "torch-model-archiver", "torch", "timm", "safetensors", "pillow", "numpy"):
    print(f"[setup]   {name} {md.version(name)}")
EOF

# ---------------------------------------------------------------------------------------- 3. .mar
mkdir -p "$work/model-store"
for ckpt in "${ckpts[@]}"; do
  model=$(basename "$ckpt")
  log "archiving $ckpt -> $work/model-store/$model.mar"
  "$venv/bin/torch-model-archiver" --model-name "$model" --version 1.0 \
    --serialized-file "$ckpt/model.safetensors" --extra-files "$ckpt/config.json" \
    --handler "$here/timm_handler.py" --export-path "$work/model-store" --force
  ls -l "$work/model-store/$model.mar" >&2
done

# ---------------------------------------------------------------------------------------- 4. check
for ckpt in "${ckpts[@]}"; do
  log "handler outside TorchServe on $image ($(basename "$ckpt")):"
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$vpy" "$here/timm_handler.py" "$ckpt" "$image"
done
log "done. Start with tools/bench/torchserve/start.sh (or tools/bench/load.sh --target torchserve)."
