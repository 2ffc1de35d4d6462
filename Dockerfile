# nfserve: build with the Swift toolchain, run on a slim Debian with only the shared libraries.
#   docker build -t nfserve .
#   docker run --rm -p 8080:8080 -p 8081:8081 nfserve                 (HTTP and gRPC)
#   docker run --rm -e NFSERVE_PORT=9000 -p 9000:9000 nfserve      (another port)
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
# Likewise the fuzz targets the manifest declares (Fuzz/<target>; not their corpus).
COPY Fuzz Fuzz
# The Swift runtime and Foundation are linked in statically: the runtime image has no toolchain.
# SwiftPM puts the resource bundles (ImageNet labels) next to the binary, as
# <package>_<target>.resources; Bundle.module finds them there at run time.
# The copy is stripped (symbols and debug info: 129 MB of binary become 74 MB); the
# one in the build cache is not, so stripping does not invalidate incremental builds.
RUN --mount=type=cache,target=/src/.build \
    swift build -c release --product nfserve --static-swift-stdlib \
 && bin="$(swift build -c release --show-bin-path)" \
 && mkdir -p /out \
 && cp "$bin/nfserve" /out/ \
 && strip --strip-all /out/nfserve \
 && cp -R "$bin"/*.resources /out/

FROM ${RUNTIME_IMAGE}
COPY scripts/install-packages.sh /tmp/install-packages.sh
RUN /tmp/install-packages.sh runtime && rm -rf /var/lib/apt/lists/* /tmp/install-packages.sh \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin nfserve
WORKDIR /app
COPY --from=builder /out/ /app/
COPY checkpoints/ /app/checkpoints/
COPY datasets/ /app/datasets/
# The dashboard's static files, found next to the binary (`nfserve serve` looks there first).
COPY Public/ /app/Public/
USER nfserve
# `nfserve serve` takes its default --port and --host from these, and the HEALTHCHECK reads the
# same variable, so `docker run -e NFSERVE_PORT=9000 -p 9000:9000 nfserve` moves both.
# NFSERVE_GRPC_PORT: the gRPC listener (KServe v2 GRPCInferenceService).
ENV NFSERVE_PORT=8080 NFSERVE_GRPC_PORT=8081 NFSERVE_HOST=0.0.0.0
EXPOSE 8080 8081
# Shell form, so ${NFSERVE_PORT} is the running container's value.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${NFSERVE_PORT}/v2/health/live" || exit 1
ENTRYPOINT ["/app/nfserve"]
CMD ["serve", "--checkpoints", "/app/checkpoints", "--datasets", "/app/datasets"]
