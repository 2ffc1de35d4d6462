#!/usr/bin/env bash
# Builds the project's Docker image and checks it for real: it classifies a shipped image through
# the published port, it serves the dashboard at /, its HEALTHCHECK turns healthy, it runs as uid 10001, its binary finds every
# shared library, and a second container on another port (NFSERVE_PORT) turns healthy too.
#
#   sudo scripts/docker-check.sh            (Debian 12, as root; exits non-zero on any failure)
#
# What it does, in order:
#   1. installs Debian's docker.io and debootstrap when missing, and starts dockerd (pinned with
#      taskset to DOCKER_CPUS, so builds and containers leave the other cores alone) when no
#      daemon answers; its log goes to /tmp/dockerd.log.
#   2. finds the base images the Dockerfile names (swift:6.3-bookworm, debian:bookworm-slim):
#      local, else pulled, else local stand-ins made once and cached as nfserve-standin/*:
#        - debian: `debootstrap --variant=minbase bookworm` from this machine's Debian mirror,
#          trimmed like the official slim image, then `docker import`;
#        - swift: that base + the Debian packages the official Swift image installs + the
#          toolchain installed here (SWIFT_TOOLCHAIN), and, for machines whose SwiftPM reaches
#          GitHub through local git mirrors, a copy of those mirrors (SWIFT_PACKAGES) with this
#          machine's `url.<base>.insteadOf` rules. That is a shim of this check, not of the
#          Dockerfile: with the real swift image SwiftPM clones from GitHub as usual.
#   3. builds the image with BuildKit (the Dockerfile as committed; only its SWIFT_IMAGE and
#      RUNTIME_IMAGE ARGs are passed), then runs and probes it, and prints a summary.
#
# Settings (environment): NO_PULL (set: never `docker pull`, use local images or stand-ins),
# IMAGE (nfserve:check), PORT1 (18080), PORT2 (19000, the second container, which listens on
# 9000 inside), DOCKER_CPUS (1: the CPU list dockerd is pinned to when this script starts it), SWIFT_TOOLCHAIN (/opt/swift), SWIFT_PACKAGES
# (/opt/swift-packages), DEBIAN_MIRROR (default: the first Debian URI in /etc/apt/sources.list*),
# DOCKER (the CLI; default Debian's /usr/bin/docker, whose built-in BuildKit handles
# `RUN --mount` without the buildx plug-in a newer CLI would want).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${IMAGE:-nfserve:check}"
PORT1="${PORT1:-18080}"
PORT2="${PORT2:-19000}"
INNER_PORT2=9000
DOCKER_CPUS="${DOCKER_CPUS:-1}"
SWIFT_TOOLCHAIN="${SWIFT_TOOLCHAIN:-/opt/swift}"
SWIFT_PACKAGES="${SWIFT_PACKAGES:-/opt/swift-packages}"
REAL_SWIFT=swift:6.3-bookworm
REAL_RUNTIME=debian:bookworm-slim
STANDIN_SWIFT=nfserve-standin/swift:6.3-bookworm
STANDIN_RUNTIME=nfserve-standin/debian:bookworm-slim
SAMPLE=datasets/fashion-mnist-sample/Sneaker/1426.png
EXPECTED_LABEL=Sneaker
MODEL=fmnist-resnet-bn
# Short health-check timing for the check only (the image's own is 30 s apart).
HEALTH_OPTS=(--health-interval=2s --health-timeout=5s --health-start-period=60s --health-retries=3)

log()  { printf '\n==> %s\n' "$*" >&2; }
die()  { printf '\nFAIL: %s\n' "$*" >&2; exit 1; }
FAILURES=()
fail() { printf 'FAIL: %s\n' "$*" >&2; FAILURES+=("$*"); }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts dockerd)"

# One check at a time: two docker builds at once would fight over the one pinned core.
exec 9>/tmp/nfserve-docker-check.lock
flock -n 9 || die "another scripts/docker-check.sh is running (lock /tmp/nfserve-docker-check.lock)"

WORK="$(mktemp -d /tmp/nfserve-docker-check.XXXXXX)"
CONTAINERS=()
cleanup() {
  for c in "${CONTAINERS[@]}"; do "${DOCKER:-docker}" rm -f "$c" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- 1. Docker ------------------------------------------------------------------------------
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v taskset >/dev/null || missing+=(util-linux)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then log "installing ${missing[*]}"; apt_install "${missing[@]}"; fi
DOCKER="${DOCKER:-$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || command -v docker )}"

STARTED_DOCKERD=""
if ! "$DOCKER" info >/dev/null 2>&1; then
  log "starting dockerd on CPUs $DOCKER_CPUS (log: /tmp/dockerd.log)"
  # dockerd starts its own containerd, which inherits the affinity, as do builds and containers.
  setsid taskset -c "$DOCKER_CPUS" dockerd >>/tmp/dockerd.log 2>&1 </dev/null &
  for _ in $(seq 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 1; done
  "$DOCKER" info >/dev/null 2>&1 || die "dockerd did not come up; see /tmp/dockerd.log"
  STARTED_DOCKERD=1
fi
"$DOCKER" version --format 'docker client {{.Client.Version}}, server {{.Server.Version}}' >&2
export DOCKER_BUILDKIT=1

image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# --- 2. Base images -------------------------------------------------------------------------
# The first Debian archive URI apt uses here (deb822 .sources or one-line .list), not -security.
debian_uris() {
  { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | cut -d: -f2- | tr ' ' '\n'
    grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
      | sed 's/\[[^]]*\]//' | awk '{print $2}'
  } | sed '/^$/d'
}
DEBIAN_MIRROR="${DEBIAN_MIRROR:-$(debian_uris | grep -v -- '-security' | grep -m1 -E '/debian/?$' || true)}"
if [ -z "$DEBIAN_MIRROR" ]; then
  echo "no Debian mirror found in this machine's apt sources: set DEBIAN_MIRROR" >&2
  exit 2
fi
SECURITY_MIRROR="$(debian_uris | grep -m1 -E '/debian-security/?$' || true)"

make_runtime_standin() {
  local root="$WORK/rootfs"
  log "making $STANDIN_RUNTIME: debootstrap --variant=minbase bookworm from $DEBIAN_MIRROR"
  taskset -c "$DOCKER_CPUS" debootstrap --variant=minbase bookworm "$root" "$DEBIAN_MIRROR" \
    >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
  # Apt sources as the official image has them (deb822, with updates and security).
  rm -f "$root/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\n' "$DEBIAN_MIRROR"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    if [ -n "$SECURITY_MIRROR" ]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\n' "$SECURITY_MIRROR"
      printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    fi
  } >"$root/etc/apt/sources.list.d/debian.sources"
  # Trimmed like debian:bookworm-slim: no docs, man pages or translations, now or later.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
EOF
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -rf "$root"/usr/share/{man,groff,info,linda,lintian}/* "$root"/var/lib/apt/lists/* \
    "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/log/* \
    "$root"/etc/resolv.conf "$root"/etc/hostname
  tar -C "$root" --numeric-owner -c . \
    | "$DOCKER" import --change 'CMD ["bash"]' - "$STANDIN_RUNTIME" >/dev/null
  rm -rf "$root"
}

make_swift_standin() {
  local base="$1" ctx="$WORK/swift-ctx"
  [ -x "$SWIFT_TOOLCHAIN/usr/bin/swift" ] || die "no Swift toolchain at $SWIFT_TOOLCHAIN (usr/bin/swift)"
  log "making $STANDIN_SWIFT from $base + $SWIFT_TOOLCHAIN"
  mkdir -p "$ctx/swift-packages"
  # Hard links where /tmp and the toolchain share a file system (no 3 GB copy), else a copy.
  cp -al "$SWIFT_TOOLCHAIN" "$ctx/swift" 2>/dev/null || cp -a "$SWIFT_TOOLCHAIN" "$ctx/swift"
  if [ -d "$SWIFT_PACKAGES" ]; then
    rmdir "$ctx/swift-packages"
    cp -al "$SWIFT_PACKAGES" "$ctx/swift-packages" 2>/dev/null || cp -a "$SWIFT_PACKAGES" "$ctx/swift-packages"
  fi
  # This machine's url.<base>.insteadOf rules (e.g. https://github.com/ -> /opt/swift-packages/).
  : >"$ctx/gitconfig"
  git config --system --get-regexp '^url\..*\.insteadof$' 2>/dev/null | while read -r key value; do
    git config -f "$ctx/gitconfig" --add "$key" "$value"
  done
  # The packages of the official swift:6.3-bookworm image.
  cat >"$ctx/Dockerfile" <<EOF
FROM $base
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update -qq \\
 && apt-get install -y -qq --no-install-recommends binutils git gnupg2 libc6-dev \\
      libcurl4-openssl-dev libedit2 libgcc-12-dev libncurses-dev libpython3-dev libsqlite3-0 \\
      libstdc++-12-dev libxml2-dev libz3-dev pkg-config tzdata unzip zip zlib1g-dev ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
COPY swift/ $SWIFT_TOOLCHAIN/
COPY swift-packages/ $SWIFT_PACKAGES/
COPY gitconfig /etc/gitconfig
ENV PATH=$SWIFT_TOOLCHAIN/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN swift --version \
 && ! ldd $SWIFT_TOOLCHAIN/usr/bin/swift-frontend $SWIFT_TOOLCHAIN/usr/bin/swift-build \
          $SWIFT_TOOLCHAIN/usr/bin/swift-driver $SWIFT_TOOLCHAIN/usr/bin/clang | grep 'not found'
CMD ["bash"]
EOF
  "$DOCKER" build --progress=plain -t "$STANDIN_SWIFT" "$ctx" >"$WORK/swift-standin.log" 2>&1 \
    || { tail -30 "$WORK/swift-standin.log" >&2; die "building $STANDIN_SWIFT failed"; }
  rm -rf "$ctx"
}

# Prints the image to use for `real`: present, pulled, else the cached or freshly made stand-in.
resolve_base() {
  local real="$1" standin="$2" maker="$3"; shift 3
  if image_exists "$real"; then echo "$real"; return; fi
  if image_exists "$standin"; then log "using cached stand-in $standin for $real"; echo "$standin"; return; fi
  if [ -z "${NO_PULL:-}" ] && timeout 300 "$DOCKER" pull -q "$real" >/dev/null 2>&1; then echo "$real"; return; fi
  log "cannot pull $real${NO_PULL:+ (NO_PULL set: not tried)}"
  "$maker" "$@"
  echo "$standin"
}
RUNTIME_BASE="$(resolve_base "$REAL_RUNTIME" "$STANDIN_RUNTIME" make_runtime_standin)"
SWIFT_BASE="$(resolve_base "$REAL_SWIFT" "$STANDIN_SWIFT" make_swift_standin "$RUNTIME_BASE")"
log "bases: SWIFT_IMAGE=$SWIFT_BASE RUNTIME_IMAGE=$RUNTIME_BASE"

# --- 3. Build -------------------------------------------------------------------------------
log "building $IMAGE (log: /tmp/nfserve-docker-build.log)"
t0=$(date +%s)
if ! "$DOCKER" build --progress=plain \
      --build-arg SWIFT_IMAGE="$SWIFT_BASE" --build-arg RUNTIME_IMAGE="$RUNTIME_BASE" \
      -t "$IMAGE" . >/tmp/nfserve-docker-build.log 2>&1; then
  tail -25 /tmp/nfserve-docker-build.log >&2
  echo "--- first errors:" >&2
  grep -m8 -E 'error:|While |ERROR' /tmp/nfserve-docker-build.log | cut -c1-300 >&2 || true
  die "docker build failed (full log: /tmp/nfserve-docker-build.log)"
fi
BUILD_S=$(( $(date +%s) - t0 ))
log "built in ${BUILD_S}s"
SIZE_MB=$(( $("$DOCKER" image inspect --format '{{.Size}}' "$IMAGE") / 1000000 ))

# --- 4. Checks ------------------------------------------------------------------------------
log "shared libraries (ldd /app/nfserve in the image)"
LDD="$("$DOCKER" run --rm --entrypoint ldd "$IMAGE" /app/nfserve 2>&1)" || true
echo "$LDD" >&2
if echo "$LDD" | grep -q 'not found'; then fail "ldd: $(echo "$LDD" | grep 'not found' | tr -s ' \t' ' ' | paste -sd';')"; fi
echo "$LDD" | grep -q 'libdnnl' || fail "ldd /app/nfserve did not run or lists no libdnnl"

NPROC="$("$DOCKER" run --rm --entrypoint nproc "$IMAGE" 2>&1 || true)"
EXPECTED_NPROC="$(taskset -c "$DOCKER_CPUS" nproc)"
log "nproc in a container: $NPROC (dockerd pinned to CPUs $DOCKER_CPUS: $EXPECTED_NPROC)"
if [ "$NPROC" != "$EXPECTED_NPROC" ]; then
  if [ -n "$STARTED_DOCKERD" ]; then fail "nproc in a container is $NPROC, expected $EXPECTED_NPROC"
  else echo "warning: the dockerd that was already running is not pinned to CPUs $DOCKER_CPUS" >&2; fi
fi

# Runs a container; prints its name. Args: suffix, host port, container port, extra run args...
start_container() {
  local name="nfserve-check-$$-$1" host_port="$2" inner="$3"; shift 3
  "$DOCKER" run -d --name "$name" -p "127.0.0.1:$host_port:$inner" "${HEALTH_OPTS[@]}" "$@" "$IMAGE" >/dev/null
  echo "$name"
}
# Waits until URL answers 2xx while the container runs. Args: container, url, seconds.
wait_http() {
  local c="$1" url="$2" secs="$3"
  for _ in $(seq "$secs"); do
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    [ "$("$DOCKER" inspect --format '{{.State.Running}}' "$c")" = true ] || return 1
    sleep 1
  done
  return 1
}
# Waits for the HEALTHCHECK verdict; prints it. Args: container, seconds.
wait_health() {
  local c="$1" secs="$2" s=""
  for _ in $(seq "$secs"); do
    s="$("$DOCKER" inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$c")"
    [ "$s" = starting ] || break
    sleep 1
  done
  echo "$s"
}
show_logs() { echo "--- docker logs $1 (last 20 lines):" >&2; "$DOCKER" logs --tail 20 "$1" >&2 2>&1 || true; }
health_log() { "$DOCKER" inspect --format '{{range .State.Health.Log}}exit {{.ExitCode}}: {{.Output}}{{end}}' "$1" 2>/dev/null | tail -3 >&2 || true; }

log "container 1: docker run -p 127.0.0.1:$PORT1:8080 $IMAGE"
C1="$(start_container a "$PORT1" 8080)"; CONTAINERS+=("$C1")
PREDICTION="" HEALTH1="" USER1="" HEALTH2="" LIVE2=""
if wait_http "$C1" "http://127.0.0.1:$PORT1/v2/health/ready" 120; then
  PREDICTION="$(curl -sS --max-time 30 -T "$SAMPLE" "http://127.0.0.1:$PORT1/predictions/$MODEL" || true)"
  top="$(printf '%s' "$PREDICTION" | sed -n 's/^{"model":"[^"]*","predictions":\[{[^}]*"label":"\([^"]*\)".*/\1/p')"
  if [ "$top" = "$EXPECTED_LABEL" ]; then echo "prediction: top label $top" >&2
  else fail "curl -T $SAMPLE /predictions/$MODEL: top label '$top', expected '$EXPECTED_LABEL'; answer: $PREDICTION"; fi
  # The dashboard: Public/ copied into the image next to the binary and served at /.
  if curl -sS --max-time 30 "http://127.0.0.1:$PORT1/" | grep -q 'src="js/app.js"' \
     && curl -sS --max-time 30 -o /dev/null -w '%{content_type}' "http://127.0.0.1:$PORT1/js/app.js" | grep -q javascript; then
    DASHBOARD=ok; echo "dashboard: / and /js/app.js served" >&2
  else DASHBOARD=failed; fail "the dashboard is not served at / (is Public/ copied next to the binary?)"; fi
else
  fail "container 1 never answered http://127.0.0.1:$PORT1/v2/health/ready (is nfserve listening on 0.0.0.0:8080? NFSERVE_HOST/NFSERVE_PORT)"
  show_logs "$C1"
fi
HEALTH1="$(wait_health "$C1" 120)"
[ "$HEALTH1" = healthy ] || { fail "container 1 health: $HEALTH1"; health_log "$C1"; }
# The server is PID 1 (ENTRYPOINT exec form); its real uid, and that of a `docker exec`.
USER1="$("$DOCKER" exec "$C1" sh -c 'awk "/^Uid:/{print \$2}" /proc/1/status; id -u; id -un' 2>&1 | paste -sd' ' || true)"
read -r pid1_uid exec_uid exec_name <<<"$USER1" || true
if [ "${pid1_uid:-}" = 10001 ] && [ "${exec_uid:-}" = 10001 ]; then USER1="uid 10001 ($exec_name)"
else fail "container 1 runs as '$USER1' (PID 1 uid, exec uid, name), expected uid 10001"; fi

log "container 2: docker run -e NFSERVE_PORT=$INNER_PORT2 -p 127.0.0.1:$PORT2:$INNER_PORT2 $IMAGE"
C2="$(start_container b "$PORT2" "$INNER_PORT2" -e NFSERVE_PORT="$INNER_PORT2")"; CONTAINERS+=("$C2")
if wait_http "$C2" "http://127.0.0.1:$PORT2/v2/health/live" 120; then LIVE2=ok
else LIVE2=failed; fail "container 2 never answered http://127.0.0.1:$PORT2/v2/health/live (does nfserve serve honour NFSERVE_PORT?)"; show_logs "$C2"; fi
HEALTH2="$(wait_health "$C2" 90)"
[ "$HEALTH2" = healthy ] || { fail "container 2 (NFSERVE_PORT=$INNER_PORT2) health: $HEALTH2"; health_log "$C2"; }

# --- Summary --------------------------------------------------------------------------------
cat <<EOF

==================== nfserve docker check ====================
image:        $IMAGE  (SWIFT_IMAGE=$SWIFT_BASE, RUNTIME_IMAGE=$RUNTIME_BASE)
build time:   ${BUILD_S}s
image size:   ${SIZE_MB} MB
prediction:   ${PREDICTION:-<none>}
dashboard:    ${DASHBOARD:-<not checked>}
health:       container 1 (port 8080): ${HEALTH1:-<none>}; container 2 (NFSERVE_PORT=$INNER_PORT2): ${HEALTH2:-<none>}, live via :$PORT2 ${LIVE2:-<none>}
user:         ${USER1:-<none>}
nproc:        $NPROC
==============================================================
EOF
if [ ${#FAILURES[@]} -gt 0 ]; then
  printf '\n%d check(s) FAILED:\n' "${#FAILURES[@]}" >&2
  printf '  - %s\n' "${FAILURES[@]}" >&2
  exit 1
fi
echo "all checks passed"
