# syntax=docker/dockerfile:1
# nfserve: build with the Swift toolchain, run on a slim Debian with only the shared libraries.
#   docker build -t nfserve .
#   docker run --rm -p 8080:8080 nfserve
#   curl -T image.png localhost:8080/predictions/fmnist-resnet-bn
# Both stages install their Debian packages with scripts/install-packages.sh, the script the
# README's set-up runs, so the package lists are exercised outside Docker too.

ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS builder
WORKDIR /src
COPY scripts/install-packages.sh scripts/
RUN scripts/install-packages.sh build && rm -rf /var/lib/apt/lists/*
COPY Package.swift Package.resolved* ./
COPY Sources Sources
# SwiftPM refuses a manifest whose test targets have no folder, so the test sources come too
# (not their fixtures: see .dockerignore); only the nfserve product is built.
COPY Tests Tests
# The Swift runtime and Foundation are linked in statically: the runtime image has no toolchain.
# SwiftPM puts the resource bundles (ImageNet labels, the web page) next to the binary, as
# <package>_<target>.resources; Bundle.module finds them there at run time.
RUN --mount=type=cache,target=/src/.build \
    swift build -c release --product nfserve --static-swift-stdlib \
 && bin="$(swift build -c release --show-bin-path)" \
 && mkdir -p /out \
 && cp "$bin/nfserve" /out/ \
 && cp -R "$bin"/*.resources /out/

FROM ${RUNTIME_IMAGE}
COPY scripts/install-packages.sh /tmp/install-packages.sh
RUN /tmp/install-packages.sh runtime && rm -rf /var/lib/apt/lists/* /tmp/install-packages.sh \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin nfserve
WORKDIR /app
COPY --from=builder /out/ /app/
COPY checkpoints/ /app/checkpoints/
COPY datasets/ /app/datasets/
USER nfserve
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/v2/health/live || exit 1
ENTRYPOINT ["/app/nfserve"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--checkpoints", "/app/checkpoints", "--datasets", "/app/datasets"]
