# syntax=docker/dockerfile:1
# flowlog-operator image: one static (musl) binary on distroless/static, running as UID/GID 65532 (nonroot).
#
#   docker build -t flowlog-operator:0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/flowlog-operator:0.1.0 --push .
#
# Why musl + distroless/static: the binary needs no libc or loader, so the image holds only it, CA certificates
# (rustls-platform-verifier reads the system store for Azure's TLS), /etc/passwd with `nonroot`, and tzdata — no shell,
# no package manager. `scratch` would lack the CA certificates. Size: the binary (~20 MB on x86_64, ~8 MB gzipped)
# plus the ~2 MB base.
# The build stage runs on the target platform (QEMU or native builders under buildx), so it never cross-compiles.
# tests/install_image.rs builds the same binary with the same script (tests/tools/build-static.sh) and lints this file.
# Pin the base images by digest in your CI (`FROM …@sha256:…`); tags are used here because digests are per-registry.

ARG RUST_VERSION=1.95.0

FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS build
# musl-gcc: aws-lc-sys (rustls' crypto provider) compiles C code for the musl target.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add "$(uname -m)-unknown-linux-musl"
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Cargo reads every workspace member; only the operator and the wire types are compiled in (no `demo` feature, so
# no simulator: tests/install_image.rs checks the binary for it).
COPY wire ./wire
COPY simulator ./simulator
COPY tests/tools/build-static.sh ./tests/tools/build-static.sh
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/cache/target,sharing=locked \
    FLOWLOG_STATIC_TARGET_DIR=/cache/target tests/tools/build-static.sh /out/flowlog-operator \
 && /out/flowlog-operator --version

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="flowlog-operator" \
      org.opencontainers.image.description="Keeps Azure Network Watcher flow logs in the state FlowLogPolicy resources declare" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/flowlog-operator /usr/local/bin/flowlog-operator
USER 65532:65532
# /metrics, /healthz, /readyz
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/flowlog-operator"]
CMD ["run"]
