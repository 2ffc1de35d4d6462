#!/usr/bin/env bash
# Installs the Debian packages nfserve needs, skipping what is already there.
#   scripts/install-packages.sh runtime   shared libraries only (the Docker runtime image)
#   scripts/install-packages.sh build     headers too (building and testing; the default)
#   scripts/install-packages.sh data      Debian's Fashion-MNIST (for `nfserve eval`, the tests, training)
#   scripts/install-packages.sh browser   Chromium, its WebDriver and Selenium (the dashboard's browser test)
#   scripts/install-packages.sh fleet     HAProxy (scripts/cluster-rehearsal.sh's load balancer),
#                                         Prometheus (its promtool for scripts/prometheus-rules-check.sh,
#                                         its server for cluster-rehearsal.sh --prometheus) and wrk (that
#                                         run's capacity burst)
#   scripts/install-packages.sh checks    Python's YAML and venv (tools/openapi-json.py, scripts/schemathesis.sh)
#   scripts/install-packages.sh codegen   protoc (tools/grpc/generate.sh; the generated code is committed)
# The Dockerfile runs this same script, so the README's set-up exercises it.
set -euo pipefail
mode="${1:-build}"
case "$mode" in
  # runtime: what the binary links (ldd: libdnnl2 brings libOpenCL.so.1 and libgomp1), plus curl,
  # which only the Docker HEALTHCHECK uses. nfserve makes no TLS connections: no ca-certificates.
  runtime) packages=(libdnnl2 libturbojpeg0 libspng0 zlib1g libgomp1 curl) ;;
  build)   packages=(libdnnl-dev libturbojpeg0-dev libspng-dev zlib1g-dev libgomp1 pkg-config curl) ;;
  data)    packages=(dataset-fashion-mnist) ;;
  browser) packages=(chromium chromium-driver python3-selenium fonts-dejavu-core) ;;
  fleet)   packages=(haproxy curl prometheus wrk) ;;
  checks)  packages=(python3-yaml python3-venv python3-pip) ;;
  codegen) packages=(protobuf-compiler) ;;
  *) echo "usage: $0 [runtime|build|data|browser|fleet|checks|codegen]" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
